//! The commerce plugin through the full HTTP path, against the native
//! hyper baseline of the foundation benchmark (a plain hyper handler reading
//! one key from the same storage engine), measured in the same run.
//!
//! Seeds 2 000 published products (10 categories of 200, two variants
//! each, priced in EUR, in stock), then loads: a catalog listing (one
//! category, first page of 20, with prices in EUR); add-to-cart (each
//! connection sets the quantity of a line in its own anonymous cart:
//! quantity and SKU validation, price resolution, stock check, a
//! compare-and-swap write and the totals of the answer).
//!
//! Run: `cargo bench -p tessera-kernel --bench commerce` (optionally
//! `-- --seconds 10 --connections 32 --products 5000`). Results go to
//! docs/benchmarks.md.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::Full;
use serde_json::json;
use support::{
    Measured, build_plugin, load, load_requests, native_server, options, print_setup, report,
    runtime_with, tessera_server,
};
use tessera_host_api::bindings::tessera::plugin::http_types::Method;
use tessera_kernel::runtime::Runtime;

/// How many products to seed (`--products N`, default 2 000).
fn products() -> usize {
    support::seed::count_arg("--products", 2_000)
}

/// Calls the plugin as staff holding `commerce.*`; the response body as JSON.
async fn call(
    runtime: &Arc<Runtime>,
    method: Method,
    path: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let staff = support::seed::staff("commerce.*");
    support::seed::call(runtime, "tessera.commerce", staff, method, path, body).await
}

fn sku(n: usize, size: &str) -> String {
    format!("P{n:05}-{size}")
}

/// Seeds `count` products with two variants each, their EUR prices and
/// stock, 16 writers at a time.
async fn seed(runtime: &Arc<Runtime>, count: usize) {
    let started = Instant::now();
    for category in 0..10 {
        call(
            runtime,
            Method::Put,
            &format!("/categories/c{category}"),
            json!({"names": {"en": format!("Category {category}")}}),
        )
        .await;
    }
    let workers = 16;
    let mut tasks = Vec::new();
    for worker in 0..workers {
        let runtime = runtime.clone();
        tasks.push(tokio::spawn(async move {
            for n in (worker..count).step_by(workers) {
                call(
                    &runtime,
                    Method::Put,
                    &format!("/products/product-{n:05}"),
                    json!({
                        "names": {"en": format!("Product {n}"), "de": format!("Produkt {n}")},
                        "descriptions": {"en": "A product of the benchmark catalogue."},
                        "categories": [format!("c{}", n % 10)],
                        "status": "published",
                        "variants": [
                            {"sku": sku(n, "M"), "attributes": {"size": "m"}},
                            {"sku": sku(n, "L"), "attributes": {"size": "l"}}
                        ]
                    }),
                )
                .await;
                for size in ["M", "L"] {
                    call(
                        &runtime,
                        Method::Put,
                        &format!("/inventory/{}/main", sku(n, size)),
                        json!({"on_hand": 1000}),
                    )
                    .await;
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    for chunk in (0..count).collect::<Vec<_>>().chunks(400) {
        let mut prices = serde_json::Map::new();
        for n in chunk {
            for (size, amount) in [("M", 1999), ("L", 2199)] {
                prices.insert(
                    sku(*n, size),
                    json!([{"min_quantity": 1, "amount": amount}, {"min_quantity": 10, "amount": amount - 200}]),
                );
            }
        }
        call(
            runtime,
            Method::Put,
            "/price-lists/eur",
            json!({"currency": "EUR", "prices": prices}),
        )
        .await;
    }
    println!(
        "seeded {count} published products ({} SKUs) in {:.1} s",
        count * 2,
        started.elapsed().as_secs_f64()
    );
}

/// Each connection sends `PUT` with a JSON body to its own cart:
/// connection `c` sets the quantity (1 to 9) of SKUs of products
/// `c, c + connections, ...` in the cart `tokens[c]`.
async fn add_to_cart(
    address: SocketAddr,
    tokens: &[String],
    products: usize,
    options: &support::Options,
) -> Measured {
    let tokens = tokens.to_vec();
    let connections = tokens.len();
    load_requests(address, connections, options, move |connection, n| {
        // Up to 20 lines per cart, so a cart's size stays bounded.
        let product = (connection + (n % 20) * 16) % products;
        let path = format!(
            "/api/commerce/carts/{}/lines/{}",
            tokens[connection],
            sku(product, "M")
        );
        let body = json!({"quantity": 1 + n % 9}).to_string();
        hyper::Request::builder()
            .method("PUT")
            .uri(path)
            .header("host", "bench")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .unwrap()
    })
    .await
}

fn main() {
    let options = options();
    let count = products();
    let commerce = build_plugin("plugins/commerce");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let data = tempfile::tempdir().unwrap();
        let (kernel, storage) = runtime_with(&commerce, data.path()).await;
        seed(&kernel, count).await;
        let mut tokens = Vec::new();
        for _ in 0..options.connections {
            let cart = call(&kernel, Method::Post, "/carts", json!({"currency": "EUR"})).await;
            tokens.push(cart["token"].as_str().unwrap().to_owned());
        }
        let tessera = tessera_server(kernel.clone()).await;
        let native = native_server(storage.clone()).await;
        print_setup(&options);
        let baseline = load(native, "GET", "/counter", &options).await;
        let listing = load(
            tessera,
            "GET",
            "/api/commerce/products?category=c3&limit=20&currency=EUR",
            &options,
        )
        .await;
        report(&format!("catalog listing ({count})"), &listing, &baseline);
        let search = load(
            tessera,
            "GET",
            "/api/commerce/products?q=product&limit=20",
            &options,
        )
        .await;
        report(&format!("product search ({count})"), &search, &baseline);
        let cart = add_to_cart(tessera, &tokens, count, &options).await;
        report("add to cart", &cart, &baseline);
    });
}
