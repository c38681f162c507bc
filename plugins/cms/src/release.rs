//! Releases: a named set of entries to publish (each at a chosen version or
//! its current draft) or unpublish together, all or none.
//!
//! Publishing a release first checks every item (the entry exists, the
//! version exists, its slug is free among published entries, its assets
//! still exist) and refuses the whole release with 409 `release_blocked`
//! naming every problem when one fails: nothing is written. Otherwise the
//! published copies of every item, and the release's own `published`
//! state, are written in **one atomic storage batch**, so the delivery API
//! serves all of the release or none of it. The derived indexes (search,
//! field indexes), the entries' `published_version` and the events follow;
//! should the plugin stop between the two, publishing the release again
//! completes it (the batch is idempotent). Keys under `site/{site}/`:
//!
//! | key | value |
//! |---|---|
//! | `releases/{id}` | the [`Release`] |
//! | `release-seq` | the last release number handed out |

use serde::{Deserialize, Serialize};
use tessera_sdk::prelude::*;
use tessera_sdk::storage::{self, CasOutcome, Operation};

use crate::model::{Entry, Published};
use crate::routes::{announce, caller, sync_assets};
use crate::{assets, store, validate};

/// The most items one release may hold (their published copies must fit
/// one atomic batch of at most 1000 operations).
pub const MAX_ITEMS: usize = 100;

/// After how long a release left `publishing` (its publish stopped
/// half-way, e.g. the kernel was killed) may be published again: longer
/// than any plugin call may run.
pub const STALE_PUBLISHING_MS: u64 = 60_000;

/// What a release does to one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Publish the entry (at `version`, else its draft at publishing time).
    #[default]
    Publish,
    /// Withdraw its published copy (nothing when it is not published).
    Unpublish,
}

/// One entry of a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// The entry id.
    pub entry: String,
    /// What to do.
    #[serde(default)]
    pub action: Action,
    /// The version to publish; none: the draft current when the release is
    /// published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
}

/// Where a release stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Being prepared; items may change.
    Open,
    /// Being published since `publishing_since`; a publish that stopped
    /// half-way may be retried after [`STALE_PUBLISHING_MS`].
    Publishing,
    /// Published; it no longer changes.
    Published,
}

/// A release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Release {
    /// Its id, `r_{n}`.
    pub id: String,
    /// What it is for.
    pub title: String,
    /// Its entries, each at most once.
    pub items: Vec<Item>,
    /// Where it stands.
    pub state: State,
    /// Creation time (ms since the epoch).
    pub created_at: u64,
    /// Who created it.
    pub created_by: String,
    /// When publishing started, while it is `publishing`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publishing_since: Option<u64>,
    /// When it was published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_at: Option<u64>,
    /// Who published it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_by: Option<String>,
    /// The version each published item was published at, in item order
    /// (none for unpublish items).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub published_versions: Vec<Option<u32>>,
}

/// The body of `POST /releases` and `PUT /releases/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    title: String,
    #[serde(default)]
    items: Vec<Item>,
}

fn key(site: &str, id: &str) -> String {
    format!("{}releases/{id}", store::root(site))
}

fn invalid(message: String) -> Error {
    Error::new(400, "invalid_release", message)
}

/// Parses and checks a release body: a title, at most [`MAX_ITEMS`]
/// items, each entry once. Pure.
fn body(bytes: &[u8]) -> Result<Body, Error> {
    let body: Body = serde_json::from_slice(bytes).map_err(|error| {
        invalid(format!(
            "the body must be {{\"title\": \"...\", \"items\": [{{\"entry\": \"e_1\", \"action\": \"publish\"|\"unpublish\", \"version\": 3}}]}}: {error}"
        ))
    })?;
    check(&body)?;
    Ok(body)
}

