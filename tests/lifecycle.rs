//! The module lifecycle end to end: the real `tessera` binary, real signed
//! packages built from this repository's components, the admin API and
//! `tessera admin`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use support::{Kernel, Reply, repo_root};
use tessera_kernel::package::{self, Payload, SigningKey, TrustStore};

/// The component built for `crate_name` (a plugin crate of this repo).
fn component(crate_name: &str) -> Vec<u8> {
    let path = repo_root()
        .join("target/plugins/wasm32-wasip2/release")
        .join(format!("{crate_name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|error| panic!("read {}: {error}", path.display()))
}

/// A manifest for a test plugin.
fn manifest(id: &str, version: &str, mount: &str, extra: &str) -> String {
    format!(
        "[plugin]\nid = \"{id}\"\nversion = \"{version}\"\napi = \"^0.2\"\nname = \"{id}\"\nmount = \"{mount}\"\n{extra}\n"
    )
}

/// A package of hello's component under another manifest.
fn hello_package(manifest: &str, key: Option<&SigningKey>) -> Vec<u8> {
    package::build(manifest, Payload::Wasm(&component("hello")), key).unwrap()
}

/// A publisher key the kernel on `data` trusts.
fn trusted_key(data: &Path) -> SigningKey {
    let key = SigningKey::generate().unwrap();
    let mut trust = TrustStore::open(data).unwrap();
    trust.add("acme", key.public_key()).unwrap();
    key
}

fn installed_ids(kernel: &Kernel) -> Vec<String> {
    let reply = kernel.admin("GET", "/admin/plugins", None);
    assert_eq!(reply.status, 200, "{}", reply.body);
    let mut ids: Vec<String> = reply.json()["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|plugin| plugin["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

fn assert_refused(reply: &Reply, status: u16, code: &str, mentions: &[&str]) {
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

#[test]
fn the_starter_profile_is_installed_and_the_admin_api_needs_the_token() {
    let data = tempfile::tempdir().unwrap();
    let kernel = Kernel::start(data.path());
    let ids = installed_ids(&kernel);
    assert!(ids.contains(&"tessera.hello".to_owned()), "{ids:?}");
    assert_eq!(ids.len(), support::PLUGIN_COUNT, "{ids:?}");
    let hello = kernel
        .admin("GET", "/admin/plugins/tessera.hello", None)
        .json();
    assert_eq!(hello["plugin"]["verified"], "trusted:development");
    assert_eq!(hello["plugin"]["enabled"], true);

    let anonymous = kernel.get("/admin/plugins");
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
    assert_eq!(anonymous.error_code(), "unauthenticated");
    let forged = kernel.call(
        "GET",
        "/admin/plugins",
        &[("authorization", "Bearer tsa_not-the-token")],
        None,
    );
    assert_eq!(forged.status, 401, "{}", forged.body);
    assert_eq!(forged.error_code(), "invalid_token");

    // A restart loads the installed packages, not the crates.
    kernel.terminate();
    let kernel = Kernel::start(data.path());
    assert!(
        kernel.log().contains("Loaded tessera.hello"),
        "{}",
        kernel.log()
    );
    assert_eq!(kernel.get("/api/hello/greet/again").status, 200);
}

#[test]
fn install_resolves_a_dependency_chain_and_uninstall_respects_dependents() {
    let data = tempfile::tempdir().unwrap();
    let kernel = Kernel::start(data.path());
    let key = trusted_key(data.path());
    let base = hello_package(&manifest("acme.base", "1.2.0", "base", ""), Some(&key));
    let app = hello_package(
        &manifest(
            "acme.app",
            "1.0.0",
            "app",
            "[dependencies]\n\"acme.base\" = \"^1.0\"\n[capabilities]\nstorage = true",
        ),
        Some(&key),
    );
    let before = installed_ids(&kernel);

    // The app needs the base, which is not installed.
    let refused = kernel.admin("POST", "/admin/plugins?consent=true", Some(&app));
    assert_refused(
        &refused,
        422,
        "dependency_missing",
        &["acme.app", "acme.base", "^1.0"],
    );
    assert_eq!(installed_ids(&kernel), before);

    let installed = kernel.admin("POST", "/admin/plugins?consent=true", Some(&base));
    assert_eq!(installed.status, 201, "{}", installed.body);
    assert_eq!(installed.json()["plugin"]["verified"], "trusted:acme");

    // Storage is a capability: without consent nothing is installed.
    let refused = kernel.admin("POST", "/admin/plugins", Some(&app));
    assert_refused(&refused, 409, "consent_required", &["storage"]);
    assert!(!installed_ids(&kernel).contains(&"acme.app".to_owned()));

    let installed = kernel.admin("POST", "/admin/plugins?consent=true", Some(&app));
    assert_eq!(installed.status, 201, "{}", installed.body);
    assert_eq!(
        kernel.get("/api/app/greet/chain").json()["message"],
        "Hello, chain!"
    );

    let refused = kernel.admin("DELETE", "/admin/plugins/acme.base", None);
    assert_refused(&refused, 409, "has_dependents", &["acme.app"]);
    assert_eq!(kernel.get("/api/base/greet/still").status, 200);

    // Remove the app, then the base is free to go.
    assert_eq!(
        kernel
            .admin("DELETE", "/admin/plugins/acme.app", None)
            .status,
        200
    );
    assert_eq!(
        kernel
            .admin("DELETE", "/admin/plugins/acme.base", None)
            .status,
        200
    );
    assert_eq!(kernel.get("/api/base/greet/gone").status, 404);
    assert_eq!(installed_ids(&kernel), before);
}

#[test]
fn bad_packages_are_refused_with_a_clear_message_and_nothing_changes() {
    let data = tempfile::tempdir().unwrap();
    let kernel = Kernel::start(data.path());
    let key = trusted_key(data.path());
    let before = installed_ids(&kernel);

    let unsigned = hello_package(&manifest("acme.unsigned", "1.0.0", "unsigned", ""), None);
    let refused = kernel.admin("POST", "/admin/plugins?consent=true", Some(&unsigned));
    assert_refused(
        &refused,
        403,
        "package_unsigned",
        &["not signed", "--allow-untrusted"],
    );

    let stranger = SigningKey::generate().unwrap();
    let untrusted = hello_package(
        &manifest("acme.stranger", "1.0.0", "stranger", ""),
        Some(&stranger),
    );
    let refused = kernel.admin("POST", "/admin/plugins?consent=true", Some(&untrusted));
    assert_refused(
        &refused,
        403,
        "package_untrusted",
        &[&stranger.public_key().fingerprint()],
    );

    let future = hello_package(
        &manifest("acme.future", "1.0.0", "future", "").replace("^0.2", "^9.0"),
        Some(&key),
    );
    let refused = kernel.admin("POST", "/admin/plugins?consent=true", Some(&future));
    assert_refused(&refused, 422, "incompatible_api", &["^9.0", "0.1.0"]);

    let mut tampered = hello_package(
        &manifest("acme.tampered", "1.0.0", "tampered", ""),
        Some(&key),
    );
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0x40;
    let refused = kernel.admin(
        "POST",
        "/admin/plugins?consent=true&allow-untrusted=true",
        Some(&tampered),
    );
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(
        ["package_tampered", "bad_package"].contains(&refused.error_code().as_str()),
        "{}",
        refused.body
    );

    assert_eq!(installed_ids(&kernel), before);
    assert!(!data.path().join("packages/acme.unsigned").exists());

    // The development flag lets an unsigned package in, and says so.
    let allowed = kernel.admin(
        "POST",
        "/admin/plugins?consent=true&allow-untrusted=true",
        Some(&unsigned),
    );
    assert_eq!(allowed.status, 201, "{}", allowed.body);
    assert_eq!(allowed.json()["plugin"]["verified"], "development");
}

#[test]
fn upgrade_under_load_fails_no_request_and_rollback_returns() {
    let data = tempfile::tempdir().unwrap();
    let kernel = Arc::new(Kernel::start(data.path()));
    let key = trusted_key(data.path());
    let v1 = hello_package(&manifest("acme.live", "1.0.0", "live", ""), Some(&key));
    let v2 = hello_package(
        &manifest(
            "acme.live",
            "1.1.0",
            "live",
            "[config]\ngreeting = \"Howdy\"",
        ),
        Some(&key),
    );
    assert_eq!(
        kernel
            .admin("POST", "/admin/plugins?consent=true", Some(&v1))
            .status,
        201
    );

    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (kernel, stop, served, failures) = (
            kernel.clone(),
            stop.clone(),
            served.clone(),
            failures.clone(),
        );
        workers.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let reply = kernel.get("/api/live/greet/load");
                if reply.status == 200 {
                    served.fetch_add(1, Ordering::Relaxed);
                } else {
                    failures
                        .lock()
                        .unwrap()
                        .push(format!("{} {}", reply.status, reply.body));
                }
            }
        }));
    }
    std::thread::sleep(Duration::from_millis(300));
    let upgraded = kernel.admin(
        "POST",
        "/admin/plugins/acme.live/upgrade?consent=true",
        Some(&v2),
    );
    assert_eq!(upgraded.status, 200, "{}", upgraded.body);
    assert_eq!(upgraded.json()["plugin"]["version"], "1.1.0");
    assert_eq!(upgraded.json()["plugin"]["previous"], "1.0.0");
    std::thread::sleep(Duration::from_millis(300));
    let rolled = kernel.admin("POST", "/admin/plugins/acme.live/rollback", None);
    assert_eq!(rolled.status, 200, "{}", rolled.body);
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.join().unwrap();
    }
    let failures = failures.lock().unwrap();
    assert!(
        failures.is_empty(),
        "failed requests during upgrade: {failures:?}"
    );
    assert!(
        served.load(Ordering::Relaxed) > 20,
        "too little load to mean anything"
    );

    assert_eq!(rolled.json()["plugin"]["version"], "1.0.0");
    assert_eq!(
        kernel.get("/api/live/greet/x").json()["message"],
        "Hello, x!"
    );

    // Not newer: refused, with the way out named.
    let refused = kernel.admin(
        "POST",
        "/admin/plugins/acme.live/upgrade?consent=true",
        Some(&v1),
    );
    assert_refused(&refused, 409, "not_an_upgrade", &["rollback"]);
}

