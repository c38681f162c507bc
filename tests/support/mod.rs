//! The end-to-end harness: build the plugins once, start the real `tessera`
//! binary on a temporary data directory and a free loopback port, and talk
//! to it over HTTP. Every test file includes this module.

#![allow(dead_code)]

pub mod session;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("kernel/ has a parent")
        .to_path_buf()
}

/// The `tessera` binary cargo built for these tests.
pub fn tessera() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tessera"))
}

/// How many plugins every test kernel loads: hello and eight fixtures (one
/// of them built against the released contract 0.1.0).
pub const PLUGIN_COUNT: usize = 9;

/// Plugin directories every test kernel loads.
pub fn plugin_roots() -> Vec<PathBuf> {
    let root = repo_root();
    vec![root.join("examples/hello"), root.join("tests/fixtures")]
}

/// Build hello and the fixtures once per test binary, with the real
/// `tessera plugin build`.
pub fn build_plugins() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let status = Command::new(tessera())
            .arg("plugin")
            .arg("build")
            .args(plugin_roots())
            .current_dir(repo_root())
            .stdout(Stdio::null())
            .status()
            .expect("run tessera plugin build");
        assert!(status.success(), "tessera plugin build failed: {status}");
    });
}

/// A status and a body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub request_id: Option<String>,
    pub content_type: Option<String>,
    /// Every `Set-Cookie` header.
    pub set_cookies: Vec<String>,
    /// The `Retry-After` header.
    pub retry_after: Option<String>,
}

impl Reply {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|error| panic!("body is not JSON ({error}): {}", self.body))
    }

    /// `error.code` of a JSON error body.
    pub fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// A status, every header and the body as bytes: for binary responses.
#[derive(Debug)]
pub struct RawReply {
    pub status: u16,
    /// Header names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawReply {
    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| {
            panic!(
                "body is not JSON ({error}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// `error.code` of a JSON error body.
    pub fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// A running kernel.
pub struct Kernel {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    log: Arc<Mutex<String>>,
    agent: ureq::Agent,
    /// The data directory it runs on.
    pub data: PathBuf,
}

impl Kernel {
    /// Start a kernel on `data` with the test plugins (already built) and
    /// the shared compile cache.
    pub fn start(data: &Path) -> Kernel {
        start_with_cache(data, &repo_root().join("target/tessera-test-cache"))
    }
}

/// Start a kernel on `data` with its compile cache in `cache`.
pub fn start_with_cache(data: &Path, cache: &Path) -> Kernel {
    start_with(data, cache, &[])
}

/// The first administrator's password in test kernels started with
/// [`start_with_admin`].
pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";

/// Start a kernel on `data` whose first start creates `admin` with
/// [`ADMIN_PASSWORD`].
pub fn start_with_admin(data: &Path) -> Kernel {
    start_with_env(data, &[("TESSERA_ADMIN_PASSWORD", ADMIN_PASSWORD)])
}

/// Start a kernel on `data` with the shared compile cache and extra
/// environment variables.
pub fn start_with_env(data: &Path, env: &[(&str, &str)]) -> Kernel {
    start_with(data, &repo_root().join("target/tessera-test-cache"), env)
}

fn start_with(data: &Path, cache: &Path, env: &[(&str, &str)]) -> Kernel {
    start_with_roots(data, cache, env, &[])
}

/// Build the plugins under `roots` with the real `tessera plugin build`,
/// once per test binary and set of roots.
pub fn build_extra_plugins(roots: &[PathBuf]) {
    static BUILT: OnceLock<Mutex<Vec<Vec<PathBuf>>>> = OnceLock::new();
    let built = BUILT.get_or_init(|| Mutex::new(Vec::new()));
    let mut built = built.lock().unwrap();
    if roots.is_empty() || built.iter().any(|done| done.as_slice() == roots) {
        return;
    }
    let status = Command::new(tessera())
        .arg("plugin")
        .arg("build")
        .args(roots)
        .current_dir(repo_root())
        .stdout(Stdio::null())
        .status()
        .expect("run tessera plugin build");
    assert!(status.success(), "tessera plugin build failed: {status}");
    built.push(roots.to_vec());
}

/// Start a kernel on `data` with the shared compile cache, extra
/// environment variables and, besides hello and the fixtures, the plugins
/// under `extra_roots` (such as `repo_root().join("plugins/workflow")`),
/// which are built first. Such a kernel loads more than [`PLUGIN_COUNT`]
/// plugins.
pub fn start_with_plugins(data: &Path, env: &[(&str, &str)], extra_roots: &[PathBuf]) -> Kernel {
    build_extra_plugins(extra_roots);
    start_with_roots(
        data,
        &repo_root().join("target/tessera-test-cache"),
        env,
        extra_roots,
    )
}

fn start_with_roots(
    data: &Path,
    cache: &Path,
    env: &[(&str, &str)],
    extra_roots: &[PathBuf],
) -> Kernel {
    build_plugins();
    let mut command = Command::new(tessera());
    command
        .arg("serve")
        .arg("--data")
        .arg(data)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--no-build",
            "--drain-timeout",
            "10",
        ])
        .arg("--cache")
        .arg(cache);
    for root in plugin_roots().iter().chain(extra_roots) {
        command.arg("--plugins").arg(root);
    }
    command.env_remove("TESSERA_ADMIN_PASSWORD");
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command
        .env("RUST_LOG", "info")
        .current_dir(repo_root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tessera serve");
    let log = Arc::new(Mutex::new(String::new()));
    let stderr = child.stderr.take().expect("stderr piped");
    let stderr_log = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let mut log = stderr_log.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
    });
    let stdout = child.stdout.take().expect("stdout piped");
    let (address_tx, address_rx) = mpsc::channel();
    let stdout_log = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(address) = line.strip_prefix("Tessera listening on ") {
                let _ = address_tx.send(address.trim().to_owned());
            }
            let mut log = stdout_log.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
    });
    let base = match address_rx.recv_timeout(Duration::from_secs(180)) {
        Ok(base) => base,
        Err(_) => {
            let _ = child.kill();
            panic!(
                "tessera did not start; its output:\n{}",
                log.lock().unwrap()
            );
        }
    };
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    Kernel {
        child,
        base,
        log,
        agent,
        data: data.to_path_buf(),
    }
}