fn check(body: &Body) -> Result<(), Error> {
    if body.title.trim().is_empty() || body.title.len() > 200 {
        return Err(invalid("`title`: 1 to 200 characters".to_owned()));
    }
    if body.items.len() > MAX_ITEMS {
        return Err(invalid(format!(
            "`items`: at most {MAX_ITEMS} entries per release"
        )));
    }
    let mut seen = std::collections::BTreeSet::new();
    for item in &body.items {
        if !seen.insert(item.entry.as_str()) {
            return Err(invalid(format!(
                "`items`: entry `{}` is listed twice",
                item.entry
            )));
        }
        if item.action == Action::Unpublish && item.version.is_some() {
            return Err(invalid(format!(
                "`items`: entry `{}`: `version` only goes with `publish`",
                item.entry
            )));
        }
    }
    Ok(())
}

fn load(site: &str, id: &str) -> Result<(Release, Vec<u8>), Error> {
    let raw = storage::get(&key(site, id))?.ok_or_else(|| {
        Error::new(
            404,
            "unknown_release",
            format!("no release `{id}` on this site"),
        )
    })?;
    let release = serde_json::from_slice(&raw)
        .map_err(|error| Error::internal(format!("release `{id}` is unreadable: {error}")))?;
    Ok((release, raw))
}

fn still_open(release: &Release) -> Result<(), Error> {
    match release.state {
        State::Open => Ok(()),
        State::Publishing => Err(Error::new(
            409,
            "release_publishing",
            format!("release `{}` is being published", release.id),
        )),
        State::Published => Err(Error::new(
            409,
            "release_published",
            format!(
                "release `{}` is already published; create a new release",
                release.id
            ),
        )),
    }
}

fn replace(site: &str, release: &Release, raw: &[u8]) -> Result<(), Error> {
    let bytes = serde_json::to_vec(release)
        .map_err(|error| Error::internal(format!("cannot serialise the release: {error}")))?;
    match storage::compare_and_swap(&key(site, &release.id), Some(raw), Some(&bytes))? {
        CasOutcome::Swapped => Ok(()),
        CasOutcome::Conflict(_) => Err(Error::conflict(format!(
            "release `{}` changed meanwhile: read it again and retry",
            release.id
        ))),
    }
}

/// `POST /releases`.
pub fn create(request: &Request, _: &Params) -> Result<Response, Error> {
    let (site, by) = caller(crate::routes::PUBLISH)?;
    let body = body(&request.body)?;
    let number = storage::update_json(
        &format!("{}release-seq", store::root(&site)),
        |seq: Option<u64>| seq.unwrap_or(0) + 1,
    )?;
    let release = Release {
        id: format!("r_{number}"),
        title: body.title,
        items: body.items,
        state: State::Open,
        created_at: jobs::now_ms(),
        created_by: by,
        publishing_since: None,
        published_at: None,
        published_by: None,
        published_versions: Vec::new(),
    };
    storage::set_json(&key(&site, &release.id), &release)?;
    Ok(Response::json(201, &release))
}

/// `GET /releases`: every release of the site, newest first.
pub fn list(_: &Request, _: &Params) -> Result<Response, Error> {
    let (site, _) = caller(crate::routes::READ)?;
    let prefix = format!("{}releases/", store::root(&site));
    let mut releases: Vec<Release> = storage::scan(&prefix)
        .map(|item| {
            item.and_then(|(key, value)| {
                serde_json::from_slice(&value).map_err(|error| {
                    Error::internal(format!("release `{key}` is unreadable: {error}"))
                })
            })
        })
        .collect::<Result<_, _>>()?;
    releases.sort_by_key(|release: &Release| std::cmp::Reverse(release.created_at));
    Ok(Response::ok_json(&serde_json::json!({ "items": releases })))
}

/// `GET /releases/{id}`.
pub fn show(_: &Request, params: &Params) -> Result<Response, Error> {
    let (site, _) = caller(crate::routes::READ)?;
    Ok(Response::ok_json(&load(&site, params.require("id")?)?.0))
}

