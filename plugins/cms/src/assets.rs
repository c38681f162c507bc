//! Digital assets: upload, metadata, listing and deletion under
//! `/api/cms/assets`. The bytes live in [`crate::blobs`] (deduplicated per
//! site by SHA-256); which entries use an asset in [`crate::refs`]; serving
//! them, with ranges and renditions, in [`crate::asset_delivery`].
//!
//! Keys under `site/{site}/`: `asset-seq` (the last asset number handed
//! out) and `assets/{id}` (the [`Asset`] record).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tessera_sdk::bindings::tessera::plugin::storage as raw;
use tessera_sdk::prelude::*;
use tessera_sdk::storage::CasOutcome;

use crate::routes::caller;
use crate::schema::Invalid;
use crate::{asset_search, blobs, media, refs, renditions};

/// The permission to upload, change and delete assets.
pub const WRITE: &str = "cms.asset.write";
/// The permission to read asset metadata.
pub const READ: &str = "cms.entry.read";
/// The default of the `max-asset-bytes` configuration: 8 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 8 << 20;
/// How many entries an `asset_in_use` error names at most.
const USERS_NAMED: usize = 10;

/// An asset's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Asset {
    /// `a_` and a number.
    pub id: String,
    /// The site it belongs to.
    pub site: String,
    /// The file name given at upload (the id when none was).
    pub filename: String,
    /// The media type it is served with.
    pub content_type: String,
    /// Its size in bytes.
    pub size: u64,
    /// The SHA-256 of its bytes, hex.
    pub sha256: String,
    /// Its width in pixels, for images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Its height in pixels, for images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// A title.
    pub title: String,
    /// Alternative text, for images.
    pub alt: String,
    /// Tags.
    pub tags: Vec<String>,
    /// When it was uploaded (ms since the epoch).
    pub created_at: u64,
    /// Who uploaded it.
    pub created_by: String,
    /// When its metadata last changed.
    pub updated_at: u64,
    /// Who changed it last.
    pub updated_by: String,
}

fn asset_prefix(site: &str) -> String {
    format!("site/{site}/assets/")
}

fn asset_key(site: &str, id: &str) -> String {
    format!("{}{id}", asset_prefix(site))
}

/// 404 `unknown_asset`.
pub fn unknown_asset(id: &str) -> Error {
    Error::new(
        404,
        "unknown_asset",
        format!("no asset `{id}` on this site"),
    )
}

fn invalid_asset(invalid: &Invalid) -> Error {
    Error::new(400, "invalid_asset", invalid.to_string())
}

fn unreadable(key: &str, error: &serde_json::Error) -> Error {
    Error::internal(format!("the value under `{key}` is unreadable: {error}"))
}

/// The asset `id` and its stored bytes, or 404.
pub fn get(site: &str, id: &str) -> Result<(Asset, Vec<u8>), Error> {
    let key = asset_key(site, id);
    let bytes = storage::get(&key)?.ok_or_else(|| unknown_asset(id))?;
    let asset = serde_json::from_slice(&bytes).map_err(|error| unreadable(&key, &error))?;
    Ok((asset, bytes))
}

/// The media type of the asset `id`, if it exists.
pub fn media_type_of(site: &str, id: &str) -> Result<Option<String>, Error> {
    Ok(storage::get_json::<Asset>(&asset_key(site, id))?.map(|asset| asset.content_type))
}

/// Whether the asset `id` exists.
pub fn exists(site: &str, id: &str) -> Result<bool, Error> {
    Ok(storage::get(&asset_key(site, id))?.is_some())
}

/// Reads a size such as `8MiB`, `512KiB`, `1GiB` or `1048576` (bytes).
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit())
        .map_or((text, ""), |at| text.split_at(at));
    let number: u64 = number.parse().ok()?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" | "k" => 1 << 10,
        "mib" | "m" => 1 << 20,
        "gib" | "g" => 1 << 30,
        _ => return None,
    };
    number.checked_mul(factor)
}

/// The largest upload accepted: the `max-asset-bytes` configuration, else
/// 8 MiB. An unreadable value is logged and the default applies.
pub fn max_bytes() -> u64 {
    match config::get("max-asset-bytes") {
        Some(text) => parse_size(&text).unwrap_or_else(|| {
            log::warn(&format!(
                "max-asset-bytes = {text:?} is not a size such as 8MiB; using 8MiB"
            ));
            DEFAULT_MAX_BYTES
        }),
        None => DEFAULT_MAX_BYTES,
    }
}

