//! Deliveries: one event sent to one webhook, with every attempt logged.
//! An event on a topic a webhook wants becomes a delivery and a kernel job
//! (`deliver/{site}/{id}/{attempt}`) that POSTs it, signed. A 2xx answer
//! delivers it; anything else (another status, a timeout, a refused
//! connection) is logged and tried again after a growing wait
//! ([`crate::backoff`]) until `max-attempts`, then it is `failed` and
//! `integrations.delivery.failed` is published. Any delivery can be
//! replayed: a new delivery of the same body. Each webhook keeps its newest
//! `keep-deliveries` finished deliveries; older finished ones are removed
//! when another one finishes (pending and retrying ones always stay).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tessera_sdk::outbound::{self, OutboundRequest};
use tessera_sdk::prelude::*;
use tessera_sdk::storage::Operation;

use crate::keys::{self, manager, root};
use crate::webhooks::{self, Webhook};
use crate::{backoff, signature};

/// The prefix of delivery jobs' names.
pub const JOB_PREFIX: &str = "deliver/";

/// Topics never delivered, so that a failing webhook subscribed to them
/// cannot feed itself.
const OWN_TOPICS: &str = "integrations.delivery.";

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Not tried yet.
    Pending,
    /// Failed at least once; tried again at `next_attempt_at`.
    Retrying,
    /// A 2xx answer was received.
    Delivered,
    /// Every attempt failed, or the webhook is gone or inactive.
    Failed,
}

/// One attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// When it started (ms).
    pub at: u64,
    /// The receiver's status, when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Why it failed without an answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How long it took (ms).
    pub duration_ms: u64,
}

/// One event for one webhook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// Its id, `dl_{n}`.
    pub id: String,
    /// The webhook.
    pub webhook: String,
    /// The event's topic.
    pub topic: String,
    /// The event's id.
    pub event_id: String,
    /// The JSON body sent.
    pub body: String,
    /// Where it stands.
    pub state: State,
    /// Every attempt so far.
    pub attempts: Vec<Attempt>,
    /// When the next attempt is due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<u64>,
    /// The delivery this one replays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_of: Option<String>,
    /// When it was created (ms).
    pub created_at: u64,
}

fn key(site: &str, id: &str) -> String {
    format!("{}deliveries/{id}", root(site))
}

fn index_prefix(site: &str, webhook: &str) -> String {
    format!("{}webhook-deliveries/{webhook}/", root(site))
}

fn index_key(site: &str, delivery: &Delivery) -> String {
    format!(
        "{}{:020}/{}",
        index_prefix(site, &delivery.webhook),
        u64::MAX - delivery.created_at,
        delivery.id
    )
}

fn load(site: &str, id: &str) -> Result<Delivery, Error> {
    storage::get_json(&key(site, id))?
        .ok_or_else(|| Error::new(404, "unknown_delivery", format!("no delivery `{id}`")))
}

fn config_number(name: &str, default: u64) -> u64 {
    config::get(name)
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(default)
}

/// Stores a new delivery and schedules its first attempt now.
fn enqueue(site: &str, delivery: &Delivery) -> Result<(), Error> {
    storage::batch(&[
        Operation::set_json(key(site, &delivery.id), delivery)?,
        Operation::set(index_key(site, delivery), Vec::new()),
    ])?;
    schedule(site, &delivery.id, 1, jobs::now_ms())
}

fn schedule(site: &str, id: &str, attempt: usize, at: u64) -> Result<(), Error> {
    jobs::at(&format!("{JOB_PREFIX}{site}/{id}/{attempt}"), at, b"")
}

/// The site an event belongs to: its payload's `site`, else `default`.
fn site_of(event: &Event) -> String {
    serde_json::from_slice::<Value>(&event.payload)
        .ok()
        .and_then(|payload| payload.get("site")?.as_str().map(str::to_owned))
        .filter(|site| !site.is_empty())
        .unwrap_or_else(|| "default".to_owned())
}

