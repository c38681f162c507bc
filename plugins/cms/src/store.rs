//! Where types, entries, versions and published copies live in the plugin's
//! storage, scoped by site. Every key starts with `site/{site}/`:
//!
//! | key | value |
//! |---|---|
//! | `types/{type}` | the latest [`StoredType`] |
//! | `type-versions/{type}/{version:010}` | every [`StoredType`] version |
//! | `seq` | the last entry number handed out |
//! | `entries/{id}` | an [`Entry`] (its draft and state) |
//! | `versions/{id}/{version:010}` | every [`Version`] of an entry |
//! | `slugs/{type}/{locale}/{slug}` | the id of the entry whose draft holds the slug |
//! | `unique/{type}/{field}/{hex of the JSON value}` | the id of the entry holding the value |
//! | `published/{type}/{id}` | the [`Published`] copy (the delivery index, in id order) |
//! | `published-slugs/{type}/{locale}/{slug}` | the id of the published entry with that slug |
//! | `recent/{type}/{u64::MAX - published_at:020}/{id}` | empty: the published entries, newest first |
//! | `search/...` | the full-text index (see [`crate::search`]) |
//! | `fidx/...`, `fidx-keys/{id}` | the per-field indexes of published entries and each entry's keys in them (see [`crate::field_index`]) |
//! | `changed/{type}` | when the type's published set last changed (ms, decimal): its lists' `Last-Modified` |
//! | `schedules/{id}` | the entry's scheduled publish and unpublish (see [`crate::schedule`]) |
//!
//! Slug and unique claims are taken with compare-and-swap before the entry
//! is written and released after, so two concurrent saves never both hold
//! one value; entries themselves are written with compare-and-swap on their
//! previous bytes, so a save that raced another one fails with a 409.

use std::collections::BTreeSet;

use serde_json::{Map, Value};
use tessera_sdk::Error;
use tessera_sdk::bindings::tessera::plugin::storage as raw;
use tessera_sdk::storage::{self, CasOutcome, Operation};

use crate::locales::Locales;
use crate::model::{Entry, Published, StoredType, Version};
use crate::schema::TypeDef;
use crate::search::{self, Change, Indexed};
use crate::{field_index, locale_publish};

/// How often publish and unpublish retry after losing a race.
const ATTEMPTS: usize = 8;

/// The prefix of every key of `site`.
pub(crate) fn root(site: &str) -> String {
    format!("site/{site}/")
}

fn type_key(site: &str, key: &str) -> String {
    format!("{}types/{key}", root(site))
}

fn type_version_key(site: &str, key: &str, version: u32) -> String {
    format!("{}type-versions/{key}/{version:010}", root(site))
}

fn entry_key(site: &str, id: &str) -> String {
    format!("{}entries/{id}", root(site))
}

fn versions_prefix(site: &str, id: &str) -> String {
    format!("{}versions/{id}/", root(site))
}

fn version_key(site: &str, id: &str, version: u32) -> String {
    format!("{}{version:010}", versions_prefix(site, id))
}

fn slug_key(site: &str, kind: &str, locale: &str, slug: &str) -> String {
    format!("{}slugs/{kind}/{locale}/{slug}", root(site))
}

fn unique_key(site: &str, kind: &str, field: &str, value: &Value) -> String {
    let hex: String = value
        .to_string()
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{}unique/{kind}/{field}/{hex}", root(site))
}

fn published_prefix(site: &str, kind: &str) -> String {
    format!("{}published/{kind}/", root(site))
}

fn published_key(site: &str, kind: &str, id: &str) -> String {
    format!("{}{id}", published_prefix(site, kind))
}

fn recent_prefix(site: &str, kind: &str) -> String {
    format!("{}recent/{kind}/", root(site))
}

fn recent_key(site: &str, kind: &str, published_at: u64, id: &str) -> String {
    let inverted = u64::MAX - published_at;
    format!("{}{inverted:020}/{id}", recent_prefix(site, kind))
}

fn changed_key(site: &str, kind: &str) -> String {
    format!("{}changed/{kind}", root(site))
}

/// The operation that stamps `kind`'s published set as changed at `now`.
fn stamp(site: &str, kind: &str, now: u64) -> Operation {
    Operation::set(changed_key(site, kind), now.to_string())
}

