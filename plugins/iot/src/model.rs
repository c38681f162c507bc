//! Devices and telemetry points as stored and as clients send them, with
//! their validation. Nothing here calls the kernel.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Longest id, type, account or metric name.
pub const MAX_NAME: usize = 64;

/// Largest metadata object, serialised.
pub const MAX_METADATA_BYTES: usize = 8 * 1024;

/// A registered device, as stored (with the hash of its token).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Device {
    /// Unique within the site.
    pub id: String,
    /// Human-readable name.
    pub name: String,
    /// Its type, such as `printer` or `thermostat`.
    #[serde(rename = "type")]
    pub device_type: String,
    /// The customer account it belongs to.
    pub account: String,
    /// Free-form JSON object.
    pub metadata: Value,
    /// Seconds without data after which it counts as offline; the
    /// plugin's `offline-after-seconds` when absent.
    pub offline_after_seconds: Option<u64>,
    /// Hex SHA-256 of its token.
    pub token_hash: String,
    /// Creation time, ms.
    pub created_at: u64,
    /// When the last point arrived, ms.
    pub last_seen: Option<u64>,
    /// Whether the offline check found it silent (and it has not sent since).
    pub offline: bool,
}

impl Device {
    /// The device as clients see it: without the token hash.
    pub fn view(&self) -> Value {
        serde_json::json!({
            "id": self.id,
            "name": self.name,
            "type": self.device_type,
            "account": self.account,
            "metadata": self.metadata,
            "offline_after_seconds": self.offline_after_seconds,
            "created_at": self.created_at,
            "last_seen": self.last_seen,
            "offline": self.offline,
        })
    }
}

/// The body of `POST /devices`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewDevice {
    /// Its id: 1 to 64 of `a-z`, `0-9`, `-`, `_`.
    pub id: String,
    /// Human-readable name (the id when absent).
    #[serde(default)]
    pub name: Option<String>,
    /// Its type.
    #[serde(rename = "type")]
    pub device_type: String,
    /// The account it belongs to.
    pub account: String,
    /// A JSON object, `{}` when absent.
    #[serde(default)]
    pub metadata: Option<Value>,
    /// Its own offline delay.
    #[serde(default)]
    pub offline_after_seconds: Option<u64>,
}

impl NewDevice {
    /// Check every field; the message names the first one that is wrong.
    pub fn validate(&self) -> Result<(), String> {
        check_name("id", &self.id)?;
        check_name("type", &self.device_type)?;
        check_name("account", &self.account)?;
        if let Some(name) = &self.name
            && (name.is_empty() || name.len() > 200)
        {
            return Err("`name` must be 1 to 200 bytes".into());
        }
        if let Some(metadata) = &self.metadata {
            if !metadata.is_object() {
                return Err("`metadata` must be a JSON object".into());
            }
            if metadata.to_string().len() > MAX_METADATA_BYTES {
                return Err(format!(
                    "`metadata` must be at most {MAX_METADATA_BYTES} bytes of JSON"
                ));
            }
        }
        if self.offline_after_seconds == Some(0) {
            return Err("`offline_after_seconds` must be at least 1".into());
        }
        Ok(())
    }
}

/// Whether `value` is an identifier: 1 to 64 of `a-z`, `0-9`, `-`, `_`.
pub fn is_name(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_NAME
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// A metric name: an identifier that may also hold `.`.
pub fn is_metric(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_NAME
        && value.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_' || b == b'.'
        })
}

fn check_name(field: &str, value: &str) -> Result<(), String> {
    if is_name(value) {
        Ok(())
    } else {
        Err(format!(
            "`{field}` must be 1 to {MAX_NAME} of a-z, 0-9, `-` or `_` (got `{value}`)"
        ))
    }
}

/// One telemetry point as clients send it.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Point {
    /// The metric, such as `ink.black` or `temperature`.
    pub metric: String,
    /// Its value.
    pub value: f64,
    /// When it was measured, ms since the epoch; the arrival time when
    /// absent.
    #[serde(default)]
    pub ts: Option<u64>,
}

/// A batch of points: `{"points": [...]}`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    /// The points, at most the plugin's `max-batch-points`.
    pub points: Vec<Point>,
}

/// A point accepted for storage: its time decided.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading<'a> {
    /// The metric.
    pub metric: &'a str,
    /// The value.
    pub value: f64,
    /// ms since the epoch.
    pub ts: u64,
}

/// How far in the future a point may be stamped (clock skew), ms.
pub const MAX_FUTURE_MS: u64 = 5 * 60_000;

