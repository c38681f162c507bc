//! The integrations plugin against the real kernel: outgoing webhooks
//! delivered over loopback to a receiver this test runs, signed, retried
//! after a failure and replayed; incoming webhooks refused with a bad
//! signature and turned into events with a good one.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use support::Kernel;

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// A webhook receiver on loopback: answers 500 to the first `failures`
/// requests, 200 afterwards, and keeps every request.
struct Receiver {
    origin: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn start(failures: usize) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let kept = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let mut headers = Vec::new();
                loop {
                    let mut header = String::new();
                    reader.read_line(&mut header).unwrap();
                    let header = header.trim_end();
                    if header.is_empty() {
                        break;
                    }
                    let (name, value) = header.split_once(':').unwrap();
                    headers.push((name.trim().to_owned(), value.trim().to_owned()));
                }
                let length: usize = headers
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
                    .map_or(0, |(_, value)| value.parse().unwrap());
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                let count = {
                    let mut all = kept.lock().unwrap();
                    all.push(Received { headers, body });
                    all.len()
                };
                let status = if count <= failures {
                    "500 Internal Server Error"
                } else {
                    "200 OK"
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                );
            }
        });
        Self { origin, received }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

fn hmac_hex(secret: &str, parts: &[&[u8]]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    for part in parts {
        mac.update(part);
    }
    hex_of(&mac.finalize().into_bytes())
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks a `Tessera-Signature` as a receiver following docs/integrations.md.
fn signature_holds(secret: &str, header: &str, body: &[u8]) -> bool {
    let mut timestamp = "";
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => timestamp = value,
            Some(("v1", value)) => signatures.push(value),
            _ => {}
        }
    }
    let expected = hmac_hex(secret, &[timestamp.as_bytes(), b".", body]);
    signatures.contains(&expected.as_str())
}

fn start(data: &std::path::Path, origins: &str) -> Kernel {
    start_configured(data, origins, "")
}

/// As [`start`], with `extra` lines in the plugin's configuration.
fn start_configured(data: &std::path::Path, origins: &str, extra: &str) -> Kernel {
    let config = data.join("config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("tessera.integrations.toml"),
        format!("webhook-origins = \"{origins}\"\nretry-base-ms = \"300\"\nmax-attempts = \"4\"\n{extra}"),
    )
    .unwrap();
    support::start_with_plugins(
        data,
        &[("TESSERA_ADMIN_PASSWORD", support::ADMIN_PASSWORD)],
        &[
            support::repo_root().join("plugins/cms"),
            support::repo_root().join("plugins/integrations"),
        ],
    )
}

