//! The HTTP API under `/api/workflow/`. The manifest's `[[routes]]` make the
//! kernel check permissions first; every handler checks them again because
//! calls through `invoke` bypass those rules.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tessera_sdk::prelude::*;

use crate::definition::{Definition, Transition, is_name};
use crate::inbox;
use crate::instance::{Actor, Instance};
use crate::start::{self, StartRequest};
use crate::store::{self, Stored};

const MANAGE: &str = "workflow.definition.manage";
const START: &str = "workflow.instance.start";
const READ: &str = "workflow.instance.read";

/// Every route.
pub fn router() -> Router {
    Router::new()
        .put("/definitions/:key", put_definition)
        .get("/definitions", list_definitions)
        .get("/definitions/:key", get_definition)
        .get("/definitions/:key/versions/:version", get_version)
        .post("/instances", start_instance)
        .get("/instances", list_instances)
        .get("/instances/:id", get_instance)
        .post("/instances/:id/transitions/:name", take_transition)
        .get("/tasks", tasks)
}

/// The caller's site and, once `permission` is checked, who they are.
fn caller(permission: &str) -> Result<(String, Actor), Error> {
    identity::require(permission)?;
    let principal = identity::current();
    let actor = match principal.user {
        Some(user) => Actor::User {
            id: user.id,
            username: user.username,
            roles: user.roles,
        },
        None => return Err(Error::unauthenticated("sign in first")),
    };
    Ok((principal.site, actor))
}

fn definition_key(params: &Params) -> Result<&str, Error> {
    let key = params.require("key")?;
    if !is_name(key) {
        return Err(Error::new(
            400,
            "invalid_key",
            format!(
                "`{key}` is not a definition key: use 1 to 64 lower-case letters, digits, `-` or `_`"
            ),
        ));
    }
    Ok(key)
}

fn put_definition(request: &Request, params: &Params) -> Result<Response, Error> {
    let (site, actor) = caller(MANAGE)?;
    let key = definition_key(params)?;
    let definition: Definition = request.json()?;
    definition
        .validate()
        .map_err(|invalid| Error::new(400, "invalid_definition", invalid.to_string()))?;
    let stored = store::put_definition(&site, key, definition, actor.name(), jobs::now_ms())?;
    let status = if stored.version == 1 { 201 } else { 200 };
    Ok(Response::json(status, &stored))
}

fn list_definitions(_: &Request, _: &Params) -> Result<Response, Error> {
    let (site, _) = caller(READ)?;
    let definitions: Vec<_> = store::list_definitions(&site)?
        .into_iter()
        .map(|stored| {
            json!({
                "key": stored.key,
                "name": stored.definition.name,
                "version": stored.version,
                "created_at": stored.created_at,
                "created_by": stored.created_by,
            })
        })
        .collect();
    Ok(Response::ok_json(&json!({ "definitions": definitions })))
}

fn get_definition(_: &Request, params: &Params) -> Result<Response, Error> {
    let (site, _) = caller(READ)?;
    let key = definition_key(params)?;
    Ok(Response::ok_json(&store::latest_definition(&site, key)?))
}

fn get_version(_: &Request, params: &Params) -> Result<Response, Error> {
    let (site, _) = caller(READ)?;
    let key = definition_key(params)?;
    let version: u32 = params.parse("version")?;
    Ok(Response::ok_json(&store::definition_version(
        &site, key, version,
    )?))
}

/// A transition as the caller sees it.
#[derive(Serialize)]
struct Choice<'a> {
    name: &'a str,
    to: &'a str,
    roles: &'a [String],
    /// Whether the caller may take it.
    allowed: bool,
}

/// An instance with the transitions leaving its state, and warnings about
/// actions or timers that failed.
#[derive(Serialize)]
struct View<'a> {
    #[serde(flatten)]
    instance: &'a Instance,
    transitions: Vec<Choice<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
}

