//! The ERP connector against the real kernel and a small ERP this test runs
//! on loopback: orders and invoices pulled page by page from the stored
//! cursor, invalid records and unmapped customers reported, an ERP outage
//! reported without losing the cursor, records pushed through a signed
//! incoming webhook, and a buyer reading their company's orders.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use support::Kernel;
use support::session::Session;

const TOKEN: &str = "erp-token-8f2a";

/// The ERP's data and what it was asked.
#[derive(Default)]
struct ErpState {
    orders: Vec<Value>,
    invoices: Vec<Value>,
    /// The query strings of the requests it answered, in order.
    queries: Vec<String>,
    /// Answer 500 to the next requests while true.
    down: bool,
}

/// A REST ERP following the reference API of docs/integrations.md: records
/// in change order; the cursor is how many were handed out.
struct FakeErp {
    url: String,
    state: Arc<Mutex<ErpState>>,
}

impl FakeErp {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/api", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(ErpState::default()));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let mut authorized = false;
                loop {
                    let mut header = String::new();
                    reader.read_line(&mut header).unwrap();
                    if header.trim().is_empty() {
                        break;
                    }
                    if header.to_ascii_lowercase().starts_with("authorization:") {
                        authorized = header.trim().ends_with(&format!("Bearer {TOKEN}"));
                    }
                }
                let target = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let (path, query) = target.split_once('?').unwrap_or((&target, ""));
                let (status, body) = answer(&shared, path, query, authorized);
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Self { url, state }
    }

    fn add_order(&self, order: Value) {
        self.state.lock().unwrap().orders.push(order);
    }

    fn add_invoice(&self, invoice: Value) {
        self.state.lock().unwrap().invoices.push(invoice);
    }

    fn queries(&self) -> Vec<String> {
        self.state.lock().unwrap().queries.clone()
    }

    fn set_down(&self, down: bool) {
        self.state.lock().unwrap().down = down;
    }
}

fn answer(state: &Mutex<ErpState>, path: &str, query: &str, authorized: bool) -> (String, String) {
    let mut state = state.lock().unwrap();
    state.queries.push(format!("{path}?{query}"));
    if !authorized {
        return (
            "401 Unauthorized".into(),
            r#"{"error": "bad token"}"#.into(),
        );
    }
    if state.down {
        return (
            "500 Internal Server Error".into(),
            r#"{"error": "maintenance"}"#.into(),
        );
    }
    let parameter = |name: &str| {
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
            .map(str::to_owned)
    };
    let from: usize = parameter("cursor").map_or(0, |cursor| cursor.parse().unwrap());
    let limit: usize = parameter("limit").unwrap().parse().unwrap();
    let all = match path {
        "/api/orders" => &state.orders,
        "/api/invoices" => &state.invoices,
        _ => return ("404 Not Found".into(), "{}".into()),
    };
    let end = (from + limit).min(all.len());
    let items: Vec<Value> = all[from..end].to_vec();
    let body = json!({"items": items, "cursor": end.to_string(), "more": end < all.len()});
    ("200 OK".into(), body.to_string())
}

fn order(number: &str, customer: &str, status: &str, day: u32) -> Value {
    json!({"number": number, "customer": customer, "status": status,
           "placed_at": format!("2026-11-{day:02}T10:00:00Z"),
           "total": {"amount": 10_000 + i64::from(day), "currency": "EUR"},
           "lines": [{"sku": "TONER-1", "quantity": 2}]})
}

fn start(data: &std::path::Path, erp: &FakeErp) -> Kernel {
    let config = data.join("config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("tessera.erp.toml"),
        format!(
            "erp-url = \"{}\"\nerp-token = \"{TOKEN}\"\npage-size = \"2\"\n",
            erp.url
        ),
    )
    .unwrap();
    let root = support::repo_root();
    support::start_with_plugins(
        data,
        &[("TESSERA_ADMIN_PASSWORD", support::ADMIN_PASSWORD)],
        &[
            root.join("plugins/commerce"),
            root.join("plugins/integrations"),
            root.join("plugins/erp"),
        ],
    )
}

