//! Starting instances: through `POST /instances` (or `invoke`) and through
//! the event `workflow.start`, which is idempotent by event id.

use serde::Deserialize;
use serde_json::Value;
use tessera_sdk::{Error, Event, jobs, log};

use crate::definition::{START_TOPIC, is_name};
use crate::effects;
use crate::instance::{Actor, Instance, Start, Subject};
use crate::store;

/// What starts an instance: the body of `POST /instances`, and (with
/// `site`) the payload of `workflow.start`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartRequest {
    /// The definition key; its latest version is used.
    pub definition: String,
    /// What the instance is about.
    pub subject: Subject,
    /// Free data kept with the instance.
    #[serde(default)]
    pub data: Value,
    /// The site, in event payloads only (a request's site is the caller's).
    #[serde(default)]
    pub site: Option<String>,
}

impl StartRequest {
    /// Checks the definition key and the subject.
    pub fn validate(&self) -> Result<(), Error> {
        if !is_name(&self.definition) {
            return Err(Error::bad_request(format!(
                "`definition`: `{}` is not a definition key",
                self.definition
            )));
        }
        self.subject.validate()
    }
}

/// Parses and checks a `workflow.start` payload; returns it with its site.
pub fn parse_start_event(payload: &[u8]) -> Result<(String, StartRequest), Error> {
    let request: StartRequest = serde_json::from_slice(payload)?;
    request.validate()?;
    match &request.site {
        Some(site) if is_name(site) => Ok((site.clone(), request)),
        Some(site) => Err(Error::bad_request(format!(
            "`site`: `{site}` is not a site id"
        ))),
        None => Err(Error::bad_request(
            "`site` is required: events carry no caller, so name the site to start the instance on",
        )),
    }
}

/// Starts an instance of the latest version of `request.definition` on
/// `site`; returns it with the warnings of its entry actions. `event` is
/// the `workflow.start` event that asked for it, if any.
pub fn start(
    site: &str,
    request: StartRequest,
    actor: &Actor,
    event: Option<&Event>,
) -> Result<(Instance, Vec<String>), Error> {
    request.validate()?;
    let stored = store::latest_definition(site, &request.definition)?;
    let now = jobs::now_ms();
    let mut instance = Instance::start(Start {
        id: store::next_instance_id()?,
        site: site.to_owned(),
        key: &stored.key,
        version: stored.version,
        definition: &stored.definition,
        subject: request.subject,
        data: request.data,
        actor,
        now,
    });
    if let (Some(event), Some(first)) = (event, instance.history.first_mut()) {
        first.comment = Some(format!(
            "started by the event {} from {}",
            event.id, event.source
        ));
    }
    store::create_instance(&instance, event.map(|event| event.id.as_str()))?;
    let warnings = effects::on_enter(&instance, &stored.definition, now);
    Ok((instance, warnings))
}

/// `on_event`: starts an instance for each `workflow.start` event, once per
/// event id. A payload that cannot start one is an error, so the event
/// ends as a dead letter with the reason.
pub fn on_event(event: &Event) -> Result<(), String> {
    if event.topic != START_TOPIC {
        log::debug(&format!("ignoring {} ({})", event.topic, event.id));
        return Ok(());
    }
    if let Some(instance) = store::started_by_event(&event.id).map_err(|e| e.to_string())? {
        log::info(&format!(
            "event {} already started instance {instance}",
            event.id
        ));
        return Ok(());
    }
    let (site, request) = parse_start_event(&event.payload).map_err(|error| {
        format!(
            "invalid `{START_TOPIC}` event {}: {}",
            event.id, error.message
        )
    })?;
    let (instance, _) = start(&site, request, &Actor::System, Some(event))
        .map_err(|error| format!("event {} started nothing: {error}", event.id))?;
    log::info(&format!(
        "event {} from {} started instance {} of `{}` on site {site}",
        event.id, event.source, instance.id, instance.definition
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(payload: Value) -> Result<(String, StartRequest), Error> {
        parse_start_event(&serde_json::to_vec(&payload).unwrap())
    }

    #[test]
    fn start_events_name_their_site() {
        let (site, request) = parse(json!({
            "definition": "approval",
            "subject": {"type": "commerce.order", "id": "o-1"},
            "site": "partners",
            "data": {"total": 12000}
        }))
        .unwrap();
        assert_eq!(site, "partners");
        assert_eq!(request.definition, "approval");
        assert_eq!(request.subject.kind, "commerce.order");
        assert_eq!(request.data["total"], 12000);
    }

    #[test]
    fn bad_start_events_say_why() {
        let cases = [
            (
                json!({"definition": "approval", "subject": {"type": "t", "id": "1"}}),
                "`site` is required",
            ),
            (
                json!({"definition": "approval", "subject": {"type": "t", "id": "1"}, "site": "a/b"}),
                "not a site id",
            ),
            (
                json!({"definition": "Approval!", "subject": {"type": "t", "id": "1"}, "site": "s"}),
                "not a definition key",
            ),
            (
                json!({"definition": "approval", "subject": {"type": "", "id": "1"}, "site": "s"}),
                "subject.type",
            ),
            (json!({"definition": "approval", "site": "s"}), "subject"),
            (
                json!({"definition": "approval", "subject": {"type": "t", "id": "1"}, "site": "s", "extra": 1}),
                "extra",
            ),
        ];
        for (payload, needle) in cases {
            let error = parse(payload).unwrap_err();
            assert_eq!(error.status, 400);
            assert!(error.message.contains(needle), "{error} lacks {needle:?}");
        }
        assert_eq!(
            parse_start_event(b"not json").unwrap_err().code,
            "invalid_json"
        );
    }
}
