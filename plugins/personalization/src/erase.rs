//! GDPR: the export of a person's profile and its erasure. Erasure deletes
//! the profile, its membership, its place in the segment indexes and the
//! expiry index, and every merged visitor's mark and membership, then
//! publishes `cdp.profile.erased` so that every plugin holding personal
//! data about the person deletes it too. Aggregates (daily analytics,
//! experiment counts) hold no person and stay.

use serde_json::Value;
use tessera_sdk::prelude::*;
use tessera_sdk::storage::{self, Operation};

use crate::ids::Person;
use crate::membership;
use crate::profile::{Profile, Stored};
use crate::store;

/// The topic announcing an erasure.
pub const ERASED: &str = "cdp.profile.erased";

/// The export of `profile`: everything stored about the person.
pub fn export(profile: &Profile, now: u64) -> Value {
    json!({
        "exported_at": now,
        "profile": profile,
        "segments": profile.segments,
    })
}

/// Erases the profile `pid` (a merged visitor's id erases the profile it
/// was merged into) and announces it. 404 when there is none.
pub fn erase(site: &str, pid: &str, now: u64) -> Result<Value, Error> {
    let target = store::resolve(site, pid)?;
    let Some(Stored::Profile(profile)) = store::load(site, &target)? else {
        return Err(Error::not_found(format!("no profile `{pid}`")));
    };
    let mut operations = vec![
        Operation::delete(store::profile_key(site, &profile.id)),
        Operation::delete(store::member_key(site, &profile.id)),
    ];
    for visitor in &profile.visitors {
        let visitor_pid = Person::Visitor(visitor.clone()).pid();
        operations.push(Operation::delete(store::profile_key(site, &visitor_pid)));
        operations.push(Operation::delete(store::member_key(site, &visitor_pid)));
    }
    // The stored membership (not the profile's copy) says which indexes
    // hold the person.
    let indexed =
        match storage::get_json::<membership::Record>(&store::member_key(site, &profile.id))? {
            Some(membership::Record::Members(members)) => members,
            _ => membership::Membership::default(),
        };
    storage::batch(&operations)?;
    let mut segments = indexed.segments.clone();
    segments.extend(profile.segments.iter().cloned());
    segments.sort();
    segments.dedup();
    membership::reindex(site, &profile.id, &segments, &[])?;
    for at in [indexed.expires_at, profile.expires_at]
        .into_iter()
        .flatten()
    {
        membership::forget_expiry(site, at, &profile.id)?;
    }
    let announcement = json!({
        "site": site,
        "profile": profile.id,
        "user_id": profile.user_id,
        "visitor_ids": profile.visitors,
        "erased_at": now,
    });
    let event = events::publish_json(ERASED, &announcement)?;
    log::info(&format!("erased profile {} (event {event})", profile.id));
    let mut answer = announcement;
    crate::fields::set(&mut answer, "event", json!(event));
    Ok(answer)
}