/// When the published entries of `kind` last changed (a publish, an
/// unpublish, a deletion), if ever.
pub fn last_change(site: &str, kind: &str) -> Result<Option<u64>, Error> {
    Ok(storage::get(&changed_key(site, kind))?
        .and_then(|bytes| String::from_utf8_lossy(&bytes).parse().ok()))
}

fn published_slug_key(site: &str, kind: &str, locale: &str, slug: &str) -> String {
    format!("{}published-slugs/{kind}/{locale}/{slug}", root(site))
}

fn unreadable(key: &str, error: &serde_json::Error) -> Error {
    Error::internal(format!("the value under `{key}` is unreadable: {error}"))
}

/// 404 `unknown_type`.
pub fn unknown_type(key: &str) -> Error {
    Error::new(
        404,
        "unknown_type",
        format!("no content type `{key}` on this site"),
    )
}

/// 404 `unknown_entry`.
pub fn unknown_entry(id: &str) -> Error {
    Error::new(
        404,
        "unknown_entry",
        format!("no entry `{id}` on this site"),
    )
}

/// Stores `def` as the next version of the type `key`.
pub fn put_type(
    site: &str,
    key: &str,
    def: &TypeDef,
    by: &str,
    now: u64,
) -> Result<StoredType, Error> {
    let stored = storage::update_json(&type_key(site, key), |latest: Option<StoredType>| {
        StoredType {
            key: key.to_owned(),
            version: latest.map_or(1, |latest| latest.version.saturating_add(1)),
            created_at: now,
            created_by: by.to_owned(),
            def: def.clone(),
        }
    })?;
    storage::set_json(&type_version_key(site, key, stored.version), &stored)?;
    Ok(stored)
}

/// The latest version of the type `key`, or 404.
pub fn latest_type(site: &str, key: &str) -> Result<StoredType, Error> {
    storage::get_json(&type_key(site, key))?.ok_or_else(|| unknown_type(key))
}

/// Version `version` of the type `key`, or 404.
pub fn type_version(site: &str, key: &str, version: u32) -> Result<StoredType, Error> {
    if let Some(stored) = storage::get_json(&type_version_key(site, key, version))? {
        return Ok(stored);
    }
    match latest_type(site, key)? {
        latest if latest.version == version => Ok(latest),
        _ => Err(Error::new(
            404,
            "unknown_version",
            format!("the content type `{key}` has no version {version}"),
        )),
    }
}

/// The latest version of every type of `site`, by key.
pub fn list_types(site: &str) -> Result<Vec<StoredType>, Error> {
    storage::scan(&format!("{}types/", root(site)))
        .map(|item| {
            let (key, value) = item?;
            serde_json::from_slice(&value).map_err(|error| unreadable(&key, &error))
        })
        .collect()
}

/// A fresh entry id: `e_` and the site's next number.
pub fn next_id(site: &str) -> Result<String, Error> {
    let n: u64 = storage::update_json(&format!("{}seq", root(site)), |n: Option<u64>| {
        n.unwrap_or(0).saturating_add(1)
    })?;
    Ok(format!("e_{n}"))
}

/// An entry and its stored bytes (for a compare-and-swap), or 404.
pub fn entry(site: &str, id: &str) -> Result<(Entry, Vec<u8>), Error> {
    let key = entry_key(site, id);
    let bytes = storage::get(&key)?.ok_or_else(|| unknown_entry(id))?;
    let entry = serde_json::from_slice(&bytes).map_err(|error| unreadable(&key, &error))?;
    Ok((entry, bytes))
}

/// The type key of the entry `id`, if it exists.
pub fn entry_type(site: &str, id: &str) -> Result<Option<String>, Error> {
    Ok(storage::get_json::<Entry>(&entry_key(site, id))?.map(|entry| entry.kind))
}

/// A draft to save.
#[derive(Debug, Clone)]
pub struct Draft {
    /// The entry id.
    pub id: String,
    /// The type key.
    pub kind: String,
    /// The entry's locale.
    pub locale: String,
    /// The slug.
    pub slug: Option<String>,
    /// Validated field values.
    pub data: Map<String, Value>,
    /// The schema version they were validated against.
    pub schema_version: u32,
    /// The version this save restores, if it is a restore.
    pub restored_from: Option<u32>,
    /// Validated personalised variants.
    pub variants: Vec<crate::variants::Variant>,
}

/// Claim keys this save took and must give back should it fail.
struct Claims<'a> {
    id: &'a str,
    taken: Vec<String>,
}

