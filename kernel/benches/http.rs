//! Throughput and latency of a plugin route through the full HTTP path,
//! against a native hyper handler doing the same storage work, measured in
//! the same run; plus the cost of instantiate + call alone.
//!
//! Run: `cargo bench -p tessera-kernel --bench http` (optionally
//! `-- --seconds 10 --connections 32`, or `-- --only get` to run one
//! measurement: `instantiate`, `get` or `post`; `floor` measures the
//! kernel's HTTP path alone on `/healthz`). With `--features phase-timing`
//! it also prints where each call's time goes (prepare, instantiate, call,
//! teardown). Results go to docs/benchmarks.md.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{
    build_plugin, load, native_server, options, percentile, print_setup, report, report_one,
    runtime_with, tessera_server,
};
use tessera_host_api::bindings::tessera::plugin::http_types::{Method, Request as WitRequest};
use tessera_kernel::runtime::{CallContext, Runtime, phase_timing};

/// Mean and percentiles of `Runtime::call_handler` alone: a fresh instance
/// from the pre-instantiated component, one `handle` call, no HTTP.
async fn instantiate_and_call(
    runtime: &Arc<Runtime>,
    iterations: usize,
) -> (Duration, Duration, Duration) {
    let plugin = runtime.by_id("tessera.hello").unwrap();
    let request = WitRequest {
        method: Method::Get,
        path: "/greet/bench".into(),
        query: String::new(),
        headers: Vec::new(),
        body: Vec::new(),
        request_id: "bench".into(),
    };
    for _ in 0..1000 {
        runtime
            .call_handler(
                plugin.clone(),
                request.clone(),
                CallContext::request("warmup".into()),
            )
            .await
            .unwrap();
    }
    let mut samples = Vec::with_capacity(iterations);
    let started = Instant::now();
    for _ in 0..iterations {
        let one = Instant::now();
        let response = runtime
            .call_handler(
                plugin.clone(),
                request.clone(),
                CallContext::request("bench".into()),
            )
            .await
            .unwrap();
        samples.push(one.elapsed());
        assert_eq!(response.status, 200);
    }
    let mean = started.elapsed() / iterations as u32;
    samples.sort();
    (mean, percentile(&samples, 0.5), percentile(&samples, 0.99))
}

/// The mean phases of the calls since the last `phase_timing::take`, when
/// the bench runs with `--features phase-timing`.
fn print_phases(label: &str) {
    if !phase_timing::ENABLED {
        return;
    }
    let report = phase_timing::take();
    let micros = |duration: Duration| duration.as_secs_f64() * 1e6;
    println!(
        "{label}: prepare {:.1} µs, instantiate {:.1} µs, call {:.1} µs, teardown {:.1} µs (mean of {} calls)",
        micros(report.mean.prepare),
        micros(report.mean.instantiate),
        micros(report.mean.call),
        micros(report.mean.teardown),
        report.calls
    );
}

fn main() {
    let options = options();
    let hello = build_plugin("examples/hello");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let data = tempfile::tempdir().unwrap();
        let (kernel, storage) = runtime_with(&hello, data.path()).await;
        let tessera = tessera_server(kernel.clone()).await;
        let native = native_server(storage.clone()).await;

        print_setup(&options);
        let runs = |phase: &str| options.only == "all" || options.only == phase;
        if runs("instantiate") {
            phase_timing::take();
            let (mean, p50, p99) = instantiate_and_call(&kernel, 20_000).await;
            print_phases("  phases, tight loop");
            println!(
                "instantiate + call (hello GET /greet): mean {:.1} µs, p50 {:.1} µs, p99 {:.1} µs",
                mean.as_secs_f64() * 1e6,
                p50.as_secs_f64() * 1e6,
                p99.as_secs_f64() * 1e6
            );
        }
        if options.only == "floor" {
            // The kernel's HTTP path without identity or a plugin call.
            let floor = load(tessera, "GET", "/healthz", &options).await;
            report_one("GET /healthz (kernel path)", &floor);
        }
        if runs("get") && options.skip_tessera {
            let native_read = load(native, "GET", "/counter", &options).await;
            report_one("GET counter, native", &native_read);
        } else if runs("get") {
            phase_timing::take();
            let plugin_read = load(tessera, "GET", "/api/hello/counter", &options).await;
            print_phases("  phases, GET counter over HTTP");
            if !options.skip_native {
                let native_read = load(native, "GET", "/counter", &options).await;
                report("GET counter (storage read)", &plugin_read, &native_read);
            } else {
                report_one("GET counter (storage read)", &plugin_read);
            }
        }
        if runs("post") {
            phase_timing::take();
            let plugin_write = load(tessera, "POST", "/api/hello/counter", &options).await;
            print_phases("  phases, POST counter over HTTP");
            if !options.skip_native {
                let native_write = load(native, "POST", "/counter", &options).await;
                report("POST counter (CAS + flush)", &plugin_write, &native_write);
            } else {
                report_one("POST counter (CAS + flush)", &plugin_write);
            }
        }
    });
}
