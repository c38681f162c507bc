//! The IoT plugin end to end, against the real binary: an administrator
//! registers devices (the token is shown once), devices send telemetry
//! over HTTP with their token (wrong, missing and oversized requests are
//! refused with JSON errors), the latest state and the raw and aggregated
//! series answer, a threshold rule raises `iot.consumable.low` once per
//! crossing (seen through `GET /admin/events`), a silent device is found
//! offline by the periodic job (`iot.device.offline`) and comes back
//! online, and the permissions are enforced.

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

/// A kernel with the IoT plugin, its jobs every second.
fn start(data: &std::path::Path) -> Kernel {
    let config = data.join("config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("tessera.iot.toml"),
        "offline-check-seconds = \"1\"\nretention-check-seconds = \"1\"\nmax-body-bytes = \"4096\"\nmax-batch-points = \"50\"\n",
    )
    .unwrap();
    support::start_with_plugins(
        data,
        &[("TESSERA_ADMIN_PASSWORD", support::ADMIN_PASSWORD)],
        &[support::repo_root().join("plugins/iot")],
    )
}

/// Register a device as the administrator; returns its token.
fn register(kernel: &Kernel, body: Value) -> String {
    let reply = kernel.admin_json("POST", "/api/iot/devices", Some(body));
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.json()["token"].as_str().unwrap().to_owned()
}

fn ingest(kernel: &Kernel, device: &str, token: &str, body: &str) -> Reply {
    kernel.call(
        "POST",
        &format!("/api/iot/ingest/{device}"),
        &[
            ("x-device-token", token),
            ("content-type", "application/json"),
        ],
        Some(body),
    )
}

fn send(kernel: &Kernel, device: &str, token: &str, points: Value) {
    let reply = ingest(
        kernel,
        device,
        token,
        &json!({ "points": points }).to_string(),
    );
    assert_eq!(reply.status, 202, "{}", reply.body);
}

/// Events of `topic` in the kernel's log, oldest first.
fn events(kernel: &Kernel, topic: &str) -> Vec<Value> {
    let reply = kernel.admin(
        "GET",
        &format!("/admin/events?topic={topic}&limit=1000"),
        None,
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|event| event["topic"] == topic)
        .cloned()
        .collect()
}

