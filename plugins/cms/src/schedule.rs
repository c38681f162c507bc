//! Scheduled publishing: an editor asks for an entry to be published and/or
//! unpublished at given times; the kernel's job scheduler calls the plugin
//! back when each time comes ([`run_job`]).
//!
//! A schedule is one record per entry, `site/{site}/schedules/{id}`, and at
//! most two one-off jobs, `cms/{site}/{id}/publish` and
//! `cms/{site}/{id}/unpublish`, whose payload names the site, the entry and
//! the action. The record is the truth: a job whose action the record no
//! longer holds (cancelled or replaced meanwhile) does nothing. Scheduled
//! publishing publishes the entry's draft **as it is at that time**.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tessera_sdk::prelude::*;
use tessera_sdk::storage::{self, CasOutcome};

use crate::routes::{PUBLISH, READ, caller, publish_entry, unpublish_entry};
use crate::store;

/// What a job does to its entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Publish the current draft.
    Publish,
    /// Withdraw the published copy.
    Unpublish,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Publish => "publish",
            Action::Unpublish => "unpublish",
        }
    }
}

/// The stored schedule of one entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// The entry's id.
    pub id: String,
    /// When to publish (ms since the epoch), if at all.
    #[serde(default)]
    pub publish_at: Option<u64>,
    /// When to unpublish (ms since the epoch), if at all.
    #[serde(default)]
    pub unpublish_at: Option<u64>,
    /// Who set the schedule.
    pub scheduled_by: String,
    /// When it was set.
    pub scheduled_at: u64,
}

impl Schedule {
    fn time_of(&self, action: Action) -> Option<u64> {
        match action {
            Action::Publish => self.publish_at,
            Action::Unpublish => self.unpublish_at,
        }
    }

    fn without(mut self, action: Action) -> Self {
        match action {
            Action::Publish => self.publish_at = None,
            Action::Unpublish => self.unpublish_at = None,
        }
        self
    }

    fn is_empty(&self) -> bool {
        self.publish_at.is_none() && self.unpublish_at.is_none()
    }
}

/// The payload of a schedule's job.
#[derive(Debug, Serialize, Deserialize)]
struct JobPayload {
    site: String,
    id: String,
    action: Action,
}

fn record_key(site: &str, id: &str) -> String {
    format!("{}schedules/{id}", store::root(site))
}

fn job_name(site: &str, id: &str, action: Action) -> String {
    format!("cms/{site}/{id}/{}", action.name())
}

/// Parses a schedule time: milliseconds since the epoch, or an RFC 3339
/// date-time string.
pub fn parse_time(field: &str, value: &Value) -> Result<Option<u64>, String> {
    match value {
        Value::Null => Ok(None),
        Value::Number(number) => number
            .as_u64()
            .map(Some)
            .ok_or_else(|| format!("`{field}` must be a positive number of milliseconds")),
        Value::String(text) => chrono::DateTime::parse_from_rfc3339(text)
            .ok()
            .and_then(|time| u64::try_from(time.timestamp_millis()).ok())
            .map(Some)
            .ok_or_else(|| {
                format!(
                    "`{field}`: `{text}` is not an RFC 3339 date-time such as 2026-12-24T09:00:00Z"
                )
            }),
        _ => Err(format!(
            "`{field}` must be an RFC 3339 date-time string or milliseconds since the epoch"
        )),
    }
}

/// Reads and checks a `PUT /entries/{id}/schedule` body against `now`:
/// `(publish_at, unpublish_at)`, at least one set, both in the future, the
/// unpublish after the publish.
pub fn parse_request(
    body: &Map<String, Value>,
    now: u64,
) -> Result<(Option<u64>, Option<u64>), String> {
    if let Some(unknown) = body
        .keys()
        .find(|key| !["publish_at", "unpublish_at"].contains(&key.as_str()))
    {
        return Err(format!(
            "`{unknown}` is not one of publish_at, unpublish_at"
        ));
    }
    let publish_at = parse_time("publish_at", body.get("publish_at").unwrap_or(&Value::Null))?;
    let unpublish_at = parse_time(
        "unpublish_at",
        body.get("unpublish_at").unwrap_or(&Value::Null),
    )?;
    if publish_at.is_none() && unpublish_at.is_none() {
        return Err(
            "give `publish_at`, `unpublish_at` or both (DELETE the schedule to cancel it)".into(),
        );
    }
    for (field, time) in [("publish_at", publish_at), ("unpublish_at", unpublish_at)] {
        if time.is_some_and(|time| time <= now) {
            return Err(format!(
                "`{field}` is in the past: publish or unpublish now instead"
            ));
        }
    }
    if let (Some(publish), Some(unpublish)) = (publish_at, unpublish_at)
        && unpublish <= publish
    {
        return Err("`unpublish_at` must come after `publish_at`".into());
    }
    Ok((publish_at, unpublish_at))
}