impl Claims<'_> {
    /// Claims `key` for the entry; `Err(owner)` when another entry has it.
    fn claim(&mut self, key: String) -> Result<Result<(), String>, Error> {
        match storage::compare_and_swap(&key, None, Some(self.id.as_bytes()))? {
            CasOutcome::Swapped => {
                self.taken.push(key);
                Ok(Ok(()))
            }
            CasOutcome::Conflict(Some(owner)) if owner == self.id.as_bytes() => Ok(Ok(())),
            CasOutcome::Conflict(owner) => Ok(Err(String::from_utf8_lossy(
                owner.as_deref().unwrap_or_default(),
            )
            .into_owned())),
        }
    }

    fn release(self) {
        for key in &self.taken {
            let _ = release(key, self.id);
        }
    }
}

/// Deletes the claim `key` if the entry `id` holds it.
fn release(key: &str, id: &str) -> Result<(), Error> {
    storage::compare_and_swap(key, Some(id.as_bytes()), None)?;
    Ok(())
}

fn unique_keys(
    site: &str,
    kind: &str,
    def: &TypeDef,
    data: &Map<String, Value>,
) -> Vec<(String, String)> {
    def.fields
        .iter()
        .filter(|field| field.unique)
        .filter_map(|field| {
            let value = data.get(&field.name)?;
            Some((
                field.name.clone(),
                unique_key(site, kind, &field.name, value),
            ))
        })
        .collect()
}

/// Saves `draft` as the next version of `previous` (`None`: a new entry),
/// claiming its slug and unique values first. 409 `slug_taken`,
/// `not_unique` (naming the field) or `edit_conflict` (someone saved the
/// entry meanwhile).
pub fn save(
    site: &str,
    def: &TypeDef,
    previous: Option<(&Entry, &[u8])>,
    draft: Draft,
    by: &str,
    now: u64,
) -> Result<Entry, Error> {
    let mut claims = Claims {
        id: &draft.id,
        taken: Vec::new(),
    };
    if let Some(slug) = &draft.slug {
        let key = slug_key(site, &draft.kind, &draft.locale, slug);
        match claims.claim(key) {
            Ok(Ok(())) => {}
            Ok(Err(owner)) => {
                claims.release();
                return Err(Error::new(
                    409,
                    "slug_taken",
                    format!(
                        "`slug`: `{slug}` is already used by entry `{owner}` in locale `{}`",
                        draft.locale
                    ),
                ));
            }
            Err(error) => {
                claims.release();
                return Err(error);
            }
        }
    }
    let new_unique = unique_keys(site, &draft.kind, def, &draft.data);
    for (field, key) in &new_unique {
        match claims.claim(key.clone()) {
            Ok(Ok(())) => {}
            Ok(Err(owner)) => {
                claims.release();
                return Err(Error::new(
                    409,
                    "not_unique",
                    format!("`{field}`: the value is already used by entry `{owner}`"),
                ));
            }
            Err(error) => {
                claims.release();
                return Err(error);
            }
        }
    }
    let entry = Entry {
        id: draft.id.clone(),
        kind: draft.kind.clone(),
        locale: draft.locale.clone(),
        slug: draft.slug.clone(),
        version: previous.map_or(1, |(old, _)| old.version.saturating_add(1)),
        schema_version: draft.schema_version,
        data: draft.data,
        created_at: previous.map_or(now, |(old, _)| old.created_at),
        created_by: previous.map_or_else(|| by.to_owned(), |(old, _)| old.created_by.clone()),
        updated_at: now,
        updated_by: by.to_owned(),
        published_version: previous.and_then(|(old, _)| old.published_version),
        published_at: previous.and_then(|(old, _)| old.published_at),
        published_locales: previous.and_then(|(old, _)| old.published_locales.clone()),
        variants: draft.variants,
    };
    let written = serde_json::to_vec(&entry)
        .map_err(|error| Error::internal(format!("cannot serialise the entry: {error}")));
    let outcome = written.and_then(|bytes| {
        storage::compare_and_swap(
            &entry_key(site, &entry.id),
            previous.map(|(_, raw)| raw),
            Some(&bytes),
        )
    });
    match outcome {
        Ok(CasOutcome::Swapped) => {}
        Ok(CasOutcome::Conflict(_)) => {
            claims.release();
            return Err(Error::new(
                409,
                "edit_conflict",
                format!(
                    "entry `{}` was saved by someone else meanwhile: reload it and try again",
                    entry.id
                ),
            ));
        }
        Err(error) => {
            claims.release();
            return Err(error);
        }
    }
    storage::set_json(
        &version_key(site, &entry.id, entry.version),
        &Version::of(&entry, draft.restored_from),
    )?;
    if let Some((old, _)) = previous {
        if let Some(slug) = &old.slug
            && entry.slug.as_ref() != Some(slug)
        {
            release(&slug_key(site, &old.kind, &old.locale, slug), &entry.id)?;
        }
        for (_, key) in unique_keys(site, &old.kind, def, &old.data) {
            if !new_unique.iter().any(|(_, new)| *new == key) {
                release(&key, &entry.id)?;
            }
        }
    }
    Ok(entry)
}

