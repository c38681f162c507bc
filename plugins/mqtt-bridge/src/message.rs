//! Turning an MQTT message into the payload of `iot.mqtt.telemetry`.
//!
//! A message is JSON: a batch `{"points": [...]}`, a list of points, or
//! one point `{"metric": "...", "value": 1.5, "ts": 1767225600000}`. The
//! IoT plugin validates the points; here only the shape is normalised.

use serde_json::{Value, json};

use crate::settings::Origin;

/// The event payload for a message from `origin`, or why it is dropped.
pub fn telemetry_event(origin: &Origin, topic: &str, payload: &[u8]) -> Result<Value, String> {
    let body: Value = serde_json::from_slice(payload)
        .map_err(|error| format!("the message on `{topic}` is not JSON: {error}"))?;
    let points = match body {
        Value::Object(mut object) if object.contains_key("points") => {
            object.remove("points").unwrap_or(Value::Null)
        }
        Value::Object(object) if object.contains_key("metric") => {
            Value::Array(vec![Value::Object(object)])
        }
        Value::Array(points) => Value::Array(points),
        _ => {
            return Err(format!(
                "the message on `{topic}` is neither a batch, a list of points nor a point"
            ));
        }
    };
    if !points.is_array() {
        return Err(format!(
            "`points` of the message on `{topic}` is not a list"
        ));
    }
    Ok(json!({
        "site": origin.site,
        "device": origin.device,
        "topic": topic,
        "batch": { "points": points },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Origin {
        Origin {
            site: "default".into(),
            device: "p1".into(),
        }
    }

    #[test]
    fn batches_lists_and_single_points_become_one_batch() {
        let point = json!({"metric": "ink", "value": 3});
        for body in [json!({"points": [point]}), json!([point]), point.clone()] {
            let event = telemetry_event(&origin(), "t", body.to_string().as_bytes()).unwrap();
            assert_eq!(event["batch"]["points"], json!([point]));
            assert_eq!(event["device"], "p1");
        }
        assert!(
            telemetry_event(&origin(), "t", b"nope")
                .unwrap_err()
                .contains("not JSON")
        );
        assert!(telemetry_event(&origin(), "t", b"{\"points\":1}").is_err());
        assert!(telemetry_event(&origin(), "t", b"42").is_err());
    }
}
