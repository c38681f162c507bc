//! Rules: a threshold on a metric raises its event when a value crosses it
//! (once, until a value is back on the other side), for one device, every
//! device of a type, or every device. Nothing here calls the kernel.

use serde::{Deserialize, Serialize};

use crate::model::{Device, Reading, is_metric, is_name};

/// Which side of the threshold raises the event.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Operator {
    /// A value strictly below it.
    Below,
    /// A value strictly above it.
    Above,
}

/// A threshold rule, as stored and as `PUT /rules/<id>` takes it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// The metric it watches.
    pub metric: String,
    /// `below` or `above`.
    pub operator: Operator,
    /// The threshold.
    pub threshold: f64,
    /// The topic it publishes, under `iot.` (e.g. `iot.consumable.low`).
    pub event: String,
    /// Only this device, if set.
    #[serde(default)]
    pub device: Option<String>,
    /// Only devices of this type, if set.
    #[serde(default, rename = "device_type")]
    pub device_type: Option<String>,
}

impl Rule {
    /// Check every field.
    pub fn validate(&self) -> Result<(), String> {
        if !is_metric(&self.metric) {
            return Err("`metric` must be 1 to 64 of a-z, 0-9, `.`, `-` or `_`".into());
        }
        if !self.threshold.is_finite() {
            return Err("`threshold` must be a finite number".into());
        }
        let topic_ok = self.event.strip_prefix("iot.").is_some_and(|rest| {
            rest.split('.').all(|segment| {
                !segment.is_empty()
                    && segment
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            })
        });
        if !topic_ok || self.event.len() > 128 {
            return Err(
                "`event` must be a dotted topic of lower-case segments under `iot.`, such as iot.consumable.low"
                    .into(),
            );
        }
        for (field, value) in [("device", &self.device), ("device_type", &self.device_type)] {
            if let Some(value) = value
                && !is_name(value)
            {
                return Err(format!("`{field}` must be 1 to 64 of a-z, 0-9, `-` or `_`"));
            }
        }
        Ok(())
    }

    /// Whether the rule watches `device`.
    pub fn applies_to(&self, device: &Device) -> bool {
        self.device.as_ref().is_none_or(|id| id == &device.id)
            && self
                .device_type
                .as_ref()
                .is_none_or(|kind| kind == &device.device_type)
    }

    /// Whether `value` is on the raising side.
    pub fn breached_by(&self, value: f64) -> bool {
        match self.operator {
            Operator::Below => value < self.threshold,
            Operator::Above => value > self.threshold,
        }
    }

    /// The newest of `readings` for its metric, if any.
    pub fn newest<'a>(&self, readings: &[Reading<'a>]) -> Option<Reading<'a>> {
        readings
            .iter()
            .filter(|reading| reading.metric == self.metric)
            .max_by_key(|reading| reading.ts)
            .copied()
    }
}

/// What to do with a rule's state after a new value: raise the event
/// (entering the breached state), rearm (leaving it), or nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The value crossed the threshold: publish the event.
    Raise,
    /// The value is back on the safe side: raise again next time.
    Rearm,
    /// No change.
    Stay,
}

/// The transition for a rule that was `breached` before seeing `value`.
pub fn transition(rule: &Rule, breached: bool, value: f64) -> Transition {
    match (breached, rule.breached_by(value)) {
        (false, true) => Transition::Raise,
        (true, false) => Transition::Rearm,
        _ => Transition::Stay,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule() -> Rule {
        serde_json::from_value(json!({
            "metric": "ink.black", "operator": "below", "threshold": 10,
            "event": "iot.consumable.low", "device_type": "printer"
        }))
        .unwrap()
    }

    #[test]
    fn thresholds_raise_once_and_rearm() {
        let rule = rule();
        rule.validate().unwrap();
        assert_eq!(transition(&rule, false, 9.0), Transition::Raise);
        assert_eq!(transition(&rule, true, 5.0), Transition::Stay);
        assert_eq!(transition(&rule, true, 50.0), Transition::Rearm);
        assert_eq!(transition(&rule, false, 10.0), Transition::Stay);
    }

    #[test]
    fn rules_are_validated_and_scoped() {
        let mut bad = rule();
        bad.event = "commerce.order".into();
        assert!(bad.validate().unwrap_err().contains("under `iot.`"));
        let readings = [
            Reading {
                metric: "ink.black",
                value: 5.0,
                ts: 2,
            },
            Reading {
                metric: "ink.black",
                value: 50.0,
                ts: 1,
            },
            Reading {
                metric: "other",
                value: 0.0,
                ts: 3,
            },
        ];
        assert_eq!(rule().newest(&readings).unwrap().value, 5.0);
    }
}