/// Every version of the entry `id`, oldest first.
pub fn versions(site: &str, id: &str) -> Result<Vec<Version>, Error> {
    storage::scan(&versions_prefix(site, id))
        .map(|item| {
            let (key, value) = item?;
            serde_json::from_slice(&value).map_err(|error| unreadable(&key, &error))
        })
        .collect()
}

/// Version `version` of the entry `id`, or 404 `unknown_version`.
pub fn version(site: &str, id: &str, version: u32) -> Result<Version, Error> {
    storage::get_json(&version_key(site, id, version))?.ok_or_else(|| {
        Error::new(
            404,
            "unknown_version",
            format!("entry `{id}` has no version {version}"),
        )
    })
}

/// Replaces the entry `id` by `change(entry)` with a compare-and-swap,
/// retrying when it raced another write. Returns the old and new entry.
fn change_entry(
    site: &str,
    id: &str,
    change: impl Fn(&Entry) -> Result<Entry, Error>,
) -> Result<(Entry, Entry), Error> {
    for _ in 0..ATTEMPTS {
        let (old, raw) = entry(site, id)?;
        let new = change(&old)?;
        let bytes = serde_json::to_vec(&new)
            .map_err(|error| Error::internal(format!("cannot serialise the entry: {error}")))?;
        if let CasOutcome::Swapped =
            storage::compare_and_swap(&entry_key(site, id), Some(&raw), Some(&bytes))?
        {
            return Ok((old, new));
        }
    }
    Err(Error::conflict(format!(
        "entry `{id}` kept changing: try again"
    )))
}

/// What publishing or withdrawing one entry writes: the operations that
/// change what delivery serves (`core`: the published copy, its slug and
/// recency keys, the type's change stamp), those of the derived indexes
/// (`derived`: search and field indexes), and the published-slug claim
/// that goes stale afterwards, if any.
pub struct Publication {
    /// The published copy, its slug and recency keys, the change stamp.
    pub core: Vec<Operation>,
    /// The search and field index changes.
    pub derived: Vec<Operation>,
    /// A published-slug key to release after the write.
    pub stale_slug: Option<String>,
}

/// The operations that make `doc` the published copy of its entry.
pub fn publication(site: &str, doc: &Published) -> Result<Publication, Error> {
    let (kind, id, now) = (&doc.kind, &doc.id, doc.published_at);
    let previous: Option<Published> = storage::get_json(&published_key(site, kind, id))?;
    let mut core = vec![
        Operation::set_json(published_key(site, kind, id), doc)?,
        Operation::set(recent_key(site, kind, now, id), Vec::new()),
        stamp(site, kind, now),
    ];
    if let Some(old) = &previous
        && old.published_at != now
    {
        core.push(Operation::delete(recent_key(
            site,
            kind,
            old.published_at,
            id,
        )));
    }
    if let Some(slug) = &doc.slug {
        core.push(Operation::set(
            published_slug_key(site, kind, &doc.locale, slug),
            id.as_str(),
        ));
    }
    let def = latest_type(site, kind).ok().map(|stored| stored.def);
    let locales = Locales::of_site(site);
    let indexed = def.as_ref().map(|def| search::indexed(doc, def, &locales));
    let mut derived = index_changes(site, id, indexed.as_ref())?;
    let field_keys = def
        .as_ref()
        .map(|def| field_index::keys(site, doc, def, &locales))
        .unwrap_or_default();
    derived.extend(field_index_changes(site, id, field_keys)?);
    let stale_slug = match previous {
        Some(Published {
            slug: Some(old),
            locale,
            ..
        }) if doc.slug.as_ref() != Some(&old) => {
            Some(published_slug_key(site, kind, &locale, &old))
        }
        _ => None,
    };
    Ok(Publication {
        core,
        derived,
        stale_slug,
    })
}

