//! Throughput and latency of a plugin route through the full HTTP path,
//! against a native hyper handler doing the same storage work, measured in
//! the same run; plus the cost of instantiate + call alone.
//!
//! Run: `cargo bench -p tessera-kernel --bench http` (optionally
//! `-- --seconds 10 --connections 32`, or `-- --only get` to run one
//! measurement: `instantiate`, `get` or `post`). Results go to
//! docs/benchmarks.md.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tessera_host_api::bindings::tessera::plugin::http_types::{Method, Request as WitRequest};
use tessera_kernel::events::{EventLog, EventStore, NAMESPACE};
use tessera_kernel::http::{AppState, Server};
use tessera_kernel::identity::{Identity, IdentitySettings};
use tessera_kernel::metrics::Metrics;
use tessera_kernel::plugin_build::{self, PluginCrate};
use tessera_kernel::runtime::{CallContext, EngineSettings, PluginSource, Runtime};
use tessera_kernel::storage::{Namespace, SledStorage, Storage};

struct Options {
    seconds: u64,
    connections: usize,
    /// Which measurements to run: `all`, `instantiate`, `get` or `post`
    /// (one at a time is what a profiler wants).
    only: String,
    /// Skip the native baseline (to profile the plugin route alone).
    skip_native: bool,
    /// Skip the plugin route (to profile the native baseline alone).
    skip_tessera: bool,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().collect();
    let mut options = Options {
        seconds: 5,
        connections: 16,
        only: "all".to_owned(),
        skip_native: args.iter().any(|arg| arg == "--skip-native"),
        skip_tessera: args.iter().any(|arg| arg == "--skip-tessera"),
    };
    for pair in args.windows(2) {
        match pair[0].as_str() {
            "--seconds" => options.seconds = pair[1].parse().expect("--seconds N"),
            "--connections" => options.connections = pair[1].parse().expect("--connections N"),
            "--only" => options.only = pair[1].clone(),
            _ => {}
        }
    }
    options
}

/// Requests per second and latency percentiles of one run.
struct Measured {
    requests: usize,
    /// Process CPU time (user + system, all threads, load generator
    /// included) per request.
    cpu_per_request: Duration,
    rps: f64,
    p50: Duration,
    p99: Duration,
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// Drive `connections` keep-alive HTTP/1.1 connections against `address`
/// for `seconds`, each sending `method path` back to back.
async fn load(address: SocketAddr, method: &str, path: &str, options: &Options) -> Measured {
    let cpu_before = process_cpu_time();
    let deadline = Instant::now() + Duration::from_secs(options.seconds);
    let mut tasks = Vec::new();
    for _ in 0..options.connections {
        let method = hyper::Method::from_bytes(method.as_bytes()).unwrap();
        let path = path.to_owned();
        tasks.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(address).await.unwrap();
            stream.set_nodelay(true).unwrap();
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .unwrap();
            tokio::spawn(connection);
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let request = hyper::Request::builder()
                    .method(method.clone())
                    .uri(&path)
                    .header("host", "bench")
                    .body(Empty::<Bytes>::new())
                    .unwrap();
                let started = Instant::now();
                let response = sender.send_request(request).await.unwrap();
                let status = response.status();
                response.into_body().collect().await.unwrap();
                assert!(status.is_success(), "{path} answered {status}");
                latencies.push(started.elapsed());
            }
            latencies
        }));
    }
    let started = Instant::now();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    let elapsed = started.elapsed();
    let cpu = process_cpu_time().saturating_sub(cpu_before);
    latencies.sort();
    Measured {
        requests: latencies.len(),
        cpu_per_request: cpu / latencies.len().max(1) as u32,
        rps: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
    }
}

/// User + system CPU time of this process so far, from /proc/self/stat
/// (clock ticks of 10 ms: plenty over a run of seconds).
fn process_cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may contain spaces) start at
    // field 3; utime and stime are fields 14 and 15.
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<u64> = after_name
        .split_whitespace()
        .map(|field| field.parse().unwrap_or(0))
        .collect();
    let ticks = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

