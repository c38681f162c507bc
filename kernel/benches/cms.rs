//! The CMS delivery API through the full HTTP path, against the native
//! hyper baseline of the foundation benchmark (a plain hyper handler reading
//! one key from the same storage engine), measured in the same run.
//!
//! Seeds a `product` type with 10 000 published entries (100 tags of 100
//! entries each), then loads: one entry by slug; a filtered list
//! (`filter[tag][eq]`, 100 matches, sorted by price, first page of 20); the
//! newest-first list through the per-field index of `price`.
//!
//! Run: `cargo bench -p tessera-kernel --bench cms` (optionally
//! `-- --seconds 10 --connections 32 --entries 20000`). Results go to
//! docs/benchmarks.md.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use support::{
    build_plugin, load, native_server, options, print_setup, report, runtime_with, tessera_server,
};
use tessera_host_api::bindings::tessera::plugin::http_types::Method;
use tessera_kernel::runtime::Runtime;

/// How many entries to seed (`--entries N`, default 10 000).
fn entries() -> usize {
    support::seed::count_arg("--entries", 10_000)
}

/// Calls the plugin as staff holding `cms.*`; the response body as JSON.
async fn call(
    runtime: &Arc<Runtime>,
    method: Method,
    path: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let staff = support::seed::staff("cms.*");
    support::seed::call(runtime, "tessera.cms", staff, method, path, body).await
}

/// Defines `product` and publishes `count` entries, 16 at a time.
async fn seed(runtime: &Arc<Runtime>, count: usize) {
    let tags: Vec<String> = (0..100).map(|n| format!("t{n:02}")).collect();
    call(
        runtime,
        Method::Put,
        "/types/product",
        json!({"name": "Product", "fields": [
            {"name": "name", "type": "text", "required": true},
            {"name": "price", "type": "number", "min": 0},
            {"name": "tag", "type": "enum", "values": tags},
            {"name": "description", "type": "rich_text"}
        ]}),
    )
    .await;
    let started = Instant::now();
    let workers = 16;
    let mut tasks = Vec::new();
    for worker in 0..workers {
        let runtime = runtime.clone();
        tasks.push(tokio::spawn(async move {
            for n in (worker..count).step_by(workers) {
                let entry = call(
                    &runtime,
                    Method::Post,
                    "/types/product/entries",
                    json!({"slug": format!("product-{n}"), "data": {
                        "name": format!("Product {n}"),
                        "price": (n * 7919) % 10_000,
                        "tag": format!("t{:02}", n % 100),
                        "description": "A product of the benchmark catalogue.",
                    }}),
                )
                .await;
                let id = entry["id"].as_str().unwrap();
                call(
                    &runtime,
                    Method::Post,
                    &format!("/entries/{id}/publish"),
                    json!({}),
                )
                .await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    println!(
        "seeded {count} published entries in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

fn main() {
    let options = options();
    let count = entries();
    let cms = build_plugin("plugins/cms");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let data = tempfile::tempdir().unwrap();
        let (kernel, storage) = runtime_with(&cms, data.path()).await;
        seed(&kernel, count).await;
        let tessera = tessera_server(kernel.clone()).await;
        let native = native_server(storage.clone()).await;
        print_setup(&options);
        let baseline = load(native, "GET", "/counter", &options).await;
        let one = load(
            tessera,
            "GET",
            "/api/cms/delivery/product/product-4242",
            &options,
        )
        .await;
        report("one entry by slug", &one, &baseline);
        let filtered = load(
            tessera,
            "GET",
            "/api/cms/delivery/product?filter%5Btag%5D%5Beq%5D=t42&sort=-price&limit=20",
            &options,
        )
        .await;
        report(&format!("filtered list ({count})"), &filtered, &baseline);
        let sorted = load(
            tessera,
            "GET",
            "/api/cms/delivery/product?sort=-price&limit=20",
            &options,
        )
        .await;
        report(&format!("sorted list ({count})"), &sorted, &baseline);
    });
}