/// The operations that withdraw the published copy of `id` (of type
/// `kind`); `core` is empty when there is none.
pub fn withdrawal(site: &str, kind: &str, id: &str) -> Result<Publication, Error> {
    let key = published_key(site, kind, id);
    let mut core = Vec::new();
    let mut stale_slug = None;
    if let Some(Published {
        slug,
        locale,
        published_at,
        ..
    }) = storage::get_json(&key)?
    {
        core.push(Operation::delete(key));
        core.push(Operation::delete(recent_key(site, kind, published_at, id)));
        core.push(stamp(site, kind, tessera_sdk::jobs::now_ms()));
        stale_slug = slug.map(|slug| published_slug_key(site, kind, &locale, &slug));
    }
    let mut derived = index_changes(site, id, None)?;
    derived.extend(field_index_changes(site, id, BTreeSet::new())?);
    Ok(Publication {
        core,
        derived,
        stale_slug,
    })
}

/// Writes `publication`'s core then derived operations, then releases the
/// stale slug claim for `id`.
fn apply(publication: Publication, id: &str) -> Result<(), Error> {
    let mut operations = publication.core;
    operations.extend(publication.derived);
    write(&operations)?;
    if let Some(key) = publication.stale_slug {
        release(&key, id)?;
    }
    Ok(())
}

/// Recomputes the search and field index entries of the published `doc`
/// (after the site's locales changed).
pub fn reindex(site: &str, doc: &Published) -> Result<(), Error> {
    write(&publication(site, doc)?.derived)
}

/// Releases the published-slug claim `key` if entry `id` holds it.
pub fn release_slug(key: &str, id: &str) -> Result<(), Error> {
    release(key, id)
}

/// The id of the published entry holding `slug` of type `kind` in
/// `locale`, if any.
pub fn published_slug_owner(
    site: &str,
    kind: &str,
    locale: &str,
    slug: &str,
) -> Result<Option<String>, Error> {
    Ok(storage::get(&published_slug_key(site, kind, locale, slug))?
        .map(|id| String::from_utf8_lossy(&id).into_owned()))
}

/// Records on entry `id` that `version` is published at `at` (`None`:
/// unpublished), with a compare-and-swap retried on races.
pub fn mark_published(site: &str, id: &str, published: Option<(u32, u64)>) -> Result<Entry, Error> {
    let (_, entry) = change_entry(site, id, |old| {
        let mut new = old.clone();
        new.published_version = published.map(|(version, _)| version);
        new.published_at = published.map(|(_, at)| at);
        new.published_locales = None;
        Ok(new)
    })?;
    Ok(entry)
}

/// Publishes the current draft of `id`: copies it to the published state
/// and the delivery index; with `only`, just those locales' values (see
/// [`locale_publish`]).
pub fn publish(site: &str, id: &str, now: u64, only: Option<&[String]>) -> Result<Entry, Error> {
    let (_, entry) = change_entry(site, id, |old| {
        let mut new = old.clone();
        new.published_version = Some(old.version);
        new.published_at = Some(now);
        new.published_locales = None;
        Ok(new)
    })?;
    let doc = match only {
        None => Published::of(&entry, now),
        Some(only) => {
            let previous = published(site, &entry.kind, id)?;
            let def = latest_type(site, &entry.kind)?.def;
            locale_publish::publish_locales(
                &entry,
                previous.as_ref(),
                &def,
                only,
                &Locales::of_site(site),
                now,
            )
        }
    };
    let entry = if doc.locales.is_some() {
        let served = doc.locales.clone();
        change_entry(site, id, |old| {
            let mut new = old.clone();
            new.published_locales = served.clone();
            Ok(new)
        })?
        .1
    } else {
        entry
    };
    apply(publication(site, &doc)?, id)?;
    Ok(entry)
}

