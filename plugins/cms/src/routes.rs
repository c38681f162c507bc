//! The editorial API under `/api/cms/`: content types and draft entries.
//! The manifest's `[[routes]]` make the kernel check permissions first;
//! every handler checks them again because calls through `invoke` bypass
//! those rules.

use serde_json::{Map, Value};
use tessera_sdk::prelude::*;

use std::collections::BTreeSet;

use crate::locales::Locales;
use crate::model::{Entry, event_payload};
use crate::schema::{Invalid, TypeDef, is_name};
use crate::store::{self, Draft};
use crate::validate::Lookup;
use crate::variants::{self, Variant};
use crate::{
    asset_delivery, asset_search, assets, delivery, diff, locale_publish, locale_settings, openapi,
    refs, release, review, schedule, search, validate,
};

const MANAGE: &str = "cms.type.manage";
/// Reading types, drafts, versions and schedules.
pub(crate) const READ: &str = "cms.entry.read";
/// Creating and saving drafts, submitting them for review.
pub(crate) const WRITE: &str = "cms.entry.write";
/// Publishing, unpublishing and scheduling both.
pub(crate) const PUBLISH: &str = "cms.entry.publish";
const DELETE: &str = "cms.entry.delete";

/// Every route.
pub fn router() -> Router {
    Router::new()
        .put("/types/:key", put_type)
        .get("/types", list_types)
        .get("/types/:key", get_type)
        .get("/types/:key/versions/:version", get_type_version)
        .post("/types/:key/entries", create_entry)
        .get("/entries/:id", get_entry)
        .put("/entries/:id", update_entry)
        .delete("/entries/:id", delete_entry)
        .get("/entries/:id/versions", list_versions)
        .get("/entries/:id/versions/:version", get_version)
        .post("/entries/:id/versions/:version/restore", restore_version)
        .get("/entries/:id/versions/:from/diff/:to", diff::handle)
        .post("/entries/:id/publish", publish)
        .post("/entries/:id/unpublish", unpublish)
        .post("/entries/:id/submit", review::submit)
        .get("/entries/:id/review", review::get)
        .put("/entries/:id/schedule", schedule::put)
        .get("/entries/:id/schedule", schedule::get)
        .delete("/entries/:id/schedule", schedule::delete)
        .get("/schedules", schedule::list)
        .get("/locales", locale_settings::get)
        .put("/locales", locale_settings::put)
        .get("/delivery/locales", locale_settings::public)
        .post("/releases", release::create)
        .get("/releases", release::list)
        .get("/releases/:id", release::show)
        .put("/releases/:id", release::update)
        .delete("/releases/:id", release::delete)
        .post("/releases/:id/publish", release::publish)
        .post("/assets", assets::upload)
        .get("/assets", assets::list)
        .get("/assets/:id", assets::show)
        .put("/assets/:id", assets::update)
        .delete("/assets/:id", assets::delete)
        .get("/assets/:id/usage", assets::usage)
        .get("/assets/search", asset_search::handle)
        .get("/blobs/:sha", assets::blob)
        .get("/delivery/:type", delivery::list)
        .get("/delivery/:type/:entry", delivery::one)
        // A literal segment beats a parameter: `/delivery/assets/{id}` is
        // never read as an entry of a type `assets` (a reserved type key).
        .get("/delivery/assets/:id", asset_delivery::serve)
        .route(Method::Head, "/delivery/assets/:id", asset_delivery::serve)
        .get("/search", search::handle)
        .get("/openapi.json", openapi::handle)
}

/// Type keys that would clash with other delivery routes.
const RESERVED_TYPES: [&str; 2] = ["assets", "locales"];

/// The caller's site and username, once `permission` is checked.
pub(crate) fn caller(permission: &str) -> Result<(String, String), Error> {
    identity::require(permission)?;
    let principal = identity::current();
    let name = principal
        .user
        .map(|user| user.username)
        .ok_or_else(|| Error::unauthenticated("sign in first"))?;
    Ok((principal.site, name))
}

fn type_key(params: &Params) -> Result<&str, Error> {
    let key = params.require("key")?;
    if !is_name(key) {
        return Err(Error::new(
            400,
            "invalid_key",
            format!(
                "`{key}` is not a type key: use 1 to 64 lower-case letters, digits, `-` or `_`, starting with a letter"
            ),
        ));
    }
    Ok(key)
}

fn invalid_entry(invalid: &Invalid) -> Error {
    Error::new(400, "invalid_entry", invalid.to_string())
}

