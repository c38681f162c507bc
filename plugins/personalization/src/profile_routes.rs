//! Profiles for administrators (`cdp.profile.read`, `.write`, `.erase`)
//! and for the person themselves (`/me`).

use std::collections::BTreeMap;

use serde_json::Value;
use tessera_sdk::prelude::*;

use crate::budget;
use crate::caller::Caller;
use crate::erase;
use crate::ids::{Person, is_key};
use crate::membership;
use crate::paging;
use crate::profile::{Profile, Stored};
use crate::store;

/// The most attributes one profile may hold.
pub const MAX_ATTRIBUTES: usize = 50;

fn pid_param(params: &Params) -> Result<String, Error> {
    let pid = params.require("pid")?;
    Person::parse(pid)
        .map(|person| person.pid())
        .ok_or_else(|| {
            Error::new(
                400,
                "invalid_profile_id",
                "a profile id is `u:{user id}` or `v:{visitor id}`",
            )
        })
}

fn found(site: &str, pid: &str) -> Result<Profile, Error> {
    store::load_profile(site, pid)?.ok_or_else(|| Error::not_found(format!("no profile `{pid}`")))
}

/// `GET /profiles?limit=&after=` (`cdp.profile.read`): a page of profile
/// summaries.
pub fn list(request: &Request, _: &Params) -> Result<Response, Error> {
    identity::require("cdp.profile.read")?;
    let site = identity::current().site;
    let page = paging::page(request, &store::profiles_prefix(&site))?;
    let mut items = Vec::new();
    for (_, bytes) in &page.entries {
        if let Stored::Profile(profile) = serde_json::from_slice(bytes)? {
            items.push(json!({
                "id": profile.id,
                "user_id": profile.user_id,
                "username": profile.username,
                "last_seen": profile.last_seen,
                "segments": profile.segments,
            }));
        }
    }
    Ok(Response::ok_json(
        &json!({ "items": items, "next": page.next }),
    ))
}

/// `GET /profiles/{pid}` (`cdp.profile.read`): the whole profile.
pub fn get(_: &Request, params: &Params) -> Result<Response, Error> {
    identity::require("cdp.profile.read")?;
    let profile = found(&identity::current().site, &pid_param(params)?)?;
    Ok(Response::ok_json(&profile))
}

fn export_response(profile: &Profile) -> Response {
    Response::ok_json(&erase::export(profile, jobs::now_ms())).with_header(
        "content-disposition",
        format!(
            "attachment; filename=\"profile-{}.json\"",
            profile.id.replace(':', "-")
        ),
    )
}

/// `GET /profiles/{pid}/export` (`cdp.profile.read`): the GDPR export.
pub fn export(_: &Request, params: &Params) -> Result<Response, Error> {
    identity::require("cdp.profile.read")?;
    let profile = found(&identity::current().site, &pid_param(params)?)?;
    Ok(export_response(&profile))
}

/// `DELETE /profiles/{pid}` (`cdp.profile.erase`): erases the profile and
/// publishes `cdp.profile.erased`.
pub fn delete(_: &Request, params: &Params) -> Result<Response, Error> {
    identity::require("cdp.profile.erase")?;
    let answer = erase::erase(
        &identity::current().site,
        &pid_param(params)?,
        jobs::now_ms(),
    )?;
    Ok(Response::ok_json(&answer))
}

/// Applies `changes` (`null` removes) to `attributes`: 400
/// `invalid_attributes` for a bad name or value, or past the limit. Pure.
pub fn apply_attributes(
    attributes: &mut BTreeMap<String, String>,
    changes: &serde_json::Map<String, Value>,
    allowed: Option<&[String]>,
) -> Result<(), Error> {
    let invalid = |message: String| Error::new(400, "invalid_attributes", message);
    for (name, value) in changes {
        if !is_key(name) {
            return Err(invalid(format!("`{name}` is not an attribute name")));
        }
        if let Some(allowed) = allowed
            && !allowed.contains(name)
        {
            return Err(invalid(format!(
                "`{name}` cannot be set here (allowed: {})",
                allowed.join(", ")
            )));
        }
        match value {
            Value::Null => {
                attributes.remove(name);
            }
            Value::String(text) if text.len() <= 256 => {
                attributes.insert(name.clone(), text.trim().to_owned());
            }
            Value::Bool(_) | Value::Number(_) => {
                attributes.insert(name.clone(), value.to_string());
            }
            _ => {
                return Err(invalid(format!(
                    "`{name}`: a string of at most 256 bytes, a number, true/false or null"
                )));
            }
        }
    }
    if attributes.len() > MAX_ATTRIBUTES {
        return Err(invalid(format!(
            "a profile has at most {MAX_ATTRIBUTES} attributes"
        )));
    }
    Ok(())
}

fn body_object(request: &Request) -> Result<serde_json::Map<String, Value>, Error> {
    match request.json::<Value>()? {
        Value::Object(map) => Ok(map),
        _ => Err(Error::new(
            400,
            "invalid_attributes",
            "the body is an object of attributes",
        )),
    }
}

