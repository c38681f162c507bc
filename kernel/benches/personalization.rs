//! The personalisation plugin through the full HTTP path, against
//! baselines measured in the same run:
//!
//! - **tracking**: `POST /api/cdp/track` (one page view, each connection a
//!   visitor of its own, in a segment) against the native baseline's
//!   durable counter write (`POST /counter`: CAS + group flush);
//! - **personalised delivery**: the CMS serving an entry with variants to
//!   a visitor in a segment (one `invoke` of `GET /me/segments`) against
//!   the same CMS serving an entry without variants (no invoke), so the
//!   difference is what personalisation adds to a delivery request.
//!
//! The CMS and the personalisation plugin are loaded into one runtime
//! (the CMS invokes the plugin in-process, as under `tessera serve`).
//!
//! Run: `cargo bench -p tessera-kernel --bench personalization`
//! (optionally `-- --seconds 10 --connections 32`). Results go to
//! docs/benchmarks.md.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use serde_json::json;
use support::{
    Measured, Options, build_plugin, load, load_requests, native_server, options, print_setup,
    report, runtime_with, tessera_server,
};
use tessera_host_api::bindings::tessera::plugin::http_types::{Method, Request as WitRequest};
use tessera_kernel::identity::{AuthMethod, Principal, PrincipalUser};
use tessera_kernel::runtime::{CallContext, PluginSource, Runtime};

/// An administrator holding every CMS and personalisation permission.
fn admin() -> Arc<Principal> {
    Arc::new(Principal::user(
        "default",
        PrincipalUser {
            id: "u_bench".into(),
            username: "bench".into(),
            display_name: "Bench".into(),
            roles: vec!["admin".into()],
        },
        AuthMethod::Session,
        vec!["cms.*".into(), "cdp.*".into()],
        None,
    ))
}

/// Calls `plugin` as the administrator; the response body as JSON.
async fn call(
    runtime: &Arc<Runtime>,
    plugin: &str,
    method: Method,
    path: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    support::seed::call(runtime, plugin, admin(), method, path, body).await
}

/// A type, an entry without variants (`plain`) and one with variants
/// (`offer`), a segment (`fan`: viewed `/pricing`) and one tracked page
/// view per bench visitor so each is in it.
async fn seed(runtime: &Arc<Runtime>, visitors: usize) {
    let cms = "tessera.cms";
    call(
        runtime,
        cms,
        Method::Put,
        "/types/article",
        json!({"name": "Article", "fields": [
            {"name": "title", "type": "text", "required": true},
            {"name": "body", "type": "rich_text"}
        ]}),
    )
    .await;
    for (slug, variants) in [
        ("plain", json!([])),
        (
            "offer",
            json!([{"segment": "other", "data": {"title": "Other"}},
                   {"segment": "fan", "data": {"title": "For fans"}}]),
        ),
    ] {
        let entry = call(
            runtime,
            cms,
            Method::Post,
            "/types/article/entries",
            json!({"slug": slug, "data": {"title": "Hello", "body": "Some text of the article."},
                   "variants": variants}),
        )
        .await;
        let id = entry["id"].as_str().unwrap();
        call(
            runtime,
            cms,
            Method::Post,
            &format!("/entries/{id}/publish"),
            json!({}),
        )
        .await;
    }
    let cdp = "tessera.personalization";
    call(
        runtime,
        cdp,
        Method::Put,
        "/segments/fan",
        json!({"name": "Fans", "rule": {"page": "/pricing"}}),
    )
    .await;
    call(
        runtime,
        cdp,
        Method::Put,
        "/segments/other",
        json!({"name": "Others", "rule": {"attribute": "country", "eq": "FR"}}),
    )
    .await;
    for visitor in 0..visitors {
        let loaded = runtime.by_id(cdp).unwrap();
        let request = WitRequest {
            method: Method::Post,
            path: "/track".into(),
            query: String::new(),
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("x-visitor-id".into(), visitor_id(visitor)),
            ],
            body: br#"{"type": "page", "path": "/pricing"}"#.to_vec(),
            request_id: "seed".into(),
        };
        let context = CallContext::for_principal(
            "seed".into(),
            Arc::new(Principal::anonymous("default")),
            None,
        );
        let response = runtime
            .call_handler(loaded, request, context)
            .await
            .unwrap();
        assert_eq!(response.status, 202);
    }
}

fn visitor_id(n: usize) -> String {
    format!("bench-visitor-{n:04}")
}

