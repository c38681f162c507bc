//! Per-plugin quotas end to end: limits read from `<data>/quotas.toml` at
//! startup, a clear refusal to the plugin that passes one, no effect on
//! other plugins, and the usage and refusals in `/metrics`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::process::Command;
use std::time::Duration;

use support::Kernel;

const SNOOP: &str = "tessera.test.snoop";

fn write_quotas(data: &std::path::Path, table: &str) {
    std::fs::write(
        data.join("quotas.toml"),
        format!("[\"{SNOOP}\"]\n{table}\n"),
    )
    .unwrap();
}

fn metric_line<'a>(metrics: &'a str, prefix: &str) -> &'a str {
    metrics
        .lines()
        .find(|line| line.starts_with(prefix))
        .unwrap_or_else(|| panic!("no metric {prefix} in:\n{metrics}"))
}

#[test]
fn writes_past_storage_bytes_are_refused_with_a_clear_error() {
    let data = tempfile::tempdir().unwrap();
    write_quotas(data.path(), "storage-bytes = 64");
    let kernel = Kernel::start(data.path());

    // Key (1 byte) + value (20 bytes): three entries fit in 64 bytes.
    let value = "x".repeat(20);
    for key in ["a", "b", "c"] {
        let reply = kernel.put(&format!("/api/snoop/write/{key}"), &value);
        assert_eq!(reply.status, 204, "write {key}: {}", reply.body);
    }
    let refused = kernel.put("/api/snoop/write/d", &value);
    assert_eq!(refused.status, 500, "{}", refused.body);
    assert_eq!(refused.error_code(), "storage_error");
    let message = refused.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    for expected in [SNOOP, "storage-bytes = 64", "nothing was written"] {
        assert!(
            message.contains(expected),
            "{expected:?} not in {message:?}"
        );
    }
    // Nothing was written.
    let read = kernel.get("/api/snoop/read/d");
    assert_eq!(read.status, 200, "{}", read.body);
    assert!(read.json()["value"].is_null(), "{}", read.body);
    // Shrinking an entry is always allowed, and makes room.
    assert_eq!(kernel.put("/api/snoop/write/a", "").status, 204);
    assert_eq!(kernel.put("/api/snoop/write/d", "yy").status, 204);

    // Other plugins are not affected.
    let hello = kernel.post("/api/hello/counter", "");
    assert_eq!(hello.status, 200, "{}", hello.body);
    let hello = kernel.get("/api/hello/counter");
    assert_eq!(hello.status, 200, "{}", hello.body);

    let metrics = kernel.get("/metrics").body;
    // a: 1, b: 21, c: 21, d: 3.
    assert_eq!(
        metric_line(
            &metrics,
            "tessera_plugin_storage_bytes{plugin=\"tessera.test.snoop\"}"
        ),
        "tessera_plugin_storage_bytes{plugin=\"tessera.test.snoop\"} 46"
    );
    assert_eq!(
        metric_line(
            &metrics,
            "tessera_plugin_quota_refusals_total{plugin=\"tessera.test.snoop\",kind=\"storage-bytes\"}"
        ),
        "tessera_plugin_quota_refusals_total{plugin=\"tessera.test.snoop\",kind=\"storage-bytes\"} 1"
    );
    // Writes and reads: a, b, c, refused d, read d, a, d. The refused
    // write was admitted by the operation rate, so it counts.
    assert_eq!(
        metric_line(
            &metrics,
            "tessera_plugin_storage_operations_total{plugin=\"tessera.test.snoop\"}"
        ),
        "tessera_plugin_storage_operations_total{plugin=\"tessera.test.snoop\"} 7"
    );
    // hello is metered too, without limits.
    metric_line(
        &metrics,
        "tessera_plugin_storage_operations_total{plugin=\"tessera.hello\"}",
    );

    let log = kernel.log_when(|log| log.contains("quota refusal"));
    assert!(log.contains("quota refusal"), "{log}");
    assert!(log.contains("storage-bytes"), "{log}");
}

#[test]
fn storage_operations_past_the_rate_are_refused_then_allowed_again() {
    let data = tempfile::tempdir().unwrap();
    write_quotas(data.path(), "storage-ops-per-second = 1");
    let kernel = Kernel::start(data.path());

    // A burst of one operation: a quick second write is refused.
    let mut refusal = None;
    for attempt in 0..5 {
        let reply = kernel.put(&format!("/api/snoop/write/k{attempt}"), "v");
        if reply.status != 204 {
            refusal = Some(reply);
            break;
        }
    }
    let refusal = refusal.expect("a write past storage-ops-per-second = 1 was refused");
    assert_eq!(refusal.status, 500, "{}", refusal.body);
    assert!(
        refusal.body.contains("storage-ops-per-second = 1"),
        "{}",
        refusal.body
    );
    // A second later the bucket has a token again.
    std::thread::sleep(Duration::from_millis(1100));
    let reply = kernel.put("/api/snoop/write/later", "v");
    assert_eq!(reply.status, 204, "{}", reply.body);

    let metrics = kernel.get("/metrics").body;
    let line = metric_line(
        &metrics,
        "tessera_plugin_quota_refusals_total{plugin=\"tessera.test.snoop\",kind=\"storage-ops-per-second\"}",
    );
    assert!(!line.ends_with(" 0"), "{line}");
}