/// `PUT /releases/{id}`: new title and items, while it is open.
pub fn update(request: &Request, params: &Params) -> Result<Response, Error> {
    let (site, _) = caller(crate::routes::PUBLISH)?;
    let body = body(&request.body)?;
    let (mut release, raw) = load(&site, params.require("id")?)?;
    still_open(&release)?;
    release.title = body.title;
    release.items = body.items;
    replace(&site, &release, &raw)?;
    Ok(Response::ok_json(&release))
}

/// `DELETE /releases/{id}`: forgets the release (what it published stays).
pub fn delete(_: &Request, params: &Params) -> Result<Response, Error> {
    let (site, _) = caller(crate::routes::PUBLISH)?;
    let id = params.require("id")?;
    let (_, raw) = load(&site, id)?;
    if let CasOutcome::Conflict(_) = storage::compare_and_swap(&key(&site, id), Some(&raw), None)? {
        return Err(Error::conflict(format!(
            "release `{id}` changed meanwhile: try again"
        )));
    }
    Ok(Response::empty(204))
}

/// One item, checked and ready to write.
struct Prepared {
    entry: Entry,
    /// The copy to publish; none: withdraw.
    doc: Option<Published>,
}

/// Checks `item`, returning what to write or why it cannot be.
fn prepare(site: &str, item: &Item, now: u64) -> Result<Result<Prepared, String>, Error> {
    let entry = match store::entry(site, &item.entry) {
        Ok((entry, _)) => entry,
        Err(error) if error.status == 404 => {
            return Ok(Err(format!("entry `{}` does not exist", item.entry)));
        }
        Err(error) => return Err(error),
    };
    if item.action == Action::Unpublish {
        return Ok(Ok(Prepared { entry, doc: None }));
    }
    let number = item.version.unwrap_or(entry.version);
    let version = match store::version(site, &entry.id, number) {
        Ok(version) => version,
        Err(error) if error.status == 404 => {
            return Ok(Err(format!("entry `{}` has no version {number}", entry.id)));
        }
        Err(error) => return Err(error),
    };
    if let Some(slug) = &version.slug
        && let Some(owner) = store::published_slug_owner(site, &entry.kind, &entry.locale, slug)?
        && owner != entry.id
    {
        return Ok(Err(format!(
            "entry `{}`: slug `{slug}` is published by entry `{owner}`",
            entry.id
        )));
    }
    if let Ok(stored) = store::latest_type(site, &entry.kind) {
        let mut used = validate::asset_ids(&stored.def, &version.data);
        for variant in &version.variants {
            used.extend(validate::asset_ids(&stored.def, &variant.data));
        }
        for asset in used {
            if !assets::exists(site, &asset)? {
                return Ok(Err(format!(
                    "entry `{}` version {number} uses asset `{asset}`, which was deleted",
                    entry.id
                )));
            }
        }
    }
    let doc = Published {
        id: entry.id.clone(),
        kind: entry.kind.clone(),
        locale: entry.locale.clone(),
        slug: version.slug.clone(),
        version: version.version,
        schema_version: version.schema_version,
        published_at: now,
        fields: version.data,
        locales: None,
        variants: version.variants,
    };
    Ok(Ok(Prepared {
        entry,
        doc: Some(doc),
    }))
}

/// Whether `release` may be published now: open, or left publishing by a
/// publish that stopped half-way.
fn publishable(release: &Release, now: u64) -> Result<(), Error> {
    match (release.state, release.publishing_since) {
        (State::Publishing, Some(since)) if now.saturating_sub(since) > STALE_PUBLISHING_MS => {
            Ok(())
        }
        _ => still_open(release),
    }
}