fn view<'a>(
    instance: &'a Instance,
    definition: &'a Definition,
    actor: &Actor,
    warnings: Vec<String>,
) -> View<'a> {
    let transitions = definition
        .transitions_from(&instance.state)
        .map(|transition: &Transition| Choice {
            name: &transition.name,
            to: &transition.to,
            roles: &transition.roles,
            allowed: matches!(actor, Actor::User { .. }) && actor.may_take(transition),
        })
        .collect();
    View {
        instance,
        transitions,
        warnings,
    }
}

fn start_instance(request: &Request, _: &Params) -> Result<Response, Error> {
    let (site, actor) = caller(START)?;
    let body: StartRequest = request.json()?;
    if body.site.is_some() {
        return Err(Error::bad_request(
            "`site` is not accepted here: an instance starts on the caller's site",
        ));
    }
    let (instance, warnings) = start::start(&site, body, &actor, None)?;
    let stored = store::definition_version(&site, &instance.definition, instance.version)?;
    Ok(Response::json(
        201,
        &view(&instance, &stored.definition, &actor, warnings),
    ))
}

fn list_instances(request: &Request, _: &Params) -> Result<Response, Error> {
    let (site, _) = caller(READ)?;
    let subject_type = request.query("subject_type");
    let subject_id = request.query("subject_id");
    let definition = request.query("definition");
    let state = request.query("state");
    let matches = |instance: &Instance| {
        subject_type
            .as_ref()
            .is_none_or(|t| *t == instance.subject.kind)
            && subject_id
                .as_ref()
                .is_none_or(|id| *id == instance.subject.id)
            && definition
                .as_ref()
                .is_none_or(|d| *d == instance.definition)
            && state.as_ref().is_none_or(|s| *s == instance.state)
    };
    let mut instances = Vec::new();
    for instance in store::all_instances(&site) {
        let instance = instance?;
        if matches(&instance) {
            instances.push(instance);
        }
    }
    Ok(Response::ok_json(&json!({ "instances": instances })))
}

fn get_instance(_: &Request, params: &Params) -> Result<Response, Error> {
    let (site, actor) = caller(READ)?;
    let instance = store::instance(&site, params.require("id")?)?;
    let stored = store::definition_version(&site, &instance.definition, instance.version)?;
    Ok(Response::ok_json(&view(
        &instance,
        &stored.definition,
        &actor,
        Vec::new(),
    )))
}

fn take_transition(request: &Request, params: &Params) -> Result<Response, Error> {
    #[derive(Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    struct Body {
        #[serde(default)]
        comment: Option<String>,
    }
    let (site, actor) = caller(READ)?;
    let id = params.require("id")?;
    let name = params.require("name")?;
    let body: Body = if request.body.iter().all(u8::is_ascii_whitespace) {
        Body::default()
    } else {
        request.json()?
    };
    let instance = store::instance(&site, id)?;
    let stored = store::definition_version(&site, &instance.definition, instance.version)?;
    let now = jobs::now_ms();
    let instance = store::update_instance(&site, id, |current| {
        current.take(&stored.definition, name, &actor, body.comment.clone(), now)
    })?;
    let warnings = crate::effects::on_enter(&instance, &stored.definition, now);
    Ok(Response::ok_json(&view(
        &instance,
        &stored.definition,
        &actor,
        warnings,
    )))
}

fn tasks(_: &Request, _: &Params) -> Result<Response, Error> {
    let (site, actor) = caller(READ)?;
    let mut definitions: BTreeMap<(String, u32), Stored> = BTreeMap::new();
    let mut tasks = Vec::new();
    for instance in store::open_instances(&site)? {
        let slot = (instance.definition.clone(), instance.version);
        let stored = match definitions.get(&slot) {
            Some(stored) => stored,
            None => {
                let stored = store::definition_version(&site, &slot.0, slot.1)?;
                definitions.entry(slot).or_insert(stored)
            }
        };
        if let Some(task) = inbox::task_for(&instance, &stored.definition, &actor) {
            tasks.push(task);
        }
    }
    Ok(Response::ok_json(&json!({ "tasks": tasks })))
}
