//! The plugin's configuration (`[config]` in plugin.toml, overridden in
//! `<data>/config/tessera.iot.toml`), read with defaults.

use tessera_sdk::config;

fn number(key: &str, default: u64, min: u64) -> u64 {
    config::get(key)
        .and_then(|value| value.trim().parse::<u64>().ok())
        .unwrap_or(default)
        .max(min)
}

/// Days raw points are kept.
pub fn raw_retention_days() -> u64 {
    number("raw-retention-days", 7, 1)
}

/// Days per-minute aggregates are kept.
pub fn minute_retention_days() -> u64 {
    number("minute-retention-days", 30, 1)
}

/// Default seconds of silence after which a device is offline.
pub fn offline_after_seconds() -> u64 {
    number("offline-after-seconds", 300, 1)
}

/// Seconds between offline checks.
pub fn offline_check_seconds() -> u64 {
    number("offline-check-seconds", 60, 1)
}

/// Seconds between retention runs.
pub fn retention_check_seconds() -> u64 {
    number("retention-check-seconds", 3600, 1)
}

/// Points per batch.
pub fn max_batch_points() -> usize {
    usize::try_from(number("max-batch-points", 1000, 1)).unwrap_or(usize::MAX)
}

/// Bytes per ingestion body.
pub fn max_body_bytes() -> usize {
    usize::try_from(number("max-body-bytes", 262_144, 64)).unwrap_or(usize::MAX)
}

/// Plugins whose `iot.mqtt.telemetry` events are accepted.
pub fn telemetry_sources() -> Vec<String> {
    config::get_or("telemetry-sources", "tessera.mqtt-bridge")
        .split(',')
        .map(|source| source.trim().to_owned())
        .filter(|source| !source.is_empty())
        .collect()
}