/// Publishes `topic` about `entry`; a failure is logged, not returned (the
/// change itself is stored).
pub(crate) fn announce(topic: &str, site: &str, entry: &Entry) {
    announce_locales(topic, site, entry, None);
}

/// [`announce`], naming the `locales` concerned when only some were
/// published or withdrawn.
fn announce_locales(topic: &str, site: &str, entry: &Entry, locales: Option<&[String]>) {
    let mut payload = event_payload(site, entry);
    if let (Some(locales), Some(object)) = (locales, payload.as_object_mut()) {
        object.insert("locales".to_owned(), Value::from(locales.to_vec()));
    }
    if let Err(error) = events::publish_json(topic, &payload) {
        log::warn(&format!(
            "cannot publish {topic} for entry {}: {error}",
            entry.id
        ));
    }
}

fn put_type(request: &Request, params: &Params) -> Result<Response, Error> {
    let (site, by) = caller(MANAGE)?;
    let key = type_key(params)?;
    if RESERVED_TYPES.contains(&key) {
        return Err(Error::new(
            400,
            "invalid_key",
            format!(
                "`{key}` is reserved (the delivery API serves /delivery/assets and /delivery/locales)"
            ),
        ));
    }
    let def: TypeDef = request.json()?;
    def.validate()
        .map_err(|invalid| Error::new(400, "invalid_type", invalid.to_string()))?;
    let stored = store::put_type(&site, key, &def, &by, jobs::now_ms())?;
    let status = if stored.version == 1 { 201 } else { 200 };
    Ok(Response::json(status, &stored))
}

fn list_types(_: &Request, _: &Params) -> Result<Response, Error> {
    let (site, _) = caller(READ)?;
    Ok(Response::ok_json(
        &json!({ "types": store::list_types(&site)? }),
    ))
}

fn get_type(_: &Request, params: &Params) -> Result<Response, Error> {
    let (site, _) = caller(READ)?;
    Ok(Response::ok_json(&store::latest_type(
        &site,
        type_key(params)?,
    )?))
}

fn get_type_version(_: &Request, params: &Params) -> Result<Response, Error> {
    let (site, _) = caller(READ)?;
    let version: u32 = params.parse("version")?;
    Ok(Response::ok_json(&store::type_version(
        &site,
        type_key(params)?,
        version,
    )?))
}

/// Whether `slug` is 1 to 128 lower-case letters, digits and inner `-`.
fn check_slug(slug: &str) -> Result<(), Error> {
    let valid = !slug.is_empty()
        && slug.len() <= 128
        && !slug.starts_with('-')
        && !slug.ends_with('-')
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if valid {
        Ok(())
    } else {
        Err(invalid_entry(&Invalid::new(
            "slug",
            format!(
                "`{slug}` is not a slug: use 1 to 128 lower-case letters, digits and inner `-`"
            ),
        )))
    }
}

/// The request body of a create or update: `data`, and `slug` when present
/// (`Some(None)`: `"slug": null`, which removes it).
struct Body {
    data: Map<String, Value>,
    slug: Option<Option<String>>,
    locale: Option<String>,
    /// `None`: not sent (an update keeps the draft's variants).
    variants: Option<Vec<Variant>>,
}

fn body(request: &Request) -> Result<Body, Error> {
    let Value::Object(mut body) = request.json::<Value>()? else {
        return Err(Error::bad_request(
            "send a JSON object: {\"slug\": ..., \"data\": {...}}",
        ));
    };
    if let Some(unknown) = body
        .keys()
        .find(|key| !["data", "slug", "locale", "variants"].contains(&key.as_str()))
    {
        return Err(invalid_entry(&Invalid::new(
            unknown.as_str(),
            "is not one of data, slug, locale, variants",
        )));
    }
    let data = match body.remove("data") {
        Some(Value::Object(data)) => data,
        None => Map::new(),
        Some(_) => {
            return Err(invalid_entry(&Invalid::new(
                "data",
                "must be an object of field values",
            )));
        }
    };
    let slug = match body.remove("slug") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(slug)) => {
            check_slug(&slug)?;
            Some(Some(slug))
        }
        Some(_) => {
            return Err(invalid_entry(&Invalid::new(
                "slug",
                "must be a string or null",
            )));
        }
    };
    let locale = match body.remove("locale") {
        None | Some(Value::Null) => None,
        Some(Value::String(locale)) => Some(locale),
        Some(_) => return Err(invalid_entry(&Invalid::new("locale", "must be a string"))),
    };
    let variants = match body.remove("variants") {
        None => None,
        Some(Value::Null) => Some(Vec::new()),
        Some(value) => Some(serde_json::from_value(value).map_err(|error| {
            invalid_entry(&Invalid::new(
                "variants",
                format!("must be a list of {{\"segment\": \"...\", \"data\": {{...}}}}: {error}"),
            ))
        })?),
    };
    Ok(Body {
        data,
        slug,
        locale,
        variants,
    })
}

