//! Incoming webhooks: an administrator configures a **source** (a CRM, an
//! ERP, a payment provider) with a shared secret; the source POSTs to
//! `/api/integrations/inbound/{source}`; a call whose signature checks out
//! becomes the event `integrations.inbound.{source}` (payload: `site`,
//! `source`, `received_at` and the JSON body), and any other call is
//! refused with 401 and publishes nothing.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tessera_sdk::prelude::*;

use crate::keys::{self, manager, root};
use crate::signature::{self, Refusal};

/// The largest body an incoming webhook may carry.
pub const MAX_BODY: usize = 1 << 20;

/// How a source signs its calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Scheme {
    /// `Tessera-Signature: t=..,v1=..`, as Tessera's own webhooks sign.
    #[default]
    Tessera,
    /// `X-Hub-Signature-256: sha256=..` over the body (GitHub and others).
    Github,
}

/// A configured source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// Its key: the last segment of its URL and of its event topic.
    pub key: String,
    /// How it signs.
    pub scheme: Scheme,
    /// The shared secret; shown once, at creation.
    pub secret: String,
    /// What it is.
    #[serde(default)]
    pub description: String,
    /// Creation time (ms).
    pub created_at: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    #[serde(default)]
    scheme: Scheme,
    /// A secret the sender already has; else one is generated.
    #[serde(default)]
    secret: Option<String>,
    #[serde(default)]
    description: String,
}

fn key(site: &str, source: &str) -> String {
    format!("{}sources/{source}", root(site))
}

fn is_source_key(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 40
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn public(source: &Source) -> Value {
    json!({
        "key": source.key,
        "scheme": source.scheme,
        "description": source.description,
        "created_at": source.created_at,
        "url": format!("/api/integrations/inbound/{}", source.key),
        "topic": format!("integrations.inbound.{}", source.key),
    })
}

/// `PUT /sources/{key}`: creates or replaces a source; 200 with it and, this
/// once, its secret.
pub fn put(request: &Request, params: &Params) -> Result<Response, Error> {
    let (site, _) = manager()?;
    let source_key = params.require("key")?;
    if !is_source_key(source_key) {
        return Err(Error::new(
            400,
            "invalid_source",
            format!(
                "`{source_key}` is not a source key: 1 to 40 lower-case letters, digits and `-`"
            ),
        ));
    }
    let body: Body = request.json().map_err(|error| {
        Error::new(
            400,
            "invalid_source",
            format!(
                "send {{\"scheme\": \"tessera\"|\"github\", \"secret\"?, \"description\"?}}: {}",
                error.message
            ),
        )
    })?;
    let secret = match body.secret {
        Some(secret) if secret.len() >= 16 => secret,
        Some(_) => {
            return Err(Error::new(
                400,
                "invalid_source",
                "`secret`: at least 16 characters (or leave it out for a generated one)",
            ));
        }
        None => keys::new_secret()?,
    };
    let source = Source {
        key: source_key.to_owned(),
        scheme: body.scheme,
        secret,
        description: body.description,
        created_at: jobs::now_ms(),
    };
    storage::set_json(&key(&site, source_key), &source)?;
    let mut shown = public(&source);
    if let Some(object) = shown.as_object_mut() {
        object.insert("secret".to_owned(), json!(source.secret));
    }
    Ok(Response::ok_json(&shown))
}

/// `GET /sources`.
pub fn list(_: &Request, _: &Params) -> Result<Response, Error> {
    let (site, _) = manager()?;
    let items = storage::scan(&format!("{}sources/", root(&site)))
        .map(|item| {
            let (key, value) = item?;
            let source: Source = serde_json::from_slice(&value)
                .map_err(|error| Error::internal(format!("`{key}` is unreadable: {error}")))?;
            Ok(public(&source))
        })
        .collect::<Result<Vec<Value>, Error>>()?;
    Ok(Response::ok_json(&json!({ "items": items })))
}

/// `DELETE /sources/{key}`.
pub fn delete(_: &Request, params: &Params) -> Result<Response, Error> {
    let (site, _) = manager()?;
    if !storage::delete(&key(&site, params.require("key")?))? {
        return Err(Error::new(404, "unknown_source", "no such source"));
    }
    Ok(Response::empty(204))
}

fn refused(refusal: &Refusal) -> Error {
    Error::new(401, "bad_signature", refusal.to_string())
}

/// `POST /inbound/{source}`: checks the signature, publishes the event;
/// 202 `{"event": id}`.
pub fn receive(request: &Request, params: &Params) -> Result<Response, Error> {
    let site = identity::current().site;
    let source_key = params.require("source")?;
    let Some(source) = storage::get_json::<Source>(&key(&site, source_key))? else {
        return Err(Error::new(
            404,
            "unknown_source",
            format!("no inbound source `{source_key}` is configured"),
        ));
    };
    if request.body.len() > MAX_BODY {
        return Err(Error::new(
            413,
            "too_large",
            format!("at most {MAX_BODY} bytes"),
        ));
    }
    let checked = match source.scheme {
        Scheme::Tessera => {
            let header = request.header(signature::HEADER).ok_or_else(|| {
                refused(&Refusal::Malformed(format!(
                    "`{}` is missing",
                    signature::HEADER
                )))
            })?;
            let tolerance = config::get("inbound-tolerance-seconds")
                .and_then(|text| text.trim().parse().ok())
                .unwrap_or(300);
            signature::verify(
                &source.secret,
                header,
                &request.body,
                jobs::now_ms() / 1000,
                tolerance,
            )
        }
        Scheme::Github => {
            let header = request.header(signature::GITHUB_HEADER).ok_or_else(|| {
                refused(&Refusal::Malformed(format!(
                    "`{}` is missing",
                    signature::GITHUB_HEADER
                )))
            })?;
            signature::verify_github(&source.secret, header, &request.body)
        }
    };
    if let Err(refusal) = checked {
        log::warn(&format!(
            "inbound webhook from `{source_key}` refused: {refusal}"
        ));
        return Err(refused(&refusal));
    }
    let body: Value = serde_json::from_slice(&request.body).map_err(|error| {
        Error::new(
            400,
            "invalid_json",
            format!("the body must be JSON: {error}"),
        )
    })?;
    let id = events::publish_json(
        &format!("integrations.inbound.{source_key}"),
        &json!({
            "site": site,
            "source": source_key,
            "received_at": jobs::now_ms(),
            "body": body,
        }),
    )?;
    Ok(Response::json(202, &json!({ "event": id })))
}