fn invalid_schedule(message: String) -> Error {
    Error::new(400, "invalid_schedule", message)
}

fn not_scheduled(id: &str) -> Error {
    Error::new(
        404,
        "not_scheduled",
        format!("entry `{id}` has no scheduled publish or unpublish"),
    )
}

/// `PUT /entries/{id}/schedule`: replaces the entry's schedule.
pub fn put(request: &Request, params: &Params) -> Result<Response, Error> {
    let (site, by) = caller(PUBLISH)?;
    let id = params.require("id")?;
    let (entry, _) = store::entry(&site, id)?;
    let Value::Object(body) = request.json::<Value>()? else {
        return Err(invalid_schedule(
            "send a JSON object: {\"publish_at\": ..., \"unpublish_at\": ...}".into(),
        ));
    };
    let now = jobs::now_ms();
    let (publish_at, unpublish_at) = parse_request(&body, now).map_err(invalid_schedule)?;
    if publish_at.is_none() && entry.published_version.is_none() {
        return Err(Error::new(
            409,
            "not_published",
            format!(
                "entry `{id}` is not published and no publish is scheduled before the unpublish"
            ),
        ));
    }
    let schedule = Schedule {
        id: id.to_owned(),
        publish_at,
        unpublish_at,
        scheduled_by: by,
        scheduled_at: now,
    };
    storage::set_json(&record_key(&site, id), &schedule)?;
    for action in [Action::Publish, Action::Unpublish] {
        let name = job_name(&site, id, action);
        match schedule.time_of(action) {
            Some(at) => {
                let payload = serde_json::to_vec(&JobPayload {
                    site: site.clone(),
                    id: id.to_owned(),
                    action,
                })
                .map_err(|error| Error::internal(error.to_string()))?;
                jobs::at(&name, at, &payload)?;
            }
            None => {
                jobs::cancel(&name)?;
            }
        }
    }
    Ok(Response::ok_json(&schedule))
}

/// `GET /entries/{id}/schedule`.
pub fn get(_: &Request, params: &Params) -> Result<Response, Error> {
    let (site, _) = caller(READ)?;
    let id = params.require("id")?;
    store::entry(&site, id)?;
    let schedule: Option<Schedule> = storage::get_json(&record_key(&site, id))?;
    Ok(Response::ok_json(
        &schedule.ok_or_else(|| not_scheduled(id))?,
    ))
}

/// `DELETE /entries/{id}/schedule`: cancels both actions.
pub fn delete(_: &Request, params: &Params) -> Result<Response, Error> {
    let (site, _) = caller(PUBLISH)?;
    let id = params.require("id")?;
    if !cancel(&site, id)? {
        return Err(not_scheduled(id));
    }
    Ok(Response::empty(204))
}

