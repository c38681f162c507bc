//! Native plugins: `examples/native-hello` and the bad-ABI fixture, built as
//! shared libraries for the host and loaded through
//! `tessera_kernel::native::NativePlugin`, directly and from signed
//! packages.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde_json::{Value, json};
use tessera_kernel::native::{
    NATIVE_ABI_VERSION, NativeError, NativeEvent, NativePlugin, NativePolicy, NativeRequest,
};
use tessera_kernel::package::{self, Package, Payload, SigningKey, TrustStore};

const ALLOWED: NativePolicy = NativePolicy {
    enabled: true,
    signed_by_trusted_key: true,
};

/// The file name cargo gives the library of `package`.
fn library_name(package: &str) -> String {
    format!(
        "{}{}{}",
        std::env::consts::DLL_PREFIX,
        package.replace('-', "_"),
        std::env::consts::DLL_SUFFIX
    )
}

/// Build native-hello and the bad-ABI fixture once per test binary, for
/// the host, in a target directory of their own (this test's cargo holds
/// the lock on `target/`). Returns their directory.
fn native_libraries() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let root = support::repo_root();
        let target_dir = root.join("target/native");
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args([
                "build",
                "-p",
                "native-hello",
                "-p",
                "fixture-native-bad-abi",
            ])
            .arg("--target-dir")
            .arg(&target_dir)
            .current_dir(&root)
            .stdout(Stdio::null())
            .status()
            .expect("run cargo build for the native plugins");
        assert!(
            status.success(),
            "building the native plugins failed: {status}"
        );
        target_dir.join("debug")
    })
}

fn native_hello_path() -> PathBuf {
    native_libraries().join(library_name("native-hello"))
}

fn bad_abi_path() -> PathBuf {
    native_libraries().join(library_name("fixture-native-bad-abi"))
}

fn native_hello() -> NativePlugin {
    NativePlugin::load(&native_hello_path(), &ALLOWED).expect("load native-hello")
}

fn json_body(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|error| panic!("not JSON ({error}): {}", String::from_utf8_lossy(body)))
}

#[test]
fn native_hello_serves_its_routes_when_enabled_and_trusted() {
    let plugin = native_hello();
    assert_eq!(plugin.abi_version(), NATIVE_ABI_VERSION);

    let root = plugin.handle(NativeRequest::new("GET", "/")).unwrap();
    assert_eq!(root.status, 200);
    assert_eq!(root.header("content-type"), Some("application/json"));
    assert_eq!(
        json_body(&root.body),
        json!({ "plugin": "native-hello", "native": true })
    );

    let greet = plugin
        .handle(NativeRequest::new("GET", "/greet/x"))
        .unwrap();
    assert_eq!(greet.status, 200);
    assert_eq!(json_body(&greet.body), json!({ "message": "Hello, x!" }));

    let echo = plugin
        .handle(NativeRequest {
            headers: vec![("content-type".into(), "application/json".into())],
            body: br#"{"items":[1,"two",null],"bytes":"\u00e9"}"#.to_vec(),
            request_id: "req-echo".into(),
            ..NativeRequest::new("POST", "/echo")
        })
        .unwrap();
    assert_eq!(echo.status, 200);
    assert_eq!(
        json_body(&echo.body),
        json!({ "echo": { "items": [1, "two", null], "bytes": "é" } })
    );

    let missing = plugin
        .handle(NativeRequest::new("GET", "/nowhere"))
        .unwrap();
    assert_eq!(missing.status, 404);
    assert_eq!(json_body(&missing.body)["error"]["code"], "not_found");
}

#[test]
fn a_panicking_route_is_a_typed_error_and_the_process_survives() {
    let plugin = native_hello();
    let error = plugin
        .handle(NativeRequest {
            request_id: "req-panic".into(),
            ..NativeRequest::new("GET", "/panic")
        })
        .unwrap_err();
    match &error {
        NativeError::Panicked { what, message, .. } => {
            assert_eq!(*what, "request");
            assert!(
                message.contains("panicked on purpose (request req-panic)"),
                "{message}"
            );
        }
        other => panic!("expected Panicked, got {other:?}"),
    }
    assert!(
        error.to_string().contains("panicked handling the request"),
        "{error}"
    );
    // The plugin and this process carry on.
    let after = plugin.handle(NativeRequest::new("GET", "/")).unwrap();
    assert_eq!(after.status, 200);
}