/// Metadata an upload or an update may set.
#[derive(Debug, Clone, Default)]
struct Meta {
    filename: Option<String>,
    title: Option<String>,
    alt: Option<String>,
    tags: Option<Vec<String>>,
}

impl Meta {
    fn check(&self) -> Result<(), Error> {
        if let Some(filename) = &self.filename {
            media::check_filename(filename).map_err(|invalid| invalid_asset(&invalid))?;
        }
        if let Some(title) = &self.title {
            media::check_text("title", title, media::MAX_TITLE)
                .map_err(|invalid| invalid_asset(&invalid))?;
        }
        if let Some(alt) = &self.alt {
            media::check_text("alt", alt, media::MAX_ALT)
                .map_err(|invalid| invalid_asset(&invalid))?;
        }
        Ok(())
    }

    fn apply(self, asset: &mut Asset) {
        if let Some(filename) = self.filename {
            asset.filename = filename;
        }
        if let Some(title) = self.title {
            asset.title = title;
        }
        if let Some(alt) = self.alt {
            asset.alt = alt;
        }
        if let Some(tags) = self.tags {
            asset.tags = tags;
        }
    }
}

/// The metadata in an upload's query string.
fn query_meta(request: &Request) -> Result<Meta, Error> {
    let mut meta = Meta::default();
    for (name, value) in request.query_pairs() {
        match name.as_str() {
            "filename" => meta.filename = Some(value),
            "title" => meta.title = Some(value),
            "alt" => meta.alt = Some(value),
            "tags" => {
                meta.tags =
                    Some(media::tags(value.split(',')).map_err(|invalid| invalid_asset(&invalid))?);
            }
            _ => {
                return Err(Error::new(
                    400,
                    "invalid_query",
                    format!("unknown parameter `{name}`: use filename, title, alt, tags"),
                ));
            }
        }
    }
    meta.check()?;
    Ok(meta)
}

/// The metadata in an update's JSON body.
fn body_meta(request: &Request) -> Result<Meta, Error> {
    let Value::Object(body) = request.json::<Value>()? else {
        return Err(Error::bad_request(
            "send a JSON object: {\"title\": ..., \"alt\": ..., \"tags\": [...], \"filename\": ...}",
        ));
    };
    let mut meta = Meta::default();
    for (name, value) in body {
        let text = |value: Value| match value {
            Value::String(text) => Ok(text),
            _ => Err(invalid_asset(&Invalid::new(
                name.as_str(),
                "must be a string",
            ))),
        };
        match name.as_str() {
            "filename" => meta.filename = Some(text(value)?),
            "title" => meta.title = Some(text(value)?),
            "alt" => meta.alt = Some(text(value)?),
            "tags" => {
                let Value::Array(items) = value else {
                    return Err(invalid_asset(&Invalid::new(
                        "tags",
                        "must be an array of strings",
                    )));
                };
                let tags: Vec<String> = items
                    .into_iter()
                    .map(|item| match item {
                        Value::String(tag) => Ok(tag),
                        _ => Err(invalid_asset(&Invalid::new(
                            "tags",
                            "must be an array of strings",
                        ))),
                    })
                    .collect::<Result<_, _>>()?;
                meta.tags = Some(
                    media::tags(tags.iter().map(String::as_str))
                        .map_err(|invalid| invalid_asset(&invalid))?,
                );
            }
            other => {
                return Err(invalid_asset(&Invalid::new(
                    other,
                    "is not one of filename, title, alt, tags",
                )));
            }
        }
    }
    meta.check()?;
    Ok(meta)
}

/// Publishes `topic` about `asset`; a failure is logged, not returned (the
/// change itself is stored).
fn announce(topic: &str, asset: &Asset) {
    let payload = json!({
        "site": asset.site,
        "id": asset.id,
        "sha256": asset.sha256,
        "content_type": asset.content_type,
        "size": asset.size,
    });
    if let Err(error) = events::publish_json(topic, &payload) {
        log::warn(&format!(
            "cannot publish {topic} for asset {}: {error}",
            asset.id
        ));
    }
}

fn next_id(site: &str) -> Result<String, Error> {
    let n: u64 = storage::update_json(&format!("site/{site}/asset-seq"), |n: Option<u64>| {
        n.unwrap_or(0).saturating_add(1)
    })?;
    Ok(format!("a_{n}"))
}

