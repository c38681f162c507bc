//! Webhook subscriptions: an external URL receiving the events of some
//! topics. Created, listed, changed and deleted by administrators holding
//! `integrations.webhook.manage`. The signing secret is returned once, at
//! creation (or rotation), and never again.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tessera_sdk::prelude::*;

use crate::keys::{self, manager, root};
use crate::{origins, topics};

/// The most topic patterns one webhook may list.
pub const MAX_TOPICS: usize = 20;

/// A webhook subscription, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Webhook {
    /// Its id, `wh_{n}`.
    pub id: String,
    /// Where deliveries go.
    pub url: String,
    /// Topic patterns (`cms.entry.*`, `*`).
    pub topics: Vec<String>,
    /// What it is for.
    #[serde(default)]
    pub description: String,
    /// Whether events are delivered.
    pub active: bool,
    /// The HMAC-SHA256 key deliveries are signed with; never shown again
    /// after creation.
    pub secret: String,
    /// Creation time (ms).
    pub created_at: u64,
    /// Who created it.
    pub created_by: String,
}

impl Webhook {
    /// What the API shows: everything but the secret.
    pub fn public(&self) -> Value {
        json!({
            "id": self.id,
            "url": self.url,
            "topics": self.topics,
            "description": self.description,
            "active": self.active,
            "created_at": self.created_at,
            "created_by": self.created_by,
        })
    }

    /// Whether it wants an event on `topic`. Topics that carry one-time
    /// credentials ([`topics::CREDENTIAL_TOPICS`]) go only to webhooks that
    /// name them exactly, never through `*` or a family pattern.
    pub fn wants(&self, topic: &str) -> bool {
        let exact_only = topics::CREDENTIAL_TOPICS.contains(&topic);
        self.active
            && self.topics.iter().any(|pattern| {
                if exact_only {
                    pattern == topic
                } else {
                    topics::matches(pattern, topic)
                }
            })
    }
}

/// The body of `POST /webhooks` and `PUT /webhooks/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    url: String,
    topics: Vec<String>,
    #[serde(default)]
    description: String,
    #[serde(default = "active_by_default")]
    active: bool,
}

fn active_by_default() -> bool {
    true
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(400, "invalid_webhook", message)
}

fn body(request: &Request) -> Result<Body, Error> {
    let body: Body = request.json().map_err(|error| {
        invalid(format!(
            "send {{\"url\": \"https://...\", \"topics\": [\"cms.entry.*\"], \"description\"?, \"active\"?}}: {}",
            error.message
        ))
    })?;
    if origins::origin_of(&body.url).is_none() {
        return Err(invalid(format!(
            "`url`: `{}` is not an absolute http(s) URL",
            body.url
        )));
    }
    if !origins::allowed(&body.url, &origins::configured()) {
        return Err(Error::new(
            400,
            "origin_not_allowed",
            format!(
                "`{}` is not among the origins webhooks may reach; an administrator adds its origin to `webhook-origins` in <data>/config/tessera.integrations.toml",
                body.url
            ),
        ));
    }
    if body.topics.is_empty() || body.topics.len() > MAX_TOPICS {
        return Err(invalid(format!(
            "`topics`: 1 to {MAX_TOPICS} topic patterns"
        )));
    }
    if let Some(bad) = body.topics.iter().find(|topic| !topics::is_pattern(topic)) {
        return Err(invalid(format!(
            "`topics`: `{bad}` is not a topic or pattern such as cms.entry.published, cms.* or *"
        )));
    }
    if body.description.len() > 500 {
        return Err(invalid("`description`: at most 500 bytes"));
    }
    Ok(body)
}

fn key(site: &str, id: &str) -> String {
    format!("{}webhooks/{id}", root(site))
}

/// The webhook `id` of `site`.
pub fn load(site: &str, id: &str) -> Result<Webhook, Error> {
    storage::get_json(&key(site, id))?
        .ok_or_else(|| Error::new(404, "unknown_webhook", format!("no webhook `{id}`")))
}

/// Every webhook of `site`.
pub fn all(site: &str) -> Result<Vec<Webhook>, Error> {
    storage::scan(&format!("{}webhooks/", root(site)))
        .map(|item| {
            item.and_then(|(key, value)| {
                serde_json::from_slice(&value)
                    .map_err(|error| Error::internal(format!("`{key}` is unreadable: {error}")))
            })
        })
        .collect()
}

