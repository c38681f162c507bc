//! Storage layout (all keys below the plugin's private namespace):
//!
//! | key | value |
//! |---|---|
//! | `index/<site>/<device>` | empty: every device of every site, for jobs |
//! | `site/<site>/device/<device>` | [`Device`] |
//! | `site/<site>/latest/<device>` | [`Latest`] |
//! | `site/<site>/raw/<device>/<metric>/<ts, 20 digits>` | the value (JSON number) |
//! | `site/<site>/agg/<minute or hour>/<device>/<bucket, 20 digits>` | [`Bucket`]: metric → aggregate |
//! | `site/<site>/rule/<rule>` | [`Rule`] |
//! | `site/<site>/breached/<rule>/<device>` | `true` while the rule is breached |
//! | `event/<published at, 20 digits>/<event id>` | empty: a connector event already handled |

use tessera_sdk::{Error, storage};

use crate::aggregate::{self, Bucket, Resolution};
use crate::model::{Device, Latest};
use crate::rules::Rule;

/// Zero-padded so that keys sort by time.
pub fn stamp(ts: u64) -> String {
    format!("{ts:020}")
}

/// `index/<site>/<device>`.
pub fn index_key(site: &str, device: &str) -> String {
    format!("index/{site}/{device}")
}

/// `site/<site>/device/<device>`.
pub fn device_key(site: &str, device: &str) -> String {
    format!("site/{site}/device/{device}")
}

/// `site/<site>/latest/<device>`.
pub fn latest_key(site: &str, device: &str) -> String {
    format!("site/{site}/latest/{device}")
}

/// The prefix of a device's raw points of `metric`.
pub fn raw_prefix(site: &str, device: &str, metric: &str) -> String {
    format!("site/{site}/raw/{device}/{metric}/")
}

/// The prefix of a device's aggregate buckets at `resolution`.
pub fn aggregate_prefix(site: &str, resolution: Resolution, device: &str) -> String {
    format!("site/{site}/agg/{}/{device}/", resolution.name())
}

/// `site/<site>/rule/<rule>`.
pub fn rule_key(site: &str, rule: &str) -> String {
    format!("site/{site}/rule/{rule}")
}

/// `site/<site>/breached/<rule>/<device>`.
pub fn breached_key(site: &str, rule: &str, device: &str) -> String {
    format!("site/{site}/breached/{rule}/{device}")
}

/// The marker of a handled connector event (redeliveries keep their
/// publication time and id).
pub fn seen_key(published_at: u64, id: &str) -> String {
    format!("event/{}/{id}", stamp(published_at))
}

/// Delete the markers of connector events published before `cutoff`.
pub fn forget_events_before(cutoff: u64) -> Result<u64, Error> {
    let mut deleted = 0;
    for entry in storage::scan("event/") {
        let (key, _) = entry?;
        let published = key
            .split('/')
            .nth(1)
            .and_then(|stamp| stamp.parse::<u64>().ok())
            .unwrap_or(0);
        if published >= cutoff {
            break;
        }
        storage::delete(&key)?;
        deleted += 1;
    }
    Ok(deleted)
}

/// The device, or 404.
pub fn device(site: &str, id: &str) -> Result<Device, Error> {
    storage::get_json(&device_key(site, id))?
        .ok_or_else(|| Error::not_found(format!("no device `{id}` on site `{site}`")))
}

/// The device's latest state (empty when it never sent anything).
pub fn latest(site: &str, id: &str) -> Result<Latest, Error> {
    Ok(storage::get_json(&latest_key(site, id))?.unwrap_or_default())
}

/// Every device of every site, as (site, device id).
pub fn all_devices() -> Result<Vec<(String, String)>, Error> {
    storage::scan("index/")
        .map(|entry| {
            let (key, _) = entry?;
            let rest = key.strip_prefix("index/").unwrap_or_default();
            let (site, device) = rest.split_once('/').unwrap_or((rest, ""));
            Ok((site.to_owned(), device.to_owned()))
        })
        .collect()
}

/// Every device of `site`.
pub fn devices(site: &str) -> Result<Vec<Device>, Error> {
    storage::scan(&format!("site/{site}/device/"))
        .map(|entry| {
            let (key, value) = entry?;
            serde_json::from_slice(&value).map_err(|error| {
                Error::internal(format!(
                    "the device stored under `{key}` is unreadable: {error}"
                ))
            })
        })
        .collect()
}

/// Every rule of `site`, with its id.
pub fn rules(site: &str) -> Result<Vec<(String, Rule)>, Error> {
    let prefix = format!("site/{site}/rule/");
    storage::scan(&prefix)
        .map(|entry| {
            let (key, value) = entry?;
            let id = key.strip_prefix(&prefix).unwrap_or_default().to_owned();
            let rule = serde_json::from_slice(&value).map_err(|error| {
                Error::internal(format!(
                    "the rule stored under `{key}` is unreadable: {error}"
                ))
            })?;
            Ok((id, rule))
        })
        .collect()
}

/// Merge `add` into the stored bucket (compare-and-swap loop).
pub fn merge_bucket(key: &str, add: &Bucket) -> Result<(), Error> {
    storage::update_json(key, |current: Option<Bucket>| {
        let mut bucket = current.unwrap_or_default();
        aggregate::merge_bucket(&mut bucket, add);
        bucket
    })
    .map(drop)
}

/// Delete every key under `prefix` whose last segment (a stamp) is below
/// `cutoff`; keys sort by time, so the scan stops at the first newer one.
/// Returns how many were deleted.
pub fn delete_older(prefix: &str, cutoff: u64) -> Result<u64, Error> {
    let mut deleted = 0;
    for entry in storage::scan(prefix) {
        let (key, _) = entry?;
        let ts = key
            .rsplit('/')
            .next()
            .and_then(|stamp| stamp.parse::<u64>().ok())
            .unwrap_or(u64::MAX);
        if ts >= cutoff {
            break;
        }
        storage::delete(&key)?;
        deleted += 1;
    }
    Ok(deleted)
}

/// Delete every key under `prefix`.
pub fn delete_all(prefix: &str) -> Result<(), Error> {
    let keys: Vec<String> = storage::scan(prefix)
        .map(|entry| entry.map(|(key, _)| key))
        .collect::<Result<_, _>>()?;
    for key in keys {
        storage::delete(&key)?;
    }
    Ok(())
}