/// Checks `variants` and validates each one's values laid over `data` (the
/// validated draft): a variant must make a valid entry. Returns them with
/// their values as validation normalised them.
fn validated_variants(
    site: &str,
    def: &TypeDef,
    data: &Map<String, Value>,
    variants: Vec<Variant>,
) -> Result<Vec<Variant>, Error> {
    variants::check(&variants).map_err(|(field, why)| invalid_entry(&Invalid::new(field, why)))?;
    variants
        .into_iter()
        .enumerate()
        .map(|(at, variant)| {
            let merged =
                validated(site, def, &variants::merged(data, &variant)).map_err(|error| {
                    Error::new(
                        error.status,
                        error.code,
                        format!("`variants[{at}]` ({}): {}", variant.segment, error.message),
                    )
                })?;
            let data = variant
                .data
                .keys()
                .filter_map(|name| Some((name.clone(), merged.get(name)?.clone())))
                .collect();
            Ok(Variant {
                segment: variant.segment,
                data,
            })
        })
        .collect()
}

/// Validates `data` against `def` on `site`.
fn validated(
    site: &str,
    def: &TypeDef,
    data: &Map<String, Value>,
) -> Result<Map<String, Value>, Error> {
    let mut resolve = |lookup: Lookup, id: &str| {
        match lookup {
            Lookup::Entry => store::entry_type(site, id),
            Lookup::Asset => assets::media_type_of(site, id),
        }
        .map_err(|error| Invalid::new("", error.to_string()))
    };
    validate::entry(def, data, &Locales::of_site(site), &mut resolve)
        .map_err(|invalid| invalid_entry(&invalid))
}

/// The assets the stored draft and published copy of entry `id` use (none
/// once the entry is gone), by the asset fields of its type's latest
/// schema.
fn used_assets(site: &str, id: &str) -> Result<BTreeSet<String>, Error> {
    let entry = match store::entry(site, id) {
        Ok((entry, _)) => entry,
        Err(error) if error.status == 404 => return Ok(BTreeSet::new()),
        Err(error) => return Err(error),
    };
    let Ok(stored) = store::latest_type(site, &entry.kind) else {
        return Ok(BTreeSet::new());
    };
    let mut ids = validate::asset_ids(&stored.def, &entry.data);
    for variant in &entry.variants {
        ids.extend(validate::asset_ids(&stored.def, &variant.data));
    }
    if entry.published_version.is_some()
        && let Some(doc) = store::published(site, &entry.kind, id)?
    {
        ids.extend(validate::asset_ids(&stored.def, &doc.fields));
        for variant in &doc.variants {
            ids.extend(validate::asset_ids(&stored.def, &variant.data));
        }
    }
    Ok(ids)
}

/// Brings the asset references of entry `id` in line with what it stores
/// now. The change itself is stored, so a failure is logged: at worst an
/// asset stays undeletable until the entry's next change.
pub(crate) fn sync_assets(site: &str, id: &str) {
    if let Err(error) = used_assets(site, id).and_then(|ids| refs::sync(site, id, &ids)) {
        log::warn(&format!(
            "cannot update the asset references of entry {id}: {error}"
        ));
    }
}

/// [`store::save`], holding references to the assets the new draft (and
/// the published copy) use before the write, so that none of them can be
/// deleted meanwhile; see [`refs`].
fn save(
    site: &str,
    def: &TypeDef,
    previous: Option<(&Entry, &[u8])>,
    draft: Draft,
    by: &str,
) -> Result<Entry, Error> {
    let id = draft.id.clone();
    let mut wanted = validate::asset_ids(def, &draft.data);
    for variant in &draft.variants {
        wanted.extend(validate::asset_ids(def, &variant.data));
    }
    if let Some((old, _)) = previous
        && old.published_version.is_some()
        && let Some(doc) = store::published(site, &old.kind, &old.id)?
    {
        wanted.extend(validate::asset_ids(def, &doc.fields));
        for variant in &doc.variants {
            wanted.extend(validate::asset_ids(def, &variant.data));
        }
    }
    refs::hold(site, &id, &wanted, |asset| assets::exists(site, asset))?;
    let entry = store::save(site, def, previous, draft, by, jobs::now_ms())?;
    sync_assets(site, &id);
    Ok(entry)
}