/// `POST /webhooks`: 201 with the webhook and, this once, its `secret`.
pub fn create(request: &Request, _: &Params) -> Result<Response, Error> {
    let (site, by) = manager()?;
    let body = body(request)?;
    let webhook = Webhook {
        id: keys::next_id(&site, "wh")?,
        url: body.url,
        topics: body.topics,
        description: body.description,
        active: body.active,
        secret: keys::new_secret()?,
        created_at: jobs::now_ms(),
        created_by: by,
    };
    storage::set_json(&key(&site, &webhook.id), &webhook)?;
    let mut shown = webhook.public();
    if let Some(object) = shown.as_object_mut() {
        object.insert("secret".to_owned(), json!(webhook.secret));
    }
    Ok(Response::json(201, &shown))
}

/// `GET /webhooks`.
pub fn list(_: &Request, _: &Params) -> Result<Response, Error> {
    let (site, _) = manager()?;
    let items: Vec<Value> = all(&site)?.iter().map(Webhook::public).collect();
    Ok(Response::ok_json(&json!({ "items": items })))
}

/// `GET /webhooks/{id}`.
pub fn show(_: &Request, params: &Params) -> Result<Response, Error> {
    let (site, _) = manager()?;
    Ok(Response::ok_json(
        &load(&site, params.require("id")?)?.public(),
    ))
}

/// `PUT /webhooks/{id}`: new URL, topics, description or state; the secret
/// stays.
pub fn update(request: &Request, params: &Params) -> Result<Response, Error> {
    let (site, _) = manager()?;
    let body = body(request)?;
    let id = params.require("id")?;
    let webhook = storage::try_update_json(&key(&site, id), |current: Option<Webhook>| {
        let mut webhook = current
            .ok_or_else(|| Error::new(404, "unknown_webhook", format!("no webhook `{id}`")))?;
        webhook.url = body.url.clone();
        webhook.topics = body.topics.clone();
        webhook.description = body.description.clone();
        webhook.active = body.active;
        Ok(webhook)
    })?;
    Ok(Response::ok_json(&webhook.public()))
}

/// `POST /webhooks/{id}/rotate-secret`: a new secret, shown this once.
pub fn rotate(_: &Request, params: &Params) -> Result<Response, Error> {
    let (site, _) = manager()?;
    let id = params.require("id")?;
    let secret = keys::new_secret()?;
    let webhook = storage::try_update_json(&key(&site, id), |current: Option<Webhook>| {
        let mut webhook = current
            .ok_or_else(|| Error::new(404, "unknown_webhook", format!("no webhook `{id}`")))?;
        webhook.secret = secret.clone();
        Ok(webhook)
    })?;
    let mut shown = webhook.public();
    if let Some(object) = shown.as_object_mut() {
        object.insert("secret".to_owned(), json!(secret));
    }
    Ok(Response::ok_json(&shown))
}

/// `DELETE /webhooks/{id}`: no further deliveries (pending retries stop);
/// its delivery log stays readable until deleted with it here.
pub fn delete(_: &Request, params: &Params) -> Result<Response, Error> {
    let (site, _) = manager()?;
    let id = params.require("id")?;
    load(&site, id)?;
    storage::delete(&key(&site, id))?;
    // Its finished deliveries go with it; pending ones fail at their next
    // attempt and go then.
    crate::deliveries::prune(&site, id, 0)?;
    Ok(Response::empty(204))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn webhook(topics: &[&str]) -> Webhook {
        Webhook {
            id: "wh_1".into(),
            url: "https://hooks.example.com".into(),
            topics: topics.iter().map(|topic| (*topic).to_owned()).collect(),
            description: String::new(),
            active: true,
            secret: "s".into(),
            created_at: 0,
            created_by: "admin".into(),
        }
    }

    #[test]
    fn credential_topics_need_their_exact_name() {
        let everything = webhook(&["*"]);
        assert!(everything.wants("cms.entry.published"));
        assert!(!everything.wants("identity.user.invited"));
        assert!(!webhook(&["identity.*"]).wants("identity.password.reset-requested"));
        assert!(webhook(&["identity.user.invited"]).wants("identity.user.invited"));
        let mut off = webhook(&["*"]);
        off.active = false;
        assert!(!off.wants("cms.entry.published"));
    }
}
