//! The event bus end to end, against the real binary: plugins publish,
//! subscribers receive in order, failures are retried and dead-lettered,
//! dead letters replay, and nothing acknowledged is lost across `kill -9`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Kernel, Reply};

fn as_admin(kernel: &Kernel, method: &str, path: &str, body: Option<&str>) -> Reply {
    let token = format!("Bearer {}", kernel.admin_token());
    kernel.call(method, path, &[("authorization", &token)], body)
}

fn create_entry(kernel: &Kernel, id: &str) -> Reply {
    let body = json!({ "id": id, "title": id }).to_string();
    let reply = as_admin(kernel, "POST", "/api/entries/entries", Some(&body));
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply
}

fn set_mode(kernel: &Kernel, mode: &str) {
    let reply = kernel.call("PUT", "/api/listener/mode", &[], Some(mode));
    assert_eq!(reply.status, 204, "{}", reply.body);
}

fn seen(kernel: &Kernel) -> Vec<Value> {
    kernel.get("/api/listener/seen").json()["seen"]
        .as_array()
        .unwrap()
        .clone()
}

/// Wait (up to 30 s) until `done` holds for the listener's record.
fn wait_seen(kernel: &Kernel, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let seen = seen(kernel);
        if done(&seen) {
            return seen;
        }
        assert!(
            Instant::now() < deadline,
            "gave up waiting; seen: {seen:#?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn entry_ids(seen: &[Value]) -> Vec<String> {
    seen.iter()
        .filter(|event| event["topic"] == "cms.entry.created")
        .map(|event| event["payload"]["id"].as_str().unwrap().to_owned())
        .collect()
}

fn subscription(kernel: &Kernel) -> Value {
    let reply = as_admin(kernel, "GET", "/admin/events/subscriptions", None);
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["plugin"] == "tessera.test.listener")
        .cloned()
        .expect("the listener subscribes")
}