/// Poll until `events(topic)` satisfies `done`, at most 30 s.
fn wait_for_events(kernel: &Kernel, topic: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found = events(kernel, topic);
        if done(&found) {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "no matching {topic} event after 30 s: {found:?}\n{}",
            kernel.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn assert_error(reply: &Reply, status: u16, code: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.error_code(), code, "{}", reply.body);
    assert!(
        reply.json()["error"]["message"].is_string(),
        "{}",
        reply.body
    );
}

#[test]
fn telemetry_over_http_is_authenticated_stored_aggregated_and_raises_rules() {
    let data = tempfile::tempdir().unwrap();
    let kernel = start(data.path());

    let token = register(
        &kernel,
        json!({"id": "printer-1", "type": "printer", "account": "acme",
               "metadata": {"model": "LX-300", "sku": "INK-BLK"}}),
    );
    assert_eq!(token.len(), 64);
    let listed = kernel.admin_json("GET", "/api/iot/devices?account=acme", None);
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.json()["devices"][0]["id"], "printer-1");
    assert!(
        !listed.body.contains(&token),
        "the token is shown only once"
    );
    assert!(!listed.body.contains("token_hash"), "{}", listed.body);
    let again = kernel.admin_json(
        "POST",
        "/api/iot/devices",
        Some(json!({"id": "printer-1", "type": "printer", "account": "acme"})),
    );
    assert_error(&again, 409, "conflict");
    let invalid = kernel.admin_json(
        "POST",
        "/api/iot/devices",
        Some(json!({"id": "Printer 2", "type": "printer", "account": "acme"})),
    );
    assert_error(&invalid, 400, "invalid_device");

    // Device authentication, size and shape limits.
    let body = json!({"points": [{"metric": "ink.black", "value": 80}]}).to_string();
    assert_error(
        &ingest(&kernel, "printer-1", &"0".repeat(64), &body),
        401,
        "invalid_device_token",
    );
    assert_error(
        &ingest(&kernel, "printer-404", &token, &body),
        401,
        "invalid_device_token",
    );
    let no_token = kernel.post("/api/iot/ingest/printer-1", &body);
    assert_error(&no_token, 401, "device_token_required");
    let huge = json!({"points": vec![json!({"metric": "ink.black", "value": 1}); 200]}).to_string();
    assert_error(
        &ingest(&kernel, "printer-1", &token, &huge),
        413,
        "payload_too_large",
    );
    let too_many = json!({"points": vec![json!({"metric": "t", "value": 1}); 51]}).to_string();
    let refused = ingest(&kernel, "printer-1", &token, &too_many);
    assert_error(&refused, 400, "invalid_telemetry");
    assert!(
        refused.body.contains("at most 50 points"),
        "{}",
        refused.body
    );
    let bad_point =
        json!({"points": [{"metric": "ok", "value": 1}, {"metric": "Bad", "value": 1}]});
    let refused = ingest(&kernel, "printer-1", &token, &bad_point.to_string());
    assert_error(&refused, 400, "invalid_telemetry");
    assert!(
        refused.body.contains("points[1].metric"),
        "{}",
        refused.body
    );
    assert_error(
        &ingest(&kernel, "printer-1", &token, "not json"),
        400,
        "invalid_telemetry",
    );

    // A rule for every printer: black ink below 10 %.
    let rule = kernel.admin_json(
        "PUT",
        "/api/iot/rules/ink-low",
        Some(
            json!({"metric": "ink.black", "operator": "below", "threshold": 10,
                    "event": "iot.consumable.low", "device_type": "printer"}),
        ),
    );
    assert_eq!(rule.status, 201, "{}", rule.body);
    let bad_rule = kernel.admin_json(
        "PUT",
        "/api/iot/rules/bad",
        Some(
            json!({"metric": "ink.black", "operator": "below", "threshold": 10,
                    "event": "commerce.order.create"}),
        ),
    );
    assert_error(&bad_rule, 400, "invalid_rule");

    // Points in two minutes of one hour: raw, per minute, per hour, latest.
    // The previous hour, half past: within the raw retention (7 days).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let base = now - now % 3_600_000 - 3_600_000 + 60_000 * 30;
    send(
        &kernel,
        "printer-1",
        &token,
        json!([
            {"metric": "ink.black", "value": 80, "ts": base},
            {"metric": "ink.black", "value": 60, "ts": base + 1_000},
            {"metric": "ink.black", "value": 40, "ts": base + 61_000},
            {"metric": "pages", "value": 12, "ts": base + 61_000},
        ]),
    );
    let raw = kernel.admin_json(
        "GET",
        "/api/iot/devices/printer-1/series?metric=ink.black",
        None,
    );
    assert_eq!(raw.status, 200, "{}", raw.body);
    let values: Vec<f64> = raw.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["value"].as_f64().unwrap())
        .collect();
    assert_eq!(values, [80.0, 60.0, 40.0]);
    let minutes = kernel
        .admin_json(
            "GET",
            "/api/iot/devices/printer-1/series?metric=ink.black&resolution=minute",
            None,
        )
        .json();
    assert_eq!(
        minutes["items"],
        json!([
            {"ts": base, "min": 60.0, "max": 80.0, "avg": 70.0, "count": 2},
            {"ts": base + 60_000, "min": 40.0, "max": 40.0, "avg": 40.0, "count": 1},
        ])
    );
    let hours = kernel
        .admin_json(
            "GET",
            "/api/iot/devices/printer-1/series?metric=ink.black&resolution=hour",
            None,
        )
        .json();
    assert_eq!(hours["items"][0]["count"], 3);
    assert_eq!(hours["items"][0]["avg"], 60.0);
    let state = kernel.admin_json("GET", "/api/iot/devices/printer-1/state", None);
    assert_eq!(state.status, 200, "{}", state.body);
    let state = state.json();
    assert_eq!(state["metrics"]["ink.black"]["value"], 40.0);
    assert_eq!(state["metrics"]["pages"]["value"], 12.0);
    assert_eq!(state["offline"], false);
    assert!(events(&kernel, "iot.consumable.low").is_empty());

    // Crossing the threshold raises once; staying below does not raise
    // again; going back above rearms the rule.
    send(
        &kernel,
        "printer-1",
        &token,
        json!([{"metric": "ink.black", "value": 8}]),
    );
    let raised = wait_for_events(&kernel, "iot.consumable.low", |found| !found.is_empty());
    let payload = &raised[0]["payload"];
    assert_eq!(raised[0]["source"], "tessera.iot");
    assert_eq!(payload["device"], "printer-1");
    assert_eq!(payload["account"], "acme");
    assert_eq!(payload["rule"], "ink-low");
    assert_eq!(payload["value"], 8.0);
    assert_eq!(payload["metadata"]["sku"], "INK-BLK");
    send(
        &kernel,
        "printer-1",
        &token,
        json!([{"metric": "ink.black", "value": 5}]),
    );
    send(
        &kernel,
        "printer-1",
        &token,
        json!([{"metric": "ink.black", "value": 90}]),
    );
    assert_eq!(events(&kernel, "iot.consumable.low").len(), 1);
    send(
        &kernel,
        "printer-1",
        &token,
        json!([{"metric": "ink.black", "value": 3}]),
    );
    assert_eq!(events(&kernel, "iot.consumable.low").len(), 2);

    // A rotated token replaces the old one.
    let rotated = kernel.admin_json("POST", "/api/iot/devices/printer-1/token", None);
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    let new_token = rotated.json()["token"].as_str().unwrap().to_owned();
    assert_error(
        &ingest(&kernel, "printer-1", &token, &body),
        401,
        "invalid_device_token",
    );
    assert_eq!(ingest(&kernel, "printer-1", &new_token, &body).status, 202);

    // Deleting a device removes its data and its credentials.
    let deleted = kernel.admin_json("DELETE", "/api/iot/devices/printer-1", None);
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    assert_error(
        &ingest(&kernel, "printer-1", &new_token, &body),
        401,
        "invalid_device_token",
    );
    let gone = kernel.admin_json("GET", "/api/iot/devices/printer-1/state", None);
    assert_error(&gone, 404, "not_found");
}