/// `POST /assets`: the body is the file, `Content-Type` its media type,
/// the query its metadata. 201 with the record.
pub fn upload(request: &Request, _: &Params) -> Result<Response, Error> {
    let (site, by) = caller(WRITE)?;
    let body = &request.body;
    let max = max_bytes();
    if body.len() as u64 > max {
        return Err(Error::new(
            413,
            "asset_too_large",
            format!(
                "the file is {} bytes; the limit is {max} bytes (configuration `max-asset-bytes`)",
                body.len()
            ),
        ));
    }
    if body.is_empty() {
        return Err(Error::new(
            400,
            "empty_body",
            "send the file as the request body",
        ));
    }
    let claimed = request.header("content-type").ok_or_else(|| {
        Error::new(
            400,
            "missing_content_type",
            "send the file's media type in the Content-Type header (application/octet-stream when unknown)",
        )
    })?;
    let claimed = media::media_type(claimed).ok_or_else(|| {
        Error::new(
            400,
            "invalid_content_type",
            format!("`{claimed}` is not a media type such as image/png"),
        )
    })?;
    let content_type = media::settle(&claimed, body)
        .map_err(|message| Error::new(400, "content_type_mismatch", message))?;
    let dimensions = match media::sniff(body) {
        Some(kind) => Some(renditions::dimensions(body, kind).ok_or_else(|| {
            Error::new(
                400,
                "invalid_image",
                format!(
                    "the body starts like a {} image but its header does not parse",
                    kind.media_type()
                ),
            )
        })?),
        None => None,
    };
    let meta = query_meta(request)?;
    let sha256 = blobs::sha256_hex(body);
    let id = next_id(&site)?;
    blobs::attach(&site, &sha256, body, &id)?;
    let now = jobs::now_ms();
    let mut asset = Asset {
        id: id.clone(),
        site: site.clone(),
        filename: id.clone(),
        content_type,
        size: body.len() as u64,
        sha256,
        width: dimensions.map(|(width, _)| width),
        height: dimensions.map(|(_, height)| height),
        title: String::new(),
        alt: String::new(),
        tags: Vec::new(),
        created_at: now,
        created_by: by.clone(),
        updated_at: now,
        updated_by: by,
    };
    meta.apply(&mut asset);
    if let Err(error) = storage::set_json(&asset_key(&site, &id), &asset) {
        let _ = blobs::detach(&site, &asset.sha256, &id);
        return Err(error);
    }
    asset_search::index(&site, &asset);
    announce("cms.asset.created", &asset);
    Ok(Response::json(201, &asset).with_header("location", format!("/api/cms/assets/{id}")))
}

/// `GET /assets/{id}`.
pub fn show(_: &Request, params: &Params) -> Result<Response, Error> {
    let (site, _) = caller(READ)?;
    let (asset, _) = get(&site, params.require("id")?)?;
    Ok(Response::ok_json(&asset))
}

/// `GET /assets?limit=&cursor=`: assets in id order (the order of their
/// keys: `a_10` comes before `a_2`), a page at a time.
pub fn list(request: &Request, _: &Params) -> Result<Response, Error> {
    let (site, _) = caller(READ)?;
    let mut limit = 20usize;
    let mut cursor = None;
    for (name, value) in request.query_pairs() {
        match name.as_str() {
            "limit" => {
                limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=100).contains(n))
                    .ok_or_else(|| {
                        Error::new(
                            400,
                            "invalid_query",
                            format!("`limit` must be 1 to 100, not `{value}`"),
                        )
                    })?;
            }
            "cursor" => cursor = Some(value),
            _ => {
                return Err(Error::new(
                    400,
                    "invalid_query",
                    format!("unknown parameter `{name}`: use limit, cursor"),
                ));
            }
        }
    }
    let prefix = asset_prefix(&site);
    let page = raw::scan(&raw::ScanRequest {
        prefix: prefix.clone(),
        start_after: cursor.map(|id| format!("{prefix}{id}")),
        limit: u32::try_from(limit.saturating_add(1)).unwrap_or(u32::MAX),
    })?;
    let more = page.entries.len() > limit;
    let items: Vec<Asset> = page
        .entries
        .iter()
        .take(limit)
        .map(|entry| {
            serde_json::from_slice(&entry.value).map_err(|error| unreadable(&entry.key, &error))
        })
        .collect::<Result<_, _>>()?;
    let next = if more {
        items.last().map(|asset| asset.id.clone())
    } else {
        None
    };
    Ok(Response::ok_json(
        &json!({ "items": items, "next_cursor": next }),
    ))
}

