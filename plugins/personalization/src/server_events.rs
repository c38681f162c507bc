//! Server-side behaviour from other plugins' events, on the same profiles:
//!
//! | topic | effect |
//! |---|---|
//! | `identity.user.registered`, `identity.user.created` | the user's profile is created with the login name (and roles, on the default site) |
//! | `identity.user.signed-in` | `last_login` on the user's profile, when the user has one (a sign-in never recreates an erased profile) |
//! | `identity.user.*` (others) | ignored (they carry credentials, not behaviour) |
//! | `commerce.order.*` with `user_id` | the order (total, currency, state) on the buyer's profile; the topic counted as an event; a conversion when listed in `conversion-events` |
//! | `cms.entry.published` | counted per day as `content_published` in the analytics of everyone (CMS events name no person, so no profile changes) |
//!
//! Redeliveries are recognised by event id and change nothing.

use serde::Deserialize;
use serde_json::Value;
use tessera_sdk::prelude::*;

use tessera_sdk::storage::{self, CasOutcome};

use crate::aggregate;
use crate::analytics::Delta;
use crate::ids::Person;
use crate::ids::day_of;
use crate::orders;
use crate::store;
use crate::track::conversion_events;

#[derive(Debug, Deserialize)]
struct UserEvent {
    site: String,
    user_id: String,
    #[serde(default)]
    username: Option<String>,
}

/// Handles one event; an `Err` is retried by the kernel.
pub fn on_event(event: &Event) -> Result<(), String> {
    let result = match event.topic.as_str() {
        "identity.user.registered" | "identity.user.created" => user(event),
        "identity.user.signed-in" => signed_in(event),
        topic if topic.starts_with("commerce.order.") => order(event),
        "cms.entry.published" => published(event),
        _ => Ok(()),
    };
    result.map_err(|error| error.to_string())
}

fn malformed(event: &Event, error: &serde_json::Error) {
    log::warn(&format!(
        "ignoring {} event {}: unexpected payload ({error})",
        event.topic, event.id
    ));
}

/// The payload of an `identity.user.*` event and the user's profile
/// person; none (logged) when the payload is not one.
fn user_event(event: &Event) -> Option<(UserEvent, Person)> {
    let payload: UserEvent = match serde_json::from_slice(&event.payload) {
        Ok(payload) => payload,
        Err(error) => {
            malformed(event, &error);
            return None;
        }
    };
    let person = Person::User(payload.user_id.clone());
    Person::parse(&person.pid())
        .is_some()
        .then_some((payload, person))
}

fn user(event: &Event) -> Result<(), Error> {
    let Some((payload, person)) = user_event(event) else {
        return Ok(());
    };
    // Event handlers run on the default site: only there can the user be
    // looked up for their roles.
    let looked_up = if payload.site == "default" {
        identity::lookup_user(&payload.user_id).ok().flatten()
    } else {
        None
    };
    let at = event.published_at;
    store::update(&payload.site, &person.pid(), at, true, |profile| {
        if !profile.first_time(&event.id) {
            return Ok(());
        }
        profile.user_id = Some(payload.user_id.clone());
        if let Some(username) = &payload.username {
            profile.username = Some(username.clone());
        }
        if let Some(user) = &looked_up {
            profile.username = Some(user.username.clone());
            profile.roles.clone_from(&user.roles);
        }
        profile.record_event(&event.topic, &event.topic, at, Value::Null);
        Ok(())
    })?;
    store::register_site(&payload.site)
}

/// A sign-in, whether or not the browser calls `/identify` afterwards
/// (API clients never do): `last_login` on the user's existing profile.
fn signed_in(event: &Event) -> Result<(), Error> {
    let Some((payload, person)) = user_event(event) else {
        return Ok(());
    };
    let at = event.published_at;
    let updated = store::update(&payload.site, &person.pid(), at, false, |profile| {
        if !profile.first_time(&event.id) {
            return Ok(());
        }
        profile.last_login = Some(profile.last_login.map_or(at, |last| last.max(at)));
        profile.last_seen = profile.last_seen.max(at);
        Ok(())
    });
    match updated {
        Ok(_) => Ok(()),
        // No profile (erased, or the user predates this plugin): nothing to
        // record; `/identify` creates one when the browser comes by.
        Err(error) if error.status == 404 => Ok(()),
        Err(error) => Err(error),
    }
}

fn order(event: &Event) -> Result<(), Error> {
    let update = match orders::parse(&event.topic, &event.payload) {
        Ok(Some(update)) => update,
        Ok(None) => return Ok(()),
        Err(error) => {
            malformed(event, &error);
            return Ok(());
        }
    };
    let at = event.published_at;
    let mut first = false;
    let profile = store::update(&update.site, &update.pid, at, true, |profile| {
        first = orders::apply(profile, &update, &event.id, &event.topic, at);
        Ok(())
    })?;
    store::register_site(&update.site)?;
    if first && conversion_events().contains(&event.topic) {
        aggregate::record_conversion(&update.site, &profile, at)?;
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
struct EntryEvent {
    site: String,
}

fn published(event: &Event) -> Result<(), Error> {
    let payload: EntryEvent = match serde_json::from_slice(&event.payload) {
        Ok(payload) => payload,
        Err(error) => {
            malformed(event, &error);
            return Ok(());
        }
    };
    // Counted once per event id, whatever the redeliveries: the mark is
    // written first, and kept only with the day's counts.
    let mark = store::event_mark_key(&payload.site, day_of(event.published_at), &event.id);
    if let CasOutcome::Conflict(_) = storage::compare_and_swap(&mark, None, Some(b""))? {
        return Ok(());
    }
    store::register_site(&payload.site)?;
    aggregate::record_delta(
        &payload.site,
        event.published_at,
        &format!("event:{}", event.id),
        &[],
        &Delta {
            content_published: 1,
            ..Delta::default()
        },
    )
}
