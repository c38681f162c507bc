//! Experiences (`cdp.experience.manage` to define) and experiment
//! definitions (`cdp.experiment.manage`); `GET /experiences/{key}` is open
//! and answers the caller's blocks.

use std::collections::BTreeMap;

use tessera_sdk::prelude::*;
use tessera_sdk::storage::{self, Operation};

use crate::caller::Caller;
use crate::experiences::{self, Experience, ExperienceInput};
use crate::experiments::{self, Experiment, ExperimentInput};
use crate::ids::check_key;
use crate::membership;
use crate::paging;
use crate::store;

/// The most experiments one site may define.
pub const MAX_EXPERIMENTS: usize = 50;

fn site(permission: &str) -> Result<String, Error> {
    identity::require(permission)?;
    Ok(identity::current().site)
}

/// `PUT /experiences/{key}` `{"name", "audiences": [{"segment",
/// "blocks"}], "default"}`: 201 when new, 200 when changed.
pub fn put_experience(request: &Request, params: &Params) -> Result<Response, Error> {
    let site = site("cdp.experience.manage")?;
    let key = params.require("key")?;
    check_key("experience", key)?;
    let input: ExperienceInput = request.json()?;
    let experience = experiences::define(key, input, jobs::now_ms())?;
    let stored = store::experience_key(&site, key);
    let created = storage::get(&stored)?.is_none();
    storage::set_json(&stored, &experience)?;
    Ok(Response::json(if created { 201 } else { 200 }, &experience))
}

/// `GET /experiences`: every experience's definition, a page at a time.
pub fn list_experiences(request: &Request, _: &Params) -> Result<Response, Error> {
    let site = site("cdp.experience.manage")?;
    let page = paging::page(request, &store::experience_key(&site, ""))?;
    let items = page
        .entries
        .iter()
        .map(|(_, bytes)| serde_json::from_slice::<Experience>(bytes))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Response::ok_json(
        &json!({ "items": items, "next": page.next }),
    ))
}

/// `DELETE /experiences/{key}`: 204, or 404.
pub fn delete_experience(_: &Request, params: &Params) -> Result<Response, Error> {
    let site = site("cdp.experience.manage")?;
    let key = params.require("key")?;
    check_key("experience", key)?;
    if !storage::delete(&store::experience_key(&site, key))? {
        return Err(Error::not_found(format!("no experience `{key}`")));
    }
    Ok(Response::empty(204))
}

/// `GET /experiences/{key}` (open): the blocks for the caller's segments:
/// `{"experience", "segment", "blocks"}`, `segment` null for the default.
/// With `?definition=true` (and `cdp.experience.manage`) the definition.
pub fn get_experience(request: &Request, params: &Params) -> Result<Response, Error> {
    let key = params.require("key")?;
    check_key("experience", key)?;
    let caller = Caller::of(request, None)?;
    let experience: Experience = storage::get_json(&store::experience_key(&caller.site, key))?
        .ok_or_else(|| Error::not_found(format!("no experience `{key}`")))?;
    if request.query("definition").as_deref() == Some("true") {
        identity::require("cdp.experience.manage")?;
        return Ok(Response::ok_json(&experience));
    }
    let segments = match caller.person() {
        Some(person) => membership::segments_of(&caller.site, &person.pid(), jobs::now_ms())?,
        None => Vec::new(),
    };
    let (segment, blocks) = experience.choose(&segments);
    Ok(Response::ok_json(&json!({
        "experience": key,
        "segment": segment,
        "blocks": blocks,
    }))
    .with_header("cache-control", "private")
    .with_header("vary", "cookie, authorization, x-visitor-id"))
}

/// `PUT /experiments/{key}` `{"name", "variants": [{"key", "weight"}],
/// "goal", "status"?}`: 201 when new, 200 when changed. Changing the
/// variants keeps the assignments of people whose variant still exists.
pub fn put_experiment(request: &Request, params: &Params) -> Result<Response, Error> {
    let site = site("cdp.experiment.manage")?;
    let key = params.require("key")?;
    check_key("experiment", key)?;
    let input: ExperimentInput = request.json()?;
    let experiment = experiments::define(key, input, jobs::now_ms())?;
    let mut created = false;
    storage::try_update_json(
        &store::experiments_key(&site),
        |all: Option<BTreeMap<String, Experiment>>| {
            let mut all = all.unwrap_or_default();
            created = !all.contains_key(key);
            if created && all.len() >= MAX_EXPERIMENTS {
                return Err(Error::new(
                    409,
                    "too_many_experiments",
                    format!("a site has at most {MAX_EXPERIMENTS} experiments"),
                ));
            }
            all.insert(key.to_owned(), experiment.clone());
            Ok(all)
        },
    )?;
    store::register_site(&site)?;
    Ok(Response::json(if created { 201 } else { 200 }, &experiment))
}

/// `GET /experiments`: every experiment.
pub fn list_experiments(_: &Request, _: &Params) -> Result<Response, Error> {
    let site = site("cdp.experiment.manage")?;
    let items: Vec<Experiment> = store::experiments(&site)?.into_values().collect();
    Ok(Response::ok_json(&json!({ "items": items })))
}

/// `GET /experiments/{key}`: one experiment.
pub fn get_experiment(_: &Request, params: &Params) -> Result<Response, Error> {
    let site = site("cdp.experiment.manage")?;
    let key = params.require("key")?;
    check_key("experiment", key)?;
    let experiment = store::experiments(&site)?
        .remove(key)
        .ok_or_else(|| Error::not_found(format!("no experiment `{key}`")))?;
    Ok(Response::ok_json(&experiment))
}

/// `DELETE /experiments/{key}`: 204; its counts go with it.
pub fn delete_experiment(_: &Request, params: &Params) -> Result<Response, Error> {
    let site = site("cdp.experiment.manage")?;
    let key = params.require("key")?;
    check_key("experiment", key)?;
    let mut existed = false;
    storage::update_json(
        &store::experiments_key(&site),
        |all: Option<BTreeMap<String, Experiment>>| {
            let mut all = all.unwrap_or_default();
            existed = all.remove(key).is_some();
            all
        },
    )?;
    if !existed {
        return Err(Error::not_found(format!("no experiment `{key}`")));
    }
    let counts: Vec<Operation> = storage::scan(&store::arm_prefix(&site, key))
        .map(|entry| entry.map(|(key, _)| Operation::delete(key)))
        .collect::<Result<_, _>>()?;
    for chunk in counts.chunks(500) {
        storage::batch(chunk)?;
    }
    Ok(Response::empty(204))
}
