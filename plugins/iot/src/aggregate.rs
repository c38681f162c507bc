//! Downsampling: per-minute and per-hour aggregates (min, max, sum, count)
//! of each metric, one record per device and bucket, merged as points
//! arrive. Nothing here calls the kernel.

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

/// The aggregates of every metric of one device over one bucket: stored as
/// one record, so that a batch updates two records (minute and hour)
/// whatever the number of its metrics.
pub type Bucket = BTreeMap<String, Aggregate>;

/// Merge `add` into `into`, metric by metric.
pub fn merge_bucket(into: &mut Bucket, add: &Bucket) {
    for (metric, aggregate) in add {
        let merged = match into.get(metric) {
            Some(known) => known.merge(*aggregate),
            None => *aggregate,
        };
        into.insert(metric.clone(), merged);
    }
}

/// The buckets a batch touches: (resolution, bucket start) → each metric's
/// aggregate, so each stored bucket is updated once per batch.
pub fn buckets(readings: &[Reading<'_>]) -> BTreeMap<(Resolution, u64), Bucket> {
    let mut buckets: BTreeMap<(Resolution, u64), Bucket> = BTreeMap::new();
    for reading in readings {
        for resolution in Resolution::ALL {
            let bucket = buckets
                .entry((resolution, resolution.bucket(reading.ts)))
                .or_default();
            let merged = match bucket.get(reading.metric) {
                Some(known) => Aggregate::of(reading.value).merge(*known),
                None => Aggregate::of(reading.value),
            };
            bucket.insert(reading.metric.to_owned(), merged);
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
            Reading {
                metric: "h",
                value: 5.0,
                ts: 61_000,
            },
        ];
        let buckets = buckets(&readings);
        let first = &buckets[&(Resolution::Minute, 60_000)];
        assert_eq!(
            (first["t"].min, first["t"].max, first["t"].count),
            (1.0, 3.0, 2)
        );
        assert_eq!(first["t"].avg(), 2.0);
        assert_eq!(first["h"].count, 1);
        let hour = &buckets[&(Resolution::Hour, 0)]["t"];
        assert_eq!(
            (hour.min, hour.max, hour.count, hour.sum),
            (1.0, 8.0, 3, 12.0)
        );
        assert_eq!(buckets.len(), 3);
        let mut stored = buckets[&(Resolution::Minute, 120_000)].clone();
        merge_bucket(&mut stored, first);
        assert_eq!(stored["t"].count, 3);
        assert_eq!(stored["h"].count, 1);
        assert_eq!(Resolution::parse("hour"), Some(Resolution::Hour));
        assert_eq!(Resolution::parse("day"), None);
    }
}
