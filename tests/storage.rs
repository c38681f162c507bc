//! Storage through the WIT interface: durability across restarts and
//! `kill -9`, isolation between plugins, no lost updates under concurrency.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use support::Kernel;

fn counter(kernel: &Kernel) -> i64 {
    let reply = kernel.get("/api/hello/counter");
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["value"].as_i64().expect("counter value")
}

fn increment(kernel: &Kernel) -> i64 {
    let reply = kernel.post("/api/hello/counter", "");
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["value"].as_i64().expect("counter value")
}

#[test]
fn counter_survives_a_graceful_restart() {
    let data = tempfile::tempdir().unwrap();
    let kernel = Kernel::start(data.path());
    assert_eq!(counter(&kernel), 0);
    assert_eq!(increment(&kernel), 1);
    assert_eq!(increment(&kernel), 2);
    kernel.terminate();

    let kernel = Kernel::start(data.path());
    assert_eq!(counter(&kernel), 2);
    assert_eq!(increment(&kernel), 3);
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    let data = tempfile::tempdir().unwrap();
    let kernel = Kernel::start(data.path());
    let mut last = 0;
    for _ in 0..25 {
        last = increment(&kernel);
    }
    assert_eq!(last, 25);
    // No shutdown, no final flush: only what was acknowledged as durable.
    kernel.kill9();

    let kernel = Kernel::start(data.path());
    assert_eq!(counter(&kernel), 25);
}

#[test]
fn concurrent_increments_lose_no_update() {
    let data = tempfile::tempdir().unwrap();
    let kernel = Kernel::start(data.path());
    let threads = 8;
    let per_thread = 10;
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                for _ in 0..per_thread {
                    increment(&kernel);
                }
            });
        }
    });
    assert_eq!(counter(&kernel), threads * per_thread);
}

#[test]
fn a_plugin_cannot_read_another_plugins_keys() {
    let data = tempfile::tempdir().unwrap();
    let kernel = Kernel::start(data.path());
    assert_eq!(increment(&kernel), 1);

    // snoop asks for the very key hello uses: it sees only its own namespace.
    let reply = kernel.get("/api/snoop/read/counter");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["value"], serde_json::Value::Null);

    // Writing the same key name in its own namespace leaves hello's alone.
    assert_eq!(kernel.put("/api/snoop/write/counter", "999").status, 204);
    assert_eq!(kernel.get("/api/snoop/read/counter").json()["value"], "999");
    assert_eq!(counter(&kernel), 1);

    // Its key listing shows its own key only.
    let keys = kernel.get("/api/snoop/keys").json();
    assert_eq!(keys["keys"], serde_json::json!(["counter"]));
}

#[test]
fn undeclared_invoke_publish_and_outbound_are_refused_and_logged() {
    let data = tempfile::tempdir().unwrap();
    let kernel = Kernel::start(data.path());
    let attempts = [
        ("GET", "/api/snoop/invoke/tessera.hello", "tessera.hello"),
        (
            "POST",
            "/api/snoop/publish/cms.entry.published",
            "cms.entry.published",
        ),
        ("GET", "/api/snoop/outbound", "https://crm.example.com"),
    ];
    for (method, path, target) in attempts {
        let reply = kernel.call(method, path, &[], None);
        assert_eq!(reply.status, 403, "{path}: {}", reply.body);
        assert_eq!(reply.error_code(), "not_permitted", "{path}");
        assert!(reply.body.contains(target), "{path}: {}", reply.body);
    }
    // Each attempt is in the kernel log and in the audit log.
    let log = kernel.log_when(|log| log.matches("capability denied").count() >= 3);
    for capability in [
        "capability=\"invoke\"",
        "capability=\"events.publish\"",
        "capability=\"outbound\"",
    ] {
        assert!(log.contains(capability), "{capability} in:\n{log}");
    }
    let audit = kernel.admin("GET", "/admin/audit?action=capability.denied", None);
    assert_eq!(audit.status, 200, "{}", audit.body);
    let events = audit.json()["events"].as_array().unwrap().clone();
    assert_eq!(events.len(), 3, "{}", audit.body);
    assert!(
        events
            .iter()
            .all(|event| event["actor"] == "tessera.test.snoop")
    );
}

#[test]
fn a_plugin_without_the_storage_capability_is_refused() {
    let data = tempfile::tempdir().unwrap();
    let kernel = Kernel::start(data.path());
    // The trap fixture declares no storage; its /storage route tries anyway.
    let reply = kernel.get("/api/trap/storage");
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert_eq!(reply.error_code(), "not_permitted");
}
