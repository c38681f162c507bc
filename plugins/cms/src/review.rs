//! Optional editorial review through the workflow plugin: a writer submits
//! a draft version, the `tessera.workflow` instance it starts is approved
//! or rejected by reviewers there, and an approval publishes that version.
//!
//! Configured by `review-workflow` (the key of a workflow definition; empty:
//! no review). Submitting publishes `workflow.start` for the subject
//! `{"type": "cms.entry", "id": "{id}"}`; the definition's actions publish
//! `workflow.cms.approved` and `workflow.cms.rejected`, which the CMS
//! receives in [`on_event`]. The review record,
//! `site/{site}/reviews/{id}`, says where the entry's latest submission
//! stands. An approval publishes only the version that was submitted: if
//! the draft changed since, the review ends `stale` and nothing is
//! published.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tessera_sdk::events::Event;
use tessera_sdk::prelude::*;
use tessera_sdk::storage;

use crate::routes::{READ, WRITE, announce, caller, publish_entry};
use crate::store;

/// The plugin that runs reviews, the only trusted source of their outcome.
const WORKFLOW: &str = "tessera.workflow";

/// The subject type of a CMS entry in workflow instances.
const SUBJECT_TYPE: &str = "cms.entry";

/// Where a submission stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Waiting for the reviewers.
    Pending,
    /// Approved and published.
    Approved,
    /// Rejected by a reviewer.
    Rejected,
    /// Approved, but the draft had changed since it was submitted: not
    /// published; submit again.
    Stale,
}

/// The latest submission of an entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Review {
    /// The entry.
    pub id: String,
    /// The draft version submitted.
    pub version: u32,
    /// The workflow definition it went to.
    pub definition: String,
    /// Where it stands.
    pub status: Status,
    /// Who submitted it.
    pub submitted_by: String,
    /// When (ms since the epoch).
    pub submitted_at: u64,
    /// The writer's note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The reviewer who decided, and their comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// The reviewer's comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_comment: Option<String>,
    /// When it was decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<u64>,
}

fn record_key(site: &str, id: &str) -> String {
    format!("{}reviews/{id}", store::root(site))
}

/// The configured workflow definition, if reviews are on.
fn definition() -> Option<String> {
    tessera_sdk::config::get("review-workflow")
        .map(|key| key.trim().to_owned())
        .filter(|key| !key.is_empty())
}

/// `POST /entries/{id}/submit`: sends the current draft version for review.
pub fn submit(request: &Request, params: &Params) -> Result<Response, Error> {
    let (site, by) = caller(WRITE)?;
    let id = params.require("id")?;
    let definition = definition().ok_or_else(|| {
        Error::new(
            409,
            "review_not_configured",
            "this CMS has no review workflow: an administrator sets `review-workflow` in its configuration",
        )
    })?;
    let (entry, _) = store::entry(&site, id)?;
    let comment = if request.body.is_empty() {
        None
    } else {
        request
            .json::<Value>()?
            .get("comment")
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let key = record_key(&site, id);
    if let Some(current) = storage::get_json::<Review>(&key)?
        && current.status == Status::Pending
        && current.version == entry.version
    {
        return Err(Error::new(
            409,
            "already_in_review",
            format!(
                "version {} of entry `{id}` is already in review",
                entry.version
            ),
        ));
    }
    let review = Review {
        id: id.to_owned(),
        version: entry.version,
        definition: definition.clone(),
        status: Status::Pending,
        submitted_by: by.clone(),
        submitted_at: jobs::now_ms(),
        comment: comment.clone(),
        decided_by: None,
        decision_comment: None,
        decided_at: None,
    };
    storage::set_json(&key, &review)?;
    events::publish_json(
        "workflow.start",
        &json!({
            "definition": definition,
            "site": site,
            "subject": {"type": SUBJECT_TYPE, "id": id},
            "data": {"type": entry.kind, "version": entry.version, "submitted_by": by, "comment": comment},
        }),
    )?;
    announce("cms.entry.submitted", &site, &entry);
    Ok(Response::json(202, &review))
}

/// `GET /entries/{id}/review`: the latest submission; 404 `not_submitted`.
pub fn get(_: &Request, params: &Params) -> Result<Response, Error> {
    let (site, _) = caller(READ)?;
    let id = params.require("id")?;
    store::entry(&site, id)?;
    let review: Option<Review> = storage::get_json(&record_key(&site, id))?;
    Ok(Response::ok_json(&review.ok_or_else(|| {
        Error::new(
            404,
            "not_submitted",
            format!("entry `{id}` was never submitted for review"),
        )
    })?))
}

/// What a workflow action's event says about a CMS entry.
#[derive(Debug, Deserialize)]
struct Outcome {
    site: String,
    subject: Subject,
    #[serde(default)]
    by: Option<String>,
    #[serde(default)]
    comment: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Subject {
    #[serde(rename = "type")]
    kind: String,
    id: String,
}

/// Handles `workflow.cms.approved` and `workflow.cms.rejected` from the
/// workflow plugin. Redeliveries find the review decided and do nothing.
pub fn on_event(event: &Event) -> Result<(), String> {
    if event.source != WORKFLOW {
        return Err(format!(
            "{} from `{}` ignored: review outcomes come from {WORKFLOW}",
            event.topic, event.source
        ));
    }
    let approved = match event.topic.as_str() {
        "workflow.cms.approved" => true,
        "workflow.cms.rejected" => false,
        other => return Err(format!("the CMS does not handle `{other}`")),
    };
    let outcome: Outcome = serde_json::from_slice(&event.payload)
        .map_err(|error| format!("{} {}: unreadable payload: {error}", event.topic, event.id))?;
    if outcome.subject.kind != SUBJECT_TYPE {
        return Ok(());
    }
    let (site, id) = (&outcome.site, &outcome.subject.id);
    let key = record_key(site, id);
    let Some(review) = storage::get_json::<Review>(&key).map_err(|e| e.message)? else {
        log::warn(&format!(
            "{}: entry {id} on {site} has no review",
            event.topic
        ));
        return Ok(());
    };
    if review.status != Status::Pending {
        return Ok(());
    }
    let status = match store::entry(site, id) {
        Ok((entry, _)) if approved && entry.version == review.version => {
            publish_entry(site, id).map_err(|error| error.message)?;
            Status::Approved
        }
        Ok(_) if approved => {
            log::warn(&format!(
                "entry {id} on {site}: approved version {} is no longer the draft; not published",
                review.version
            ));
            Status::Stale
        }
        Ok(_) => Status::Rejected,
        Err(error) if error.status == 404 => Status::Stale,
        Err(error) => return Err(error.message),
    };
    let decided = Review {
        status,
        decided_by: outcome.by,
        decision_comment: outcome.comment,
        decided_at: Some(jobs::now_ms()),
        ..review
    };
    storage::set_json(&key, &decided).map_err(|error| error.message)
}
