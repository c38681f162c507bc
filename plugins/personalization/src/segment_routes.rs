//! Segment administration (`cdp.segment.manage`): define, list with
//! sizes, read, list members, delete. A change re-evaluates every profile
//! of the site in the background (the `reindex/{site}` job).

use std::collections::BTreeMap;

use tessera_sdk::prelude::*;
use tessera_sdk::storage;

use crate::ids::check_key;
use crate::membership;
use crate::paging;
use crate::segments::{self, MAX_SEGMENTS, Segment, SegmentInput};
use crate::store;

fn site() -> Result<String, Error> {
    identity::require("cdp.segment.manage")?;
    Ok(identity::current().site)
}

fn size(site: &str, key: &str) -> Result<u64, Error> {
    Ok(storage::get_json(&store::size_key(site, key))?.unwrap_or(0))
}

fn view(site: &str, segment: &Segment) -> Result<serde_json::Value, Error> {
    let mut value = serde_json::to_value(segment)?;
    crate::fields::set(&mut value, "size", json!(size(site, &segment.key)?));
    Ok(value)
}

/// `PUT /segments/{key}` `{"name", "description"?, "rule"}`: 201 when new,
/// 200 when changed; 400 `invalid_segment` naming the rule's failing part.
pub fn put(request: &Request, params: &Params) -> Result<Response, Error> {
    let site = site()?;
    let key = params.require("key")?;
    check_key("segment", key)?;
    let input: SegmentInput = request.json()?;
    let segment = segments::define(key, input, jobs::now_ms())?;
    let mut created = false;
    storage::try_update_json(
        &store::segments_key(&site),
        |all: Option<BTreeMap<String, Segment>>| {
            let mut all = all.unwrap_or_default();
            created = !all.contains_key(key);
            if created && all.len() >= MAX_SEGMENTS {
                return Err(Error::new(
                    409,
                    "too_many_segments",
                    format!("a site has at most {MAX_SEGMENTS} segments"),
                ));
            }
            all.insert(key.to_owned(), segment.clone());
            Ok(all)
        },
    )?;
    store::register_site(&site)?;
    membership::schedule_reindex(&site)?;
    Ok(Response::json(
        if created { 201 } else { 200 },
        &view(&site, &segment)?,
    ))
}

/// `GET /segments`: every segment with its size.
pub fn list(_: &Request, _: &Params) -> Result<Response, Error> {
    let site = site()?;
    let items = store::segments(&site)?
        .values()
        .map(|segment| view(&site, segment))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Response::ok_json(&json!({ "items": items })))
}

fn find(site: &str, key: &str) -> Result<Segment, Error> {
    check_key("segment", key)?;
    store::segments(site)?
        .remove(key)
        .ok_or_else(|| Error::not_found(format!("no segment `{key}`")))
}

/// `GET /segments/{key}`: the segment and its size.
pub fn get(_: &Request, params: &Params) -> Result<Response, Error> {
    let site = site()?;
    let segment = find(&site, params.require("key")?)?;
    Ok(Response::ok_json(&view(&site, &segment)?))
}

/// `GET /segments/{key}/members?limit=&after=`: profile ids, a page at a
/// time, with the size.
pub fn members(request: &Request, params: &Params) -> Result<Response, Error> {
    let site = site()?;
    let segment = find(&site, params.require("key")?)?;
    let page = paging::page(request, &store::index_prefix(&site, &segment.key))?;
    let items: Vec<String> = page.entries.into_iter().map(|(pid, _)| pid).collect();
    Ok(Response::ok_json(&json!({
        "segment": segment.key,
        "size": size(&site, &segment.key)?,
        "items": items,
        "next": page.next,
    })))
}

/// `DELETE /segments/{key}`: 204; its members leave it as the background
/// re-evaluation reaches them.
pub fn delete(_: &Request, params: &Params) -> Result<Response, Error> {
    let site = site()?;
    let key = params.require("key")?;
    find(&site, key)?;
    storage::update_json(
        &store::segments_key(&site),
        |all: Option<BTreeMap<String, Segment>>| {
            let mut all = all.unwrap_or_default();
            all.remove(key);
            all
        },
    )?;
    membership::schedule_reindex(&site)?;
    Ok(Response::empty(204))
}