fn numbers(reply: &support::Reply) -> Vec<String> {
    reply.json()["items"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", reply.body))
        .iter()
        .map(|item| item["number"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_erp_connector_syncs_incrementally_reports_failures_and_serves_buyers() {
    let erp = FakeErp::start();
    let data = tempfile::tempdir().unwrap();
    let kernel = start(data.path(), &erp);

    let mapped = kernel.admin_json(
        "PUT",
        "/api/erp/accounts/C-1001",
        Some(json!({"company": "acme"})),
    );
    assert_eq!(mapped.status, 200, "{}", mapped.body);
    erp.add_order(order("SO-1", "C-1001", "confirmed", 1));
    erp.add_order(order("SO-2", "C-1001", "shipped", 2));
    erp.add_order(
        json!({"number": "SO-BAD", "customer": "C-1001", "status": "open",
                         "placed_at": "2026-11-03", "total": {"amount": "ten", "currency": "EUR"}}),
    );
    erp.add_order(order("SO-3", "C-2002", "open", 4));
    erp.add_order(order("SO-4", "C-1001", "open", 5));
    erp.add_invoice(
        json!({"number": "INV-1", "customer": "C-1001", "status": "open", "order": "SO-2",
                           "issued_at": "2026-11-03", "due_at": "2026-12-03",
                           "total": {"amount": 10_002, "currency": "EUR"}}),
    );

    // First run: three pages of two orders, one invalid, one unmapped.
    let first = kernel.admin_json("POST", "/api/erp/sync", None);
    assert_eq!(first.status, 200, "{}", first.body);
    let orders = &first.json()["reports"][0];
    assert_eq!(orders["kind"], "orders");
    assert_eq!(
        (orders["pages"].as_u64(), orders["read"].as_u64()),
        (Some(3), Some(5))
    );
    assert_eq!(
        (orders["stored"].as_u64(), orders["invalid"].as_u64()),
        (Some(4), Some(1))
    );
    assert!(
        orders["reasons"][0].as_str().unwrap().contains("SO-BAD"),
        "{orders}"
    );
    assert_eq!(orders["unmapped"], json!(["C-2002"]));
    assert_eq!(orders["cursor"], "5");
    assert_eq!(first.json()["reports"][1]["stored"], 1);

    // Second run: only what changed since the cursor.
    erp.add_order(order("SO-2", "C-1001", "delivered", 2));
    let second = kernel.admin_json("POST", "/api/erp/sync", None);
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(second.json()["reports"][0]["read"], 1);
    assert!(
        erp.queries()
            .contains(&"/api/orders?limit=2&cursor=5".to_owned()),
        "{:?}",
        erp.queries()
    );

    // An outage is reported, and the cursor stays where it was.
    erp.add_order(order("SO-5", "C-1001", "open", 6));
    erp.set_down(true);
    let failed = kernel.admin_json("POST", "/api/erp/sync", None);
    assert_eq!(failed.status, 502, "{}", failed.body);
    let error = failed.json()["reports"][0]["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        error.contains("/orders") && error.contains("500"),
        "{error}"
    );
    let status = kernel.admin_json("GET", "/api/erp/sync", None);
    assert!(
        status.json()["reports"][0]["error"].is_string(),
        "{}",
        status.body
    );
    let events = kernel.admin_json("GET", "/admin/events?topic=erp.sync.failed", None);
    assert!(
        !events.json()["events"].as_array().unwrap().is_empty(),
        "{}",
        events.body
    );
    erp.set_down(false);
    let recovered = kernel.admin_json("POST", "/api/erp/sync", None);
    assert_eq!(recovered.status, 200, "{}", recovered.body);
    assert_eq!(
        recovered.json()["reports"][0]["read"],
        1,
        "resumed from cursor 6"
    );

    // A buyer of ACME sees ACME's orders, newest first, in their states.
    let buyer = Session::sign_up(&kernel, "bea", None);
    let company = kernel.admin_json(
        "PUT",
        "/api/commerce/companies/acme",
        Some(json!({"name": "ACME"})),
    );
    assert!([200, 201].contains(&company.status), "{}", company.body);
    let member = kernel.admin_json(
        "PUT",
        &format!("/api/commerce/companies/acme/members/{}", buyer.id),
        Some(json!({"role": "buyer"})),
    );
    assert!([200, 201].contains(&member.status), "{}", member.body);
    let mine = buyer.get(&kernel, "/api/erp/me/orders");
    assert_eq!(mine.status, 200, "{}", mine.body);
    assert_eq!(numbers(&mine), ["SO-5", "SO-4", "SO-2", "SO-1"]);
    assert_eq!(mine.json()["items"][2]["status"], "delivered");
    let anonymous = kernel.get("/api/erp/me/orders");
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
    let outsider = Session::sign_up(&kernel, "otto", None);
    assert_eq!(outsider.get(&kernel, "/api/erp/me/orders").status, 404);

    // The ERP pushes an invoice through a signed incoming webhook.
    let source = kernel.admin_json(
        "PUT",
        "/api/integrations/sources/erp",
        Some(json!({"scheme": "github", "secret": "push-secret-0123456789"})),
    );
    assert_eq!(source.status, 200, "{}", source.body);
    let pushed = json!({"kind": "invoice", "record": {"number": "INV-2", "customer": "C-1001",
        "status": "open", "issued_at": "2026-11-07", "total": {"amount": 500, "currency": "EUR"}}})
    .to_string();
    let signature = {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"push-secret-0123456789").unwrap();
        mac.update(pushed.as_bytes());
        let bytes = mac.finalize().into_bytes();
        format!(
            "sha256={}",
            bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
        )
    };
    let accepted = kernel.call(
        "POST",
        "/api/integrations/inbound/erp",
        &[
            ("x-hub-signature-256", &signature),
            ("content-type", "application/json"),
        ],
        Some(&pushed),
    );
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let invoices = loop {
        let invoices = buyer.get(&kernel, "/api/erp/me/invoices");
        if numbers(&invoices).len() == 2 || std::time::Instant::now() > deadline {
            break invoices;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(numbers(&invoices), ["INV-2", "INV-1"]);
}