#[test]
fn a_malformed_quotas_file_stops_the_kernel() {
    let data = tempfile::tempdir().unwrap();
    write_quotas(data.path(), "storage-byte = 64");
    let output = Command::new(support::tessera())
        .arg("serve")
        .arg("--data")
        .arg(data.path())
        .args(["--listen", "127.0.0.1:0", "--no-build"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("quotas.toml"), "{stderr}");
    assert!(stderr.contains("storage-byte"), "{stderr}");
}

/// Run `tessera admin <args>` against `kernel`; success and what it printed.
fn admin_cli(kernel: &Kernel, args: &[&str]) -> (bool, String) {
    let output = Command::new(support::tessera())
        .arg("admin")
        .args(args)
        .arg("--url")
        .arg(&kernel.base)
        .arg("--data")
        .arg(&kernel.data)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr),
    )
}

#[test]
fn limits_set_over_the_admin_api_are_enforced_reported_and_kept() {
    let data = tempfile::tempdir().unwrap();
    let kernel = Kernel::start(data.path());
    let quota_path = format!("/admin/plugins/{SNOOP}/quota");

    // Unlimited to begin with.
    let reply = kernel.admin("GET", &quota_path, None);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(
        reply.json()["quota"]["limits"]["storage-bytes"].is_null(),
        "{}",
        reply.body
    );

    // Bad requests are refused with a typed error and change nothing.
    let reply = kernel.admin("PUT", &quota_path, Some(br#"{"storage-byte": 64}"#));
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(reply.error_code(), "bad_quota");
    assert!(reply.body.contains("storage-byte"), "{}", reply.body);
    let reply = kernel.admin("PUT", &quota_path, Some(br#"{"storage-bytes": -1}"#));
    assert_eq!(reply.error_code(), "bad_quota", "{}", reply.body);
    let reply = kernel.admin(
        "PUT",
        "/admin/plugins/acme.nothing/quota",
        Some(br#"{"storage-bytes": 64}"#),
    );
    assert_eq!(reply.status, 404, "{}", reply.body);
    assert_eq!(reply.error_code(), "not_installed");
    assert!(!data.path().join("quotas.toml").exists());

    // Set over the API: enforced from the next call.
    let reply = kernel.admin("PUT", &quota_path, Some(br#"{"storage-bytes": 64}"#));
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["quota"]["limits"]["storage-bytes"], 64);
    let value = "x".repeat(20);
    for key in ["a", "b", "c"] {
        let reply = kernel.put(&format!("/api/snoop/write/{key}"), &value);
        assert_eq!(reply.status, 204, "write {key}: {}", reply.body);
    }
    let refused = kernel.put("/api/snoop/write/d", &value);
    assert_eq!(refused.status, 500, "{}", refused.body);
    assert_eq!(refused.error_code(), "storage_error");
    assert!(
        refused.body.contains("storage-bytes = 64"),
        "{}",
        refused.body
    );
    // Other plugins keep working.
    assert_eq!(kernel.post("/api/hello/counter", "").status, 200);

    // Usage reads back, in the quota route and in the plugin's status.
    let reply = kernel.admin("GET", &quota_path, None);
    let usage = &reply.json()["quota"]["usage"];
    assert_eq!(usage["storage-bytes"], 63, "{}", reply.body);
    assert_eq!(usage["refusals"]["storage-bytes"], 1, "{}", reply.body);
    let reply = kernel.admin("GET", &format!("/admin/plugins/{SNOOP}"), None);
    assert_eq!(
        reply.json()["plugin"]["quota"]["usage"]["storage-bytes"],
        63,
        "{}",
        reply.body
    );
    assert_eq!(
        reply.json()["plugin"]["quota"]["limits"]["storage-bytes"],
        64
    );
    let text = std::fs::read_to_string(data.path().join("quotas.toml")).unwrap();
    assert!(
        text.contains(SNOOP) && text.contains("storage-bytes = 64"),
        "{text}"
    );

    // `tessera admin quota` shows and changes one limit, keeping the others.
    let (ok, out) = admin_cli(&kernel, &["quota", SNOOP]);
    assert!(ok, "{out}");
    assert!(
        out.contains("storage-bytes") && out.contains("63 bytes stored"),
        "{out}"
    );
    let (ok, out) = admin_cli(&kernel, &["quota", SNOOP, "--events-per-second", "5"]);
    assert!(ok, "{out}");
    let reply = kernel.admin("GET", &quota_path, None);
    assert_eq!(reply.json()["quota"]["limits"]["storage-bytes"], 64);
    assert_eq!(reply.json()["quota"]["limits"]["events-per-second"], 5);
    let (ok, out) = admin_cli(&kernel, &["quota", SNOOP, "--storage-bytes", "lots"]);
    assert!(!ok, "{out}");
    assert!(out.contains("unlimited"), "{out}");
    kernel.terminate();

    // Kept across a restart.
    let kernel = Kernel::start(data.path());
    let refused = kernel.put("/api/snoop/write/d", &value);
    assert_eq!(refused.error_code(), "storage_error", "{}", refused.body);
    let reply = kernel.admin("GET", &quota_path, None);
    assert_eq!(reply.json()["quota"]["limits"]["storage-bytes"], 64);
    assert_eq!(reply.json()["quota"]["limits"]["events-per-second"], 5);

    // Lifted from the command line: the write passes.
    let (ok, out) = admin_cli(&kernel, &["quota", SNOOP, "--storage-bytes", "unlimited"]);
    assert!(ok, "{out}");
    assert!(out.contains("unlimited"), "{out}");
    assert_eq!(kernel.put("/api/snoop/write/d", &value).status, 204);
    kernel.terminate();
}
