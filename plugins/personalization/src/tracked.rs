//! The body of `POST /track`, checked: one event or `{"events": [...]}`,
//! each a page view (`{"type": "page", "path", "title"?, "referrer"?}`) or
//! a custom event (`{"type": "event", "name", "properties"?}`). Bounded in
//! count and size; mistakes name the event. Pure.

use serde_json::{Map, Value, json};
use tessera_sdk::Error;

use crate::ids::is_event_name;

/// The most events one request may carry.
pub const MAX_EVENTS: usize = 20;
/// The largest `properties` of one event, serialised.
pub const MAX_PROPERTIES: usize = 2048;
/// The longest page path.
pub const MAX_PATH: usize = 256;

/// One checked event.
#[derive(Debug, Clone, PartialEq)]
pub enum Tracked {
    /// A page view.
    Page {
        /// The path, without query or fragment.
        path: String,
        /// Title and referrer, when sent.
        properties: Value,
    },
    /// A custom event.
    Event {
        /// Its name.
        name: String,
        /// What the client attached.
        properties: Value,
    },
}

/// A checked body: its events and the `visitor_id` it named.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// The events, in order.
    pub events: Vec<Tracked>,
    /// A visitor id from the body.
    pub visitor_id: Option<String>,
}

fn invalid(message: String) -> Error {
    Error::new(400, "invalid_event", message)
}

/// Checks a `/track` body.
pub fn parse(body: &Value) -> Result<Batch, Error> {
    let object = body
        .as_object()
        .ok_or_else(|| invalid("the body is a JSON object".into()))?;
    let visitor_id = match object.get("visitor_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) => Some(id.clone()),
        Some(_) => return Err(invalid("`visitor_id` is a string".into())),
    };
    let events = match object.get("events") {
        Some(Value::Array(list)) => {
            if list.is_empty() || list.len() > MAX_EVENTS {
                return Err(invalid(format!("`events` holds 1 to {MAX_EVENTS} events")));
            }
            list.iter()
                .enumerate()
                .map(|(at, event)| one(event, &format!("events[{at}]")))
                .collect::<Result<Vec<_>, _>>()?
        }
        Some(_) => return Err(invalid("`events` is a list".into())),
        None => vec![one(body, "event")?],
    };
    Ok(Batch { events, visitor_id })
}

fn one(value: &Value, at: &str) -> Result<Tracked, Error> {
    let object = value
        .as_object()
        .ok_or_else(|| invalid(format!("{at}: an event is a JSON object")))?;
    let text = |name: &str, max: usize| -> Result<Option<String>, Error> {
        match object.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) if text.len() <= max => Ok(Some(text.clone())),
            Some(_) => Err(invalid(format!(
                "{at}.{name}: a string of at most {max} bytes"
            ))),
        }
    };
    let allowed: &[&str] = match object.get("type").and_then(Value::as_str) {
        Some("page") => &["type", "path", "title", "referrer", "visitor_id"],
        Some("event") => &["type", "name", "properties", "visitor_id"],
        _ => return Err(invalid(format!("{at}.type: `page` or `event`"))),
    };
    if let Some(key) = object.keys().find(|key| !allowed.contains(&key.as_str())) {
        return Err(invalid(format!("{at}: unexpected `{key}`")));
    }
    if object.get("type").and_then(Value::as_str) == Some("page") {
        let path = text("path", 2048)?.ok_or_else(|| invalid(format!("{at}.path is required")))?;
        let path = normalise(&path).ok_or_else(|| {
            invalid(format!(
                "{at}.path: a path starting with `/`, at most {MAX_PATH} bytes"
            ))
        })?;
        let mut properties = Map::new();
        if let Some(title) = text("title", 256)? {
            properties.insert("title".into(), json!(title));
        }
        if let Some(referrer) = text("referrer", 1024)? {
            properties.insert("referrer".into(), json!(referrer));
        }
        let properties = if properties.is_empty() {
            Value::Null
        } else {
            Value::Object(properties)
        };
        return Ok(Tracked::Page { path, properties });
    }
    let name = text("name", 64)?.ok_or_else(|| invalid(format!("{at}.name is required")))?;
    if !is_event_name(&name) {
        return Err(invalid(format!(
            "{at}.name: lower-case letters, digits, `.`, `-`, `_`; at most 64"
        )));
    }
    let properties = match object.get("properties") {
        None | Some(Value::Null) => Value::Null,
        Some(Value::Object(properties)) => {
            let size = serde_json::to_vec(properties)
                .map(|b| b.len())
                .unwrap_or(usize::MAX);
            if size > MAX_PROPERTIES {
                return Err(invalid(format!(
                    "{at}.properties: at most {MAX_PROPERTIES} bytes"
                )));
            }
            Value::Object(properties.clone())
        }
        Some(_) => return Err(invalid(format!("{at}.properties is an object"))),
    };
    Ok(Tracked::Event { name, properties })
}

/// `path` without query and fragment, without a trailing `/` (except the
/// root); `None` unless it starts with `/` and fits [`MAX_PATH`].
pub fn normalise(path: &str) -> Option<String> {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let path = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    let path = if path.is_empty() { "/" } else { path };
    (path.starts_with('/') && path.len() <= MAX_PATH && !path.chars().any(char::is_control))
        .then(|| path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_and_batched_events_parse() {
        let one =
            parse(&json!({"type": "page", "path": "/pricing/?utm=x", "title": "Pricing"})).unwrap();
        assert_eq!(
            one.events,
            [Tracked::Page {
                path: "/pricing".into(),
                properties: json!({"title": "Pricing"})
            }]
        );
        let many = parse(&json!({"visitor_id": "abcdefgh", "events": [
            {"type": "page", "path": "/"},
            {"type": "event", "name": "signup", "properties": {"plan": "pro"}}
        ]}))
        .unwrap();
        assert_eq!(many.events.len(), 2);
        assert_eq!(many.visitor_id.as_deref(), Some("abcdefgh"));
    }

    #[test]
    fn mistakes_name_the_event() {
        let message = |body: Value| parse(&body).unwrap_err().message;
        assert!(message(json!({"type": "click"})).contains("event.type"));
        assert!(message(json!({"events": [{"type": "page"}]})).contains("events[0].path"));
        assert!(
            message(json!({"events": [{"type": "page", "path": "x"}]})).contains("events[0].path")
        );
        assert!(message(json!({"type": "event", "name": "Bad Name"})).contains("event.name"));
        assert!(message(json!({"type": "event", "name": "a", "extra": 1})).contains("unexpected"));
        let big = "x".repeat(MAX_PROPERTIES);
        assert!(
            message(json!({"type": "event", "name": "a", "properties": {"k": big}}))
                .contains("properties")
        );
        let too_many: Vec<Value> = (0..=MAX_EVENTS)
            .map(|_| json!({"type": "page", "path": "/"}))
            .collect();
        assert!(message(json!({"events": too_many})).contains("1 to"));
        assert!(message(json!([1])).contains("object"));
    }

    #[test]
    fn paths_are_normalised() {
        assert_eq!(normalise("/").as_deref(), Some("/"));
        assert_eq!(normalise("/a/b/#top").as_deref(), Some("/a/b"));
        assert_eq!(normalise("relative"), None);
        assert_eq!(normalise(&format!("/{}", "a".repeat(MAX_PATH))), None);
    }
}