fn create_entry(request: &Request, params: &Params) -> Result<Response, Error> {
    let (site, by) = caller(WRITE)?;
    let stored = store::latest_type(&site, type_key(params)?)?;
    let body = body(request)?;
    let locales = Locales::of_site(&site);
    let locale = body.locale.unwrap_or_else(|| locales.default().to_owned());
    if !locales.contains(&locale) {
        return Err(invalid_entry(&Invalid::new(
            "locale",
            format!("`{locale}` is not a configured locale"),
        )));
    }
    let data = validated(&site, &stored.def, &body.data)?;
    let variants =
        validated_variants(&site, &stored.def, &data, body.variants.unwrap_or_default())?;
    let draft = Draft {
        id: store::next_id(&site)?,
        kind: stored.key.clone(),
        locale,
        slug: body.slug.flatten(),
        data,
        schema_version: stored.version,
        restored_from: None,
        variants,
    };
    let entry = save(&site, &stored.def, None, draft, &by)?;
    announce("cms.entry.created", &site, &entry);
    Ok(Response::json(201, &entry))
}

fn get_entry(_: &Request, params: &Params) -> Result<Response, Error> {
    let (site, _) = caller(READ)?;
    let (entry, _) = store::entry(&site, params.require("id")?)?;
    Ok(Response::ok_json(&entry))
}

fn update_entry(request: &Request, params: &Params) -> Result<Response, Error> {
    let (site, by) = caller(WRITE)?;
    let (old, raw) = store::entry(&site, params.require("id")?)?;
    let body = body(request)?;
    if body
        .locale
        .as_ref()
        .is_some_and(|locale| *locale != old.locale)
    {
        return Err(invalid_entry(&Invalid::new(
            "locale",
            "cannot change: create an entry in the other locale",
        )));
    }
    let stored = store::latest_type(&site, &old.kind)?;
    let data = match request.query("locale") {
        // A per-locale save: plain values of localized fields, merged into
        // that locale of the draft (see `locale_publish`).
        Some(locale) => {
            let locales = Locales::of_site(&site);
            if !locales.contains(&locale) {
                return Err(Error::new(
                    400,
                    "invalid_locale",
                    format!(
                        "`{locale}` is not one of this site's locales ({})",
                        locales.all().join(", ")
                    ),
                ));
            }
            let merged = locale_publish::merge_draft(&stored.def, &old.data, &body.data, &locale)
                .map_err(|(field, why)| invalid_entry(&Invalid::new(field, why)))?;
            validated(&site, &stored.def, &merged)?
        }
        None => validated(&site, &stored.def, &body.data)?,
    };
    let variants = body.variants.unwrap_or_else(|| old.variants.clone());
    let variants = validated_variants(&site, &stored.def, &data, variants)?;
    let draft = Draft {
        id: old.id.clone(),
        kind: old.kind.clone(),
        locale: old.locale.clone(),
        slug: body.slug.unwrap_or_else(|| old.slug.clone()),
        data,
        schema_version: stored.version,
        restored_from: None,
        variants,
    };
    let entry = save(&site, &stored.def, Some((&old, &raw)), draft, &by)?;
    announce("cms.entry.updated", &site, &entry);
    Ok(Response::ok_json(&entry))
}

fn delete_entry(_: &Request, params: &Params) -> Result<Response, Error> {
    let (site, _) = caller(DELETE)?;
    let id = params.require("id")?;
    let (entry, _) = store::entry(&site, id)?;
    let def = store::latest_type(&site, &entry.kind)
        .ok()
        .map(|stored| stored.def);
    let entry = store::delete(&site, id, def.as_ref())?;
    schedule::cancel(&site, id)?;
    sync_assets(&site, id);
    announce("cms.entry.deleted", &site, &entry);
    Ok(Response::empty(204))
}

fn list_versions(_: &Request, params: &Params) -> Result<Response, Error> {
    let (site, _) = caller(READ)?;
    let id = params.require("id")?;
    store::entry(&site, id)?;
    let versions: Vec<Value> = store::versions(&site, id)?
        .into_iter()
        .map(|version| {
            json!({
                "version": version.version,
                "slug": version.slug,
                "schema_version": version.schema_version,
                "saved_at": version.saved_at,
                "saved_by": version.saved_by,
                "restored_from": version.restored_from,
            })
        })
        .collect();
    Ok(Response::ok_json(
        &json!({ "id": id, "versions": versions }),
    ))
}

