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