/// `PUT /assets/{id}`: JSON `{filename?, title?, alt?, tags?}`; absent
/// keys keep their value.
pub fn update(request: &Request, params: &Params) -> Result<Response, Error> {
    let (site, by) = caller(WRITE)?;
    let id = params.require("id")?;
    get(&site, id)?;
    let meta = body_meta(request)?;
    let now = jobs::now_ms();
    let asset = storage::try_update_json(&asset_key(&site, id), |current: Option<Asset>| {
        let mut asset = current.ok_or_else(|| unknown_asset(id))?;
        meta.clone().apply(&mut asset);
        asset.updated_at = now;
        asset.updated_by = by.clone();
        Ok(asset)
    })?;
    asset_search::index(&site, &asset);
    announce("cms.asset.updated", &asset);
    Ok(Response::ok_json(&asset))
}

fn in_use(id: &str, users: &[String]) -> Error {
    Error::new(
        409,
        "asset_in_use",
        format!(
            "asset `{id}` is used by {}: remove it from them (draft and published copy) first",
            users
                .iter()
                .map(|entry| format!("entry `{entry}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )
}

/// `DELETE /assets/{id}`: 409 `asset_in_use` naming the entries that use
/// it; otherwise the record goes, and with the last asset of its bytes the
/// bytes and their renditions. 204.
pub fn delete(_: &Request, params: &Params) -> Result<Response, Error> {
    let (site, _) = caller(WRITE)?;
    let id = params.require("id")?;
    let (asset, raw) = get(&site, id)?;
    let users = refs::users(&site, id, USERS_NAMED)?;
    if !users.is_empty() {
        return Err(in_use(id, &users));
    }
    let key = asset_key(&site, id);
    if let CasOutcome::Conflict(_) = storage::compare_and_swap(&key, Some(&raw), None)? {
        return Err(Error::new(
            409,
            "edit_conflict",
            format!("asset `{id}` changed meanwhile: try again"),
        ));
    }
    // An entry may have taken a reference between the check and the
    // removal: it checks the asset exists after taking it, so one of us
    // sees the other (see `refs`).
    let users = refs::users(&site, id, USERS_NAMED)?;
    if !users.is_empty() {
        storage::compare_and_swap(&key, None, Some(&raw))?;
        return Err(in_use(id, &users));
    }
    asset_search::unindex(&site, id);
    blobs::detach(&site, &asset.sha256, id)?;
    announce("cms.asset.deleted", &asset);
    Ok(Response::empty(204))
}

/// `GET /assets/{id}/usage`: the entries whose draft or published copy
/// uses the asset (at most 100).
pub fn usage(_: &Request, params: &Params) -> Result<Response, Error> {
    let (site, _) = caller(READ)?;
    let id = params.require("id")?;
    get(&site, id)?;
    let entries = refs::users(&site, id, 100)?;
    Ok(Response::ok_json(&json!({ "id": id, "entries": entries })))
}

/// `GET /blobs/{sha256}`: how the site stores those bytes: the assets
/// sharing them and how many storage keys their chunks and renditions
/// take. 404 `unknown_blob` when nothing is stored.
pub fn blob(_: &Request, params: &Params) -> Result<Response, Error> {
    let (site, _) = caller(WRITE)?;
    let sha = params.require("sha")?;
    if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::new(
            400,
            "invalid_param",
            format!("`{sha}` is not a SHA-256 in hex"),
        ));
    }
    let blob = blobs::get(&site, sha)?;
    let keys = blobs::key_count(&site, sha)?;
    if blob.is_none() && keys == 0 {
        return Err(Error::new(
            404,
            "unknown_blob",
            format!("no bytes with SHA-256 {sha} are stored on this site"),
        ));
    }
    Ok(Response::ok_json(&json!({
        "sha256": sha,
        "size": blob.as_ref().map(|blob| blob.size),
        "assets": blob.map(|blob| blob.assets).unwrap_or_default(),
        "keys": keys,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("8MiB"), Some(8 << 20));
        assert_eq!(parse_size("512 KiB"), Some(512 << 10));
        assert_eq!(parse_size("1048576"), Some(1 << 20));
        assert_eq!(parse_size("1GiB"), Some(1 << 30));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size("5 parsecs"), None);
    }
}