#[test]
fn an_upgrade_asking_for_more_needs_fresh_consent() {
    let data = tempfile::tempdir().unwrap();
    let kernel = Kernel::start(data.path());
    let key = trusted_key(data.path());
    let v1 = hello_package(
        &manifest(
            "acme.grow",
            "1.0.0",
            "grow",
            "[capabilities]\nstorage = true",
        ),
        Some(&key),
    );
    let v2 = hello_package(
        &manifest(
            "acme.grow",
            "2.0.0",
            "grow",
            "[capabilities]\nstorage = true\noutbound = [\"https://crm.example.com\"]",
        ),
        Some(&key),
    );
    assert_eq!(
        kernel
            .admin("POST", "/admin/plugins?consent=true", Some(&v1))
            .status,
        201
    );
    let refused = kernel.admin("POST", "/admin/plugins/acme.grow/upgrade", Some(&v2));
    assert_refused(
        &refused,
        409,
        "consent_required",
        &["https://crm.example.com"],
    );
    assert!(
        !refused.body.contains("storage:"),
        "only the new capability is asked for: {}",
        refused.body
    );
    let status = kernel.admin("GET", "/admin/plugins/acme.grow", None).json();
    assert_eq!(status["plugin"]["version"], "1.0.0");

    let upgraded = kernel.admin(
        "POST",
        "/admin/plugins/acme.grow/upgrade?consent=true",
        Some(&v2),
    );
    assert_eq!(upgraded.status, 200, "{}", upgraded.body);
}

