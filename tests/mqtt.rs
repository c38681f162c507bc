//! The MQTT bridge (`plugins/mqtt-bridge`, a native plugin with a worker,
//! native ABI 2) against a real Mosquitto broker on loopback:
//!
//! - its worker, loaded directly and given a recording host, turns
//!   messages into `iot.mqtt.telemetry` events, drops what is not
//!   telemetry, reconnects and resubscribes after the broker restarts, and
//!   stops when asked;
//! - end to end, installed as a signed native package into the real
//!   kernel beside the IoT plugin, telemetry published over MQTT lands in
//!   the device's state and crosses a threshold rule (`iot.consumable.low`
//!   in `GET /admin/events`); disabling the bridge stops its worker.
//!
//! The broker is `mosquitto` started by the test on a free port (and killed
//! after), or the one on `TESSERA_TEST_MQTT_PORT`. With neither, the tests
//! say loudly that they skipped.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
use serde_json::{Value, json};
use tessera_kernel::native::{
    LogLevel, NativePlugin, NativePolicy, NativeRequest, NativeWorker, PublishCode, STOP_GRACE,
    WorkerServices,
};
use tessera_kernel::package::{self, Payload, SigningKey, TrustStore};

const ALLOWED: NativePolicy = NativePolicy {
    enabled: true,
    signed_by_trusted_key: true,
};

/// The environment variable naming the port of a broker to use instead of
/// starting one.
const PORT_ENV: &str = "TESSERA_TEST_MQTT_PORT";

/// A Mosquitto broker on 127.0.0.1.
struct Broker {
    port: u16,
    /// The broker this test started, if it did.
    child: Option<Child>,
}

impl Broker {
    /// The broker of `TESSERA_TEST_MQTT_PORT`, else a `mosquitto` started on
    /// a free port; `None` (said loudly) when there is neither.
    fn start(test: &str) -> Option<Self> {
        if let Some(port) = std::env::var(PORT_ENV)
            .ok()
            .and_then(|port| port.parse().ok())
        {
            return Some(Self { port, child: None });
        }
        let Some(binary) = mosquitto() else {
            eprintln!(
                "\n*** SKIPPED {test}: no MQTT broker. Install Mosquitto (`apt-get install mosquitto`) or set {PORT_ENV} to a broker's port on 127.0.0.1. ***\n"
            );
            return None;
        };
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut broker = Self { port, child: None };
        broker.spawn(&binary);
        Some(broker)
    }

    fn spawn(&mut self, binary: &Path) {
        let child = Command::new(binary)
            .args(["-p", &self.port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "mosquitto did not listen on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stop the broker and start it again on the same port (only one this
    /// test started).
    fn restart(&mut self) -> bool {
        let (Some(mut child), Some(binary)) = (self.child.take(), mosquitto()) else {
            return false;
        };
        child.kill().unwrap();
        child.wait().unwrap();
        self.spawn(&binary);
        true
    }

    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The `mosquitto` binary: on PATH or where Debian puts it.
fn mosquitto() -> Option<PathBuf> {
    std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|dir| dir.join("mosquitto"))
        .find(|candidate| candidate.is_file())
}

/// Publish `payload` on `topic` with QoS 1 and wait for the broker's
/// acknowledgement.
fn publish(broker: &Broker, topic: &str, payload: &Value) {
    static CLIENTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let id = format!(
        "test-publisher-{}-{}",
        std::process::id(),
        CLIENTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let options = MqttOptions::new(id, "127.0.0.1", broker.port);
    let (client, mut connection) = Client::new(options, 10);
    client
        .publish(topic, QoS::AtLeastOnce, false, payload.to_string())
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(Instant::now() < deadline, "no PUBACK from the broker");
        match connection.recv_timeout(Duration::from_millis(500)) {
            Ok(Ok(Event::Incoming(Packet::PubAck(_)))) => break,
            Ok(Err(error)) => panic!("publishing to the broker: {error}"),
            _ => {}
        }
    }
    let _ = client.disconnect();
}

/// Build the bridge for the host once per test binary, in the target
/// directory `tests/native.rs` uses (this test's cargo holds `target/`).
fn bridge_library() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let root = support::repo_root();
        let target_dir = root.join("target/native");
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "-p", "mqtt-bridge"])
            .arg("--target-dir")
            .arg(&target_dir)
            .current_dir(&root)
            .stdout(Stdio::null())
            .status()
            .expect("run cargo build for the MQTT bridge");
        assert!(
            status.success(),
            "building the MQTT bridge failed: {status}"
        );
        target_dir.join("debug").join(format!(
            "{}mqtt_bridge{}",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_SUFFIX
        ))
    })
}

/// A host that records what the worker publishes.
#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<(String, Value)>>,
}

