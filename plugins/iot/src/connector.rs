//! Telemetry from connectors: the event `iot.mqtt.telemetry`
//! (`{"site", "device", "batch": {"points": [...]}}`), accepted only from
//! the plugins listed in `telemetry-sources` (the MQTT bridge by default),
//! which authenticate devices themselves (the broker does, for MQTT).
//! Each event is handled once: its id is recorded (under its publication
//! time, so that the retention job drops markers older than a day).

use serde::Deserialize;
use tessera_sdk::{Event, log, storage};

use crate::ingest;
use crate::model::{Batch, is_name};
use crate::settings;
use crate::store;

/// The payload of `iot.mqtt.telemetry`.
#[derive(Debug, Deserialize)]
struct Telemetry {
    site: String,
    device: String,
    batch: Batch,
}

/// Handle one connector event. Events that can never succeed (an unknown
/// source, device or malformed batch) are logged and acknowledged, not
/// retried; storage failures are retried by the kernel.
pub fn on_event(event: &Event) -> Result<(), String> {
    if event.topic != "iot.mqtt.telemetry" {
        return Ok(());
    }
    if !settings::telemetry_sources().contains(&event.source) {
        log::warn(&format!(
            "ignored {} from `{}`: not listed in telemetry-sources",
            event.id, event.source
        ));
        return Ok(());
    }
    let seen = store::seen_key(event.published_at, &event.id);
    if storage::get(&seen)
        .map_err(|error| error.message)?
        .is_some()
    {
        return Ok(());
    }
    let telemetry: Telemetry = match event.json() {
        Ok(telemetry) => telemetry,
        Err(error) => {
            log::warn(&format!("ignored {}: {}", event.id, error.message));
            return Ok(());
        }
    };
    if !is_name(&telemetry.site) || !is_name(&telemetry.device) {
        log::warn(&format!("ignored {}: bad site or device name", event.id));
        return Ok(());
    }
    let device = match store::device(&telemetry.site, &telemetry.device) {
        Ok(device) => device,
        Err(error) if error.status == 404 => {
            log::warn(&format!("ignored {}: {}", event.id, error.message));
            return Ok(());
        }
        Err(error) => return Err(error.message),
    };
    match ingest::ingest(&telemetry.site, &device, &telemetry.batch) {
        Ok(_) => {}
        Err(error) if error.status < 500 => {
            log::warn(&format!("ignored {}: {}", event.id, error.message));
        }
        Err(error) => return Err(error.message),
    }
    storage::set(&seen, b"").map_err(|error| error.message)
}