/// Turns `event` into a delivery for every webhook of its site that wants
/// its topic.
pub fn fan_out(event: &Event) -> Result<(), Error> {
    if event.topic.starts_with(OWN_TOPICS) {
        return Ok(());
    }
    let site = site_of(event);
    let wanting: Vec<Webhook> = webhooks::all(&site)?
        .into_iter()
        .filter(|webhook| webhook.wants(&event.topic))
        .collect();
    if wanting.is_empty() {
        return Ok(());
    }
    let payload: Value = serde_json::from_slice(&event.payload)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&event.payload).into_owned()));
    let body = json!({
        "id": event.id,
        "topic": event.topic,
        "source": event.source,
        "published_at": event.published_at,
        "payload": payload,
    })
    .to_string();
    for webhook in wanting {
        let delivery = Delivery {
            id: keys::next_id(&site, "dl")?,
            webhook: webhook.id.clone(),
            topic: event.topic.clone(),
            event_id: event.id.clone(),
            body: body.clone(),
            state: State::Pending,
            attempts: Vec::new(),
            next_attempt_at: Some(jobs::now_ms()),
            replay_of: None,
            created_at: jobs::now_ms(),
        };
        enqueue(&site, &delivery)?;
    }
    Ok(())
}

/// Whether the job `name` is a delivery attempt.
pub fn owns(name: &str) -> bool {
    name.starts_with(JOB_PREFIX)
}

/// Runs the delivery attempt of job `name` (`deliver/{site}/{id}/{n}`).
pub fn run_job(name: &str) -> Result<(), String> {
    let mut parts = name
        .strip_prefix(JOB_PREFIX)
        .unwrap_or_default()
        .rsplitn(3, '/');
    let (Some(_attempt), Some(id), Some(site)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!("`{name}` is not a delivery job"));
    };
    attempt(site, id).map_err(|error| error.to_string())
}