#[test]
fn events_reach_subscribers_in_order_and_survive_kill_9() {
    let data = tempfile::tempdir().unwrap();
    let kernel = support::start_with_admin(data.path());
    for n in 1..=5 {
        create_entry(&kernel, &format!("e{n}"));
    }
    // A kernel event reaches plugins too.
    let body = r#"{"username":"newcomer","password":"newcomer-password"}"#;
    assert_eq!(kernel.post("/auth/register", body).status, 201);

    let seen = wait_seen(&kernel, |seen| seen.len() >= 6);
    assert_eq!(entry_ids(&seen), ["e1", "e2", "e3", "e4", "e5"]);
    let orders: Vec<u64> = seen
        .iter()
        .map(|event| event["order"].as_u64().unwrap())
        .collect();
    assert_eq!(
        orders,
        [1, 2, 3, 4, 5, 6],
        "delivered in log order: {seen:#?}"
    );
    assert!(
        seen.iter()
            .all(|event| event["id"].as_str().unwrap().parse::<u64>().is_ok())
    );
    let registered = seen
        .iter()
        .find(|e| e["topic"] == "identity.user.registered")
        .unwrap();
    assert_eq!(registered["source"], "kernel");
    assert_eq!(registered["payload"]["username"], "newcomer");
    assert_eq!(seen[0]["source"], "tessera.test.entries");

    // The listener starts failing: e6 is published (acknowledged) but not
    // handled when the kernel is killed.
    let metrics = kernel.get("/metrics").body;
    assert!(
        metrics.contains(r#"tessera_events_published_total{source="tessera.test.entries"}"#),
        "{metrics}"
    );
    set_mode(&kernel, "fail");
    create_entry(&kernel, "e6");
    let deadline = Instant::now() + Duration::from_secs(10);
    while subscription(&kernel)["retrying"].is_null() {
        assert!(Instant::now() < deadline, "{}", subscription(&kernel));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(subscription(&kernel)["lag"].as_u64().unwrap() >= 1);
    kernel.kill9();

    let kernel = support::start_with_admin(data.path());
    set_mode(&kernel, "ok");
    let seen = wait_seen(&kernel, |seen| entry_ids(seen).len() == 6);
    assert_eq!(entry_ids(&seen), ["e1", "e2", "e3", "e4", "e5", "e6"]);
    let subscription = subscription(&kernel);
    assert_eq!(subscription["dead_letters"], 0, "{subscription}");

    let metrics = kernel.get("/metrics").body;
    assert!(
        metrics.contains(
            r#"tessera_event_deliveries_total{plugin="tessera.test.listener",outcome="delivered"}"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("tessera_event_subscription_lag{plugin=\"tessera.test.listener\"}"),
        "{metrics}"
    );
}

#[test]
fn failing_deliveries_are_dead_lettered_and_replayed() {
    let data = tempfile::tempdir().unwrap();
    let kernel = support::start_with_admin(data.path());
    set_mode(&kernel, "fail");
    create_entry(&kernel, "doomed");
    create_entry(&kernel, "second");

    // Both are retried, then given up; delivery moves on in order.
    let deadline = Instant::now() + Duration::from_secs(30);
    let dead = loop {
        let reply = as_admin(
            &kernel,
            "GET",
            "/admin/events/dead-letters?plugin=tessera.test.listener",
            None,
        );
        assert_eq!(reply.status, 200, "{}", reply.body);
        let dead = reply.json()["dead_letters"].as_array().unwrap().clone();
        if dead.len() == 2 {
            break dead;
        }
        assert!(Instant::now() < deadline, "{}", reply.body);
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(dead[0]["attempts"], 5, "{dead:#?}");
    assert!(
        dead[0]["error"]
            .as_str()
            .unwrap()
            .contains("failing on purpose")
    );
    assert_eq!(dead[0]["topic"], "cms.entry.created");
    assert!(seen(&kernel).is_empty());
    let metrics = kernel.get("/metrics").body;
    assert!(
        metrics.contains(r#"outcome="dead_lettered"} 2"#),
        "{metrics}"
    );

    // Replaying while the plugin still fails keeps the dead letter.
    let seq = dead[0]["seq"].as_u64().unwrap();
    let path = format!("/admin/events/dead-letters/tessera.test.listener/{seq}/replay");
    let again = as_admin(&kernel, "POST", &path, None);
    assert_eq!(again.status, 502, "{}", again.body);
    assert_eq!(again.error_code(), "replay_failed");

    set_mode(&kernel, "ok");
    let replayed = as_admin(&kernel, "POST", &path, None);
    assert_eq!(replayed.status, 200, "{}", replayed.body);
    assert_eq!(entry_ids(&seen(&kernel)), ["doomed"]);
    let left = as_admin(&kernel, "GET", "/admin/events/dead-letters", None);
    assert_eq!(
        left.json()["dead_letters"].as_array().unwrap().len(),
        1,
        "{}",
        left.body
    );
    let missing = as_admin(&kernel, "POST", &path, None);
    assert_eq!(missing.status, 404, "{}", missing.body);

    // The log, its topics and the audit of the replay are visible to admins.
    let topics = as_admin(&kernel, "GET", "/admin/events/topics", None);
    assert!(topics.body.contains("cms.entry.created"), "{}", topics.body);
    assert!(
        topics.body.contains("kernel.plugin.installed"),
        "{}",
        topics.body
    );
    let log = as_admin(&kernel, "GET", "/admin/events?topic=cms.entry.", None);
    assert_eq!(
        log.json()["events"][0]["payload"]["id"],
        "doomed",
        "{}",
        log.body
    );
    let audit = as_admin(&kernel, "GET", "/admin/audit?action=event.replayed", None);
    assert_eq!(
        audit.json()["events"].as_array().unwrap().len(),
        3,
        "{}",
        audit.body
    );
    // Reading events needs the permission.
    assert_eq!(kernel.get("/admin/events").status, 401);
}

#[test]
fn a_subscriber_that_fails_twice_gets_the_event_exactly_as_published_on_the_third_try() {
    let data = tempfile::tempdir().unwrap();
    let kernel = support::start_with_admin(data.path());
    set_mode(&kernel, "flaky");
    create_entry(&kernel, "third-time");
    let seen = wait_seen(&kernel, |seen| !seen.is_empty());
    assert_eq!(seen.len(), 1, "{seen:#?}");
    // Byte for byte what the entries plugin published, as the log holds it.
    let log = as_admin(
        &kernel,
        "GET",
        "/admin/events?topic=cms.entry.created",
        None,
    );
    let logged = &log.json()["events"][0];
    assert_eq!(seen[0]["id"].as_str().unwrap(), logged["seq"].to_string());
    assert_eq!(seen[0]["source"], "tessera.test.entries");
    assert_eq!(seen[0]["published_at"], logged["published_at"]);
    let raw: Value = serde_json::from_str(seen[0]["raw"].as_str().unwrap()).unwrap();
    assert_eq!(raw, logged["payload"]);
    assert_eq!(raw, json!({ "site": "default", "id": "third-time" }));
    let metrics = kernel.get("/metrics").body;
    assert!(
        metrics.contains(
            r#"tessera_event_deliveries_total{plugin="tessera.test.listener",outcome="failed"} 2"#
        ),
        "{metrics}"
    );
    assert_eq!(subscription(&kernel)["dead_letters"], 0);
}

#[test]
fn publishing_outside_the_declared_topics_is_refused() {
    let data = tempfile::tempdir().unwrap();
    let kernel = support::start_with_admin(data.path());
    // The snoop fixture declares no events at all.
    let reply = kernel.call(
        "POST",
        "/api/snoop/publish/cms.entry.created",
        &[],
        Some("{}"),
    );
    assert_eq!(reply.status, 403, "{}", reply.body);
    let log = as_admin(&kernel, "GET", "/admin/events?topic=cms.", None);
    assert_eq!(
        log.json()["events"].as_array().unwrap().len(),
        0,
        "{}",
        log.body
    );
}

/// Wait (up to 30 s) until every subscriber has handled the whole log.
fn wait_no_lag(kernel: &Kernel) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let reply = as_admin(kernel, "GET", "/admin/events/subscriptions", None);
        assert_eq!(reply.status, 200, "{}", reply.body);
        let body = reply.json();
        let subscriptions = body["subscriptions"].as_array().unwrap();
        if subscriptions.iter().all(|s| s["lag"] == 0) {
            return;
        }
        assert!(Instant::now() < deadline, "{}", reply.body);
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn logged_entry_ids(kernel: &Kernel) -> Vec<String> {
    let log = as_admin(kernel, "GET", "/admin/events?topic=cms.entry.", None);
    assert_eq!(log.status, 200, "{}", log.body);
    log.json()["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["payload"]["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn handled_events_past_their_retention_are_compacted_and_dead_letters_keep_theirs() {
    let data = tempfile::tempdir().unwrap();
    // Retention 0: an event may go as soon as every subscriber handled it.
    // Compaction is asked for explicitly; the timer would be an hour away.
    std::fs::write(
        data.path().join("kernel.toml"),
        "[events]\nretention-hours = 0\ncompact-every-seconds = 3600\n",
    )
    .unwrap();
    let kernel = support::start_with_admin(data.path());
    let retention = as_admin(&kernel, "GET", "/admin/events/retention", None);
    assert_eq!(retention.status, 200, "{}", retention.body);
    assert_eq!(
        retention.json()["retention_seconds"],
        0,
        "{}",
        retention.body
    );
    assert_eq!(retention.json()["compact_every_seconds"], 3600);

    // `pinned` is dead-lettered; `a` and `b` are handled.
    set_mode(&kernel, "fail");
    create_entry(&kernel, "pinned");
    let deadline = Instant::now() + Duration::from_secs(30);
    while subscription(&kernel)["dead_letters"] != 1 {
        assert!(Instant::now() < deadline, "{}", subscription(&kernel));
        std::thread::sleep(Duration::from_millis(100));
    }
    set_mode(&kernel, "ok");
    create_entry(&kernel, "a");
    create_entry(&kernel, "b");
    wait_seen(&kernel, |seen| entry_ids(seen) == ["a", "b"]);
    wait_no_lag(&kernel);
    assert_eq!(logged_entry_ids(&kernel), ["pinned", "a", "b"]);
    let last_seq = as_admin(&kernel, "GET", "/admin/events", None).json()["last_seq"]
        .as_u64()
        .unwrap();

    // (The compaction at startup already removed the install events.)
    let logged = as_admin(&kernel, "GET", "/admin/events?limit=1000", None);
    let logged = logged.json()["events"].as_array().unwrap().len() as u64;
    // Compacting needs the manage permission.
    assert_eq!(kernel.post("/admin/events/compact", "").status, 401);
    let compacted = as_admin(&kernel, "POST", "/admin/events/compact", None);
    assert_eq!(compacted.status, 200, "{}", compacted.body);
    let compaction = &compacted.json()["compaction"];
    assert_eq!(
        compaction["handled_through"], last_seq,
        "{}",
        compacted.body
    );
    // Everything went but the dead-lettered event.
    assert_eq!(
        compaction["removed"].as_u64().unwrap(),
        logged - 1,
        "{}",
        compacted.body
    );
    assert_eq!(logged_entry_ids(&kernel), ["pinned"]);
    let all = as_admin(&kernel, "GET", "/admin/events?limit=1000", None);
    assert_eq!(
        all.json()["events"].as_array().unwrap().len(),
        1,
        "{}",
        all.body
    );
    assert_eq!(all.json()["last_seq"], last_seq);

    // The dead letter still replays, and then its event can go too.
    let dead = as_admin(&kernel, "GET", "/admin/events/dead-letters", None);
    let seq = dead.json()["dead_letters"][0]["seq"].as_u64().unwrap();
    let path = format!("/admin/events/dead-letters/tessera.test.listener/{seq}/replay");
    let replayed = as_admin(&kernel, "POST", &path, None);
    assert_eq!(replayed.status, 200, "{}", replayed.body);
    assert!(entry_ids(&seen(&kernel)).contains(&"pinned".to_owned()));
    let again = as_admin(&kernel, "POST", "/admin/events/compact", None);
    assert_eq!(again.json()["compaction"]["removed"], 1, "{}", again.body);
    assert!(logged_entry_ids(&kernel).is_empty());

    // Numbering goes on after a compaction, and across a restart.
    create_entry(&kernel, "c");
    wait_seen(&kernel, |seen| entry_ids(seen).contains(&"c".to_owned()));
    let newest_seq = |kernel: &Kernel, id: &str| {
        let log = as_admin(kernel, "GET", "/admin/events?topic=cms.entry.", None);
        let events = log.json()["events"].as_array().unwrap().clone();
        let event = events.iter().find(|event| event["payload"]["id"] == id);
        event.unwrap_or_else(|| panic!("{id} in {}", log.body))["seq"]
            .as_u64()
            .unwrap()
    };
    let c = newest_seq(&kernel, "c");
    assert!(c > last_seq);
    drop(kernel);
    let kernel = support::start_with_admin(data.path());
    create_entry(&kernel, "d");
    assert!(newest_seq(&kernel, "d") > c);

    let metrics = kernel.get("/metrics").body;
    assert!(
        metrics.contains("tessera_events_removed_total"),
        "{metrics}"
    );
    let audit = as_admin(
        &kernel,
        "GET",
        "/admin/audit?action=event.log.compacted",
        None,
    );
    assert_eq!(
        audit.json()["events"].as_array().unwrap().len(),
        2,
        "{}",
        audit.body
    );
}