#[test]
fn silent_devices_go_offline_and_come_back_and_permissions_are_enforced() {
    let data = tempfile::tempdir().unwrap();
    let kernel = start(data.path());
    let token = register(
        &kernel,
        json!({"id": "sensor-1", "type": "thermostat", "account": "acme",
               "offline_after_seconds": 1}),
    );
    let steady = register(
        &kernel,
        json!({"id": "sensor-2", "type": "thermostat", "account": "acme"}),
    );
    send(
        &kernel,
        "sensor-1",
        &token,
        json!([{"metric": "temperature", "value": 21.5}]),
    );
    send(
        &kernel,
        "sensor-2",
        &steady,
        json!([{"metric": "temperature", "value": 19}]),
    );

    let offline = wait_for_events(&kernel, "iot.device.offline", |found| !found.is_empty());
    assert_eq!(offline[0]["payload"]["device"], "sensor-1");
    assert_eq!(offline[0]["payload"]["account"], "acme");
    let state = kernel
        .admin_json("GET", "/api/iot/devices/sensor-1/state", None)
        .json();
    assert_eq!(state["offline"], true);
    // sensor-2 waits 300 s by default: not offline.
    let other = kernel
        .admin_json("GET", "/api/iot/devices/sensor-2", None)
        .json();
    assert_eq!(other["offline"], false);

    send(
        &kernel,
        "sensor-1",
        &token,
        json!([{"metric": "temperature", "value": 22}]),
    );
    let online = events(&kernel, "iot.device.online");
    assert_eq!(online.len(), 1, "{online:?}");
    assert_eq!(online[0]["payload"]["device"], "sensor-1");
    let jobs = kernel.admin("GET", "/admin/jobs", None);
    assert!(jobs.body.contains("offline-check"), "{}", jobs.body);
    assert!(jobs.body.contains("retention"), "{}", jobs.body);

    // Anonymous callers and users without the permissions are refused
    // before the plugin runs.
    assert_eq!(kernel.get("/api/iot/devices").status, 401);
    assert_eq!(
        kernel
            .post("/api/iot/devices", r#"{"id":"x","type":"t","account":"a"}"#)
            .status,
        401
    );
    let credentials = json!({"username": "visitor", "password": "visitor-password"}).to_string();
    assert_eq!(kernel.post("/auth/register", &credentials).status, 201);
    let login = kernel.post("/auth/login", &credentials);
    assert_eq!(login.status, 200, "{}", login.body);
    let cookie = login.set_cookies[0].split(';').next().unwrap().to_owned();
    let csrf = login.json()["csrf_token"].as_str().unwrap().to_owned();
    let listed = kernel.call(
        "GET",
        "/api/iot/devices",
        &[("cookie", &cookie), ("x-csrf-token", &csrf)],
        None,
    );
    assert_eq!(listed.status, 403, "{}", listed.body);
    let rules = kernel.call(
        "PUT",
        "/api/iot/rules/r",
        &[("cookie", &cookie), ("x-csrf-token", &csrf)],
        Some(r#"{"metric":"t","operator":"above","threshold":1,"event":"iot.hot"}"#),
    );
    assert_eq!(rules.status, 403, "{}", rules.body);
}