/// Withdraws the locales `gone` from the published copy of `id`; the whole
/// entry when nothing would stay live (see [`locale_publish`]).
pub fn unpublish_locales(site: &str, id: &str, gone: &[String]) -> Result<Entry, Error> {
    let (entry, _) = entry(site, id)?;
    let previous = published(site, &entry.kind, id)?.ok_or_else(|| {
        Error::new(
            409,
            "not_published",
            format!("entry `{id}` is not published"),
        )
    })?;
    let def = latest_type(site, &entry.kind)?.def;
    let now = tessera_sdk::jobs::now_ms();
    let Some(doc) =
        locale_publish::withdraw_locales(&previous, &def, gone, &Locales::of_site(site), now)
    else {
        return unpublish(site, id);
    };
    let served = doc.locales.clone();
    let (_, entry) = change_entry(site, id, |old| {
        let mut new = old.clone();
        new.published_locales = served.clone();
        Ok(new)
    })?;
    apply(publication(site, &doc)?, id)?;
    Ok(entry)
}

/// Withdraws the published copy of `id`; 409 `not_published` when there is
/// none.
pub fn unpublish(site: &str, id: &str) -> Result<Entry, Error> {
    let (_, entry) = change_entry(site, id, |old| {
        if old.published_version.is_none() {
            return Err(Error::new(
                409,
                "not_published",
                format!("entry `{id}` is not published"),
            ));
        }
        let mut new = old.clone();
        new.published_version = None;
        new.published_at = None;
        new.published_locales = None;
        Ok(new)
    })?;
    withdraw(site, &entry.kind, id)?;
    Ok(entry)
}

fn withdraw(site: &str, kind: &str, id: &str) -> Result<(), Error> {
    apply(withdrawal(site, kind, id)?, id)
}

/// The operations that move the search index of `id` from its stored
/// record to `new`.
fn index_changes(site: &str, id: &str, new: Option<&Indexed>) -> Result<Vec<Operation>, Error> {
    let old: Option<Indexed> = storage::get_json(&search::record_key(site, id))?;
    Ok(search::changes(site, id, old.as_ref(), new)
        .into_iter()
        .map(|change| match change {
            Change::Set(key, value) => Operation::set(key, value),
            Change::Delete(key) => Operation::delete(key),
        })
        .collect())
}

/// The operations that move the field indexes of `id` from its stored
/// record of keys to `new` (empty: the entry is withdrawn).
fn field_index_changes(
    site: &str,
    id: &str,
    new: BTreeSet<String>,
) -> Result<Vec<Operation>, Error> {
    let record = field_index::record_key(site, id);
    let old: BTreeSet<String> = storage::get_json(&record)?.unwrap_or_default();
    let mut operations: Vec<Operation> = old
        .difference(&new)
        .cloned()
        .map(Operation::delete)
        .collect();
    operations.extend(
        new.difference(&old)
            .cloned()
            .map(|key| Operation::set(key, Vec::new())),
    );
    operations.push(if new.is_empty() {
        Operation::delete(record)
    } else {
        Operation::set_json(record, &new)?
    });
    Ok(operations)
}

/// Writes `operations` in one batch, or in batches of 1000 in order when
/// there are more (then a crash between two leaves the rest unwritten).
fn write(operations: &[Operation]) -> Result<(), Error> {
    for chunk in operations.chunks(1000) {
        storage::batch(chunk)?;
    }
    Ok(())
}

/// Deletes the entry `id` with its versions, published copy and claims.
pub fn delete(site: &str, id: &str, def: Option<&TypeDef>) -> Result<Entry, Error> {
    let (entry, raw) = entry(site, id)?;
    if let CasOutcome::Conflict(_) =
        storage::compare_and_swap(&entry_key(site, id), Some(&raw), None)?
    {
        return Err(Error::new(
            409,
            "edit_conflict",
            format!("entry `{id}` changed meanwhile: try again"),
        ));
    }
    withdraw(site, &entry.kind, id)?;
    let versions: Vec<String> = storage::scan(&versions_prefix(site, id))
        .map(|item| item.map(|(key, _)| key))
        .collect::<Result<_, _>>()?;
    for chunk in versions.chunks(1000) {
        let operations: Vec<Operation> = chunk.iter().cloned().map(Operation::delete).collect();
        storage::batch(&operations)?;
    }
    if let Some(slug) = &entry.slug {
        release(&slug_key(site, &entry.kind, &entry.locale, slug), id)?;
    }
    if let Some(def) = def {
        for (_, key) in unique_keys(site, &entry.kind, def, &entry.data) {
            release(&key, id)?;
        }
    }
    Ok(entry)
}

/// The published copy of `id` if it is of type `kind`.
pub fn published(site: &str, kind: &str, id: &str) -> Result<Option<Published>, Error> {
    storage::get_json(&published_key(site, kind, id))
}

