//! Storing a batch of a device's telemetry: raw points, aggregates, latest
//! state, back online, and the threshold rules it crosses. Used by the HTTP
//! route and by connector events alike.

use serde_json::json;
use tessera_sdk::storage::{self, Operation};
use tessera_sdk::{Error, events, jobs, log};

use crate::aggregate::buckets;
use crate::model::{Batch, Device, Latest, Reading};
use crate::rules::{Transition, transition};
use crate::settings;
use crate::store;

/// How stale `last_seen` may get before a batch writes it, ms.
const SEEN_RESOLUTION_MS: u64 = 1000;

/// Store `batch` for `device` of `site`; returns how many points were
/// taken. A bad batch is a 400 `invalid_telemetry` naming the point.
pub fn ingest(site: &str, device: &Device, batch: &Batch) -> Result<usize, Error> {
    let now = jobs::now_ms();
    let readings = batch
        .readings(settings::max_batch_points(), now)
        .map_err(|message| Error::new(400, "invalid_telemetry", message))?;
    let raw: Vec<Operation> = readings
        .iter()
        .map(|reading| {
            let key = format!(
                "{}{}",
                store::raw_prefix(site, &device.id, reading.metric),
                store::stamp(reading.ts)
            );
            Operation::set(key, reading.value.to_string().into_bytes())
        })
        .collect();
    storage::batch(&raw)?;
    for ((resolution, bucket), aggregates) in buckets(&readings) {
        let key = format!(
            "{}{}",
            store::aggregate_prefix(site, resolution, &device.id),
            store::stamp(bucket)
        );
        store::merge_bucket(&key, &aggregates)?;
    }
    storage::update_json(
        &store::latest_key(site, &device.id),
        |current: Option<Latest>| {
            let mut latest = current.unwrap_or_default();
            for reading in &readings {
                latest.apply(reading);
            }
            latest
        },
    )?;
    mark_seen(site, device, now)?;
    apply_rules(site, device, &readings)?;
    Ok(readings.len())
}

/// Record that the device sent data now; announce it back online if the
/// offline check had found it silent.
fn mark_seen(site: &str, device: &Device, now: u64) -> Result<(), Error> {
    // `last_seen` has a resolution of a second: a device sending several
    // batches a second costs one write per second, not one per batch.
    let recent = device
        .last_seen
        .is_some_and(|seen| now.saturating_sub(seen) < SEEN_RESOLUTION_MS);
    if recent && !device.offline {
        return Ok(());
    }
    let mut was_offline = false;
    let key = store::device_key(site, &device.id);
    storage::try_update_json(&key, |current: Option<Device>| {
        let Some(mut current) = current else {
            return Err(Error::not_found(format!(
                "device `{}` was deleted",
                device.id
            )));
        };
        was_offline = current.offline;
        current.offline = false;
        current.last_seen = Some(current.last_seen.unwrap_or(0).max(now));
        Ok(current)
    })?;
    if was_offline {
        events::publish_json(
            "iot.device.online",
            &json!({
                "site": site, "device": device.id, "account": device.account,
                "type": device.device_type, "at": now,
            }),
        )?;
    }
    Ok(())
}

/// Evaluate the site's threshold rules on the newest value of each metric
/// in the batch, raising each rule's event when it is crossed.
fn apply_rules(site: &str, device: &Device, readings: &[Reading<'_>]) -> Result<(), Error> {
    for (id, rule) in store::rules(site)? {
        if !rule.applies_to(device) {
            continue;
        }
        let Some(reading) = rule.newest(readings) else {
            continue;
        };
        let key = store::breached_key(site, &id, &device.id);
        let breached = storage::get(&key)?.is_some();
        match transition(&rule, breached, reading.value) {
            Transition::Raise => {
                storage::set(&key, b"true")?;
                events::publish_json(
                    &rule.event,
                    &json!({
                        "site": site, "rule": id, "device": device.id,
                        "account": device.account, "type": device.device_type,
                        "metadata": device.metadata, "metric": reading.metric,
                        "value": reading.value, "operator": rule.operator,
                        "threshold": rule.threshold, "ts": reading.ts,
                    }),
                )?;
                log::info(&format!(
                    "rule `{id}` raised {} for device {} ({} = {})",
                    rule.event, device.id, reading.metric, reading.value
                ));
            }
            Transition::Rearm => {
                storage::delete(&key)?;
            }
            Transition::Stay => {}
        }
    }
    Ok(())
}