/// `PATCH /profiles/{pid}/attributes` merges, `PUT` replaces
/// (`cdp.profile.write`); the profile is created when missing. Segments
/// are re-evaluated at once.
pub fn set_attributes(request: &Request, params: &Params) -> Result<Response, Error> {
    identity::require("cdp.profile.write")?;
    let site = identity::current().site;
    let pid = store::resolve(&site, &pid_param(params)?)?;
    let changes = body_object(request)?;
    let replace = request.method == Method::Put;
    let profile = store::update(&site, &pid, jobs::now_ms(), true, |profile| {
        if replace {
            profile.attributes.clear();
        }
        if let Some(user) = pid.strip_prefix("u:") {
            profile.user_id = Some(user.to_owned());
        }
        apply_attributes(&mut profile.attributes, &changes, None)
    })?;
    store::register_site(&site)?;
    Ok(Response::ok_json(&json!({
        "id": profile.id,
        "attributes": profile.attributes,
        "segments": profile.segments,
    })))
}

/// The caller's own profile id: the user's, or the visitor's unless it
/// was merged into a user's (an anonymous browser never reads a user's
/// profile). 404 `no_profile` without one.
fn own(request: &Request) -> Result<(Caller, String), Error> {
    let caller = Caller::of(request, None)?;
    let Some(person) = caller.person() else {
        return Err(Error::new(
            404,
            "no_profile",
            "no session and no visitor id: no profile",
        ));
    };
    Ok((caller, person.pid()))
}

fn own_profile(site: &str, pid: &str) -> Result<Profile, Error> {
    match store::load(site, pid)? {
        Some(Stored::Profile(profile)) => Ok(*profile),
        Some(Stored::Merged { .. }) => Err(Error::new(
            404,
            "no_profile",
            "this visitor's history was merged into a user's profile: sign in to see it",
        )),
        None => Err(Error::new(404, "no_profile", "nothing tracked for you yet")),
    }
}

/// `GET /me/segments` (open): `{"segments": [...]}` for the caller: one
/// storage read (the membership record), re-evaluated only when a time
/// window has passed. The CMS asks this through `invoke`.
pub fn my_segments(request: &Request, _: &Params) -> Result<Response, Error> {
    let caller = Caller::of(request, None)?;
    let segments = match caller.person() {
        Some(person) => membership::segments_of(&caller.site, &person.pid(), jobs::now_ms())?,
        None => Vec::new(),
    };
    Ok(Response::ok_json(&json!({ "segments": segments }))
        .with_header("cache-control", "private, no-store"))
}

/// `GET /me` (open): the caller's own profile, as exported.
pub fn me(request: &Request, _: &Params) -> Result<Response, Error> {
    let (caller, pid) = own(request)?;
    Ok(export_response(&own_profile(&caller.site, &pid)?))
}

/// `PATCH /me/attributes` (open): the caller sets the attributes the
/// `self-attributes` setting lists.
pub fn my_attributes(request: &Request, _: &Params) -> Result<Response, Error> {
    let (caller, pid) = own(request)?;
    let pid = if caller.user.is_some() {
        pid
    } else {
        budget::target(&caller.site, &pid, jobs::now_ms())?
    };
    if caller.user.is_none() && pid.starts_with("u:") {
        return Err(Error::new(
            404,
            "no_profile",
            "sign in to change your profile",
        ));
    }
    let allowed: Vec<String> = config::get_or("self-attributes", "")
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect();
    let changes = body_object(request)?;
    let user = caller.user.clone();
    let profile = store::update(&caller.site, &pid, jobs::now_ms(), true, |profile| {
        if let Some(user) = &user {
            profile.user_id = Some(user.id.clone());
            profile.username = Some(user.username.clone());
            profile.roles.clone_from(&user.roles);
        }
        apply_attributes(&mut profile.attributes, &changes, Some(&allowed))
    })?;
    store::register_site(&caller.site)?;
    Ok(Response::ok_json(&json!({
        "id": profile.id,
        "attributes": profile.attributes,
        "segments": profile.segments,
    })))
}

/// `DELETE /me` (open): the caller erases their own profile.
pub fn erase_me(request: &Request, _: &Params) -> Result<Response, Error> {
    let (caller, pid) = own(request)?;
    own_profile(&caller.site, &pid)?;
    Ok(Response::ok_json(&erase::erase(
        &caller.site,
        &pid,
        jobs::now_ms(),
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_checked_and_null_removes() {
        let mut attributes = BTreeMap::new();
        let changes = json!({"country": "DE", "vip": true})
            .as_object()
            .cloned()
            .unwrap();
        apply_attributes(&mut attributes, &changes, None).unwrap();
        assert_eq!(attributes.get("vip").map(String::as_str), Some("true"));
        let remove = json!({"vip": null}).as_object().cloned().unwrap();
        apply_attributes(&mut attributes, &remove, None).unwrap();
        assert!(!attributes.contains_key("vip"));
        let allowed = ["country".to_owned()];
        let refused = json!({"vip": "yes"}).as_object().cloned().unwrap();
        assert!(
            apply_attributes(&mut attributes, &refused, Some(&allowed))
                .unwrap_err()
                .message
                .contains("allowed")
        );
        let nested = json!({"x": {"a": 1}}).as_object().cloned().unwrap();
        assert_eq!(
            apply_attributes(&mut attributes, &nested, None)
                .unwrap_err()
                .status,
            400
        );
    }
}