/// [`support::load`] with a body and headers: each connection `c` sends
/// `method path` with `headers(c)` and `body` back to back.
async fn load_with(
    address: SocketAddr,
    method: &str,
    path: &str,
    headers: impl Fn(usize) -> Vec<(String, String)>,
    body: &'static [u8],
    options: &Options,
) -> Measured {
    let method = hyper::Method::from_bytes(method.as_bytes()).unwrap();
    let path = path.to_owned();
    let headers: Vec<_> = (0..options.connections).map(headers).collect();
    load_requests(
        address,
        options.connections,
        options,
        move |connection, _| {
            let mut request = hyper::Request::builder()
                .method(method.clone())
                .uri(&path)
                .header("host", "bench")
                .header("content-type", "application/json");
            for (name, value) in &headers[connection] {
                request = request.header(name, value);
            }
            request.body(Full::new(Bytes::from_static(body))).unwrap()
        },
    )
    .await
}

/// `measured` against a `baseline` that is not the native one.
fn compare(label: &str, measured: &Measured, baseline_label: &str, baseline: &Measured) {
    for (label, run) in [(label, measured), (baseline_label, baseline)] {
        println!(
            "{label:<28} {:>9.0} req/s  p50 {:>8.1?}  p99 {:>8.1?}  ({} requests)",
            run.rps, run.p50, run.p99, run.requests
        );
    }
    println!(
        "{:<28} ratio: throughput {:.2}, p50 latency {:.2}, added p50 {:.1?}",
        "",
        measured.rps / baseline.rps,
        measured.p50.as_secs_f64() / baseline.p50.as_secs_f64(),
        measured.p50.saturating_sub(baseline.p50)
    );
}

/// The variant the CMS serves visitor 0 of `slug`, through the runtime.
async fn variant_for_visitor(runtime: &Arc<Runtime>, slug: &str) -> serde_json::Value {
    let loaded = runtime.by_id("tessera.cms").unwrap();
    let request = WitRequest {
        method: Method::Get,
        path: format!("/delivery/article/{slug}"),
        query: String::new(),
        headers: vec![("x-visitor-id".into(), visitor_id(0))],
        body: Vec::new(),
        request_id: "check".into(),
    };
    let context = CallContext::for_principal(
        "check".into(),
        Arc::new(Principal::anonymous("default")),
        None,
    );
    let response = runtime
        .call_handler(loaded, request, context)
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
    body["variant"].clone()
}

fn main() {
    let options = options();
    let cms = build_plugin("plugins/cms");
    let cdp = build_plugin("plugins/personalization");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let data = tempfile::tempdir().unwrap();
        let (kernel, storage) = runtime_with(&cms, data.path()).await;
        // The per-person budget would refuse a load generator's pace.
        let overrides = BTreeMap::from([("track-per-minute".to_owned(), "100000000".to_owned())]);
        kernel
            .load(&PluginSource {
                manifest: cdp.manifest.clone(),
                component: std::fs::read(cdp.built_component().unwrap()).unwrap(),
                config_overrides: overrides,
            })
            .await
            .unwrap();
        seed(&kernel, options.connections).await;
        // The personalised entry really is personalised for the visitors.
        assert_eq!(variant_for_visitor(&kernel, "offer").await, json!("fan"));
        assert_eq!(variant_for_visitor(&kernel, "plain").await, json!(null));
        let tessera = tessera_server(kernel.clone()).await;
        let native = native_server(storage.clone()).await;
        print_setup(&options);

        let write = load(native, "POST", "/counter", &options).await;
        let track = load_with(
            tessera,
            "POST",
            "/api/cdp/track",
            |n| vec![("x-visitor-id".to_owned(), visitor_id(n))],
            br#"{"type": "page", "path": "/pricing"}"#,
            &options,
        )
        .await;
        report("track (1 page view)", &track, &write);

        let plain = load(tessera, "GET", "/api/cms/delivery/article/plain", &options).await;
        let personalised = load_with(
            tessera,
            "GET",
            "/api/cms/delivery/article/offer",
            |n| vec![("x-visitor-id".to_owned(), visitor_id(n))],
            b"",
            &options,
        )
        .await;
        compare(
            "personalised delivery",
            &personalised,
            "plain delivery",
            &plain,
        );
        let segments = load_with(
            tessera,
            "GET",
            "/api/cdp/me/segments",
            |n| vec![("x-visitor-id".to_owned(), visitor_id(n))],
            b"",
            &options,
        )
        .await;
        compare("GET /me/segments", &segments, "plain delivery", &plain);
    });
}
