//! The event bus: publish throughput (append + durable) against raw sled
//! writes with the same durability, delivery throughput, and end-to-end
//! latency (publish → `on-event` handled in a subscriber plugin) against a
//! direct `on-event` call, all measured in the same run.
//!
//! Run: `cargo bench -p tessera-kernel --bench events` (optionally
//! `-- --events 2000 --publishers 16`). Results go to docs/benchmarks.md.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tessera_kernel::events::{
    DeliveryPolicy, EventBus, EventLog, EventStore, LoggedEvent, NAMESPACE, wit_event,
};
use tessera_kernel::metrics::Metrics;
use tessera_kernel::plugin_build::{self, PluginCrate};
use tessera_kernel::runtime::{CallContext, EngineSettings, PluginSource, Runtime};
use tessera_kernel::storage::{SledStorage, Storage};

const SUBSCRIBER: &str = "tessera.test.listener";

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.windows(2)
        .find(|pair| pair[0] == name)
        .map(|pair| pair[1].parse().expect("a number"))
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index]
}

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

async fn cursor(bus: &EventBus) -> u64 {
    bus.subscriptions()
        .unwrap()
        .into_iter()
        .find(|subscription| subscription.plugin == SUBSCRIBER)
        .map(|subscription| subscription.cursor)
        .unwrap_or(0)
}

async fn wait_for_cursor(bus: &EventBus, seq: u64) {
    while cursor(bus).await < seq {
        tokio::time::sleep(Duration::from_micros(50)).await;
    }
}

fn payload(n: usize) -> Vec<u8> {
    format!(r#"{{"site":"default","id":"bench-{n}"}}"#).into_bytes()
}

fn main() {
    let events = arg("--events", 2000);
    let publishers = arg("--publishers", 16);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let listener = PluginCrate::open(&root.join("tests/fixtures/listener")).unwrap();
    plugin_build::build(std::slice::from_ref(&listener)).unwrap();
    let component = listener.built_component().unwrap();

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
        let log: Arc<dyn EventStore> =
            Arc::new(EventLog::open(storage.namespace(NAMESPACE).unwrap()).unwrap());
        let bus = EventBus::new(
            log.clone(),
            storage.clone(),
            kernel.clone(),
            DeliveryPolicy::default(),
        )
        .unwrap();
        kernel.set_event_bus(bus.clone());
        kernel
            .load(&PluginSource {
                manifest: listener.manifest.clone(),
                component: std::fs::read(&component).unwrap(),
                config_overrides: BTreeMap::new(),
            })
            .await
            .unwrap();
        println!(
            "{events} events, {publishers} concurrent publishers, {} cores",
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        );

        // Publish: one at a time, each durable before the next.
        let baseline_ns = storage.namespace("bench/baseline").unwrap();
        let started = Instant::now();
        for n in 0..events {
            baseline_ns
                .set(format!("k/{n:020}").as_bytes(), &payload(n))
                .unwrap();
            storage.durable().await.unwrap();
        }
        let baseline_rate = events as f64 / started.elapsed().as_secs_f64();
        let started = Instant::now();
        for n in 0..events {
            bus.publish("bench.sequential", "bench", payload(n))
                .await
                .unwrap();
        }
        let publish_rate = events as f64 / started.elapsed().as_secs_f64();
        println!(
            "publish, sequential: {publish_rate:.0} events/s; sled set + flush: {baseline_rate:.0}/s; ratio {:.2}",
            publish_rate / baseline_rate
        );

        // Publish: concurrent publishers share flushes (group commit).
        let started = Instant::now();
        let mut tasks = Vec::new();
        for publisher in 0..publishers {
            let bus = bus.clone();
            let per = events / publishers;
            tasks.push(tokio::spawn(async move {
                for n in 0..per {
                    bus.publish("bench.concurrent", "bench", payload(publisher * per + n))
                        .await
                        .unwrap();
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let concurrent_rate =
            (events / publishers * publishers) as f64 / started.elapsed().as_secs_f64();
        println!(
            "publish, {publishers} concurrent: {concurrent_rate:.0} events/s; ratio to sequential sled set + flush {:.2}",
            concurrent_rate / baseline_rate
        );

        // Delivery: the subscriber starts at the end of the log, so only
        // the events below reach it.
        bus.start();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let plugin = kernel.by_id(SUBSCRIBER).unwrap();

        // Baseline: `on-event` called directly (instantiate + handler with
        // its storage writes).
        let mut direct = Vec::new();
        for n in 0..200 {
            let event = LoggedEvent {
                seq: 1_000_000 + n as u64,
                topic: "cms.entry.created".into(),
                source: "bench".into(),
                published_at: 0,
                payload: payload(n),
            };
            let started = Instant::now();
            kernel
                .call_on_event(
                    plugin.clone(),
                    wit_event(&event),
                    CallContext::background("bench".into()),
                )
                .await
                .unwrap()
                .unwrap();
            direct.push(started.elapsed());
        }
        direct.sort();

        // End to end, one event at a time.
        let mut latencies = Vec::new();
        for n in 0..200 {
            let started = Instant::now();
            let seq = bus
                .publish("cms.entry.created", "bench", payload(n))
                .await
                .unwrap();
            wait_for_cursor(&bus, seq).await;
            latencies.push(started.elapsed());
        }
        latencies.sort();
        println!(
            "end to end (publish → on-event handled), p50 {:.0} µs, p99 {:.0} µs; direct on-event call p50 {:.0} µs; ratio {:.1}",
            micros(percentile(&latencies, 0.5)),
            micros(percentile(&latencies, 0.99)),
            micros(percentile(&direct, 0.5)),
            percentile(&latencies, 0.5).as_secs_f64() / percentile(&direct, 0.5).as_secs_f64()
        );

        // Delivery throughput: a burst, then wait for the subscriber.
        let started = Instant::now();
        let mut last = 0;
        for n in 0..events {
            last = bus
                .publish("cms.entry.created", "bench", payload(n))
                .await
                .unwrap();
        }
        let published = started.elapsed();
        wait_for_cursor(&bus, last).await;
        let delivered = started.elapsed();
        println!(
            "burst of {events}: published in {:.0} ms, all delivered after {:.0} ms: {:.0} deliveries/s; direct calls {:.0}/s",
            published.as_secs_f64() * 1e3,
            delivered.as_secs_f64() * 1e3,
            events as f64 / delivered.as_secs_f64(),
            1.0 / percentile(&direct, 0.5).as_secs_f64()
        );
        bus.stop();
    });
}
