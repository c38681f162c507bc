//! IoT telemetry ingestion through the real `tessera` binary, with the
//! IoT plugin and the MQTT bridge (a signed native package) installed and a
//! real Mosquitto broker on loopback, against baselines measured in the
//! same run:
//!
//! - **HTTP**: `--connections` keep-alive connections (one device each)
//!   POST batches of `--batch` points to `/api/iot/ingest/<device>` for
//!   `--seconds`; baseline: the native hyper handler of the foundation
//!   bench doing one durable write per request (`POST /counter`).
//! - **MQTT**: `--connections` publishers send `--messages` messages of
//!   `--batch` points (QoS 1) to `tessera/default/devices/<device>/telemetry`;
//!   timed until every point is stored by the IoT plugin (read back from its
//!   hourly aggregates). Baseline: the same messages through the same broker
//!   to a plain MQTT subscriber, timed until it received them all.
//!
//! Run: `cargo bench -p tessera-kernel --bench iot` (optionally
//! `-- --seconds 10 --connections 16 --batch 10 --messages 4000`); needs
//! `mosquitto` (Debian's package). Results go to docs/benchmarks.md.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{Value, json};
use support::{Options, load, native_server, options, percentile, print_setup};
use tessera_kernel::package::{self, Payload, SigningKey, TrustStore};
use tessera_kernel::storage::{SledStorage, Storage};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.windows(2)
        .find(|pair| pair[0] == name)
        .map(|pair| pair[1].parse().expect("a number"))
        .unwrap_or(default)
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Mosquitto on a free loopback port, without a per-client queue limit (the
/// bridge acknowledges each message once its event is on disk).
struct Broker {
    port: u16,
    child: Child,
}

impl Broker {
    fn start(dir: &Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = dir.join("mosquitto.conf");
        std::fs::write(
            &config,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\npersistence false\n"
            ),
        )
        .unwrap();
        let binary = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
            .into_iter()
            .find(|path| Path::new(path).exists())
            .unwrap_or("mosquitto");
        let child = Command::new(binary)
            .arg("-c")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto (apt-get install mosquitto)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "mosquitto did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { port, child }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `tessera serve` on a data directory, with the IoT plugin.
struct Kernel {
    child: Child,
    base: String,
    token: String,
    agent: ureq::Agent,
}

impl Kernel {
    fn start(data: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
            .arg("serve")
            .arg("--data")
            .arg(data)
            .args(["--listen", "127.0.0.1:0", "--no-build"])
            .arg("--cache")
            .arg(data.join("cache"))
            .arg("--plugins")
            .arg(root().join("plugins/iot"))
            .env("TESSERA_ADMIN_PASSWORD", "bench-admin-password")
            .env("RUST_LOG", "warn")
            .current_dir(root())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(data.join("kernel.log")).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(address) = line.strip_prefix("Tessera listening on ") {
                    let _ = tx.send(address.trim().to_owned());
                }
            }
        });
        let base = rx
            .recv_timeout(Duration::from_secs(180))
            .expect("tessera started");
        let token = std::fs::read_to_string(data.join("admin-token"))
            .unwrap()
            .trim()
            .to_owned();
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        Self {
            child,
            base,
            token,
            agent,
        }
    }

    fn address(&self) -> SocketAddr {
        self.base.trim_start_matches("http://").parse().unwrap()
    }

    fn admin(&self, method: &str, path: &str, body: Option<&[u8]>) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let authorization = format!("Bearer {}", self.token);
        let response = match (method, body) {
            ("POST", Some(bytes)) => self
                .agent
                .post(&url)
                .header("authorization", &authorization)
                .header("content-type", "application/json")
                .send(bytes),
            _ => self
                .agent
                .get(&url)
                .header("authorization", &authorization)
                .call(),
        }
        .unwrap();
        let status = response.status().as_u16();
        let text = response.into_body().read_to_string().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    fn register(&self, id: &str) -> String {
        let body = json!({"id": id, "type": "sensor", "account": "bench"}).to_string();
        let (status, reply) = self.admin("POST", "/api/iot/devices", Some(body.as_bytes()));
        assert_eq!(status, 201, "{reply}");
        reply["token"].as_str().unwrap().to_owned()
    }

    /// Points of `metric` stored for `device`, from the hourly aggregates.
    fn stored(&self, device: &str, metric: &str) -> u64 {
        let (status, reply) = self.admin(
            "GET",
            &format!("/api/iot/devices/{device}/series?metric={metric}&resolution=hour"),
            None,
        );
        assert_eq!(status, 200, "{reply}");
        reply["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["count"].as_u64().unwrap())
            .sum()
    }
}