/// The published entry of type `kind` with `slug` in `locale`.
pub fn published_by_slug(
    site: &str,
    kind: &str,
    locale: &str,
    slug: &str,
) -> Result<Option<Published>, Error> {
    match storage::get(&published_slug_key(site, kind, locale, slug))? {
        Some(id) => published(site, kind, &String::from_utf8_lossy(&id)),
        None => Ok(None),
    }
}

fn decode(key: &str, value: &[u8]) -> Result<Published, Error> {
    serde_json::from_slice(value).map_err(|error| unreadable(key, &error))
}

/// Up to `limit` published entries of type `kind` after the id `after`,
/// in id order, read straight from the index (in storage pages of at most
/// 500); and whether more follow.
pub fn published_page(
    site: &str,
    kind: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<(Vec<Published>, bool), Error> {
    let prefix = published_prefix(site, kind);
    let mut start_after = after.map(|id| format!("{prefix}{id}"));
    let mut docs = Vec::new();
    loop {
        let wanted = limit.saturating_add(1).saturating_sub(docs.len()).min(500);
        let request = raw::ScanRequest {
            prefix: prefix.clone(),
            start_after: start_after.take(),
            limit: u32::try_from(wanted).unwrap_or(500),
        };
        let page = raw::scan(&request)?;
        for entry in &page.entries {
            docs.push(decode(&entry.key, &entry.value)?);
        }
        if docs.len() > limit {
            docs.truncate(limit);
            return Ok((docs, true));
        }
        match page.next {
            Some(next) => start_after = Some(next),
            None => return Ok((docs, false)),
        }
    }
}

/// Up to `limit` published entries of type `kind`, newest first, after the
/// entry published at `after` (its `published_at` and id), read from the
/// `recent/` index; and whether more follow. Index keys left behind by a
/// publish that raced another one are skipped, so a page may be short.
pub fn recent_page(
    site: &str,
    kind: &str,
    after: Option<(u64, &str)>,
    limit: usize,
) -> Result<(Vec<Published>, bool), Error> {
    let prefix = recent_prefix(site, kind);
    let request = raw::ScanRequest {
        prefix: prefix.clone(),
        start_after: after.map(|(at, id)| recent_key(site, kind, at, id)),
        limit: u32::try_from(limit.saturating_add(1)).unwrap_or(u32::MAX),
    };
    let page = raw::scan(&request)?;
    let more = page.entries.len() > limit;
    let mut docs = Vec::new();
    for entry in page.entries.iter().take(limit) {
        let Some((inverted, id)) = entry
            .key
            .strip_prefix(&prefix)
            .and_then(|rest| rest.split_once('/'))
        else {
            continue;
        };
        let at = inverted.parse::<u64>().map(|inverted| u64::MAX - inverted);
        if let Some(doc) = published(site, kind, id)?
            && Ok(doc.published_at) == at
        {
            docs.push(doc);
        }
    }
    Ok((docs, more))
}

/// The weighted lengths of the documents indexed in `locale` (of type
/// `kind` if given), by `{type}/{id}`.
pub fn search_lengths(
    site: &str,
    locale: &str,
    kind: Option<&str>,
) -> Result<std::collections::BTreeMap<String, u32>, Error> {
    let prefix = search::docs_prefix(site, locale, None);
    numbers(&prefix, &search::docs_prefix(site, locale, kind))
}

/// The postings of `term` in `locale` (of type `kind` if given): its
/// weighted frequency by `{type}/{id}`.
pub fn search_postings(
    site: &str,
    locale: &str,
    term: &str,
    kind: Option<&str>,
) -> Result<std::collections::BTreeMap<String, u32>, Error> {
    let prefix = search::postings_prefix(site, locale, term, None);
    numbers(&prefix, &search::postings_prefix(site, locale, term, kind))
}

/// The numbers under `scan`, keyed by what follows `prefix`.
fn numbers(prefix: &str, scan: &str) -> Result<std::collections::BTreeMap<String, u32>, Error> {
    let mut out = std::collections::BTreeMap::new();
    for item in storage::scan(scan) {
        let (key, value) = item?;
        if let (Some(doc), Ok(n)) = (
            key.strip_prefix(prefix),
            String::from_utf8_lossy(&value).parse::<u32>(),
        ) {
            out.insert(doc.to_owned(), n);
        }
    }
    Ok(out)
}