/// The native baseline: the same routes as hello's counter, in plain hyper,
/// with the same storage engine and the same durability (group flush).
async fn native_server(storage: Arc<dyn Storage>) -> SocketAddr {
    let namespace = storage.namespace("bench/native").unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            stream.set_nodelay(true).unwrap();
            let namespace = namespace.clone();
            let storage = storage.clone();
            let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                let namespace = namespace.clone();
                let storage = storage.clone();
                async move {
                    let body = match *request.method() {
                        hyper::Method::POST => {
                            increment(namespace.as_ref(), storage.as_ref()).await
                        }
                        _ => read_counter(namespace.as_ref()),
                    };
                    let mut response = hyper::Response::new(Full::new(Bytes::from(body)));
                    response
                        .headers_mut()
                        .insert("content-type", "application/json".parse().unwrap());
                    Ok::<_, Infallible>(response)
                }
            });
            tokio::spawn(async move {
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    address
}

fn read_counter(namespace: &dyn Namespace) -> String {
    let value: i64 = namespace
        .get(b"counter")
        .unwrap()
        .map(|bytes| serde_json::from_slice(&bytes).unwrap())
        .unwrap_or(0);
    serde_json::json!({ "value": value }).to_string()
}

async fn increment(namespace: &dyn Namespace, storage: &dyn Storage) -> String {
    loop {
        let current = namespace.get(b"counter").unwrap();
        let value: i64 = current
            .as_deref()
            .map(|bytes| serde_json::from_slice(bytes).unwrap())
            .unwrap_or(0)
            + 1;
        let new = serde_json::to_vec(&value).unwrap();
        if namespace
            .compare_and_swap(b"counter", current.as_deref(), Some(&new))
            .unwrap()
            .is_ok()
        {
            storage.durable().await.unwrap();
            return serde_json::json!({ "value": value }).to_string();
        }
    }
}

async fn tessera_server(runtime: Arc<Runtime>) -> SocketAddr {
    // Identity as `tessera serve` has it: every request resolves its site
    // and principal (anonymous here: no cookie, no token).
    let storage = runtime.storage().clone();
    let events: Arc<dyn EventStore> =
        Arc::new(EventLog::open(storage.namespace(NAMESPACE).unwrap()).unwrap());
    let identity = Identity::open(storage.as_ref(), events, IdentitySettings::default()).unwrap();
    let state = Arc::new(AppState {
        runtime,
        ready: AtomicBool::new(true),
        lifecycle: None,
        identity: Some(Arc::new(identity)),
    });
    let server = Server::bind(
        "127.0.0.1:0".parse().unwrap(),
        state,
        Duration::from_secs(1),
    )
    .await
    .unwrap();
    let address = server.local_addr().unwrap();
    tokio::spawn(server.run(Box::pin(std::future::pending())));
    address
}

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

fn report_one(label: &str, plugin: &Measured) {
    println!(
        "{label:<28} tessera {:>9.0} req/s  p50 {:>8.1?}  p99 {:>8.1?}  cpu/req {:>6.1?}  ({} requests)",
        plugin.rps, plugin.p50, plugin.p99, plugin.cpu_per_request, plugin.requests
    );
}

fn report(label: &str, plugin: &Measured, native: &Measured) {
    report_one(label, plugin);
    println!(
        "{:<28} native  {:>9.0} req/s  p50 {:>8.1?}  p99 {:>8.1?}  cpu/req {:>6.1?}  ({} requests)",
        "", native.rps, native.p50, native.p99, native.cpu_per_request, native.requests
    );
    println!(
        "{:<28} ratio tessera/native: throughput {:.2}, p50 latency {:.2}",
        "",
        plugin.rps / native.rps,
        plugin.p50.as_secs_f64() / native.p50.as_secs_f64()
    );
}

fn main() {
    let options = options();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let hello = PluginCrate::open(&root.join("examples/hello")).unwrap();
    plugin_build::build(std::slice::from_ref(&hello)).unwrap();
    let component = hello.built_component().unwrap();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let data = tempfile::tempdir().unwrap();
        let storage: Arc<dyn Storage> =
            Arc::new(SledStorage::open(&data.path().join("db")).unwrap());
        let kernel = Arc::new(
            Runtime::new(
                &EngineSettings::default(),
                storage.clone(),
                Arc::new(Metrics::new()),
                data.path().join("cache"),
            )
            .unwrap(),
        );
        kernel
            .load(&PluginSource {
                manifest: hello.manifest.clone(),
                component: std::fs::read(&component).unwrap(),
                config_overrides: BTreeMap::new(),
            })
            .await
            .unwrap();
        let tessera = tessera_server(kernel.clone()).await;
        let native = native_server(storage.clone()).await;

        println!(
            "{} s per run, {} connections, {} cores",
            options.seconds,
            options.connections,
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        );
        let runs = |phase: &str| options.only == "all" || options.only == phase;
        if runs("instantiate") {
            let (mean, p50, p99) = instantiate_and_call(&kernel, 20_000).await;
            println!(
                "instantiate + call (hello GET /greet): mean {:.1} µs, p50 {:.1} µs, p99 {:.1} µs",
                mean.as_secs_f64() * 1e6,
                p50.as_secs_f64() * 1e6,
                p99.as_secs_f64() * 1e6
            );
        }
        if runs("get") && options.skip_tessera {
            let native_read = load(native, "GET", "/counter", &options).await;
            report_one("GET counter, native", &native_read);
        } else if runs("get") {
            let plugin_read = load(tessera, "GET", "/api/hello/counter", &options).await;
            if !options.skip_native {
                let native_read = load(native, "GET", "/counter", &options).await;
                report("GET counter (storage read)", &plugin_read, &native_read);
            } else {
                report_one("GET counter (storage read)", &plugin_read);
            }
        }
        if runs("post") {
            let plugin_write = load(tessera, "POST", "/api/hello/counter", &options).await;
            if !options.skip_native {
                let native_write = load(native, "POST", "/counter", &options).await;
                report("POST counter (CAS + flush)", &plugin_write, &native_write);
            } else {
                report_one("POST counter (CAS + flush)", &plugin_write);
            }
        }
    });
}