/// `GET /schedules`: every schedule of the site, by entry id.
pub fn list(_: &Request, _: &Params) -> Result<Response, Error> {
    let (site, _) = caller(READ)?;
    let prefix = format!("{}schedules/", store::root(&site));
    let schedules = storage::scan(&prefix)
        .map(|item| {
            let (key, value) = item?;
            serde_json::from_slice::<Schedule>(&value)
                .map_err(|error| Error::internal(format!("`{key}` is unreadable: {error}")))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(Response::ok_json(&json!({ "schedules": schedules })))
}

/// Cancels the schedule of `id` on `site` (its record and jobs); whether
/// there was one. Deleting an entry calls this.
pub fn cancel(site: &str, id: &str) -> Result<bool, Error> {
    for action in [Action::Publish, Action::Unpublish] {
        jobs::cancel(&job_name(site, id, action))?;
    }
    storage::delete(&record_key(site, id))
}

/// Runs a schedule's job: publishes or unpublishes the entry if its
/// schedule still asks for it, then removes that action from the record.
/// An entry deleted meanwhile or already unpublished is logged, not an
/// error (the job is not retried).
pub fn run_job(name: &str, payload: &[u8]) -> Result<(), String> {
    let job: JobPayload = serde_json::from_slice(payload)
        .map_err(|error| format!("job `{name}` has an unreadable payload: {error}"))?;
    let key = record_key(&job.site, &job.id);
    let Some((schedule, raw)) = read_record(&key)? else {
        log::info(&format!(
            "{name}: the schedule was cancelled; nothing to do"
        ));
        return Ok(());
    };
    if schedule.time_of(job.action).is_none() {
        log::info(&format!("{name}: no longer scheduled; nothing to do"));
        return Ok(());
    }
    let outcome = match job.action {
        Action::Publish => publish_entry(&job.site, &job.id),
        Action::Unpublish => unpublish_entry(&job.site, &job.id),
    };
    match outcome {
        Ok(_) => log::info(&format!("{name}: done")),
        Err(error) if [404, 409].contains(&error.status) => {
            log::warn(&format!("{name}: skipped: {}", error.message));
        }
        Err(error) => return Err(format!("{name}: {}", error.message)),
    }
    let rest = schedule.without(job.action);
    let new = if rest.is_empty() {
        None
    } else {
        Some(serde_json::to_vec(&rest).map_err(|error| error.to_string())?)
    };
    // A schedule replaced meanwhile keeps its new times.
    if let CasOutcome::Conflict(_) =
        storage::compare_and_swap(&key, Some(&raw), new.as_deref()).map_err(|e| e.message)?
    {
        log::info(&format!(
            "{name}: the schedule changed meanwhile; kept as is"
        ));
    }
    Ok(())
}

fn read_record(key: &str) -> Result<Option<(Schedule, Vec<u8>)>, String> {
    let Some(raw) = storage::get(key).map_err(|error| error.message)? else {
        return Ok(None);
    };
    let schedule =
        serde_json::from_slice(&raw).map_err(|error| format!("`{key}` is unreadable: {error}"))?;
    Ok(Some((schedule, raw)))
}

/// Whether `name` is one of this module's jobs.
pub fn owns(name: &str) -> bool {
    name.starts_with("cms/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    #[test]
    fn times_are_milliseconds_or_rfc3339() {
        assert_eq!(parse_time("t", &json!(1_000)), Ok(Some(1_000)));
        assert_eq!(
            parse_time("t", &json!("2026-12-24T09:00:00Z")),
            Ok(Some(1_798_102_800_000))
        );
        assert_eq!(
            parse_time("t", &json!("2026-12-24T10:00:00+01:00")),
            Ok(Some(1_798_102_800_000))
        );
        assert_eq!(parse_time("t", &Value::Null), Ok(None));
        assert!(
            parse_time("t", &json!("tomorrow"))
                .unwrap_err()
                .contains("RFC 3339")
        );
        assert!(parse_time("t", &json!(-5)).is_err());
        assert!(parse_time("t", &json!(true)).is_err());
    }

    #[test]
    fn a_request_needs_future_times_in_order() {
        let now = 1_000;
        assert_eq!(
            parse_request(
                &body(json!({"publish_at": 2_000, "unpublish_at": 3_000})),
                now
            ),
            Ok((Some(2_000), Some(3_000)))
        );
        assert_eq!(
            parse_request(&body(json!({"unpublish_at": 3_000})), now),
            Ok((None, Some(3_000)))
        );
        let error = |value| parse_request(&body(value), now).unwrap_err();
        assert!(error(json!({})).contains("give"));
        assert!(error(json!({"publish_at": 500})).contains("in the past"));
        assert!(error(json!({"publish_at": 3_000, "unpublish_at": 2_000})).contains("after"));
        assert!(error(json!({"publish": 3_000})).contains("`publish` is not one of"));
    }

    #[test]
    fn a_schedule_loses_actions_one_by_one() {
        let schedule = Schedule {
            id: "e_1".into(),
            publish_at: Some(1),
            unpublish_at: Some(2),
            scheduled_by: "ed".into(),
            scheduled_at: 0,
        };
        let rest = schedule.without(Action::Publish);
        assert_eq!(rest.time_of(Action::Publish), None);
        assert!(!rest.is_empty());
        assert!(rest.without(Action::Unpublish).is_empty());
        assert_eq!(
            job_name("default", "e_1", Action::Unpublish),
            "cms/default/e_1/unpublish"
        );
        assert!(owns("cms/default/e_1/publish"));
    }
}