#[test]
fn events_are_acknowledged() {
    let plugin = native_hello();
    plugin
        .on_event(NativeEvent {
            id: "e1".into(),
            source: "tessera.cms".into(),
            published_at: 1,
            ..NativeEvent::new("cms.entry.published", br#"{"id":7}"#.to_vec())
        })
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_calls_run_concurrently_on_the_blocking_pool() {
    let plugin = native_hello();
    let calls: Vec<_> = (0..32)
        .map(|n| {
            let plugin = plugin.clone();
            tokio::spawn(async move {
                plugin
                    .handle_async(NativeRequest::new("GET", format!("/greet/n{n}")))
                    .await
            })
        })
        .collect();
    for (n, call) in calls.into_iter().enumerate() {
        let response = call.await.unwrap().unwrap();
        assert_eq!(
            json_body(&response.body),
            json!({ "message": format!("Hello, n{n}!") })
        );
    }
    let error = plugin
        .handle_async(NativeRequest::new("GET", "/panic"))
        .await
        .unwrap_err();
    assert!(matches!(error, NativeError::Panicked { .. }), "{error}");
    plugin
        .on_event_async(NativeEvent::new("a.b", Vec::new()))
        .await
        .unwrap();
}

#[test]
fn a_library_built_for_another_abi_is_refused_naming_both_versions() {
    let error = NativePlugin::load(&bad_abi_path(), &ALLOWED).unwrap_err();
    assert!(
        matches!(
            error,
            NativeError::AbiMismatch {
                found: 999,
                expected: 2,
                oldest: 1,
                ..
            }
        ),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("was built for native ABI 999, this kernel speaks ABI 2"),
        "{message}"
    );
    assert!(message.contains("libfixture_native_bad_abi"), "{message}");
}

#[test]
fn native_plugins_are_refused_when_disabled() {
    let disabled = NativePolicy {
        enabled: false,
        signed_by_trusted_key: true,
    };
    let error = NativePlugin::load(&native_hello_path(), &disabled).unwrap_err();
    assert!(matches!(error, NativeError::Disabled { .. }), "{error:?}");
    assert!(
        error.to_string().contains(
            "native plugins are disabled; set `native-plugins = true` in <data>/kernel.toml to allow trusted native plugins"
        ),
        "{error}"
    );
}

#[test]
fn native_plugins_not_signed_by_a_trusted_key_are_refused() {
    let untrusted = NativePolicy {
        enabled: true,
        signed_by_trusted_key: false,
    };
    let error = NativePlugin::load(&native_hello_path(), &untrusted).unwrap_err();
    assert!(matches!(error, NativeError::Untrusted { .. }), "{error:?}");
    assert!(
        error.to_string().contains("not signed by a trusted key"),
        "{error}"
    );
}

/// A shared library that is not a Tessera plugin: the C library this test
/// runs with, found in this process's memory map.
#[cfg(target_os = "linux")]
fn libc_path() -> PathBuf {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    maps.lines()
        .filter_map(|line| line.split_whitespace().nth(5))
        .find(|path| {
            Path::new(path)
                .file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with("libc.so") || name.starts_with("libc-"))
        })
        .map(PathBuf::from)
        .expect("libc in /proc/self/maps")
}

#[cfg(target_os = "linux")]
#[test]
fn a_library_without_the_abi_symbols_is_not_a_tessera_plugin() {
    let error = NativePlugin::load(&libc_path(), &ALLOWED).unwrap_err();
    assert!(
        matches!(
            error,
            NativeError::MissingSymbol {
                symbol: "tessera_native_abi_version",
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        error.to_string().contains(
            "is not a Tessera native plugin: it does not export `tessera_native_abi_version`"
        ),
        "{error}"
    );
}

#[test]
fn a_missing_library_is_an_open_error_naming_it() {
    let error = NativePlugin::load(Path::new("/nonexistent/libnothing.so"), &ALLOWED).unwrap_err();
    assert!(matches!(error, NativeError::Open { .. }), "{error:?}");
    assert!(
        error.to_string().contains("/nonexistent/libnothing.so"),
        "{error}"
    );
}

/// The host's target triple, as a native package names it.
fn host_target() -> String {
    let output = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .arg("-vV")
        .output()
        .expect("run rustc -vV");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .expect("rustc -vV names the host")
        .trim()
        .to_owned()
}

/// native-hello's manifest, `native-plugin.toml`.
fn native_hello_manifest() -> String {
    std::fs::read_to_string(support::repo_root().join("examples/native-hello/native-plugin.toml"))
        .expect("read the native-hello manifest")
}

/// The library at `path` packed for `target` under `manifest`, signed by
/// `key` if any.
fn native_package_bytes(
    manifest: &str,
    path: &Path,
    target: &str,
    key: Option<&SigningKey>,
) -> Vec<u8> {
    let library = path.file_name().unwrap().to_str().unwrap();
    let bytes = std::fs::read(path).unwrap();
    package::build(
        manifest,
        Payload::Native {
            target,
            library,
            bytes: &bytes,
        },
        key,
    )
    .unwrap()
}

/// native-hello packed as a native package signed by `key`.
fn native_hello_package(key: &SigningKey) -> Package {
    let packed = native_package_bytes(
        &native_hello_manifest(),
        &native_hello_path(),
        &host_target(),
        Some(key),
    );
    Package::from_bytes(&packed).unwrap()
}

#[test]
fn a_signed_native_package_loads_from_its_bytes_only_when_its_key_is_trusted() {
    let data = tempfile::tempdir().unwrap();
    let publisher = SigningKey::generate().unwrap();
    let package = native_hello_package(&publisher);
    assert_eq!(package.manifest().plugin.id, "tessera.native-hello");
    let library = package
        .payload_entry()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(library, library_name("native-hello"));
    let scratch = data.path().join("native");

    // Signed, but by a key nobody trusts yet: refused, nothing written.
    let mut trust = TrustStore::open(data.path()).unwrap();
    let policy = NativePolicy {
        enabled: true,
        signed_by_trusted_key: package.verification(&trust).is_trusted(),
    };
    let error =
        NativePlugin::load_bytes(package.payload(), &library, &policy, &scratch).unwrap_err();
    assert!(matches!(error, NativeError::Untrusted { .. }), "{error:?}");
    assert!(!scratch.exists());

    // Trusted: written under the scratch directory and served.
    trust.add("publisher", publisher.public_key()).unwrap();
    let policy = NativePolicy {
        enabled: true,
        signed_by_trusted_key: package.verification(&trust).is_trusted(),
    };
    let plugin = NativePlugin::load_bytes(package.payload(), &library, &policy, &scratch).unwrap();
    assert!(plugin.path().starts_with(&scratch), "{:?}", plugin.path());
    assert_eq!(
        plugin.path().file_name().unwrap().to_str(),
        Some(library.as_str())
    );
    let response = plugin.handle(NativeRequest::new("GET", "/")).unwrap();
    assert_eq!(
        json_body(&response.body),
        json!({ "plugin": "native-hello", "native": true })
    );

    // Loading the same bytes again reuses the file.
    let again = NativePlugin::load_bytes(package.payload(), &library, &policy, &scratch).unwrap();
    assert_eq!(again.path(), plugin.path());
}

/// Write `<data>/kernel.toml`.
fn native_plugins_switch(data: &Path, enabled: bool) {
    std::fs::write(
        data.join("kernel.toml"),
        format!("native-plugins = {enabled}\n"),
    )
    .unwrap();
}

fn assert_refused(reply: &support::Reply, status: u16, code: &str, mentions: &[&str]) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.error_code(), code, "{}", reply.body);
    let message = reply.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    for needle in mentions {
        assert!(
            message.contains(needle),
            "`{message}` does not mention `{needle}`"
        );
    }
}

fn installed_ids(kernel: &support::Kernel) -> Vec<String> {
    let reply = kernel.admin("GET", "/admin/plugins", None);
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|plugin| plugin["id"].as_str().unwrap().to_owned())
        .collect()
}

