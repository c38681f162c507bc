//! The commerce plugin end to end, against the real binary and the real
//! component: a catalog with variants and prices in two currencies, an
//! anonymous cart merged at login, checkout with a coupon and tax paid with
//! the test provider, the order walked through its states (an illegal
//! transition refused), concurrent checkouts of the last units, the
//! reservation timeout, the expiry of abandoned anonymous carts, a B2B
//! order approved through the workflow plugin, and a re-order. Bad input
//! gets a clear JSON error and changes nothing.

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

const API: &str = "/api/commerce";

/// A kernel with the commerce plugin (and the workflow plugin when
/// `workflow`), the test payment provider on and `extra` configuration.
fn start(data: &std::path::Path, workflow: bool, extra: &str) -> Kernel {
    let config = data.join("config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("tessera.commerce.toml"),
        format!("test-payments = \"true\"\n{extra}"),
    )
    .unwrap();
    let mut roots = vec![support::repo_root().join("plugins/commerce")];
    if workflow {
        roots.push(support::repo_root().join("plugins/workflow"));
    }
    support::start_with_plugins(
        data,
        &[("TESSERA_ADMIN_PASSWORD", support::ADMIN_PASSWORD)],
        &roots,
    )
}

/// A caller: a signed-in browser (cookie and CSRF token) or nobody. Paths
/// are under the commerce API unless they start with `!`.
#[derive(Default)]
struct Session {
    cookie: Option<String>,
    csrf: String,
    id: String,
}

impl Session {
    fn send(&self, kernel: &Kernel, method: &str, path: &str, body: Option<Value>) -> Reply {
        self.send_with(kernel, method, path, body, &[])
    }

    fn send_with(
        &self,
        kernel: &Kernel,
        method: &str,
        path: &str,
        body: Option<Value>,
        extra: &[(&str, &str)],
    ) -> Reply {
        let body = body.map(|body| body.to_string());
        let mut headers: Vec<(&str, &str)> = extra.to_vec();
        if let Some(cookie) = &self.cookie {
            headers.push(("cookie", cookie));
            headers.push(("x-csrf-token", &self.csrf));
        }
        let path = match path.strip_prefix('!') {
            Some(outside) => outside.to_owned(),
            None => format!("{API}{path}"),
        };
        kernel.call(method, &path, &headers, body.as_deref())
    }

    fn get(&self, kernel: &Kernel, path: &str) -> Reply {
        self.send(kernel, "GET", path, None)
    }

    fn post(&self, kernel: &Kernel, path: &str, body: Value) -> Reply {
        self.send(kernel, "POST", path, Some(body))
    }

    fn put(&self, kernel: &Kernel, path: &str, body: Value) -> Reply {
        self.send(kernel, "PUT", path, Some(body))
    }
}

/// The administrator, through the admin token: holds every permission.
fn admin(kernel: &Kernel, method: &str, path: &str, body: Value) -> Reply {
    let body = (method != "GET" && method != "DELETE").then_some(body);
    kernel.admin_json(method, &format!("{API}{path}"), body)
}

fn ok(reply: Reply, status: u16) -> Value {
    assert_eq!(reply.status, status, "{}", reply.body);
    reply.json()
}

/// Asserts a JSON error with `status` and `code` and returns its message.
fn refused(reply: &Reply, status: u16, code: &str) -> String {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.error_code(), code, "{}", reply.body);
    let message = reply.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!message.is_empty());
    message
}