impl Batch {
    /// Check the batch against `max_points` and `now`, naming the first bad
    /// point by its index, and stamp points without a time with `now`.
    pub fn readings(&self, max_points: usize, now: u64) -> Result<Vec<Reading<'_>>, String> {
        if self.points.is_empty() {
            return Err("`points` must hold at least one point".into());
        }
        if self.points.len() > max_points {
            return Err(format!(
                "a batch holds at most {max_points} points, this one has {}",
                self.points.len()
            ));
        }
        self.points
            .iter()
            .enumerate()
            .map(|(index, point)| {
                if !is_metric(&point.metric) {
                    return Err(format!(
                        "points[{index}].metric must be 1 to {MAX_NAME} of a-z, 0-9, `.`, `-` or `_`"
                    ));
                }
                if !point.value.is_finite() {
                    return Err(format!("points[{index}].value must be a finite number"));
                }
                let ts = point.ts.unwrap_or(now);
                if ts > now.saturating_add(MAX_FUTURE_MS) {
                    return Err(format!(
                        "points[{index}].ts is more than 5 minutes in the future"
                    ));
                }
                Ok(Reading {
                    metric: &point.metric,
                    value: point.value,
                    ts,
                })
            })
            .collect()
    }
}

/// The latest value of each metric of a device.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Latest {
    /// metric → its newest value and time.
    pub metrics: BTreeMap<String, LatestValue>,
    /// The newest time of any metric, ms.
    pub updated_at: u64,
}

/// One metric's newest value.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct LatestValue {
    /// The value.
    pub value: f64,
    /// When it was measured, ms.
    pub ts: u64,
}

impl Latest {
    /// Take `reading` if it is not older than what is known of its metric.
    pub fn apply(&mut self, reading: &Reading<'_>) {
        let newer = self
            .metrics
            .get(reading.metric)
            .is_none_or(|known| known.ts <= reading.ts);
        if newer {
            self.metrics.insert(
                reading.metric.to_owned(),
                LatestValue {
                    value: reading.value,
                    ts: reading.ts,
                },
            );
        }
        self.updated_at = self.updated_at.max(reading.ts);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn batch(points: Value) -> Batch {
        serde_json::from_value(json!({ "points": points })).unwrap()
    }

    #[test]
    fn batches_are_checked_point_by_point() {
        let good = batch(
            json!([{"metric": "ink.black", "value": 12.5}, {"metric": "t", "value": 1, "ts": 5}]),
        );
        let readings = good.readings(10, 1_000).unwrap();
        assert_eq!(readings[0].ts, 1_000);
        assert_eq!(readings[1].ts, 5);
        assert!(
            good.readings(1, 1_000)
                .unwrap_err()
                .contains("at most 1 points")
        );
        let bad = batch(json!([{"metric": "ok", "value": 1}, {"metric": "Bad Name", "value": 1}]));
        assert!(
            bad.readings(10, 0)
                .unwrap_err()
                .starts_with("points[1].metric")
        );
        let future = batch(json!([{"metric": "t", "value": 1, "ts": 10_000_000}]));
        assert!(future.readings(10, 0).unwrap_err().contains("future"));
        assert!(batch(json!([])).readings(10, 0).is_err());
        assert!(serde_json::from_value::<Batch>(json!({"points": [{"metric": "t"}]})).is_err());
    }

    #[test]
    fn new_devices_are_validated() {
        let device: NewDevice = serde_json::from_value(
            json!({"id": "printer-1", "type": "printer", "account": "acme"}),
        )
        .unwrap();
        device.validate().unwrap();
        let mut bad = device.clone();
        bad.id = "Printer 1".into();
        assert!(bad.validate().unwrap_err().contains("`id`"));
        let mut bad = device;
        bad.metadata = Some(json!([1]));
        assert!(bad.validate().unwrap_err().contains("metadata"));
    }

    #[test]
    fn latest_keeps_the_newest_value_per_metric() {
        let mut latest = Latest::default();
        latest.apply(&Reading {
            metric: "t",
            value: 1.0,
            ts: 10,
        });
        latest.apply(&Reading {
            metric: "t",
            value: 2.0,
            ts: 5,
        });
        latest.apply(&Reading {
            metric: "h",
            value: 3.0,
            ts: 7,
        });
        assert_eq!(latest.metrics["t"].value, 1.0);
        assert_eq!(latest.metrics["h"].value, 3.0);
        assert_eq!(latest.updated_at, 10);
    }
}
