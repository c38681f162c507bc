//! `POST /track` and `POST /identify`: behaviour lands on the caller's
//! profile (the user's when signed in, else the visitor's), an anonymous
//! visitor's history is merged into the user's profile the first time the
//! two are seen together, and the analytics and experiment counts follow.

use serde_json::Value;
use tessera_sdk::User;
use tessera_sdk::prelude::*;
use tessera_sdk::storage::{self, CasOutcome};

use crate::analytics::Delta;
use crate::budget;
use crate::caller::{Caller, new_visitor_id, visitor_cookie};
use crate::device;
use crate::experiments::Status;
use crate::ids::{Person, day_of};
use crate::membership::{self, Record};
use crate::profile::{Profile, Stored};
use crate::store;
use crate::tracked::{self, Tracked};
use crate::{aggregate, trials};

fn setting(name: &str, default: u64) -> u64 {
    config::get(name)
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(default)
}

/// The event names counted as conversions besides experiment goals.
pub fn conversion_events() -> Vec<String> {
    config::get_or("conversion-events", "")
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `POST /track`: 202 `{"accepted", "profile", "visitor_id"}`; 413 past
/// `max-track-bytes`, 400 for a malformed event, 429 past
/// `track-per-minute`.
pub fn track(request: &Request, _: &Params) -> Result<Response, Error> {
    let max = usize::try_from(setting("max-track-bytes", 16_384)).unwrap_or(usize::MAX);
    if request.body.len() > max {
        return Err(Error::new(
            413,
            "payload_too_large",
            format!("a tracking request is at most {max} bytes"),
        ));
    }
    let body: Value = request.json()?;
    let batch = tracked::parse(&body)?;
    let now = jobs::now_ms();
    let mut caller = Caller::of(request, batch.visitor_id.as_deref())?;
    let mut issued = None;
    if caller.user.is_none() && caller.visitor.is_none() {
        let id = new_visitor_id(&request.request_id, now);
        caller.visitor = Some(id.clone());
        issued = Some(id);
    }
    let device = device::classify(request.header("user-agent"));
    let Some(person) = caller.person() else {
        return Err(Error::internal("no person for a tracking request"));
    };
    if device == Some("bot") {
        return Ok(Response::json(
            202,
            &json!({"accepted": 0, "ignored": "bot", "profile": null}),
        ));
    }
    let site = caller.site.clone();
    let pid = match (&caller.user, &caller.visitor) {
        (Some(_), Some(visitor)) => {
            let merged = merge_visitor(&site, visitor, &person.pid())?;
            apply(
                &site,
                &person.pid(),
                now,
                caller.user.as_ref(),
                merged.as_ref(),
                &batch.events,
                device,
            )?
        }
        _ => {
            // A merge between finding the profile and writing it: once more.
            let pid = budget::target(&site, &person.pid(), now)?;
            let user = caller.user.as_ref();
            match apply(&site, &pid, now, user, None, &batch.events, device) {
                Err(error) if error.code == "profile_merged" => {
                    let pid = budget::target(&site, &person.pid(), now)?;
                    apply(&site, &pid, now, user, None, &batch.events, device)?
                }
                other => other?,
            }
        }
    };
    let mut response = Response::json(
        202,
        &json!({"accepted": batch.events.len(), "profile": pid, "visitor_id": caller.visitor}),
    );
    if let Some(id) = issued {
        response = response.with_header("set-cookie", visitor_cookie(&id));
    }
    Ok(response)
}

/// Applies `events` to profile `pid` (creating it), then counts them in the
/// analytics and the experiments. Returns the profile id written.
fn apply(
    site: &str,
    pid: &str,
    now: u64,
    user: Option<&User>,
    merged: Option<&Profile>,
    events: &[Tracked],
    device: Option<&str>,
) -> Result<String, Error> {
    let limit = u32::try_from(setting("track-per-minute", 600)).unwrap_or(u32::MAX);
    let count = u32::try_from(events.len()).unwrap_or(u32::MAX);
    let experiments = if events.iter().any(|e| matches!(e, Tracked::Event { .. })) {
        store::experiments(site)?
    } else {
        Default::default()
    };
    let mut converted: Vec<(String, String)> = Vec::new();
    let mut new_visitor = false;
    let today = day_of(now);
    let views = events.iter().any(|e| matches!(e, Tracked::Page { .. }));
    let profile = store::update(site, pid, now, true, |profile| {
        converted.clear();
        if !profile.take_budget(now, count, limit) {
            return Err(Error::new(
                429,
                "rate_limited",
                format!("at most {limit} tracked events per minute per person"),
            ));
        }
        if let Some(user) = user {
            profile.user_id = Some(user.id.clone());
            profile.username = Some(user.username.clone());
            profile.roles.clone_from(&user.roles);
        }
        if let Some(visitor) = merged {
            profile.absorb(visitor);
            if profile.last_login.is_none() {
                profile.last_login = Some(now);
            }
        }
        if let Some(device) = device {
            profile.device = Some(device.to_owned());
        }
        // Decided inside the compare-and-swap (after a merge): exactly one
        // request is a person's first page view of the day.
        new_visitor = views && !profile.viewed_on(today);
        for event in events {
            match event {
                Tracked::Page { path, properties } => {
                    profile.view_page(path, now, properties.clone());
                }
                Tracked::Event { name, properties } => {
                    profile.record_event("event", name, now, properties.clone());
                    converted.extend(trials::convert(profile, &experiments, name, now));
                }
            }
        }
        Ok(())
    })?;
    if profile.rev == 1 || merged.is_some() {
        store::register_site(site)?;
    }
    let goals = conversion_events();
    let mut delta = Delta {
        new_visitor,
        ..Delta::default()
    };
    for event in events {
        match event {
            Tracked::Page { path, .. } => *delta.views.entry(path.clone()).or_insert(0) += 1,
            Tracked::Event { name, .. } => {
                let goal = experiments
                    .values()
                    .any(|e| e.status == Status::Running && e.goal == *name);
                if goal || goals.contains(name) {
                    delta.conversions += 1;
                }
            }
        }
    }
    aggregate::record(site, &profile, now, delta)?;
    trials::count_conversions(site, &profile.id, &converted)?;
    Ok(profile.id)
}

/// Merges visitor `visitor` into the user profile `user_pid` the first
/// time they are seen together: the visitor's profile is swapped for a
/// mark pointing at the user's (so later anonymous activity of that
/// browser lands there), its membership becomes an alias, and it leaves
/// the segment indexes. Returns the visitor's profile to absorb, if it had
/// one. A visitor already merged (into anyone) is left alone.
pub fn merge_visitor(site: &str, visitor: &str, user_pid: &str) -> Result<Option<Profile>, Error> {
    let visitor_pid = Person::Visitor(visitor.to_owned()).pid();
    let key = store::profile_key(site, &visitor_pid);
    let mark = serde_json::to_vec(&Stored::Merged {
        merged_into: user_pid.to_owned(),
    })?;
    for _ in 0..16 {
        let current = storage::get(&key)?;
        let profile = match current.as_deref().map(serde_json::from_slice::<Stored>) {
            Some(Ok(Stored::Merged { .. })) => return Ok(None),
            Some(Ok(Stored::Profile(profile))) => Some(*profile),
            Some(Err(error)) => {
                return Err(Error::internal(format!("profile `{visitor_pid}`: {error}")));
            }
            None => None,
        };
        if let CasOutcome::Swapped =
            storage::compare_and_swap(&key, current.as_deref(), Some(&mark))?
        {
            storage::set_json(
                &store::member_key(site, &visitor_pid),
                &Record::Alias {
                    alias: user_pid.to_owned(),
                },
            )?;
            if let Some(profile) = &profile {
                membership::reindex(site, &visitor_pid, &profile.segments, &[])?;
            }
            return Ok(profile);
        }
    }
    Err(Error::conflict(format!(
        "visitor `{visitor}` kept changing while being merged"
    )))
}

/// `POST /identify` (signed in): merges the request's visitor into the
/// user's profile, records the sign-in (`last_login`) and the user's
/// roles. 200 `{"profile", "merged", "segments"}`.
pub fn identify(request: &Request, _: &Params) -> Result<Response, Error> {
    let body: Value = if request.body.is_empty() {
        json!({})
    } else {
        request.json()?
    };
    let body_visitor = body.get("visitor_id").and_then(Value::as_str);
    let caller = Caller::of(request, body_visitor)?;
    let Some(user) = caller.user.clone() else {
        return Err(Error::unauthenticated(
            "sign in first: identify links a visitor to a user",
        ));
    };
    let now = jobs::now_ms();
    let pid = Person::User(user.id.clone()).pid();
    let merged = match &caller.visitor {
        Some(visitor) => merge_visitor(&caller.site, visitor, &pid)?,
        None => None,
    };
    let device = device::classify(request.header("user-agent"));
    let profile = store::update(&caller.site, &pid, now, true, |profile| {
        profile.user_id = Some(user.id.clone());
        profile.username = Some(user.username.clone());
        profile.roles.clone_from(&user.roles);
        profile.last_login = Some(now);
        profile.last_seen = profile.last_seen.max(now);
        if let Some(device) = device.filter(|d| *d != "bot") {
            profile.device = Some(device.to_owned());
        }
        if let Some(visitor) = &merged {
            profile.absorb(visitor);
        }
        Ok(())
    })?;
    store::register_site(&caller.site)?;
    Ok(Response::ok_json(&json!({
        "profile": profile.id,
        "merged": merged.is_some(),
        "segments": profile.segments,
    })))
}