/// Registers `username`, grants it `role` (if any) and signs it in.
fn user(kernel: &Kernel, username: &str, role: Option<&str>) -> Session {
    let password = format!("{username}-password");
    let body = json!({ "username": username, "password": password }).to_string();
    let registered = kernel.post("/auth/register", &body);
    assert_eq!(registered.status, 201, "{}", registered.body);
    let id = registered.json()["user"]["id"].as_str().unwrap().to_owned();
    if let Some(role) = role {
        let granted = kernel.admin_json("PUT", &format!("/admin/users/{id}/roles/{role}"), None);
        assert_eq!(granted.status, 200, "{}", granted.body);
    }
    let login = kernel.post("/auth/login", &body);
    assert_eq!(login.status, 200, "{}", login.body);
    let cookie = login
        .set_cookies
        .iter()
        .map(|cookie| cookie.split(';').next().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("; ");
    Session {
        cookie: Some(cookie),
        csrf: login.json()["csrf_token"].as_str().unwrap().to_owned(),
        id,
    }
}

fn role(kernel: &Kernel, name: &str, permissions: &[&str]) {
    let reply = kernel.admin_json(
        "PUT",
        &format!("/admin/roles/{name}"),
        Some(json!({ "permissions": permissions })),
    );
    assert!([200, 201].contains(&reply.status), "{}", reply.body);
}

/// Fetches until `ready` holds (the kernel delivers events and runs jobs
/// in the background), for at most 30 s.
fn poll(fetch: impl Fn() -> Reply, ready: impl Fn(&Reply) -> bool) -> Reply {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let reply = fetch();
        if ready(&reply) || Instant::now() > deadline {
            return reply;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A T-shirt (two sizes) and a mug, both published, priced in EUR and
/// USD (the T-shirt with a tier from 10 units), a draft poster, a 19 %
/// German and a 0 % US tax rule, and a standard shipping method.
fn seed_catalog(kernel: &Kernel) {
    for (id, name) in [("apparel", "Apparel"), ("kitchen", "Kitchen")] {
        ok(
            admin(
                kernel,
                "PUT",
                &format!("/categories/{id}"),
                json!({"names": {"en": name}}),
            ),
            201,
        );
    }
    let shirt = json!({
        "names": {"en": "Organic T-shirt", "de": "Bio-T-Shirt"},
        "descriptions": {"en": "Soft cotton.", "de": "Weiche Baumwolle."},
        "categories": ["apparel"],
        "attributes": {"brand": "acme"},
        "assets": ["asset-1"],
        "status": "published",
        "variants": [
            {"sku": "TS-M", "attributes": {"size": "m"}},
            {"sku": "TS-L", "attributes": {"size": "l"}, "assets": ["asset-2"]}
        ]
    });
    ok(admin(kernel, "PUT", "/products/t-shirt", shirt), 201);
    let mug = json!({
        "names": {"en": "Enamel mug"}, "categories": ["kitchen"], "status": "published",
        "variants": [{"sku": "MUG"}]
    });
    ok(admin(kernel, "PUT", "/products/mug", mug), 201);
    let poster = json!({"names": {"en": "Poster"}, "categories": ["kitchen"], "variants": [{"sku": "POSTER"}]});
    ok(admin(kernel, "PUT", "/products/poster", poster), 201);
    ok(
        admin(
            kernel,
            "PUT",
            "/price-lists/eur",
            json!({"currency": "EUR", "prices": {
                "TS-M": [{"min_quantity": 1, "amount": 2000}, {"min_quantity": 10, "amount": 1800}],
                "TS-L": [{"min_quantity": 1, "amount": 2200}],
                "MUG": [{"min_quantity": 1, "amount": 1000}],
                "POSTER": [{"min_quantity": 1, "amount": 500}]
            }}),
        ),
        201,
    );
    ok(
        admin(
            kernel,
            "PUT",
            "/price-lists/usd",
            json!({"currency": "USD", "prices": {
                "TS-M": [{"min_quantity": 1, "amount": 2400}],
                "TS-L": [{"min_quantity": 1, "amount": 2600}],
                "MUG": [{"min_quantity": 1, "amount": 1200}]
            }}),
        ),
        201,
    );
    for (sku, on_hand) in [("TS-M", 50), ("TS-L", 20), ("MUG", 100), ("POSTER", 5)] {
        ok(
            admin(
                kernel,
                "PUT",
                &format!("/inventory/{sku}/main"),
                json!({"on_hand": on_hand}),
            ),
            200,
        );
    }
    ok(
        admin(
            kernel,
            "PUT",
            "/tax-rules/DE",
            json!({"rate_bp": 1900, "name": "VAT"}),
        ),
        201,
    );
    ok(
        admin(kernel, "PUT", "/tax-rules/US", json!({"rate_bp": 0})),
        201,
    );
    ok(
        admin(
            kernel,
            "PUT",
            "/shipping-methods/standard",
            json!({"names": {"en": "Standard"}, "prices": {"EUR": 490, "USD": 590}}),
        ),
        201,
    );
}

fn address(country: &str) -> Value {
    json!({"name": "Ada Lovelace", "line1": "1 Analytical Way", "postal_code": "10115",
           "city": "Berlin", "country": country})
}

fn checkout(kernel: &Kernel, who: &Session, key: &str, body: &Value) -> Reply {
    who.send_with(
        kernel,
        "POST",
        "/checkout",
        Some(body.clone()),
        &[("idempotency-key", key)],
    )
}

fn skus(listing: &Value) -> Vec<String> {
    listing["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|product| product["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_shopper_buys_from_the_catalog_and_the_order_walks_through_its_states() {
    let data = tempfile::tempdir().unwrap();
    let kernel = start(data.path(), false, "");
    seed_catalog(&kernel);
    let nobody = Session::default();

    // Catalog writes are for staff, and bad products are refused by field.
    let shopper = user(&kernel, "ada", None);
    let denied = shopper.put(
        &kernel,
        "/products/x",
        json!({"names": {"en": "X"}, "variants": [{"sku": "X"}]}),
    );
    refused(&denied, 403, "forbidden");
    let bad = admin(
        &kernel,
        "PUT",
        "/products/x",
        json!({"names": {"en": "X"}, "variants": [{"sku": "X"}, {"sku": "X"}]}),
    );
    assert!(refused(&bad, 400, "invalid_product").contains("variants[1].sku"));
    let taken = admin(
        &kernel,
        "PUT",
        "/products/x",
        json!({"names": {"en": "X"}, "variants": [{"sku": "MUG"}]}),
    );
    refused(&taken, 409, "sku_taken");
    let no_category = admin(
        &kernel,
        "PUT",
        "/products/x",
        json!({"names": {"en": "X"}, "categories": ["nope"], "variants": [{"sku": "X"}]}),
    );
    refused(&no_category, 422, "unknown_category");
    refused(
        &admin(
            &kernel,
            "PUT",
            "/price-lists/bad",
            json!({"currency": "euro"}),
        ),
        400,
        "invalid_currency",
    );
    refused(
        &admin(
            &kernel,
            "PUT",
            "/price-lists/bad",
            json!({"currency": "EUR", "prices": {"MUG": [{"min_quantity": 2, "amount": 5}]}}),
        ),
        400,
        "invalid_price_list",
    );

    // Listing: published only, by category, by search word, a page at a
    // time, localised, with prices in either currency.
    let all = ok(nobody.get(&kernel, "/products"), 200);
    assert_eq!(skus(&all), ["mug", "t-shirt"]);
    let kitchen = ok(nobody.get(&kernel, "/products?category=kitchen"), 200);
    assert_eq!(skus(&kitchen), ["mug"]);
    let found = ok(
        nobody.get(&kernel, "/products?q=organic+shirt&locale=de&currency=USD"),
        200,
    );
    assert_eq!(skus(&found), ["t-shirt"]);
    assert_eq!(found["products"][0]["name"], "Bio-T-Shirt");
    assert_eq!(found["products"][0]["variants"][0]["price"]["amount"], 2400);
    assert_eq!(
        found["products"][0]["variants"][0]["price"]["currency"],
        "USD"
    );
    assert_eq!(
        skus(&ok(nobody.get(&kernel, "/products?q=ts-l"), 200)),
        ["t-shirt"]
    );
    assert_eq!(
        skus(&ok(nobody.get(&kernel, "/products?q=poster"), 200)),
        Vec::<String>::new()
    );
    assert_eq!(
        skus(&ok(nobody.get(&kernel, "/products?attribute.size=l"), 200)),
        ["t-shirt"]
    );
    let first = ok(nobody.get(&kernel, "/products?limit=1"), 200);
    assert_eq!(skus(&first), ["mug"]);
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let second = ok(
        nobody.get(&kernel, &format!("/products?limit=1&cursor={cursor}")),
        200,
    );
    assert_eq!(skus(&second), ["t-shirt"]);
    refused(
        &nobody.get(&kernel, "/products?limit=0"),
        400,
        "invalid_limit",
    );
    refused(
        &nobody.get(&kernel, "/products?status=all"),
        401,
        "unauthenticated",
    );
    let staff_view = ok(
        admin(&kernel, "GET", "/products?status=all", Value::Null),
        200,
    );
    assert_eq!(skus(&staff_view), ["mug", "poster", "t-shirt"]);
    let detail = ok(nobody.get(&kernel, "/products/t-shirt?currency=EUR"), 200);
    assert_eq!(detail["variants"][0]["price"]["tiers"][1]["amount"], 1800);
    assert_eq!(detail["variants"][1]["available"], 20);
    refused(
        &nobody.get(&kernel, "/products/poster"),
        404,
        "unknown_product",
    );
    // Unpublishing takes a product out of every listing and search.
    let draft = json!({"names": {"en": "Enamel mug"}, "categories": ["kitchen"], "status": "draft", "variants": [{"sku": "MUG"}]});
    ok(admin(&kernel, "PUT", "/products/mug", draft), 200);
    assert_eq!(
        skus(&ok(nobody.get(&kernel, "/products?q=mug"), 200)),
        Vec::<String>::new()
    );
    assert_eq!(
        skus(&ok(nobody.get(&kernel, "/products?category=kitchen"), 200)),
        Vec::<String>::new()
    );
    let published = json!({"names": {"en": "Enamel mug"}, "categories": ["kitchen"], "status": "published", "variants": [{"sku": "MUG"}]});
    ok(admin(&kernel, "PUT", "/products/mug", published), 200);

    // An anonymous cart: every bad line is a clear error and changes
    // nothing; totals come from the server, tiers included.
    let created = ok(
        nobody.post(&kernel, "/carts", json!({"currency": "EUR"})),
        201,
    );
    let token = created["token"].as_str().unwrap().to_owned();
    let lines = format!("/carts/{token}/lines");

    // Another site sees none of this site's catalog or carts.
    let site = kernel.admin_json(
        "PUT",
        "/admin/sites/partners",
        Some(json!({"name": "Partner portal", "hosts": ["partners.localhost"]})),
    );
    assert_eq!(site.status, 201, "{}", site.body);
    let elsewhere = ok(
        nobody.get(&kernel, "!/sites/partners/api/commerce/products"),
        200,
    );
    assert_eq!(skus(&elsewhere), Vec::<String>::new());
    refused(
        &nobody.get(&kernel, "!/sites/partners/api/commerce/products/t-shirt"),
        404,
        "unknown_product",
    );
    refused(
        &nobody.get(
            &kernel,
            &format!("!/sites/partners/api/commerce/carts/{token}"),
        ),
        404,
        "unknown_cart",
    );
    refused(
        &nobody.post(&kernel, &lines, json!({"sku": "NOPE", "quantity": 1})),
        422,
        "unknown_sku",
    );
    refused(
        &nobody.post(&kernel, &lines, json!({"sku": "POSTER", "quantity": 1})),
        422,
        "unknown_sku",
    );
    refused(
        &nobody.post(&kernel, &lines, json!({"sku": "TS-M", "quantity": 0})),
        400,
        "invalid_quantity",
    );
    refused(
        &nobody.post(&kernel, &lines, json!({"sku": "TS-M", "quantity": 1.5})),
        400,
        "invalid_quantity",
    );
    refused(
        &nobody.post(&kernel, &lines, json!({"sku": "TS-M", "quantity": "2"})),
        400,
        "invalid_quantity",
    );
    let short = refused(
        &nobody.post(&kernel, &lines, json!({"sku": "TS-L", "quantity": 21})),
        409,
        "out_of_stock",
    );
    assert!(short.contains("20 available"), "{short}");
    refused(
        &nobody.post(
            &kernel,
            "/carts/0123456789abcdef0123456789abcdef/lines",
            json!({"sku": "MUG", "quantity": 1}),
        ),
        404,
        "unknown_cart",
    );
    refused(
        &nobody.send(&kernel, "POST", &lines, None),
        400,
        "invalid_json",
    );
    let unchanged = ok(nobody.get(&kernel, &format!("/carts/{token}")), 200);
    assert_eq!(unchanged["lines"], json!([]));
    ok(
        nobody.post(&kernel, &lines, json!({"sku": "TS-M", "quantity": 4})),
        200,
    );
    let cart = ok(
        nobody.post(&kernel, &lines, json!({"sku": "TS-M", "quantity": 6})),
        200,
    );
    assert_eq!(cart["lines"][0]["quantity"], 10);
    assert_eq!(
        cart["lines"][0]["unit_price"], 1800,
        "the 10-unit tier applies"
    );
    assert_eq!(cart["totals"]["subtotal"], 18_000);
    let cart = ok(
        nobody.put(
            &kernel,
            &format!("/carts/{token}/lines/TS-M"),
            json!({"quantity": 2}),
        ),
        200,
    );
    assert_eq!(cart["lines"][0]["unit_price"], 2000);
    ok(
        nobody.post(&kernel, &lines, json!({"sku": "MUG", "quantity": 1})),
        200,
    );
    let cart = ok(
        nobody.send(
            &kernel,
            "DELETE",
            &format!("/carts/{token}/lines/MUG"),
            None,
        ),
        200,
    );
    assert_eq!(cart["lines"].as_array().unwrap().len(), 1);
    refused(
        &nobody.send(
            &kernel,
            "DELETE",
            &format!("/carts/{token}/lines/MUG"),
            None,
        ),
        404,
        "not_in_cart",
    );

    // Coupons: rules checked when applied.
    ok(
        admin(
            &kernel,
            "PUT",
            "/coupons/save10",
            json!({"percent_off": 10}),
        ),
        201,
    );
    ok(
        admin(
            &kernel,
            "PUT",
            "/coupons/big",
            json!({"amount_off": {"amount": 500, "currency": "EUR"},
              "minimum_subtotal": {"amount": 100000, "currency": "EUR"}}),
        ),
        201,
    );
    refused(
        &admin(&kernel, "PUT", "/coupons/bad", json!({"percent_off": 150})),
        400,
        "invalid_coupon",
    );
    let coupon = format!("/carts/{token}/coupon");
    refused(
        &nobody.put(&kernel, &coupon, json!({"code": "NOPE1"})),
        404,
        "unknown_coupon",
    );
    refused(
        &nobody.put(&kernel, &coupon, json!({"code": "BIG"})),
        422,
        "coupon_not_applicable",
    );
    let cart = ok(nobody.put(&kernel, &coupon, json!({"code": "save10"})), 200);
    assert_eq!(cart["coupon"], "SAVE10");
    assert_eq!(cart["totals"]["discount"], 400);
    assert_eq!(cart["totals"]["total"], 3600);

    // Signing in: the anonymous cart merges into the user's (which already
    // holds a mug), once.
    ok(
        shopper.post(&kernel, "/cart/lines", json!({"sku": "MUG", "quantity": 1})),
        200,
    );
    refused(
        &nobody.post(&kernel, "/cart/merge", json!({"token": token})),
        401,
        "unauthenticated",
    );
    let merged = ok(
        shopper.post(&kernel, "/cart/merge", json!({"token": token})),
        200,
    );
    let quantities: Vec<(String, u64)> = merged["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| {
            (
                line["sku"].as_str().unwrap().to_owned(),
                line["quantity"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(quantities, [("MUG".to_owned(), 1), ("TS-M".to_owned(), 2)]);
    assert_eq!(merged["coupon"], "SAVE10");
    let again = ok(
        shopper.post(&kernel, "/cart/merge", json!({"token": token})),
        200,
    );
    assert_eq!(
        again["lines"], merged["lines"],
        "a repeated merge adds nothing"
    );
    refused(
        &nobody.get(&kernel, &format!("/carts/{token}")),
        404,
        "unknown_cart",
    );

    // Checkout: idempotency key required; tax for the country; the coupon
    // applied; paid with the test provider.
    let body = json!({"shipping_address": address("DE"), "shipping_method": "standard",
                      "payment": {"provider": "test", "token": "tok_ok"}});
    refused(
        &shopper.post(&kernel, "/checkout", body.clone()),
        400,
        "idempotency_key_required",
    );
    let mut nowhere = body.clone();
    nowhere["shipping_address"] = address("FR");
    refused(
        &checkout(&kernel, &shopper, "k-fr", &nowhere),
        422,
        "unsupported_country",
    );
    let mut paypal = body.clone();
    paypal["payment"]["provider"] = json!("paypal");
    refused(
        &checkout(&kernel, &shopper, "k-pp", &paypal),
        400,
        "unknown_provider",
    );
    let mut bad_address = body.clone();
    bad_address["shipping_address"]["city"] = json!("");
    refused(
        &checkout(&kernel, &shopper, "k-bad", &bad_address),
        400,
        "invalid_address",
    );
    refused(
        &checkout(&kernel, &nobody, "k-anon", &body),
        401,
        "unauthenticated",
    );
    let order = ok(checkout(&kernel, &shopper, "k-1", &body), 201);
    // 2 × 20.00 + 10.00 = 50.00; 10 % off = 5.00; + 4.90 shipping = 49.90;
    // 19 % VAT = 9.481 → 9.48; total 59.38.
    assert_eq!(order["status"], "paid", "{order}");
    assert_eq!(
        order["totals"],
        json!({"currency": "EUR", "subtotal": 5000, "discount": 500,
        "shipping": 490, "tax_rate_bp": 1900, "tax": 948, "total": 5938})
    );
    assert_eq!(order["coupon"], "SAVE10");
    let id = order["id"].as_str().unwrap().to_owned();
    let replay = checkout(&kernel, &shopper, "k-1", &body);
    assert_eq!(
        ok(replay, 200)["id"],
        id.as_str(),
        "the same key answers the same order"
    );
    let mut other = body.clone();
    other["shipping_method"] = json!("express");
    refused(
        &checkout(&kernel, &shopper, "k-1", &other),
        422,
        "idempotency_key_reused",
    );
    refused(
        &checkout(&kernel, &shopper, "k-2", &body),
        422,
        "empty_cart",
    );
    let stock = ok(admin(&kernel, "GET", "/inventory/TS-M", Value::Null), 200);
    assert_eq!(stock["warehouses"][0]["on_hand"], 48);
    assert_eq!(stock["warehouses"][0]["reserved"], 0);
    let uses = ok(admin(&kernel, "GET", "/coupons/SAVE10", Value::Null), 200);
    assert_eq!(uses["uses"], 1);

    // The invoice.
    let invoice = ok(shopper.get(&kernel, &format!("/orders/{id}/invoice")), 200);
    assert_eq!(invoice["order"], id.as_str());
    assert_eq!(invoice["totals"]["tax"], 948);
    assert_eq!(invoice["payment_reference"], format!("test_{id}"));
    let invoices = ok(shopper.get(&kernel, "/invoices"), 200);
    assert_eq!(invoices["invoices"][0]["number"], invoice["number"]);
    let stranger = user(&kernel, "eve", None);
    refused(
        &stranger.get(&kernel, &format!("/orders/{id}")),
        404,
        "unknown_order",
    );
    refused(
        &stranger.get(
            &kernel,
            &format!("/invoices/{}", invoice["number"].as_str().unwrap()),
        ),
        404,
        "unknown_invoice",
    );

    // Staff walk the order; an illegal transition is refused and changes
    // nothing; buyers may not move it.
    let moves = format!("/orders/{id}/transitions");
    refused(
        &shopper.post(&kernel, &moves, json!({"to": "fulfilled"})),
        403,
        "forbidden",
    );
    // Catalog staff are not order staff.
    role(&kernel, "merchandiser", &["commerce.catalog.manage"]);
    let mia = user(&kernel, "mia", Some("merchandiser"));
    ok(
        mia.put(
            &kernel,
            "/categories/misc",
            json!({"names": {"en": "Misc"}}),
        ),
        201,
    );
    refused(
        &mia.post(&kernel, &moves, json!({"to": "fulfilled"})),
        403,
        "forbidden",
    );
    refused(&mia.get(&kernel, "/orders?scope=all"), 403, "forbidden");
    refused(
        &mia.put(&kernel, "/companies/acme", json!({"name": "ACME"})),
        403,
        "forbidden",
    );
    let skip = admin(&kernel, "POST", &moves, json!({"to": "delivered"}));
    assert!(refused(&skip, 409, "invalid_transition").contains("fulfilled"));
    refused(
        &admin(&kernel, "POST", &moves, json!({"to": "lost"})),
        400,
        "invalid_status",
    );
    for to in ["fulfilled", "shipped", "delivered"] {
        let moved = ok(
            admin(
                &kernel,
                "POST",
                &moves,
                json!({"to": to, "note": format!("now {to}")}),
            ),
            200,
        );
        assert_eq!(moved["status"], to);
    }
    refused(
        &shopper.post(&kernel, &format!("/orders/{id}/cancel"), json!({})),
        409,
        "invalid_transition",
    );
    let returned = ok(
        admin(&kernel, "POST", &moves, json!({"to": "returned"})),
        200,
    );
    let history: Vec<&str> = returned["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| step["to"].as_str().unwrap())
        .collect();
    assert_eq!(
        history,
        [
            "placed",
            "paid",
            "fulfilled",
            "shipped",
            "delivered",
            "returned"
        ]
    );
    refused(
        &admin(&kernel, "POST", &moves, json!({"to": "shipped"})),
        409,
        "invalid_transition",
    );

    // Order events were published.
    let events = kernel.admin_json("GET", "/admin/events?topic=commerce.order", None);
    let topics: Vec<String> = events.json()["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["topic"].as_str().unwrap().to_owned())
        .collect();
    for topic in [
        "placed",
        "paid",
        "fulfilled",
        "shipped",
        "delivered",
        "returned",
    ] {
        assert!(
            topics.contains(&format!("commerce.order.{topic}")),
            "{topics:?} lacks {topic}"
        );
    }

    // A declined payment leaves the order placed; paying again works; a
    // buyer's cancel of a placed order releases the stock.
    ok(
        shopper.post(
            &kernel,
            "/cart/lines",
            json!({"sku": "TS-L", "quantity": 2}),
        ),
        200,
    );
    let declined = json!({"shipping_address": address("US"), "shipping_method": "standard",
                          "payment": {"provider": "test", "token": "tok_declined"}});
    let placed = ok(checkout(&kernel, &shopper, "k-3", &declined), 201);
    assert_eq!(placed["status"], "placed");
    assert_eq!(placed["payment_error"]["code"], "payment_declined");
    let second = placed["id"].as_str().unwrap().to_owned();
    let reserved = ok(admin(&kernel, "GET", "/inventory/TS-L", Value::Null), 200);
    assert_eq!(reserved["available"], 18);
    refused(
        &shopper.post(
            &kernel,
            &format!("/orders/{second}/pay"),
            json!({"provider": "paypal", "token": "x"}),
        ),
        400,
        "unknown_provider",
    );
    let cancelled = ok(
        shopper.post(
            &kernel,
            &format!("/orders/{second}/cancel"),
            json!({"reason": "changed my mind"}),
        ),
        200,
    );
    assert_eq!(cancelled["status"], "cancelled");
    let released = ok(admin(&kernel, "GET", "/inventory/TS-L", Value::Null), 200);
    assert_eq!(released["available"], 20);
    assert_eq!(released["warehouses"][0]["reserved"], 0);
    refused(
        &shopper.post(
            &kernel,
            &format!("/orders/{second}/pay"),
            json!({"provider": "test", "token": "tok_ok"}),
        ),
        409,
        "invalid_transition",
    );

    // One-click re-order of the first order: its lines are back in the cart.
    let reordered = ok(
        shopper.post(&kernel, &format!("/orders/{id}/reorder"), json!({})),
        200,
    );
    let again: Vec<(String, u64)> = reordered["cart"]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| {
            (
                line["sku"].as_str().unwrap().to_owned(),
                line["quantity"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(again, [("MUG".to_owned(), 1), ("TS-M".to_owned(), 2)]);
    assert_eq!(reordered["skipped"], json!([]));
    // Orders list newest first, a page at a time.
    let listed = ok(shopper.get(&kernel, "/orders"), 200);
    assert_eq!(listed["orders"].as_array().unwrap().len(), 2);
    assert_eq!(listed["orders"][0]["id"], second.as_str());
    let first_page = ok(shopper.get(&kernel, "/orders?limit=1"), 200);
    assert_eq!(first_page["orders"][0]["id"], second.as_str());
    let cursor = first_page["next_cursor"].as_str().unwrap().to_owned();
    let next_page = ok(
        shopper.get(&kernel, &format!("/orders?limit=1&cursor={cursor}")),
        200,
    );
    assert_eq!(next_page["orders"][0]["id"], id.as_str());
    let everything = ok(admin(&kernel, "GET", "/orders?scope=all", Value::Null), 200);
    assert_eq!(everything["orders"][1]["id"], id.as_str());

    // Automatic discounts: the best one applies by itself (they do not add
    // up); a coupon applies on top, to what is left.
    refused(
        &admin(
            &kernel,
            "PUT",
            "/discounts/winter",
            json!({"percent_off": 5, "max_uses": 3}),
        ),
        400,
        "invalid_coupon",
    );
    ok(
        admin(
            &kernel,
            "PUT",
            "/discounts/winter",
            json!({"percent_off": 5}),
        ),
        201,
    );
    ok(
        admin(
            &kernel,
            "PUT",
            "/discounts/flat",
            json!({"amount_off": {"amount": 100, "currency": "EUR"}}),
        ),
        201,
    );
    refused(
        &shopper.put(&kernel, "/discounts/mine", json!({"percent_off": 50})),
        403,
        "forbidden",
    );
    // The re-ordered cart: 50.00; 5 % (2.50) beats 1.00.
    let cart = ok(shopper.get(&kernel, "/cart"), 200);
    assert_eq!(cart["totals"]["subtotal"], 5000);
    assert_eq!(
        cart["automatic_discount"],
        json!({"id": "winter", "amount": 250})
    );
    assert_eq!(cart["totals"]["discount"], 250);
    assert_eq!(cart["totals"]["total"], 4750);
    // SAVE10 on top: 10 % of 47.50 = 4.75.
    let cart = ok(
        shopper.put(&kernel, "/cart/coupon", json!({"code": "save10"})),
        200,
    );
    assert_eq!(cart["coupon_discount"], 475);
    assert_eq!(cart["totals"]["discount"], 725);
    assert_eq!(cart["totals"]["total"], 4275);
    let order = ok(checkout(&kernel, &shopper, "k-4", &body), 201);
    assert_eq!(order["automatic_discount"]["id"], "winter");
    assert_eq!(order["totals"]["discount"], 725);
}

#[test]
fn concurrent_checkouts_of_the_last_units_never_oversell_and_unpaid_orders_expire() {
    let data = tempfile::tempdir().unwrap();
    let kernel = start(
        data.path(),
        false,
        "reservation-seconds = \"1\"\nanonymous-cart-seconds = \"1\"\ncart-cleanup-seconds = \"1\"\n",
    );
    seed_catalog(&kernel);
    ok(
        admin(
            &kernel,
            "PUT",
            "/inventory/POSTER/main",
            json!({"on_hand": 0}),
        ),
        200,
    );
    let poster =
        json!({"names": {"en": "Poster"}, "status": "published", "variants": [{"sku": "POSTER"}]});
    ok(admin(&kernel, "PUT", "/products/poster", poster), 200);
    // The last three units, in two warehouses.
    ok(
        admin(
            &kernel,
            "PUT",
            "/inventory/POSTER/east",
            json!({"on_hand": 2}),
        ),
        200,
    );
    ok(
        admin(
            &kernel,
            "PUT",
            "/inventory/POSTER/west",
            json!({"on_hand": 1}),
        ),
        200,
    );
    // Every buyer also applies a coupon good for five orders.
    ok(
        admin(
            &kernel,
            "PUT",
            "/coupons/last5",
            json!({"percent_off": 5, "max_uses": 5}),
        ),
        201,
    );
    let buyers: Vec<Session> = (0..10)
        .map(|n| {
            let buyer = user(&kernel, &format!("buyer{n}"), None);
            ok(
                buyer.post(
                    &kernel,
                    "/cart/lines",
                    json!({"sku": "POSTER", "quantity": 1}),
                ),
                200,
            );
            ok(
                buyer.put(&kernel, "/cart/coupon", json!({"code": "LAST5"})),
                200,
            );
            buyer
        })
        .collect();
    let body = json!({"shipping_address": address("DE"), "shipping_method": "standard",
                      "payment": {"provider": "test", "token": "tok_ok"}});
    let replies: Vec<Reply> = std::thread::scope(|scope| {
        let handles: Vec<_> = buyers
            .iter()
            .map(|buyer| {
                let (kernel, body) = (&kernel, &body);
                scope.spawn(move || checkout(kernel, buyer, "last-units", body))
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap())
            .collect()
    });
    let mut paid = 0;
    for reply in &replies {
        if reply.status == 201 {
            assert_eq!(reply.json()["status"], "paid", "{}", reply.body);
            paid += 1;
        } else {
            refused(reply, 409, "out_of_stock");
        }
    }
    assert_eq!(paid, 3, "exactly three orders for three units");
    let orders = ok(admin(&kernel, "GET", "/orders?scope=all", Value::Null), 200);
    assert_eq!(
        orders["orders"].as_array().unwrap().len(),
        3,
        "no order left behind by a loser"
    );
    // Uses are counted once the stock is held: the losers took none (with
    // the use counted first, up to ten concurrent claims on a coupon good
    // for five refused buyers who would have got the last units).
    let coupon = ok(admin(&kernel, "GET", "/coupons/LAST5", Value::Null), 200);
    assert_eq!(coupon["uses"], 3, "{coupon}");
    let stock = ok(admin(&kernel, "GET", "/inventory/POSTER", Value::Null), 200);
    assert_eq!(stock["available"], 0);
    for warehouse in stock["warehouses"].as_array().unwrap() {
        assert_eq!(warehouse["on_hand"], 0, "{stock}");
        assert_eq!(warehouse["reserved"], 0, "{stock}");
    }

    // Every checkout, won or lost, cancelled its recovery job (which would
    // give back the stock of a checkout that crashed before its order).
    let jobs = kernel.admin_json("GET", "/admin/jobs", None);
    assert_eq!(jobs.status, 200, "{}", jobs.body);
    let names: Vec<String> = jobs.json()["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|job| job["plugin"] == "tessera.commerce")
        .map(|job| job["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        !names.iter().any(|name| name.starts_with("recover/")),
        "{names:?}"
    );

    // A buyer who lost keeps their cart; adding more is refused.
    let loser = buyers
        .iter()
        .zip(&replies)
        .find(|(_, reply)| reply.status == 409)
        .map(|(buyer, _)| buyer)
        .unwrap();
    let kept = ok(loser.get(&kernel, "/cart"), 200);
    assert_eq!(kept["lines"][0]["sku"], "POSTER");
    refused(
        &loser.put(&kernel, "/cart/lines/POSTER", json!({"quantity": 1})),
        409,
        "out_of_stock",
    );

    // One unit comes back; the loser orders it without paying, and the
    // reservation times out: the kernel's job cancels the order and the
    // unit is available again.
    ok(
        admin(
            &kernel,
            "PUT",
            "/inventory/POSTER/west",
            json!({"on_hand": 1}),
        ),
        200,
    );
    let unpaid = json!({"shipping_address": address("DE"), "shipping_method": "standard"});
    let order = ok(checkout(&kernel, loser, "second-try", &unpaid), 201);
    assert_eq!(order["status"], "placed");
    let id = order["id"].as_str().unwrap().to_owned();
    let expired = poll(
        || loser.get(&kernel, &format!("/orders/{id}")),
        |reply| reply.json()["status"] == "cancelled",
    );
    assert_eq!(expired.json()["status"], "cancelled", "{}", expired.body);
    let note = expired.json()["history"][1]["note"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(note.contains("not paid in time"), "{note}");
    assert_eq!(expired.json()["history"][1]["by"], "system");
    // The order is cancelled first, then its units are released.
    let stock = poll(
        || admin(&kernel, "GET", "/inventory/POSTER", Value::Null),
        |reply| reply.json()["available"] == 1,
    );
    assert_eq!(stock.json()["available"], 1, "{}", stock.body);
    refused(
        &loser.post(
            &kernel,
            &format!("/orders/{id}/pay"),
            json!({"provider": "test", "token": "tok_ok"}),
        ),
        409,
        "invalid_transition",
    );

    // An abandoned anonymous cart is deleted by the site's cleanup job.
    let nobody = Session::default();
    let abandoned = ok(nobody.post(&kernel, "/carts", json!({})), 201);
    let path = format!("/carts/{}", abandoned["token"].as_str().unwrap());
    let gone = poll(|| nobody.get(&kernel, &path), |reply| reply.status == 404);
    refused(&gone, 404, "unknown_cart");
}

#[test]
fn a_b2b_order_above_the_limit_waits_for_an_approver_in_the_workflow() {
    let data = tempfile::tempdir().unwrap();
    let kernel = start(data.path(), true, "");
    seed_catalog(&kernel);
    let approval = json!({
        "name": "Order approval",
        "initial": "waiting",
        "states": [{"name": "waiting"}, {"name": "approved", "terminal": true},
                   {"name": "rejected", "terminal": true}],
        "transitions": [
            {"name": "approve", "from": "waiting", "to": "approved", "roles": ["order-approver"]},
            {"name": "reject", "from": "waiting", "to": "rejected", "roles": ["order-approver"]}
        ],
        "actions": [{"on_enter": "approved", "publish": "workflow.commerce.approved"},
                    {"on_enter": "rejected", "publish": "workflow.commerce.rejected"}]
    });
    let defined = kernel.admin_json(
        "PUT",
        "/api/workflow/definitions/commerce-order-approval",
        Some(approval),
    );
    assert_eq!(defined.status, 201, "{}", defined.body);
    role(&kernel, "order-approver", &["workflow.instance.read"]);
    let bob = user(&kernel, "bob", None);
    let alice = user(&kernel, "alice", Some("order-approver"));
    // Mallory may take workflow transitions but is only a buyer.
    let mallory = user(&kernel, "mallory", Some("order-approver"));

    // The company: a 100.00 EUR limit, a segment with its own prices.
    refused(
        &bob.put(&kernel, "/companies/acme", json!({"name": "ACME"})),
        403,
        "forbidden",
    );
    let company = json!({"name": "ACME", "order_limit": {"amount": 10000, "currency": "EUR"}, "segments": ["wholesale"]});
    ok(admin(&kernel, "PUT", "/companies/acme", company), 201);
    for (member, member_role) in [(&bob, "buyer"), (&alice, "approver"), (&mallory, "buyer")] {
        ok(
            admin(
                &kernel,
                "PUT",
                &format!("/companies/acme/members/{}", member.id),
                json!({"role": member_role}),
            ),
            200,
        );
    }
    refused(
        &admin(
            &kernel,
            "PUT",
            "/companies/acme/members/nobody",
            json!({"role": "buyer"}),
        ),
        404,
        "unknown_user",
    );
    ok(
        admin(
            &kernel,
            "PUT",
            "/price-lists/wholesale",
            json!({"currency": "EUR", "segment": "wholesale",
              "prices": {"MUG": [{"min_quantity": 1, "amount": 800}]}}),
        ),
        201,
    );
    let account = ok(bob.get(&kernel, "/account"), 200);
    assert_eq!(account["member"]["role"], "buyer");

    // Under the limit: placed at once, at the segment's price.
    ok(
        bob.post(&kernel, "/cart/lines", json!({"sku": "MUG", "quantity": 2})),
        200,
    );
    let body = json!({"shipping_address": address("US"), "shipping_method": "standard"});
    let small = ok(checkout(&kernel, &bob, "b2b-1", &body), 201);
    assert_eq!(small["status"], "placed");
    assert_eq!(small["lines"][0]["unit_price"], 800);
    assert_eq!(small["company"], "acme");

    // Above the limit: pending approval, a task in the approver's inbox.
    ok(
        bob.post(
            &kernel,
            "/cart/lines",
            json!({"sku": "TS-L", "quantity": 5}),
        ),
        200,
    );
    let big = ok(checkout(&kernel, &bob, "b2b-2", &body), 201);
    assert_eq!(big["status"], "pending_approval", "{big}");
    let big_id = big["id"].as_str().unwrap().to_owned();
    refused(
        &bob.post(
            &kernel,
            &format!("/orders/{big_id}/pay"),
            json!({"provider": "test", "token": "tok_ok"}),
        ),
        409,
        "invalid_transition",
    );
    refused(
        &admin(
            &kernel,
            "POST",
            &format!("/orders/{big_id}/transitions"),
            json!({"to": "placed"}),
        ),
        409,
        "approval_required",
    );
    let task = |subject: &str| {
        let tasks = poll(
            || alice.send(&kernel, "GET", "!/api/workflow/tasks", None),
            |reply| reply.body.contains(&format!("\"{subject}\"")),
        );
        tasks.json()["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|task| task["subject"]["id"] == subject)
            .unwrap_or_else(|| panic!("no task for {subject}: {}", tasks.body))["instance"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let instance = task(&big_id);

    // The approver sees the company's orders, the buyer's included.
    let seen = ok(alice.get(&kernel, "/orders"), 200);
    assert_eq!(seen["orders"].as_array().unwrap().len(), 2);
    ok(alice.get(&kernel, &format!("/orders/{big_id}")), 200);

    // Approval by a mere buyer is recorded and changes nothing.
    let mallory_approves = mallory.send(
        &kernel,
        "POST",
        &format!("!/api/workflow/instances/{instance}/transitions/approve"),
        Some(json!({"comment": "sure"})),
    );
    assert_eq!(mallory_approves.status, 200, "{}", mallory_approves.body);
    let ignored = poll(
        || bob.get(&kernel, &format!("/orders/{big_id}")),
        |reply| reply.json()["approval"].is_string(),
    );
    assert_eq!(
        ignored.json()["status"],
        "pending_approval",
        "{}",
        ignored.body
    );
    assert!(
        ignored.json()["approval"]
            .as_str()
            .unwrap()
            .contains("not an approver")
    );

    // A second large order, this time approved by the approver.
    ok(
        bob.post(
            &kernel,
            "/cart/lines",
            json!({"sku": "TS-M", "quantity": 6}),
        ),
        200,
    );
    let other = ok(checkout(&kernel, &bob, "b2b-3", &body), 201);
    let other_id = other["id"].as_str().unwrap().to_owned();
    assert_eq!(other["status"], "pending_approval");
    let instance = task(&other_id);
    let approved = alice.send(
        &kernel,
        "POST",
        &format!("!/api/workflow/instances/{instance}/transitions/approve"),
        Some(json!({"comment": "fine"})),
    );
    assert_eq!(approved.status, 200, "{}", approved.body);
    let placed = poll(
        || bob.get(&kernel, &format!("/orders/{other_id}")),
        |reply| reply.json()["status"] == "placed",
    );
    assert_eq!(placed.json()["status"], "placed", "{}", placed.body);
    assert!(
        placed.json()["approval"]
            .as_str()
            .unwrap()
            .contains("approved by alice")
    );
    let paid = ok(
        bob.post(
            &kernel,
            &format!("/orders/{other_id}/pay"),
            json!({"provider": "test", "token": "tok_ok"}),
        ),
        200,
    );
    assert_eq!(paid["status"], "paid");
    // Every member sees the company's invoices.
    let invoices = ok(alice.get(&kernel, "/invoices"), 200);
    assert_eq!(invoices["invoices"][0]["order"], other_id.as_str());

    // A third, rejected: cancelled, its stock released.
    ok(
        bob.post(
            &kernel,
            "/cart/lines",
            json!({"sku": "TS-L", "quantity": 6}),
        ),
        200,
    );
    let rejected = ok(checkout(&kernel, &bob, "b2b-4", &body), 201);
    let rejected_id = rejected["id"].as_str().unwrap().to_owned();
    let held = ok(admin(&kernel, "GET", "/inventory/TS-L", Value::Null), 200);
    assert_eq!(held["available"], 9, "5 + 6 of 20 held");
    let instance = task(&rejected_id);
    let reject = alice.send(
        &kernel,
        "POST",
        &format!("!/api/workflow/instances/{instance}/transitions/reject"),
        Some(json!({"comment": "too many"})),
    );
    assert_eq!(reject.status, 200, "{}", reject.body);
    let cancelled = poll(
        || bob.get(&kernel, &format!("/orders/{rejected_id}")),
        |reply| reply.json()["status"] == "cancelled",
    );
    assert_eq!(
        cancelled.json()["status"],
        "cancelled",
        "{}",
        cancelled.body
    );
    let released = poll(
        || admin(&kernel, "GET", "/inventory/TS-L", Value::Null),
        |reply| reply.json()["available"] == 15,
    );
    assert_eq!(
        released.json()["available"],
        15,
        "only the first large order holds units: {}",
        released.body
    );

    // Only the buyer, an approver or staff cancel a company order: the
    // approver cancels the order mallory's approval left waiting.
    let big_cancel = format!("/orders/{big_id}/cancel");
    refused(
        &mallory.post(&kernel, &big_cancel, json!({})),
        403,
        "forbidden",
    );
    let withdrawn = ok(
        alice.post(&kernel, &big_cancel, json!({"reason": "stale"})),
        200,
    );
    assert_eq!(withdrawn["status"], "cancelled");
    let restocked = ok(admin(&kernel, "GET", "/inventory/TS-L", Value::Null), 200);
    assert_eq!(restocked["available"], 20, "{restocked}");

    // Re-order: the approver repeats the approved order into their cart.
    let reordered = ok(
        alice.post(&kernel, &format!("/orders/{other_id}/reorder"), json!({})),
        200,
    );
    assert_eq!(reordered["cart"]["lines"][0]["sku"], "TS-M");
    assert_eq!(reordered["cart"]["lines"][0]["quantity"], 6);
}

#[test]
fn an_erased_person_loses_their_cart_but_their_orders_stay() {
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("tessera.commerce.toml"),
        "test-payments = \"true\"\n",
    )
    .unwrap();
    let root = support::repo_root();
    let kernel = support::start_with_plugins(
        data.path(),
        &[("TESSERA_ADMIN_PASSWORD", support::ADMIN_PASSWORD)],
        &[
            root.join("plugins/commerce"),
            root.join("plugins/personalization"),
        ],
    );
    seed_catalog(&kernel);
    let ada = user(&kernel, "ada", None);
    ok(
        ada.post(&kernel, "/cart/lines", json!({"sku": "MUG", "quantity": 2})),
        200,
    );
    let cart = ok(ada.get(&kernel, "/cart"), 200);
    assert_eq!(cart["lines"].as_array().unwrap().len(), 1, "{cart}");

    // The person erases their profile; the personalisation plugin announces
    // it and commerce deletes the cart.
    let erased = ada.send(&kernel, "DELETE", "!/api/cdp/me", None);
    assert_eq!(erased.status, 200, "{}", erased.body);
    let emptied = poll(
        || ada.get(&kernel, "/cart"),
        |reply| reply.json()["lines"].as_array().is_some_and(Vec::is_empty),
    );
    assert_eq!(emptied.json()["lines"], json!([]), "{}", emptied.body);
}