fn get_version(_: &Request, params: &Params) -> Result<Response, Error> {
    let (site, _) = caller(READ)?;
    let version: u32 = params.parse("version")?;
    Ok(Response::ok_json(&store::version(
        &site,
        params.require("id")?,
        version,
    )?))
}

fn restore_version(_: &Request, params: &Params) -> Result<Response, Error> {
    let (site, by) = caller(WRITE)?;
    let number: u32 = params.parse("version")?;
    let (old, raw) = store::entry(&site, params.require("id")?)?;
    let version = store::version(&site, &old.id, number)?;
    let stored = store::latest_type(&site, &old.kind)?;
    let data =
        validated(&site, &stored.def, &version.data).map_err(|error| match error.status {
            400 => Error::new(
                400,
                "invalid_entry",
                format!(
                    "version {number} does not fit the current schema: {}",
                    error.message
                ),
            ),
            _ => error,
        })?;
    let variants = validated_variants(&site, &stored.def, &data, version.variants.clone())?;
    let draft = Draft {
        id: old.id.clone(),
        kind: old.kind.clone(),
        locale: old.locale.clone(),
        slug: version.slug.clone(),
        data,
        schema_version: stored.version,
        restored_from: Some(number),
        variants,
    };
    let entry = save(&site, &stored.def, Some((&old, &raw)), draft, &by)?;
    announce("cms.entry.updated", &site, &entry);
    Ok(Response::ok_json(&entry))
}

/// Publishes the draft of `id` on `site`, then updates its asset references
/// and announces it: what a request and a scheduled publish both do.
pub(crate) fn publish_entry(site: &str, id: &str) -> Result<Entry, Error> {
    publish_entry_locales(site, id, None)
}

/// [`publish_entry`], of only the locales `only` when given.
fn publish_entry_locales(site: &str, id: &str, only: Option<&[String]>) -> Result<Entry, Error> {
    let entry = store::publish(site, id, jobs::now_ms(), only)?;
    sync_assets(site, &entry.id);
    announce_locales("cms.entry.published", site, &entry, only);
    Ok(entry)
}

/// Withdraws the published copy of `id` on `site`, then updates its asset
/// references and announces it.
pub(crate) fn unpublish_entry(site: &str, id: &str) -> Result<Entry, Error> {
    let entry = store::unpublish(site, id)?;
    sync_assets(site, &entry.id);
    announce("cms.entry.unpublished", site, &entry);
    Ok(entry)
}

/// The `locales` of a publish or unpublish body: none for an empty body
/// (the whole entry); each must be one of the site's locales.
fn chosen_locales(site: &str, request: &Request) -> Result<Option<Vec<String>>, Error> {
    if request.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Chosen {
        #[serde(default)]
        locales: Option<Vec<String>>,
    }
    let chosen: Chosen = request.json().map_err(|_| {
        Error::bad_request("send no body (the whole entry) or {\"locales\": [\"fr\", ...]}")
    })?;
    let Some(chosen) = chosen.locales else {
        return Ok(None);
    };
    let locales = Locales::of_site(site);
    if chosen.is_empty() {
        return Err(Error::new(
            400,
            "invalid_locale",
            "`locales`: name at least one locale, or send no body for the whole entry",
        ));
    }
    if let Some(unknown) = chosen.iter().find(|locale| !locales.contains(locale)) {
        return Err(Error::new(
            400,
            "invalid_locale",
            format!(
                "`{unknown}` is not one of this site's locales ({})",
                locales.all().join(", ")
            ),
        ));
    }
    Ok(Some(chosen))
}

fn publish(request: &Request, params: &Params) -> Result<Response, Error> {
    let (site, _) = caller(PUBLISH)?;
    let only = chosen_locales(&site, request)?;
    Ok(Response::ok_json(&publish_entry_locales(
        &site,
        params.require("id")?,
        only.as_deref(),
    )?))
}

fn unpublish(request: &Request, params: &Params) -> Result<Response, Error> {
    let (site, _) = caller(PUBLISH)?;
    let id = params.require("id")?;
    let entry = match chosen_locales(&site, request)? {
        None => unpublish_entry(&site, id)?,
        Some(gone) => {
            let entry = store::unpublish_locales(&site, id, &gone)?;
            sync_assets(&site, &entry.id);
            // Still published: only `locales` went; else the whole entry.
            let locales = entry.published_version.is_some().then_some(gone.as_slice());
            announce_locales("cms.entry.unpublished", &site, &entry, locales);
            entry
        }
    };
    Ok(Response::ok_json(&entry))
}
