//! The HTTP surface: hello served through the full path, kernel endpoints,
//! request ids, JSON errors.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use support::Kernel;

#[test]
fn hello_greets_with_its_configured_greeting() {
    let data = tempfile::tempdir().unwrap();
    let kernel = Kernel::start(data.path());
    let reply = kernel.get("/api/hello/greet/ada");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["message"], "Hello, ada!");
    assert_eq!(reply.content_type.as_deref(), Some("application/json"));
}

#[test]
fn hello_echoes_json_and_rejects_malformed_json() {
    let data = tempfile::tempdir().unwrap();
    let kernel = Kernel::start(data.path());
    let reply = kernel.post("/api/hello/echo", r#"{"items":[1,2,3],"name":"ada"}"#);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["echo"]["items"][2], 3);
    assert_eq!(reply.json()["echo"]["name"], "ada");

    let reply = kernel.post("/api/hello/echo", "{not json");
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(reply.error_code(), "invalid_json");
}

#[test]
fn admin_overrides_plugin_config_in_the_data_dir() {
    let data = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(data.path().join("config")).unwrap();
    std::fs::write(
        data.path().join("config/tessera.hello.toml"),
        "greeting = \"Bonjour\"\n",
    )
    .unwrap();
    let kernel = Kernel::start(data.path());
    assert_eq!(
        kernel.get("/api/hello/greet/ada").json()["message"],
        "Bonjour, ada!"
    );
}

#[test]
fn every_response_carries_a_request_id() {
    let data = tempfile::tempdir().unwrap();
    let kernel = Kernel::start(data.path());
    let first = kernel.get("/api/hello/greet/x");
    let second = kernel.get("/healthz");
    let first_id = first.request_id.expect("plugin response has x-request-id");
    let second_id = second.request_id.expect("kernel response has x-request-id");
    assert_ne!(first_id, second_id);
}

#[test]
fn unknown_paths_get_json_errors() {
    let data = tempfile::tempdir().unwrap();
    let kernel = Kernel::start(data.path());
    let reply = kernel.get("/api/nobody/here");
    assert_eq!(reply.status, 404);
    assert_eq!(reply.error_code(), "plugin_not_found");
    assert!(
        reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/api/nobody")
    );

    let reply = kernel.get("/nowhere");
    assert_eq!(reply.status, 404);
    assert_eq!(reply.error_code(), "not_found");

    let reply = kernel.get("/api/hello/no/such/route");
    assert_eq!(reply.status, 404);
    assert_eq!(reply.error_code(), "not_found");
}

#[test]
fn health_readiness_metrics_and_openapi_are_served() {
    let data = tempfile::tempdir().unwrap();
    let kernel = Kernel::start(data.path());
    assert_eq!(kernel.get("/healthz").json()["status"], "ok");
    assert_eq!(kernel.get("/readyz").json()["status"], "ready");

    assert_eq!(kernel.get("/api/hello/greet/m").status, 200);
    let metrics = kernel.get("/metrics");
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .body
            .lines()
            .any(|line| line.starts_with("tessera_http_requests_total{")
                && line.contains("route=\"/api/hello\"")
                && line.contains("status=\"200\"")),
        "{}",
        metrics.body
    );
    assert!(
        metrics
            .body
            .contains("tessera_http_request_duration_seconds_bucket")
    );

    let openapi = kernel.get("/openapi.json").json();
    assert!(openapi["openapi"].as_str().unwrap().starts_with("3."));
    assert!(openapi["paths"]["/healthz"].is_object());
    assert!(openapi["paths"]["/auth/login"]["post"].is_object());
    assert!(openapi["components"]["securitySchemes"]["sessionCookie"].is_object());
}

#[test]
fn plugins_endpoint_lists_mounts_and_digests() {
    let data = tempfile::tempdir().unwrap();
    let kernel = Kernel::start(data.path());
    let plugins = kernel.get("/plugins").json();
    let hello = plugins["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|plugin| plugin["id"] == "tessera.hello")
        .expect("hello is loaded");
    assert_eq!(hello["mount"], "hello");
    assert_eq!(hello["digest"].as_str().unwrap().len(), 64);
}

#[test]
fn a_restart_loads_components_from_the_compile_cache() {
    let data = tempfile::tempdir().unwrap();
    let cache = data.path().join("cache-probe");
    // The shared test cache may already hold hello; a fresh one shows both
    // the compile and the cached load.
    let all_ready = |log: &str| log.matches("component ready").count() >= support::PLUGIN_COUNT;
    let first = support::start_with_cache(data.path(), &cache);
    let log = first.log_when(all_ready);
    assert_eq!(
        log.matches("from_cache=false").count(),
        support::PLUGIN_COUNT,
        "{log}"
    );
    first.terminate();
    let second = support::start_with_cache(data.path(), &cache);
    let log = second.log_when(all_ready);
    assert_eq!(
        log.matches("from_cache=true").count(),
        support::PLUGIN_COUNT,
        "{log}"
    );
    assert!(!log.contains("from_cache=false"), "{log}");
    assert_eq!(second.get("/api/hello/greet/again").status, 200);
}

#[test]
fn a_sigterm_while_plugins_load_still_stops_cleanly() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    support::build_plugins();
    let data = tempfile::tempdir().unwrap();
    let mut command = Command::new(support::tessera());
    command
        .arg("serve")
        .arg("--data")
        .arg(data.path())
        .args(["--listen", "127.0.0.1:0", "--no-build"])
        // A fresh cache makes every plugin compile, so loading takes a while.
        .arg("--cache")
        .arg(data.path().join("cache"));
    for root in support::plugin_roots() {
        command.arg("--plugins").arg(root);
    }
    let mut child = command
        .env("RUST_LOG", "info")
        .current_dir(support::repo_root())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in stderr.by_ref().map_while(Result::ok) {
        let loading = line.contains("component ready");
        seen.push(line);
        if loading {
            break;
        }
    }
    // Keep reading so the kernel's later log lines do not hit a closed pipe.
    let rest = std::thread::spawn(move || stderr.map_while(Result::ok).collect::<Vec<_>>());
    assert!(
        seen.last()
            .is_some_and(|line| line.contains("component ready")),
        "the kernel never started loading plugins:\n{}",
        seen.join("\n")
    );
    support::send_sigterm(child.id());
    let status = child.wait().unwrap();
    let rest = rest.join().unwrap();
    assert!(
        status.success(),
        "tessera exited with {status}; log:\n{}\n{}",
        seen.join("\n"),
        rest.join("\n")
    );
    assert!(rest.iter().any(|line| line.contains("shutdown requested")));
}

#[test]
fn a_refusal_before_the_body_is_read_closes_the_connection() {
    use std::io::{Read, Write};
    let data = tempfile::tempdir().unwrap();
    let kernel = Kernel::start(data.path());
    let address = kernel.base.trim_start_matches("http://").to_owned();
    let mut socket = std::net::TcpStream::connect(&address).unwrap();
    let body = r#"{"id":"x","title":"X"}"#;
    // Anonymous: the kernel's route rule refuses before the plugin (and
    // before anyone reads the body).
    write!(
        socket,
        "POST /api/entries/entries HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    socket.read_to_string(&mut response).unwrap();
    let head = response.to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 401"), "{response}");
    assert!(head.contains("connection: close"), "{response}");
    // The kernel keeps serving on new connections.
    assert_eq!(kernel.get("/healthz").status, 200);
}