impl Drop for Kernel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The bridge, built for the host in release, packed and signed by `key`.
fn bridge_package(key: &SigningKey) -> Vec<u8> {
    let target_dir = root().join("target/native");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "-p", "mqtt-bridge"])
        .arg("--target-dir")
        .arg(&target_dir)
        .current_dir(root())
        .status()
        .unwrap();
    assert!(status.success());
    let library = format!(
        "{}mqtt_bridge{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let bytes = std::fs::read(target_dir.join("release").join(&library)).unwrap();
    let manifest =
        std::fs::read_to_string(root().join("plugins/mqtt-bridge/native-plugin.toml")).unwrap();
    package::build(
        &manifest,
        Payload::Native {
            target: tessera_kernel::native::HOST_TARGET,
            library: &library,
            bytes: &bytes,
        },
        Some(key),
    )
    .unwrap()
}

/// A batch of `size` points of metrics m0..m{size-1}, stamped from `ts`.
fn batch(size: usize, ts: u64) -> String {
    let points: Vec<Value> = (0..size)
        .map(|n| json!({"metric": format!("m{n}"), "value": n, "ts": ts}))
        .collect();
    json!({ "points": points }).to_string()
}

/// HTTP ingestion: one device per connection, batches back to back.
async fn http_load(
    kernel: &Kernel,
    tokens: Vec<(String, String)>,
    size: usize,
    options: &Options,
) -> (usize, f64, Duration, Duration) {
    let address = kernel.address();
    let deadline = Instant::now() + Duration::from_secs(options.seconds);
    let start_ts = now_ms() - 3_600_000;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (device, token) in tokens {
        tasks.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(address).await.unwrap();
            stream.set_nodelay(true).unwrap();
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .unwrap();
            tokio::spawn(connection);
            let mut latencies = Vec::new();
            let mut ts = start_ts;
            while Instant::now() < deadline {
                ts += 1;
                let request = hyper::Request::builder()
                    .method("POST")
                    .uri(format!("/api/iot/ingest/{device}"))
                    .header("host", "bench")
                    .header("content-type", "application/json")
                    .header("x-device-token", &token)
                    .body(Full::new(Bytes::from(batch(size, ts))))
                    .unwrap();
                let sent = Instant::now();
                let response = sender.send_request(request).await.unwrap();
                let status = response.status();
                let body = response.into_body().collect().await.unwrap().to_bytes();
                assert_eq!(status, 202, "{}", String::from_utf8_lossy(&body));
                latencies.push(sent.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    (
        latencies.len(),
        latencies.len() as f64 / elapsed,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
    )
}

/// Publish `messages` messages (QoS 1) over `publishers` connections, to
/// `device(n)`'s topic; returns when the broker acknowledged them all.
async fn publish_all(
    port: u16,
    publishers: usize,
    messages: usize,
    size: usize,
    device: impl Fn(usize) -> String,
) {
    let start_ts = now_ms() - 1_800_000;
    let mut tasks = Vec::new();
    for publisher in 0..publishers {
        let topics: Vec<(String, String)> = (publisher..messages)
            .step_by(publishers)
            .map(|n| {
                (
                    format!("tessera/default/devices/{}/telemetry", device(publisher)),
                    batch(size, start_ts + n as u64),
                )
            })
            .collect();
        tasks.push(tokio::spawn(async move {
            let mut options = MqttOptions::new(
                format!("bench-pub-{publisher}-{}", now_ms()),
                "127.0.0.1",
                port,
            );
            options.set_inflight(50);
            let (client, mut eventloop) = AsyncClient::new(options, 100);
            let expected = topics.len();
            let sender = tokio::spawn(async move {
                for (topic, payload) in topics {
                    client
                        .publish(topic, QoS::AtLeastOnce, false, payload)
                        .await
                        .unwrap();
                }
                client
            });
            let mut acked = 0;
            while acked < expected {
                if let Event::Incoming(Packet::PubAck(_)) = eventloop.poll().await.unwrap() {
                    acked += 1;
                }
            }
            let client = sender.await.unwrap();
            let _ = client.disconnect().await;
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

/// The broker-only baseline: messages/s from publishers to one plain
/// subscriber.
async fn broker_baseline(port: u16, publishers: usize, messages: usize, size: usize) -> f64 {
    let mut options = MqttOptions::new(format!("bench-sub-{}", now_ms()), "127.0.0.1", port);
    options.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut eventloop) = AsyncClient::new(options, 100);
    client
        .subscribe("baseline/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    loop {
        if let Event::Incoming(Packet::SubAck(_)) = eventloop.poll().await.unwrap() {
            break;
        }
    }
    let counter = tokio::spawn(async move {
        let mut received = 0;
        while received < messages {
            if let Event::Incoming(Packet::Publish(_)) = eventloop.poll().await.unwrap() {
                received += 1;
            }
        }
        Instant::now()
    });
    let started = Instant::now();
    // Same messages, under a topic nothing else subscribes to.
    let start_ts = now_ms();
    let mut tasks = Vec::new();
    for publisher in 0..publishers {
        let payloads: Vec<String> = (publisher..messages)
            .step_by(publishers)
            .map(|n| batch(size, start_ts + n as u64))
            .collect();
        tasks.push(tokio::spawn(async move {
            let mut options = MqttOptions::new(
                format!("bench-base-{publisher}-{}", now_ms()),
                "127.0.0.1",
                port,
            );
            options.set_inflight(50);
            let (client, mut eventloop) = AsyncClient::new(options, 100);
            let expected = payloads.len();
            let sender = tokio::spawn(async move {
                for payload in payloads {
                    client
                        .publish(
                            format!("baseline/{publisher}"),
                            QoS::AtLeastOnce,
                            false,
                            payload,
                        )
                        .await
                        .unwrap();
                }
                client
            });
            let mut acked = 0;
            while acked < expected {
                if let Event::Incoming(Packet::PubAck(_)) = eventloop.poll().await.unwrap() {
                    acked += 1;
                }
            }
            let _ = sender.await.unwrap().disconnect().await;
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let done = counter.await.unwrap();
    messages as f64 / done.duration_since(started).as_secs_f64()
}

fn main() {
    let options = options();
    let size = arg("--batch", 10);
    let messages = arg("--messages", 2000);
    support::build_plugin("plugins/iot");
    let data = tempfile::tempdir().unwrap();
    let broker = Broker::start(data.path());
    std::fs::write(data.path().join("kernel.toml"), "native-plugins = true\n").unwrap();
    let publisher = SigningKey::generate().unwrap();
    TrustStore::open(data.path())
        .unwrap()
        .add("bench", publisher.public_key())
        .unwrap();
    std::fs::create_dir_all(data.path().join("config")).unwrap();
    std::fs::write(
        data.path().join("config/tessera.mqtt-bridge.toml"),
        format!("broker = \"127.0.0.1:{}\"\n", broker.port),
    )
    .unwrap();
    let package = bridge_package(&publisher);
    let kernel = Kernel::start(data.path());
    let (status, reply) = kernel.admin("POST", "/admin/plugins?consent=true", Some(&package));
    assert!([200, 201].contains(&status), "{reply}");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        print_setup(&options);
        println!("{size} points per batch, {messages} MQTT messages");

        // Baseline 1: one durable write per request in plain hyper.
        let baseline_dir = tempfile::tempdir().unwrap();
        let storage: Arc<dyn Storage> =
            Arc::new(SledStorage::open(&baseline_dir.path().join("db")).unwrap());
        let native = native_server(storage).await;
        let baseline = load(native, "POST", "/counter", &options).await;

        let tokens: Vec<(String, String)> = (0..options.connections)
            .map(|n| {
                let id = format!("http-{n}");
                let token = kernel.register(&id);
                (id, token)
            })
            .collect();
        let (requests, rps, p50, p99) = http_load(&kernel, tokens, size, &options).await;
        println!(
            "HTTP ingestion              {:>9.0} batches/s = {:>9.0} points/s  p50 {p50:>8.1?}  p99 {p99:>8.1?}  ({requests} batches)",
            rps,
            rps * size as f64
        );
        println!(
            "native durable write        {:>9.0} req/s  p50 {:>8.1?}  p99 {:>8.1?}",
            baseline.rps, baseline.p50, baseline.p99
        );
        println!(
            "ratio HTTP batches / native writes: {:.2}",
            rps / baseline.rps
        );

        // MQTT: through the bridge and the IoT plugin, until stored.
        let devices: Vec<String> = (0..options.connections)
            .map(|n| {
                let id = format!("mqtt-{n}");
                kernel.register(&id);
                id
            })
            .collect();
        // Wait until the bridge is connected.
        let deadline = Instant::now() + Duration::from_secs(30);
        while kernel.admin("GET", "/api/mqtt-bridge/", None).1["connected"] != true {
            assert!(Instant::now() < deadline, "the bridge did not connect");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let started = Instant::now();
        let names = devices.clone();
        publish_all(broker.port, options.connections, messages, size, move |n| names[n].clone()).await;
        let published = started.elapsed();
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let stored: u64 = devices.iter().map(|device| kernel.stored(device, "m0")).sum();
            if stored >= messages as u64 {
                break;
            }
            assert!(Instant::now() < deadline, "only {stored} of {messages} MQTT batches stored");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let elapsed = started.elapsed().as_secs_f64();
        let mqtt_rate = messages as f64 / elapsed;
        println!(
            "MQTT ingestion              {:>9.0} messages/s = {:>9.0} points/s  (published in {:.1} s, stored in {:.1} s)",
            mqtt_rate,
            mqtt_rate * size as f64,
            published.as_secs_f64(),
            elapsed
        );
        let broker_rate = broker_baseline(broker.port, options.connections, messages, size).await;
        println!(
            "broker only (plain subscriber) {:>6.0} messages/s = {:>9.0} points/s",
            broker_rate,
            broker_rate * size as f64
        );
        println!(
            "ratio MQTT through Tessera / broker only: {:.3}; MQTT / HTTP points: {:.2}",
            mqtt_rate / broker_rate,
            mqtt_rate / rps
        );
    });
}