impl WorkerServices for Recorder {
    fn publish(&self, topic: &str, payload: Vec<u8>) -> PublishCode {
        let payload = serde_json::from_slice(&payload).unwrap();
        self.events
            .lock()
            .unwrap()
            .push((topic.to_owned(), payload));
        PublishCode::Published
    }

    fn log(&self, level: LogLevel, message: &str) {
        eprintln!("[bridge {level:?}] {message}");
    }
}

impl Recorder {
    /// Publish with `send` every 300 ms until an event satisfies `wanted`
    /// (the worker subscribes asynchronously, and a message sent before
    /// its subscription is not delivered), at most 30 s.
    fn wait_for(&self, send: impl Fn(), wanted: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            send();
            let deadline_poll = Instant::now() + Duration::from_millis(300);
            while Instant::now() < deadline_poll {
                let found = self
                    .events
                    .lock()
                    .unwrap()
                    .iter()
                    .find(|(_, payload)| wanted(payload))
                    .cloned();
                if let Some((topic, payload)) = found {
                    assert_eq!(topic, "iot.mqtt.telemetry");
                    return payload;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            assert!(
                Instant::now() < deadline,
                "the bridge forwarded nothing in 30 s"
            );
        }
    }
}

fn status(plugin: &NativePlugin) -> Value {
    let response = plugin.handle(NativeRequest::new("GET", "/")).unwrap();
    assert_eq!(response.status, 200);
    serde_json::from_slice(&response.body).unwrap()
}

#[test]
fn the_worker_forwards_telemetry_drops_the_rest_reconnects_and_stops() {
    let Some(mut broker) = Broker::start("the_worker_forwards_telemetry") else {
        return;
    };
    let plugin = NativePlugin::load(bridge_library(), &ALLOWED).unwrap();
    assert_eq!(plugin.abi_version(), 2);
    assert!(plugin.has_worker());
    let recorder = Arc::new(Recorder::default());
    let config = json!({
        "broker": broker.address(),
        "client-id": format!("bridge-under-test-{}", std::process::id()),
        "topics": "tessera/{site}/devices/{device}/telemetry, plant/{device}/metrics",
    });
    let worker = NativeWorker::start(
        "tessera.mqtt-bridge",
        &plugin,
        recorder.clone(),
        serde_json::to_vec(&config).unwrap(),
    )
    .expect("the bridge has a worker");

    let event = recorder.wait_for(
        || {
            publish(
                &broker,
                "tessera/shop/devices/printer-7/telemetry",
                &json!({"points": [{"metric": "ink.black", "value": 42}]}),
            )
        },
        |payload| payload["device"] == "printer-7",
    );
    assert_eq!(
        event,
        json!({
            "site": "shop", "device": "printer-7",
            "topic": "tessera/shop/devices/printer-7/telemetry",
            "batch": {"points": [{"metric": "ink.black", "value": 42}]},
        })
    );
    // A second template, with no site: the default site; a single point.
    let event = recorder.wait_for(
        || {
            publish(
                &broker,
                "plant/press-2/metrics",
                &json!({"metric": "rpm", "value": 900}),
            )
        },
        |payload| payload["device"] == "press-2",
    );
    assert_eq!(event["site"], "default");
    assert_eq!(event["batch"]["points"][0]["value"], 900);

    // Not JSON: dropped, counted, not published.
    let before = recorder.events.lock().unwrap().len();
    publish(
        &broker,
        "tessera/shop/devices/printer-7/telemetry",
        &json!("text"),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while status(&plugin)["dropped"] == 0 {
        assert!(Instant::now() < deadline, "{}", status(&plugin));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(recorder.events.lock().unwrap().len(), before);
    let seen = status(&plugin);
    assert_eq!(seen["connected"], true, "{seen}");
    assert!(
        seen["last_error"]
            .as_str()
            .unwrap()
            .contains("neither a batch"),
        "{seen}"
    );

    // The broker restarts: the worker reconnects and subscribes again.
    if broker.restart() {
        let event = recorder.wait_for(
            || {
                publish(
                    &broker,
                    "tessera/shop/devices/printer-8/telemetry",
                    &json!([{"metric": "ink.black", "value": 7}]),
                )
            },
            |payload| payload["device"] == "printer-8",
        );
        assert_eq!(event["batch"]["points"][0]["value"], 7);
        assert!(status(&plugin)["connections"].as_u64().unwrap() >= 2);
    }

    assert!(worker.stop(STOP_GRACE), "the worker did not stop");
    assert_eq!(status(&plugin)["connected"], false);
}

/// The bridge packed as a native package signed by `key`.
fn bridge_package(key: &SigningKey) -> Vec<u8> {
    let manifest = std::fs::read_to_string(
        support::repo_root().join("plugins/mqtt-bridge/native-plugin.toml"),
    )
    .unwrap();
    let path = bridge_library();
    let bytes = std::fs::read(path).unwrap();
    package::build(
        &manifest,
        Payload::Native {
            target: tessera_kernel::native::HOST_TARGET,
            library: path.file_name().unwrap().to_str().unwrap(),
            bytes: &bytes,
        },
        Some(key),
    )
    .unwrap()
}

fn events(kernel: &support::Kernel, topic: &str) -> Vec<Value> {
    let reply = kernel.admin(
        "GET",
        &format!("/admin/events?topic={topic}&limit=1000"),
        None,
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|event| event["topic"] == topic)
        .cloned()
        .collect()
}

/// Publish with `send` every 300 ms until `done` holds, at most 30 s.
fn until(kernel: &support::Kernel, what: &str, send: impl Fn(), done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        send();
        let poll = Instant::now() + Duration::from_millis(300);
        while Instant::now() < poll {
            if done() {
                return;
            }
            std::thread::sleep(Duration::from_millis(30));
        }
        assert!(
            Instant::now() < deadline,
            "{what} after 30 s\n{}",
            kernel.log()
        );
    }
}

#[test]
fn telemetry_over_mqtt_reaches_the_iot_plugin_and_raises_its_rule() {
    let Some(broker) = Broker::start("telemetry_over_mqtt_reaches_the_iot_plugin") else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("kernel.toml"), "native-plugins = true\n").unwrap();
    let publisher = SigningKey::generate().unwrap();
    TrustStore::open(data.path())
        .unwrap()
        .add("publisher", publisher.public_key())
        .unwrap();
    let config = data.path().join("config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("tessera.mqtt-bridge.toml"),
        format!(
            "broker = \"{}\"\nclient-id = \"bridge-e2e-{}\"\n",
            broker.address(),
            std::process::id()
        ),
    )
    .unwrap();
    let package = bridge_package(&publisher);
    let kernel = support::start_with_plugins(
        data.path(),
        &[("TESSERA_ADMIN_PASSWORD", support::ADMIN_PASSWORD)],
        &[support::repo_root().join("plugins/iot")],
    );
    let installed = kernel.admin("POST", "/admin/plugins?consent=true", Some(&package));
    assert!([200, 201].contains(&installed.status), "{}", installed.body);

    let device = kernel.admin_json(
        "POST",
        "/api/iot/devices",
        Some(json!({"id": "printer-1", "type": "printer", "account": "acme"})),
    );
    assert_eq!(device.status, 201, "{}", device.body);
    let rule = kernel.admin_json(
        "PUT",
        "/api/iot/rules/ink-low",
        Some(
            json!({"metric": "ink.black", "operator": "below", "threshold": 10,
                    "event": "iot.consumable.low"}),
        ),
    );
    assert_eq!(rule.status, 201, "{}", rule.body);

    let topic = "tessera/default/devices/printer-1/telemetry";
    let state = || {
        kernel
            .admin_json("GET", "/api/iot/devices/printer-1/state", None)
            .json()
    };
    until(
        &kernel,
        "no MQTT telemetry in the device's state",
        || {
            publish(
                &broker,
                topic,
                &json!({"points": [{"metric": "ink.black", "value": 55}]}),
            )
        },
        || state()["metrics"]["ink.black"]["value"] == 55.0,
    );
    let forwarded = events(&kernel, "iot.mqtt.telemetry");
    assert!(!forwarded.is_empty());
    assert_eq!(forwarded[0]["source"], "tessera.mqtt-bridge");
    assert!(events(&kernel, "iot.consumable.low").is_empty());

    publish(&broker, topic, &json!({"metric": "ink.black", "value": 4}));
    until(
        &kernel,
        "no iot.consumable.low",
        || {},
        || !events(&kernel, "iot.consumable.low").is_empty(),
    );
    let raised = events(&kernel, "iot.consumable.low");
    assert_eq!(raised.len(), 1, "{raised:?}");
    assert_eq!(raised[0]["payload"]["device"], "printer-1");
    assert_eq!(raised[0]["payload"]["value"], 4.0);

    // Telemetry for a device the IoT plugin does not know is ignored.
    publish(
        &broker,
        "tessera/default/devices/ghost/telemetry",
        &json!({"metric": "x", "value": 1}),
    );
    let status = kernel.get("/api/mqtt-bridge/");
    assert_eq!(status.status, 200, "{}", status.body);
    assert_eq!(status.json()["connected"], true, "{}", status.body);
    assert!(
        status.json()["published"].as_u64().unwrap() >= 2,
        "{}",
        status.body
    );

    // Disabling the bridge stops its worker.
    let disabled = kernel.admin("POST", "/admin/plugins/tessera.mqtt-bridge/disable", None);
    assert_eq!(disabled.status, 200, "{}", disabled.body);
    let log = kernel.log_when(|log| log.contains("native worker stopped"));
    assert!(log.contains("native worker started"), "{log}");
    assert!(log.contains("native worker stopped"), "{log}");
    let _ = data;
}
