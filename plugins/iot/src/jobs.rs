//! Kernel jobs: the offline check (`offline-check`) and retention
//! (`retention`), both recurring, scheduled when the plugin is installed
//! or upgraded.

use serde_json::json;
use tessera_sdk::{Error, events, jobs, log};

use crate::aggregate::Resolution;
use crate::model::Device;
use crate::settings;
use crate::store;

const OFFLINE: &str = "offline-check";
const RETENTION: &str = "retention";
const DAY_MS: u64 = 86_400_000;

/// Schedule both jobs with the configured intervals (replacing earlier
/// schedules).
pub fn schedule() -> Result<(), Error> {
    jobs::every(OFFLINE, settings::offline_check_seconds() * 1000, b"")?;
    jobs::every(RETENTION, settings::retention_check_seconds() * 1000, b"")?;
    Ok(())
}

/// Run the job `name`.
pub fn run(name: &str) -> Result<(), String> {
    let outcome = match name {
        OFFLINE => offline_check(),
        RETENTION => retention(),
        other => return Err(format!("no job `{other}` in tessera.iot")),
    };
    outcome.map_err(|error| format!("{name}: {}", error.message))
}

/// Mark devices silent for longer than their delay offline and publish
/// `iot.device.offline` once for each.
fn offline_check() -> Result<(), Error> {
    let now = jobs::now_ms();
    let default_after = settings::offline_after_seconds();
    for (site, id) in store::all_devices()? {
        let key = store::device_key(&site, &id);
        let mut went_offline: Option<Device> = None;
        let updated = tessera_sdk::storage::try_update_json(&key, |current: Option<Device>| {
            let Some(mut device) = current else {
                return Err(Error::not_found("deleted"));
            };
            went_offline = None;
            let after_ms = device.offline_after_seconds.unwrap_or(default_after) * 1000;
            let since = device.last_seen.unwrap_or(device.created_at);
            if !device.offline && now.saturating_sub(since) > after_ms {
                device.offline = true;
                went_offline = Some(device.clone());
            }
            Ok(device)
        });
        match updated {
            Ok(_) => {}
            Err(error) if error.status == 404 => continue,
            Err(error) => return Err(error),
        }
        if let Some(device) = went_offline {
            events::publish_json(
                "iot.device.offline",
                &json!({
                    "site": site, "device": device.id, "account": device.account,
                    "type": device.device_type, "last_seen": device.last_seen, "at": now,
                }),
            )?;
            log::info(&format!("device {} on site {site} is offline", device.id));
        }
    }
    Ok(())
}

/// Delete raw points and per-minute aggregates past their retention, and
/// connector event markers older than a day.
fn retention() -> Result<(), Error> {
    let now = jobs::now_ms();
    let raw_cutoff = now.saturating_sub(settings::raw_retention_days() * DAY_MS);
    let minute_cutoff = now.saturating_sub(settings::minute_retention_days() * DAY_MS);
    let mut deleted = 0;
    for (site, id) in store::all_devices()? {
        let latest = store::latest(&site, &id)?;
        for metric in latest.metrics.keys() {
            deleted += store::delete_older(&store::raw_prefix(&site, &id, metric), raw_cutoff)?;
        }
        deleted += store::delete_older(
            &store::aggregate_prefix(&site, Resolution::Minute, &id),
            minute_cutoff,
        )?;
    }
    // Redeliveries come within minutes; a day of markers is plenty.
    deleted += store::forget_events_before(now.saturating_sub(DAY_MS))?;
    if deleted > 0 {
        log::info(&format!(
            "retention deleted {deleted} points, aggregates and event markers"
        ));
    }
    Ok(())
}