const NATIVE_ID: &str = "tessera.native-hello";

/// The real `tessera` binary: refused while native plugins are off, then
/// installed (through `tessera admin install`) once `kernel.toml` enables
/// them and the publisher's key is trusted, served at its mount, upgraded,
/// rolled back, disabled, enabled, reloaded on restart and uninstalled.
/// Untrusted, unsigned, wrong-target and bad-ABI packages are refused.
#[test]
fn the_lifecycle_installs_native_plugins_only_when_enabled_and_trusted() {
    let data = tempfile::tempdir().unwrap();
    let publisher = SigningKey::generate().unwrap();
    TrustStore::open(data.path())
        .unwrap()
        .add("publisher", publisher.public_key())
        .unwrap();
    let target = host_target();
    let signed = native_package_bytes(
        &native_hello_manifest(),
        &native_hello_path(),
        &target,
        Some(&publisher),
    );

    // Off by default: refused with a clear message, even with the
    // development flag, and nothing changes.
    let kernel = support::Kernel::start(data.path());
    let before = installed_ids(&kernel);
    for query in ["?consent=true", "?consent=true&allow-untrusted=true"] {
        let refused = kernel.admin("POST", &format!("/admin/plugins{query}"), Some(&signed));
        assert_refused(
            &refused,
            403,
            "native_plugins_disabled",
            &[NATIVE_ID, "native-plugins = true", "kernel.toml"],
        );
    }
    assert_eq!(installed_ids(&kernel), before);
    assert_eq!(
        kernel.get("/api/native-hello/").error_code(),
        "plugin_not_found"
    );
    assert!(!data.path().join("packages").join(NATIVE_ID).exists());
    kernel.terminate();

    // On: only packages signed by a trusted key, built for this target,
    // speaking this ABI.
    native_plugins_switch(data.path(), true);
    let kernel = support::Kernel::start(data.path());
    let stranger = SigningKey::generate().unwrap();
    let untrusted = native_package_bytes(
        &native_hello_manifest(),
        &native_hello_path(),
        &target,
        Some(&stranger),
    );
    let refused = kernel.admin(
        "POST",
        "/admin/plugins?consent=true&allow-untrusted=true",
        Some(&untrusted),
    );
    assert_refused(
        &refused,
        403,
        "native_untrusted",
        &[NATIVE_ID, "does not trust", "never with --allow-untrusted"],
    );
    let unsigned = native_package_bytes(
        &native_hello_manifest(),
        &native_hello_path(),
        &target,
        None,
    );
    let refused = kernel.admin(
        "POST",
        "/admin/plugins?consent=true&allow-untrusted=true",
        Some(&unsigned),
    );
    assert_refused(&refused, 403, "native_untrusted", &["not signed"]);
    let elsewhere = native_package_bytes(
        &native_hello_manifest(),
        &native_hello_path(),
        "riscv64gc-unknown-none-elf",
        Some(&publisher),
    );
    let refused = kernel.admin("POST", "/admin/plugins?consent=true", Some(&elsewhere));
    assert_refused(
        &refused,
        422,
        "native_wrong_target",
        &["riscv64gc-unknown-none-elf", &target],
    );
    let bad_abi = native_package_bytes(
        "[plugin]\nid = \"tessera.test.native-bad-abi\"\nversion = \"0.1.0\"\napi = \"^0.1\"\nname = \"Bad ABI\"\nmount = \"native-bad-abi\"\n",
        &bad_abi_path(),
        &target,
        Some(&publisher),
    );
    let refused = kernel.admin("POST", "/admin/plugins?consent=true", Some(&bad_abi));
    assert_refused(
        &refused,
        422,
        "native_abi_mismatch",
        &["native ABI 999", &format!("ABI {NATIVE_ABI_VERSION}")],
    );
    // Native code needs consent like a capability.
    let refused = kernel.admin("POST", "/admin/plugins", Some(&signed));
    assert_refused(&refused, 409, "consent_required", &["native code"]);
    assert_eq!(installed_ids(&kernel), before);

    // Installed through `tessera admin install`.
    let file = data.path().join("native-hello-0.1.0.tpkg");
    std::fs::write(&file, &signed).unwrap();
    let output = Command::new(support::tessera())
        .args(["admin", "install"])
        .arg(&file)
        .arg("--yes")
        .arg("--url")
        .arg(&kernel.base)
        .arg("--data")
        .arg(data.path())
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{printed}");
    assert!(printed.contains("native code"), "{printed}");
    assert!(
        printed.contains("Installed tessera.native-hello 0.1.0 at /api/native-hello/"),
        "{printed}"
    );

    // Served at its mount with the same mapping as a component.
    let root = kernel.get("/api/native-hello/");
    assert_eq!(root.status, 200, "{}", root.body);
    assert_eq!(
        root.json(),
        json!({ "plugin": "native-hello", "native": true })
    );
    assert!(root.request_id.is_some());
    let echo = kernel.post("/api/native-hello/echo", r#"{"a":1}"#);
    assert_eq!(echo.status, 200, "{}", echo.body);
    assert_eq!(echo.json(), json!({ "echo": { "a": 1 } }));
    let panicked = kernel.get("/api/native-hello/panic");
    assert_refused(&panicked, 500, "plugin_failed", &[NATIVE_ID, "panic"]);
    // The plugin saw the kernel's request id, and the details are logged.
    let request_id = panicked.request_id.clone().unwrap();
    let expected = format!("panicked on purpose (request {request_id})");
    let log =
        kernel.log_when(|log| log.contains(&expected) && log.contains("native plugin call failed"));
    assert!(log.contains(&expected), "{log}");
    assert!(log.contains("native plugin call failed"), "{log}");
    assert_eq!(kernel.get("/api/native-hello/").status, 200);
    let listed = kernel.get("/plugins").json();
    let entry = listed["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|plugin| plugin["id"] == NATIVE_ID)
        .unwrap_or_else(|| panic!("{NATIVE_ID} not in /plugins: {listed}"))
        .clone();
    assert_eq!(entry["kind"], "native");
    assert_eq!(entry["mount"], "native-hello");
    let hello = listed["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|plugin| plugin["id"] == "tessera.hello")
        .unwrap()
        .clone();
    assert_eq!(hello["kind"], "wasm");
    let status = kernel.admin("GET", &format!("/admin/plugins/{NATIVE_ID}"), None);
    assert_eq!(status.json()["plugin"]["kind"], "native", "{}", status.body);
    assert!(
        status.json()["plugin"]["verified"]
            .as_str()
            .unwrap()
            .starts_with("trusted:publisher"),
        "{}",
        status.body
    );
    // The library was written under the data directory.
    assert!(data.path().join("native").is_dir());

    // Upgrade, rollback, disable, enable, as for a component.
    let upgraded = native_package_bytes(
        &native_hello_manifest().replace("version = \"0.1.0\"", "version = \"0.2.0\""),
        &native_hello_path(),
        &target,
        Some(&publisher),
    );
    let reply = kernel.admin(
        "POST",
        &format!("/admin/plugins/{NATIVE_ID}/upgrade"),
        Some(&upgraded),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["plugin"]["version"], "0.2.0");
    assert_eq!(kernel.get("/api/native-hello/").status, 200);
    let reply = kernel.admin(
        "POST",
        &format!("/admin/plugins/{NATIVE_ID}/rollback"),
        None,
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["plugin"]["version"], "0.1.0");
    assert_eq!(kernel.get("/api/native-hello/").status, 200);
    let reply = kernel.admin("POST", &format!("/admin/plugins/{NATIVE_ID}/disable"), None);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        kernel.get("/api/native-hello/").error_code(),
        "plugin_not_found"
    );
    assert!(
        !kernel.get("/plugins").body.contains(NATIVE_ID),
        "a disabled plugin is not listed"
    );
    let reply = kernel.admin("POST", &format!("/admin/plugins/{NATIVE_ID}/enable"), None);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(kernel.get("/api/native-hello/").status, 200);
    kernel.terminate();

    // Reloaded on restart.
    let kernel = support::Kernel::start(data.path());
    let root = kernel.get("/api/native-hello/");
    assert_eq!(root.status, 200, "{}", root.body);
    kernel.terminate();

    // Switched off again: the installed plugin is not loaded, and says why.
    native_plugins_switch(data.path(), false);
    let kernel = support::Kernel::start(data.path());
    assert_eq!(
        kernel.get("/api/native-hello/").error_code(),
        "plugin_not_found"
    );
    let log = kernel.log_when(|log| log.contains("native plugins are disabled"));
    assert!(
        log.contains(&format!("Plugin {NATIVE_ID} not loaded")),
        "{log}"
    );
    let reply = kernel.admin("DELETE", &format!("/admin/plugins/{NATIVE_ID}"), None);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(!installed_ids(&kernel).contains(&NATIVE_ID.to_owned()));
    kernel.terminate();
}

#[test]
fn an_invalid_kernel_toml_stops_the_kernel_naming_the_key() {
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("kernel.toml"), "native-plugin = true\n").unwrap();
    let output = Command::new(support::tessera())
        .arg("serve")
        .arg("--data")
        .arg(data.path())
        .args(["--listen", "127.0.0.1:0", "--no-build"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("kernel.toml"), "{stderr}");
    assert!(stderr.contains("native-plugin"), "{stderr}");
}
