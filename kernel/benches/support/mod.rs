//! What the HTTP benchmarks share: command-line options, a keep-alive
//! HTTP/1.1 load generator with latency percentiles and CPU per request,
//! the native hyper baseline (hello's counter routes in plain hyper over the
//! same storage engine), the kernel's own HTTP server with identity in the
//! path, and the report format. Each bench uses a subset.

#![allow(dead_code)]

pub mod seed;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tessera_kernel::events::{EventLog, EventStore, NAMESPACE};
use tessera_kernel::http::{AppState, Server};
use tessera_kernel::identity::{Identity, IdentitySettings};
use tessera_kernel::metrics::Metrics;
use tessera_kernel::plugin_build::{self, PluginCrate};
use tessera_kernel::runtime::{EngineSettings, PluginSource, Runtime};
use tessera_kernel::storage::{Namespace, SledStorage, Storage};

/// Command-line options of a bench run.
pub struct Options {
    pub seconds: u64,
    pub connections: usize,
    /// Which measurements to run: `all`, `instantiate`, `get` or `post`
    /// (one at a time is what a profiler wants).
    pub only: String,
    /// Skip the native baseline (to profile the plugin route alone).
    pub skip_native: bool,
    /// Skip the plugin route (to profile the native baseline alone).
    pub skip_tessera: bool,
}

/// `--seconds N`, `--connections N`, `--only NAME`, `--skip-native`,
/// `--skip-tessera`.
pub fn options() -> Options {
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
pub struct Measured {
    pub requests: usize,
    /// Process CPU time (user + system, all threads, load generator
    /// included) per request.
    pub cpu_per_request: Duration,
    pub rps: f64,
    pub p50: Duration,
    pub p99: Duration,
}

/// The `fraction` percentile of sorted samples.
pub fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// Drive `connections` keep-alive HTTP/1.1 connections against `address`
/// for `seconds`, each sending `method path` back to back.
pub async fn load(address: SocketAddr, method: &str, path: &str, options: &Options) -> Measured {
    let method = hyper::Method::from_bytes(method.as_bytes()).unwrap();
    let path = path.to_owned();
    load_requests(address, options.connections, options, move |_, _| {
        hyper::Request::builder()
            .method(method.clone())
            .uri(&path)
            .header("host", "bench")
            .body(Full::new(Bytes::new()))
            .unwrap()
    })
    .await
}

/// Drive `connections` keep-alive HTTP/1.1 connections against `address`
/// for `options.seconds`; connection `c` sends `request(c, n)` as its
/// `n`-th request, back to back. Every answer must be a success.
pub async fn load_requests<F>(
    address: SocketAddr,
    connections: usize,
    options: &Options,
    request: F,
) -> Measured
where
    F: Fn(usize, usize) -> hyper::Request<Full<Bytes>> + Send + Sync + 'static,
{
    let cpu_before = process_cpu_time();
    let deadline = Instant::now() + Duration::from_secs(options.seconds);
    let request = Arc::new(request);
    let mut tasks = Vec::new();
    for connection in 0..connections {
        let request = request.clone();
        tasks.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(address).await.unwrap();
            stream.set_nodelay(true).unwrap();
            let (mut sender, link) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .unwrap();
            tokio::spawn(link);
            let mut latencies = Vec::new();
            let mut n = 0usize;
            while Instant::now() < deadline {
                let request = request(connection, n);
                let path = request.uri().to_string();
                let started = Instant::now();
                let response = sender.send_request(request).await.unwrap();
                let status = response.status();
                let body = response.into_body().collect().await.unwrap().to_bytes();
                assert!(
                    status.is_success(),
                    "{path} answered {status}: {}",
                    String::from_utf8_lossy(&body)
                );
                latencies.push(started.elapsed());
                n += 1;
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
pub async fn native_server(storage: Arc<dyn Storage>) -> SocketAddr {
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

/// The kernel's HTTP server over `runtime`, as `tessera serve` runs it.
pub async fn tessera_server(runtime: Arc<Runtime>) -> SocketAddr {
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

/// One line of results.
pub fn report_one(label: &str, plugin: &Measured) {
    println!(
        "{label:<28} tessera {:>9.0} req/s  p50 {:>8.1?}  p99 {:>8.1?}  cpu/req {:>6.1?}  ({} requests)",
        plugin.rps, plugin.p50, plugin.p99, plugin.cpu_per_request, plugin.requests
    );
}

/// Results against the native baseline, with the ratios.
pub fn report(label: &str, plugin: &Measured, native: &Measured) {
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

/// Builds the plugin crate at `path` (relative to the repository root) for
/// `wasm32-wasip2`, with `tessera plugin build`'s code path.
pub fn build_plugin(path: &str) -> PluginCrate {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let plugin = PluginCrate::open(&root.join(path)).unwrap();
    plugin_build::build(std::slice::from_ref(&plugin)).unwrap();
    plugin
}

/// A runtime on a fresh sled database under `data`, with `plugin` loaded;
/// and its storage.
pub async fn runtime_with(
    plugin: &PluginCrate,
    data: &std::path::Path,
) -> (Arc<Runtime>, Arc<dyn Storage>) {
    let storage: Arc<dyn Storage> = Arc::new(SledStorage::open(&data.join("db")).unwrap());
    let runtime = Arc::new(
        Runtime::new(
            &EngineSettings::default(),
            storage.clone(),
            Arc::new(Metrics::new()),
            data.join("cache"),
        )
        .unwrap(),
    );
    let component = plugin.built_component().unwrap();
    runtime
        .load(&PluginSource {
            manifest: plugin.manifest.clone(),
            component: std::fs::read(&component).unwrap(),
            config_overrides: std::collections::BTreeMap::new(),
        })
        .await
        .unwrap();
    (runtime, storage)
}

/// The first line of a report: the run's shape.
pub fn print_setup(options: &Options) {
    println!(
        "{} s per run, {} connections, {} cores",
        options.seconds,
        options.connections,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
}