#[test]
fn a_failing_migration_leaves_data_and_version_as_they_were() {
    let data = tempfile::tempdir().unwrap();
    let kernel = Kernel::start(data.path());
    let key = trusted_key(data.path());
    let snoop = |version: &str, extra: &str| {
        let text = format!(
            "[plugin]\nid = \"tessera.test.snoop\"\nversion = \"{version}\"\napi = \"^0.2\"\nname = \"snoop\"\nmount = \"snoop\"\n[capabilities]\nstorage = true\n{extra}"
        );
        package::build(
            &text,
            Payload::Wasm(&component("fixture_snoop")),
            Some(&key),
        )
        .unwrap()
    };
    assert_eq!(kernel.put("/api/snoop/write/kept", "mine").status, 204);
    let failing = snoop("0.2.0", "[config]\nfail-migrate = \"true\"");
    let refused = kernel.admin(
        "POST",
        "/admin/plugins/tessera.test.snoop/upgrade?consent=true",
        Some(&failing),
    );
    assert_refused(
        &refused,
        422,
        "migration_failed",
        &["deliberate migration failure"],
    );

    let status = kernel
        .admin("GET", "/admin/plugins/tessera.test.snoop", None)
        .json();
    assert_eq!(status["plugin"]["version"], "0.1.0");
    assert_eq!(
        kernel.get("/api/snoop/read/half-migrated").json()["value"],
        serde_json::Value::Null
    );
    assert_eq!(kernel.get("/api/snoop/read/kept").status, 200);
    assert!(
        !data
            .path()
            .join("packages/tessera.test.snoop/tessera.test.snoop-0.2.0.tpkg")
            .exists()
    );
}