/// Calls `fetch` until `ready` holds, for up to 30 s; the last value.
fn poll<T>(fetch: impl Fn() -> T, ready: impl Fn(&T) -> bool) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let value = fetch();
        if ready(&value) || std::time::Instant::now() > deadline {
            return value;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn webhooks_are_signed_retried_and_replayed_and_inbound_calls_are_checked() {
    let receiver = Receiver::start(1);
    let data = tempfile::tempdir().unwrap();
    let kernel = start(data.path(), &receiver.origin);

    // Only origins the administrator listed may receive webhooks.
    let refused = kernel.admin_json(
        "POST",
        "/api/integrations/webhooks",
        Some(json!({"url": "https://elsewhere.example.com/hook", "topics": ["cms.*"]})),
    );
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert_eq!(refused.json()["error"]["code"], "origin_not_allowed");
    let anonymous = kernel.get("/api/integrations/webhooks");
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);

    let created = kernel.admin_json(
        "POST",
        "/api/integrations/webhooks",
        Some(
            json!({"url": format!("{}/hook", receiver.origin), "topics": ["cms.entry.published"]}),
        ),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let webhook = created.json()["id"].as_str().unwrap().to_owned();
    let secret = created.json()["secret"].as_str().unwrap().to_owned();
    let shown = kernel.admin_json(
        "GET",
        &format!("/api/integrations/webhooks/{webhook}"),
        None,
    );
    assert!(
        shown.json().get("secret").is_none(),
        "the secret is shown once: {}",
        shown.body
    );

    // A published entry is delivered: refused once by the receiver (500),
    // then accepted on the retry.
    let defined = kernel.admin_json(
        "PUT",
        "/api/cms/types/note",
        Some(json!({"fields": [{"name": "title", "type": "text"}]})),
    );
    assert_eq!(defined.status, 201, "{}", defined.body);
    let entry = kernel.admin_json(
        "POST",
        "/api/cms/types/note/entries",
        Some(json!({"data": {"title": "Hello"}})),
    );
    assert_eq!(entry.status, 201, "{}", entry.body);
    let id = entry.json()["id"].as_str().unwrap().to_owned();
    let published = kernel.admin_json("POST", &format!("/api/cms/entries/{id}/publish"), None);
    assert_eq!(published.status, 200, "{}", published.body);

    let list = poll(
        || {
            kernel.admin_json(
                "GET",
                &format!("/api/integrations/webhooks/{webhook}/deliveries"),
                None,
            )
        },
        |reply| reply.json()["items"][0]["state"] == "delivered",
    );
    let delivery = list.json()["items"][0].clone();
    assert_eq!(delivery["state"], "delivered", "{}", list.body);
    let attempts = delivery["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{}", list.body);
    assert_eq!(attempts[0]["status"], 500);
    assert_eq!(attempts[1]["status"], 200);

    let received = receiver.received();
    assert_eq!(received.len(), 2);
    let last = &received[1];
    assert_eq!(last.header("tessera-event"), Some("cms.entry.published"));
    let signature = last.header("tessera-signature").unwrap();
    assert!(
        signature_holds(&secret, signature, &last.body),
        "{signature}"
    );
    assert!(!signature_holds("wrong", signature, &last.body));
    let body: Value = serde_json::from_slice(&last.body).unwrap();
    assert_eq!(body["topic"], "cms.entry.published");
    assert_eq!(body["payload"]["id"], id.as_str());

    // A replay sends the same body again, as a new delivery.
    let delivery_id = delivery["id"].as_str().unwrap();
    let replay = kernel.admin_json(
        "POST",
        &format!("/api/integrations/deliveries/{delivery_id}/replay"),
        None,
    );
    assert_eq!(replay.status, 202, "{}", replay.body);
    assert_eq!(replay.json()["replay_of"], delivery_id);
    let received = poll(|| receiver.received(), |all| all.len() >= 3);
    assert_eq!(received.len(), 3);
    assert_eq!(received[2].body, received[1].body);

    // Inbound: a source with a secret; a bad signature is refused and
    // publishes nothing, a good one becomes an event.
    let source = kernel.admin_json(
        "PUT",
        "/api/integrations/sources/erp",
        Some(json!({"scheme": "tessera", "description": "The ERP"})),
    );
    assert_eq!(source.status, 200, "{}", source.body);
    let source_secret = source.json()["secret"].as_str().unwrap().to_owned();
    let payload = br#"{"order": "SO-1", "status": "shipped"}"#;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let forged = format!(
        "t={now},v1={}",
        hmac_hex("not-the-secret", &[now.as_bytes(), b".", payload])
    );
    let bad = kernel.call(
        "POST",
        "/api/integrations/inbound/erp",
        &[
            ("tessera-signature", &forged),
            ("content-type", "application/json"),
        ],
        Some(std::str::from_utf8(payload).unwrap()),
    );
    assert_eq!(bad.status, 401, "{}", bad.body);
    assert_eq!(bad.json()["error"]["code"], "bad_signature");
    let unsigned = kernel.post(
        "/api/integrations/inbound/erp",
        std::str::from_utf8(payload).unwrap(),
    );
    assert_eq!(unsigned.status, 401, "{}", unsigned.body);
    let good = format!(
        "t={now},v1={}",
        hmac_hex(&source_secret, &[now.as_bytes(), b".", payload])
    );
    let accepted = kernel.call(
        "POST",
        "/api/integrations/inbound/erp",
        &[
            ("tessera-signature", &good),
            ("content-type", "application/json"),
        ],
        Some(std::str::from_utf8(payload).unwrap()),
    );
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    let events = kernel.admin_json("GET", "/admin/events?topic=integrations.inbound", None);
    assert_eq!(events.status, 200, "{}", events.body);
    let items = events.json()["events"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        items.len(),
        1,
        "only the signed call became an event: {}",
        events.body
    );
    assert_eq!(items[0]["payload"]["body"]["order"], "SO-1");
}

#[test]
fn each_webhook_keeps_only_its_newest_finished_deliveries() {
    let receiver = Receiver::start(0);
    let data = tempfile::tempdir().unwrap();
    let kernel = start_configured(data.path(), &receiver.origin, "keep-deliveries = \"2\"\n");
    let created = kernel.admin_json(
        "POST",
        "/api/integrations/webhooks",
        Some(json!({"url": format!("{}/hook", receiver.origin), "topics": ["cms.entry.created"]})),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let webhook = created.json()["id"].as_str().unwrap().to_owned();
    let defined = kernel.admin_json(
        "PUT",
        "/api/cms/types/note",
        Some(json!({"fields": [{"name": "title", "type": "text"}]})),
    );
    assert_eq!(defined.status, 201, "{}", defined.body);
    for n in 1..=5 {
        let entry = kernel.admin_json(
            "POST",
            "/api/cms/types/note/entries",
            Some(json!({"data": {"title": format!("note {n}")}})),
        );
        assert_eq!(entry.status, 201, "{}", entry.body);
    }
    // All five are delivered; the log keeps the newest two.
    let received = poll(|| receiver.received(), |all| all.len() >= 5);
    assert_eq!(received.len(), 5);
    let deliveries = format!("/api/integrations/webhooks/{webhook}/deliveries?limit=100");
    let list = poll(
        || kernel.admin_json("GET", &deliveries, None),
        |reply| reply.json()["items"].as_array().unwrap().len() == 2,
    );
    let items = list.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2, "{}", list.body);
    assert!(
        items.iter().all(|item| item["state"] == "delivered"),
        "{}",
        list.body
    );
    let kept: Vec<String> = items
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect();
    // The pruned ones are gone entirely: the oldest delivery id is `dl_2`
    // (the webhook took `wh_1`).
    let delivery_status = |id: &str| {
        let path = format!("/api/integrations/deliveries/{id}");
        kernel.admin_json("GET", &path, None).status
    };
    assert_eq!(delivery_status("dl_2"), 404);
    assert_eq!(delivery_status(&kept[0]), 200);

    // Deleting the webhook removes its finished deliveries too.
    let deleted = kernel.admin_json(
        "DELETE",
        &format!("/api/integrations/webhooks/{webhook}"),
        None,
    );
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    assert_eq!(delivery_status(&kept[0]), 404);
}
