//! Downsampling: per-minute and per-hour aggregates (min, max, sum, count)
//! of each metric, merged as points arrive. Nothing here calls the kernel.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::Reading;

/// A resolution of the aggregates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Resolution {
    /// One bucket per minute.
    Minute,
    /// One bucket per hour.
    Hour,
}

impl Resolution {
    /// Both resolutions.
    pub const ALL: [Resolution; 2] = [Resolution::Minute, Resolution::Hour];

    /// The bucket width, ms.
    pub fn width_ms(self) -> u64 {
        match self {
            Self::Minute => 60_000,
            Self::Hour => 3_600_000,
        }
    }

    /// The start of the bucket holding `ts`.
    pub fn bucket(self, ts: u64) -> u64 {
        ts - ts % self.width_ms()
    }

    /// Its name in keys and queries: `minute` or `hour`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Minute => "minute",
            Self::Hour => "hour",
        }
    }

    /// The resolution called `name`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "minute" => Some(Self::Minute),
            "hour" => Some(Self::Hour),
            _ => None,
        }
    }
}

/// The aggregate of one metric over one bucket.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Aggregate {
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Sum of the values (the average is `sum / count`).
    pub sum: f64,
    /// Number of values.
    pub count: u64,
}

impl Aggregate {
    /// The aggregate of one value.
    pub fn of(value: f64) -> Self {
        Self {
            min: value,
            max: value,
            sum: value,
            count: 1,
        }
    }

    /// Both aggregates together.
    pub fn merge(self, other: Self) -> Self {
        Self {
            min: self.min.min(other.min),
            max: self.max.max(other.max),
            sum: self.sum + other.sum,
            count: self.count + other.count,
        }
    }

    /// The mean.
    pub fn avg(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum / self.count as f64
        }
    }
}

/// The buckets a batch touches: (resolution, metric, bucket start) → its
/// aggregate, so each stored bucket is updated once per batch.
pub fn buckets<'a>(readings: &[Reading<'a>]) -> BTreeMap<(Resolution, &'a str, u64), Aggregate> {
    let mut buckets = BTreeMap::new();
    for reading in readings {
        for resolution in Resolution::ALL {
            let key = (resolution, reading.metric, resolution.bucket(reading.ts));
            let merged = match buckets.get(&key) {
                Some(known) => Aggregate::of(reading.value).merge(*known),
                None => Aggregate::of(reading.value),
            };
            buckets.insert(key, merged);
        }
    }
    buckets
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_fold_into_minute_and_hour_buckets() {
        let readings = [
            Reading {
                metric: "t",
                value: 1.0,
                ts: 60_000,
            },
            Reading {
                metric: "t",
                value: 3.0,
                ts: 119_999,
            },
            Reading {
                metric: "t",
                value: 8.0,
                ts: 120_000,
            },
        ];
        let buckets = buckets(&readings);
        let first = buckets[&(Resolution::Minute, "t", 60_000)];
        assert_eq!((first.min, first.max, first.count), (1.0, 3.0, 2));
        assert_eq!(first.avg(), 2.0);
        let hour = buckets[&(Resolution::Hour, "t", 0)];
        assert_eq!(
            (hour.min, hour.max, hour.count, hour.sum),
            (1.0, 8.0, 3, 12.0)
        );
        assert_eq!(buckets.len(), 3);
        assert_eq!(Resolution::parse("hour"), Some(Resolution::Hour));
        assert_eq!(Resolution::parse("day"), None);
    }
}