#[test]
fn disable_enable_and_the_admin_command_line() {
    let data = tempfile::tempdir().unwrap();
    let kernel = Kernel::start(data.path());
    let disabled = kernel.admin("POST", "/admin/plugins/tessera.test.trap/disable", None);
    assert_eq!(disabled.status, 200, "{}", disabled.body);
    assert_eq!(kernel.get("/api/trap/ok").error_code(), "plugin_not_found");
    let again = kernel.admin("POST", "/admin/plugins/tessera.test.trap/disable", None);
    assert_refused(&again, 409, "already_in_state", &["disabled"]);
    assert_eq!(
        kernel
            .admin("POST", "/admin/plugins/tessera.test.trap/enable", None)
            .status,
        200
    );
    assert_eq!(kernel.get("/api/trap/ok").status, 200);

    // The same through `tessera admin`, and a package made by
    // `tessera plugin pack`-compatible code, installed from a file.
    let key = trusted_key(data.path());
    let file = data.path().join("cli.tpkg");
    std::fs::write(
        &file,
        hello_package(&manifest("acme.cli", "1.0.0", "cli", ""), Some(&key)),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let output = std::process::Command::new(support::tessera())
            .arg("admin")
            .args(args)
            .arg("--url")
            .arg(&kernel.base)
            .arg("--data")
            .arg(data.path())
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned()
                + &String::from_utf8_lossy(&output.stderr),
        )
    };
    let (ok, out) = run(&["install", file.to_str().unwrap(), "--yes"]);
    assert!(ok, "{out}");
    assert!(out.contains("Installed acme.cli 1.0.0"), "{out}");
    let (ok, out) = run(&["list"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("acme.cli") && out.contains("tessera.hello"),
        "{out}"
    );
    let (ok, out) = run(&["uninstall", "tessera.nothing"]);
    assert!(!ok);
    assert!(out.contains("not installed"), "{out}");
    let (ok, out) = run(&["uninstall", "acme.cli", "--purge"]);
    assert!(ok, "{out}");
}