/// Sends delivery `id` once and records the outcome.
fn attempt(site: &str, id: &str) -> Result<(), Error> {
    let delivery = load(site, id)?;
    if matches!(delivery.state, State::Delivered | State::Failed) {
        return Ok(());
    }
    let started = jobs::now_ms();
    let outcome = match webhooks::load(site, &delivery.webhook) {
        Ok(webhook) if webhook.active => send(&webhook, &delivery),
        Ok(_) => Outcome::GiveUp("the webhook is inactive".to_owned()),
        Err(_) => Outcome::GiveUp("the webhook was deleted".to_owned()),
    };
    let duration_ms = jobs::now_ms().saturating_sub(started);
    let max_attempts = config_number("max-attempts", 6).max(1);
    let base = config_number("retry-base-ms", 10_000);
    let updated = storage::try_update_json(&key(site, id), |current: Option<Delivery>| {
        let mut delivery = current
            .ok_or_else(|| Error::new(404, "unknown_delivery", format!("no delivery `{id}`")))?;
        let (status, error) = match &outcome {
            Outcome::Answered(status) => (Some(*status), None),
            Outcome::Failed(why) | Outcome::GiveUp(why) => (None, Some(why.clone())),
        };
        delivery.attempts.push(Attempt {
            at: started,
            status,
            error,
            duration_ms,
        });
        let failures = u32::try_from(delivery.attempts.len()).unwrap_or(u32::MAX);
        (delivery.state, delivery.next_attempt_at) = match &outcome {
            Outcome::Answered(status) if (200..300).contains(status) => (State::Delivered, None),
            Outcome::GiveUp(_) => (State::Failed, None),
            _ if u64::from(failures) >= max_attempts => (State::Failed, None),
            _ => (
                State::Retrying,
                Some(started + backoff::wait_ms(base, failures)),
            ),
        };
        Ok(delivery)
    })?;
    // A deleted webhook keeps none of its finished deliveries.
    let keep = match webhooks::load(site, &updated.webhook) {
        Ok(_) => kept_per_webhook(),
        Err(_) => 0,
    };
    if matches!(updated.state, State::Delivered | State::Failed)
        && let Err(error) = prune(site, &updated.webhook, keep)
    {
        log::warn(&format!(
            "cannot prune the deliveries of webhook {}: {error}",
            updated.webhook
        ));
    }
    match (updated.state, updated.next_attempt_at) {
        (State::Retrying, Some(at)) => schedule(site, id, updated.attempts.len() + 1, at)?,
        (State::Failed, _) => {
            let last = updated.attempts.last();
            if let Err(error) = events::publish_json(
                "integrations.delivery.failed",
                &json!({
                    "site": site, "delivery": updated.id, "webhook": updated.webhook,
                    "topic": updated.topic, "attempts": updated.attempts.len(),
                    "last_status": last.and_then(|attempt| attempt.status),
                    "last_error": last.and_then(|attempt| attempt.error.clone()),
                }),
            ) {
                log::warn(&format!(
                    "cannot announce the failed delivery {id}: {error}"
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

/// Deletes made in one batch while pruning.
const PRUNE_BATCH: usize = 100;

/// How many finished deliveries each webhook keeps: `keep-deliveries`
/// (config, default 200).
fn kept_per_webhook() -> usize {
    usize::try_from(config_number("keep-deliveries", 200)).unwrap_or(usize::MAX)
}

/// Removes `webhook`'s finished deliveries beyond its newest `keep`.
/// Pending and retrying deliveries stay whatever their age.
pub fn prune(site: &str, webhook: &str, keep: usize) -> Result<(), Error> {
    let mut removals = Vec::new();
    for (position, item) in storage::scan(&index_prefix(site, webhook)).enumerate() {
        let (index, _) = item?;
        if position < keep {
            continue;
        }
        let Some(id) = index.rsplit('/').next() else {
            continue;
        };
        let record = key(site, id);
        match storage::get_json::<Delivery>(&record)? {
            Some(delivery) if matches!(delivery.state, State::Pending | State::Retrying) => {}
            Some(_) => {
                removals.push(Operation::delete(record));
                removals.push(Operation::delete(index));
            }
            None => removals.push(Operation::delete(index)),
        }
        if removals.len() >= PRUNE_BATCH {
            storage::batch(&removals)?;
            removals.clear();
        }
    }
    if !removals.is_empty() {
        storage::batch(&removals)?;
    }
    Ok(())
}

/// What one attempt came to.
enum Outcome {
    /// The receiver answered with this status.
    Answered(u16),
    /// No answer (timeout, refused connection, ...).
    Failed(String),
    /// Not sent, and not to be retried.
    GiveUp(String),
}

fn send(webhook: &Webhook, delivery: &Delivery) -> Outcome {
    let body = delivery.body.as_bytes();
    let signed = signature::sign(&webhook.secret, jobs::now_ms() / 1000, body);
    let request = OutboundRequest {
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("user-agent".into(), "Tessera-Webhooks/0.1".into()),
            (signature::HEADER.into(), signed),
            ("tessera-event".into(), delivery.topic.clone()),
            ("tessera-delivery".into(), delivery.id.clone()),
        ],
        body: body.to_vec(),
        timeout_ms: u32::try_from(config_number("delivery-timeout-ms", 10_000)).ok(),
        ..outbound::request(Method::Post, &webhook.url)
    };
    match outbound::send(&request) {
        Ok(response) => Outcome::Answered(response.status),
        Err(error) => Outcome::Failed(format!("{}: {}", error.code, error.message)),
    }
}

/// `GET /webhooks/{id}/deliveries?limit=`: newest first (at most 100).
pub fn list(request: &Request, params: &Params) -> Result<Response, Error> {
    let (site, _) = manager()?;
    let webhook = params.require("id")?;
    let limit = request
        .query("limit")
        .and_then(|text| text.parse::<usize>().ok())
        .unwrap_or(20)
        .clamp(1, 100);
    let prefix = index_prefix(&site, webhook);
    let mut items = Vec::new();
    for item in storage::scan(&prefix).take(limit) {
        let (key, _) = item?;
        let Some(id) = key.rsplit('/').next() else {
            continue;
        };
        if let Ok(delivery) = load(&site, id) {
            items.push(summary(&delivery));
        }
    }
    Ok(Response::ok_json(&json!({ "items": items })))
}

fn summary(delivery: &Delivery) -> Value {
    let mut value = serde_json::to_value(delivery).unwrap_or(Value::Null);
    if let Some(object) = value.as_object_mut() {
        object.remove("body");
    }
    value
}

/// `GET /deliveries/{id}`: with the body sent.
pub fn show(_: &Request, params: &Params) -> Result<Response, Error> {
    let (site, _) = manager()?;
    Ok(Response::ok_json(&load(&site, params.require("id")?)?))
}

/// `POST /deliveries/{id}/replay`: a new delivery of the same body, sent
/// now; 202 with it.
pub fn replay(_: &Request, params: &Params) -> Result<Response, Error> {
    let (site, _) = manager()?;
    let original = load(&site, params.require("id")?)?;
    webhooks::load(&site, &original.webhook)?;
    let now = jobs::now_ms();
    let delivery = Delivery {
        id: keys::next_id(&site, "dl")?,
        state: State::Pending,
        attempts: Vec::new(),
        next_attempt_at: Some(now),
        replay_of: Some(original.id.clone()),
        created_at: now,
        ..original
    };
    enqueue(&site, &delivery)?;
    Ok(Response::json(202, &summary(&delivery)))
}