impl Kernel {
    /// Everything the kernel printed so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// The log once `ready` holds for it; the log as it is after 10 s
    /// otherwise. Output reaches the harness through a pipe and a reader
    /// thread, so a line the kernel wrote before answering may arrive after
    /// the answer.
    pub fn log_when(&self, ready: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.log();
            if ready(&log) || std::time::Instant::now() > deadline {
                return log;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn reply(response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
        let mut response = response.expect("HTTP exchange with tessera");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        let request_id = header("x-request-id");
        let content_type = header("content-type");
        let retry_after = header("retry-after");
        let set_cookies = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .map(str::to_owned)
            .collect();
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_string().unwrap_or_default();
        Reply {
            status,
            body,
            request_id,
            content_type,
            set_cookies,
            retry_after,
        }
    }

    /// `method path` with `headers` and an optional JSON `body`.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Reply {
        let mut request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let request = request
            .body(body.unwrap_or_default().as_bytes().to_vec())
            .expect("a valid request");
        Self::reply(self.agent.run(request))
    }

    /// `method path` with exactly `headers` and `body` as raw bytes, the
    /// reply's body kept as bytes.
    pub fn call_bytes(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> RawReply {
        let mut request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(body.unwrap_or_default().to_vec())
            .expect("a valid request");
        let mut response = self.agent.run(request).expect("HTTP exchange with tessera");
        let headers = response
            .headers()
            .iter()
            .filter_map(|(name, value)| {
                Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
            })
            .collect();
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_vec()
            .unwrap_or_default();
        RawReply {
            status,
            headers,
            body,
        }
    }

    /// GET `path`.
    pub fn get(&self, path: &str) -> Reply {
        Self::reply(self.agent.get(format!("{}{path}", self.base)).call())
    }

    /// POST `body` as JSON to `path`.
    pub fn post(&self, path: &str, body: &str) -> Reply {
        Self::reply(
            self.agent
                .post(format!("{}{path}", self.base))
                .header("content-type", "application/json")
                .send(body),
        )
    }

    /// PUT `body` to `path`.
    pub fn put(&self, path: &str, body: &str) -> Reply {
        Self::reply(self.agent.put(format!("{}{path}", self.base)).send(body))
    }

    /// The admin token the kernel created in its data directory.
    pub fn admin_token(&self) -> String {
        std::fs::read_to_string(self.data.join("admin-token"))
            .expect("read the admin token")
            .trim()
            .to_owned()
    }

    /// `method path` with the admin token as bearer and an optional JSON
    /// `body`: the admin API, or plugin routes as the administrator.
    pub fn admin_json(&self, method: &str, path: &str, body: Option<serde_json::Value>) -> Reply {
        let token = format!("Bearer {}", self.admin_token());
        let body = body.map(|body| body.to_string());
        self.call(method, path, &[("authorization", &token)], body.as_deref())
    }

    /// Call the admin API with the admin token: `method path`, with `body`
    /// (a package, or JSON for `PUT`) if any.
    pub fn admin(&self, method: &str, path: &str, body: Option<&[u8]>) -> Reply {
        let url = format!("{}{path}", self.base);
        let authorization = format!("Bearer {}", self.admin_token());
        Self::reply(match (method, body) {
            ("POST", Some(bytes)) => self
                .agent
                .post(url)
                .header("authorization", &authorization)
                .send(bytes),
            ("POST", None) => self
                .agent
                .post(url)
                .header("authorization", &authorization)
                .send_empty(),
            ("PUT", body) => self
                .agent
                .put(url)
                .header("authorization", &authorization)
                .header("content-type", "application/json")
                .send(body.unwrap_or_default()),
            ("DELETE", _) => self
                .agent
                .delete(url)
                .header("authorization", &authorization)
                .call(),
            _ => self
                .agent
                .get(url)
                .header("authorization", &authorization)
                .call(),
        })
    }

    /// Kill the process with SIGKILL: no shutdown, no flush.
    pub fn kill9(mut self) {
        self.child.kill().expect("SIGKILL tessera");
        let _ = self.child.wait();
    }

    /// Send SIGTERM and wait for a clean exit.
    pub fn terminate(mut self) {
        send_sigterm(self.child.id());
        let status = self.child.wait().expect("wait for tessera");
        assert!(
            status.success(),
            "tessera exited with {status}; log:\n{}",
            self.log()
        );
    }

    /// Send SIGTERM without waiting.
    pub fn send_sigterm(&self) {
        send_sigterm(self.child.id());
    }

    /// Wait for the process to exit; returns whether it exited cleanly.
    pub fn wait(mut self) -> bool {
        self.child
            .wait()
            .map(|status| status.success())
            .unwrap_or(false)
    }
}

/// Send SIGTERM to process `pid`.
pub fn send_sigterm(pid: u32) {
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
}

impl Drop for Kernel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
