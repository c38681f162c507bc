//! `tessera.iot`: a device registry per site and account with per-device
//! tokens (shown once, stored as SHA-256 and compared in constant time),
//! telemetry ingestion over HTTP (`POST /ingest/<device>`) and from
//! connectors through the event `iot.mqtt.telemetry`, time series with
//! raw points kept for a number of days and per-minute and per-hour
//! aggregates (min, max, avg, count), the latest state of each device, and
//! rules: thresholds that raise their own event (such as
//! `iot.consumable.low`) and an offline check (`iot.device.offline`) run as
//! a kernel job. See `docs/iot.md`.
//!
//! The pure rules (validation, buckets, rule evaluation, tokens) live in
//! modules that never call the kernel and are unit-tested natively;
//! `store`, `ingest`, `jobs`, `connector` and `routes` talk to the kernel.

pub mod aggregate;
mod connector;
mod ingest;
mod jobs;
pub mod model;
mod my_devices;
mod routes;
pub mod rules;
mod settings;
mod store;
pub mod token;

use tessera_sdk::prelude::*;

/// The plugin.
pub struct Iot;

impl Plugin for Iot {
    fn router() -> Router {
        routes::router()
    }

    fn migrate(_from_version: Option<String>) -> Result<(), String> {
        jobs::schedule().map_err(|error| error.message)
    }

    fn on_event(event: Event) -> Result<(), String> {
        connector::on_event(&event)
    }

    fn run_job(name: String, _payload: Vec<u8>) -> Result<(), String> {
        jobs::run(&name)
    }
}

export_plugin!(Iot);