/// `POST /releases/{id}/publish`: all items or none.
pub fn publish(_: &Request, params: &Params) -> Result<Response, Error> {
    let (site, by) = caller(crate::routes::PUBLISH)?;
    let (mut release, raw) = load(&site, params.require("id")?)?;
    let now = jobs::now_ms();
    publishable(&release, now)?;
    let mut prepared = Vec::new();
    let mut problems = Vec::new();
    for item in &release.items {
        match prepare(&site, item, now)? {
            Ok(ready) => prepared.push(ready),
            Err(problem) => problems.push(problem),
        }
    }
    if !problems.is_empty() {
        return Err(Error::new(
            409,
            "release_blocked",
            format!(
                "release `{}` was not published, nothing changed: {}",
                release.id,
                problems.join("; ")
            ),
        ));
    }
    // Claim it, so that a concurrent publish of the same release stops here.
    release.state = State::Publishing;
    release.publishing_since = Some(now);
    replace(&site, &release, &raw)?;
    // Hold the assets the published copies use before they are written.
    for ready in &prepared {
        if let (Some(doc), Ok(stored)) = (&ready.doc, store::latest_type(&site, &ready.entry.kind))
        {
            let mut wanted = crate::refs::held(&site, &ready.entry.id)?;
            wanted.extend(validate::asset_ids(&stored.def, &doc.fields));
            for variant in &doc.variants {
                wanted.extend(validate::asset_ids(&stored.def, &variant.data));
            }
            crate::refs::hold(&site, &ready.entry.id, &wanted, |asset| {
                assets::exists(&site, asset)
            })?;
        }
    }
    let mut publications = Vec::with_capacity(prepared.len());
    for ready in &prepared {
        publications.push(match &ready.doc {
            Some(doc) => store::publication(&site, doc)?,
            None => store::withdrawal(&site, &ready.entry.kind, &ready.entry.id)?,
        });
    }
    release.state = State::Published;
    release.publishing_since = None;
    release.published_at = Some(now);
    release.published_by = Some(by);
    release.published_versions = prepared
        .iter()
        .map(|ready| ready.doc.as_ref().map(|doc| doc.version))
        .collect();
    // The one atomic step: every published copy and the release's state.
    let mut core: Vec<Operation> = vec![Operation::set_json(key(&site, &release.id), &release)?];
    for publication in &mut publications {
        core.append(&mut publication.core);
    }
    storage::batch(&core)?;
    // What follows derives from the published copies.
    for (ready, publication) in prepared.iter().zip(publications) {
        let id = &ready.entry.id;
        for chunk in publication.derived.chunks(1000) {
            storage::batch(chunk)?;
        }
        if let Some(stale) = &publication.stale_slug {
            store::release_slug(stale, id)?;
        }
        let marked = ready.doc.as_ref().map(|doc| (doc.version, now));
        let entry = store::mark_published(&site, id, marked)?;
        sync_assets(&site, id);
        let topic = if marked.is_some() {
            "cms.entry.published"
        } else {
            "cms.entry.unpublished"
        };
        announce(topic, &site, &entry);
    }
    Ok(Response::ok_json(&release))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_checked_before_anything_is_read() {
        assert!(body(br#"{"title": "Spring", "items": [{"entry": "e_1"}, {"entry": "e_2", "action": "unpublish"}, {"entry": "e_3", "version": 2}]}"#).is_ok());
        let refused = |text: &str| body(text.as_bytes()).unwrap_err().message;
        assert!(refused(r#"{"title": ""}"#).contains("title"));
        assert!(
            refused(r#"{"title": "x", "items": [{"entry": "e_1"}, {"entry": "e_1"}]}"#)
                .contains("twice")
        );
        assert!(refused(r#"{"title": "x", "items": [{"entry": "e_1", "action": "unpublish", "version": 1}]}"#).contains("version"));
        assert!(
            refused(r#"{"title": "x", "items": [{"entry": "e_1", "action": "drop"}]}"#)
                .contains("body must be")
        );
        let many: Vec<String> = (0..=MAX_ITEMS)
            .map(|i| format!(r#"{{"entry": "e_{i}"}}"#))
            .collect();
        assert!(
            refused(&format!(
                r#"{{"title": "x", "items": [{}]}}"#,
                many.join(",")
            ))
            .contains("at most")
        );
    }
}
