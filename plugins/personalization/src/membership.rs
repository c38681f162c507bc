//! Membership: the small record `/me/segments` reads per person, kept in
//! step with the profile's revisions, the segment member indexes and
//! sizes, the expiry index of time windows, and the background
//! re-evaluations that follow time and segment changes.

use serde::{Deserialize, Serialize};
use tessera_sdk::storage::{self, CasOutcome};
use tessera_sdk::{Error, jobs, log};

use crate::profile::{Profile, Stored};
use crate::store::{
    expiry_key, expiry_prefix, index_key, load, member_key, retention_days, size_key, update,
};

/// What `/me/segments` reads: one record per person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Record {
    /// A merged visitor: ask this profile.
    Alias {
        /// The profile id.
        alias: String,
    },
    /// A person's segments.
    Members(Membership),
}

/// A person's segments as of a profile revision.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Membership {
    /// The profile revision evaluated.
    pub rev: u64,
    /// Segment keys.
    pub segments: Vec<String>,
    /// When a time-window answer can change (re-evaluated on read after).
    #[serde(default)]
    pub expires_at: Option<u64>,
}

/// Brings `profile`'s membership record, the segment indexes and the
/// expiry index up to date. The record is written only when the segments
/// or the expiry changed, and never over a newer revision; after a write
/// the profile is read again, and should a newer revision have been
/// stored meanwhile (whose own sync may have seen the record unchanged
/// and skipped it), that revision is synced too.
pub fn sync(site: &str, profile: &Profile) -> Result<(), Error> {
    let mut rev = profile.rev;
    let mut segments = profile.segments.clone();
    let mut expires_at = profile.expires_at;
    for _ in 0..16 {
        match write_membership(site, &profile.id, rev, &segments, expires_at)? {
            Written::Skipped => return Ok(()),
            Written::Lost => continue,
            Written::Yes => {}
        }
        match load(site, &profile.id)? {
            Some(Stored::Profile(latest)) if latest.rev > rev => {
                rev = latest.rev;
                segments = latest.segments;
                expires_at = latest.expires_at;
            }
            _ => return Ok(()),
        }
    }
    Ok(())
}

/// What [`write_membership`] did.
enum Written {
    /// Nothing: the record is newer or says the same.
    Skipped,
    /// Another writer changed the record first: try again.
    Lost,
    /// Wrote the record and moved the indexes.
    Yes,
}

/// Writes one membership record and moves the indexes by the difference.
fn write_membership(
    site: &str,
    pid: &str,
    rev: u64,
    segments: &[String],
    expires_at: Option<u64>,
) -> Result<Written, Error> {
    let key = member_key(site, pid);
    let current = storage::get(&key)?;
    let before = match current.as_deref().map(serde_json::from_slice::<Record>) {
        Some(Ok(Record::Members(stored))) => stored,
        _ => Membership::default(),
    };
    if before.rev >= rev
        || (before.segments == segments && before.expires_at == expires_at && current.is_some())
    {
        return Ok(Written::Skipped);
    }
    let new = Membership {
        rev,
        segments: segments.to_vec(),
        expires_at,
    };
    let bytes = serde_json::to_vec(&Record::Members(new))?;
    if let CasOutcome::Conflict(_) =
        storage::compare_and_swap(&key, current.as_deref(), Some(&bytes))?
    {
        return Ok(Written::Lost);
    }
    reindex(site, pid, &before.segments, segments)?;
    if before.expires_at != expires_at {
        if let Some(at) = before.expires_at {
            storage::delete(&expiry_key(site, at, pid))?;
        }
        if let Some(at) = expires_at {
            storage::set(&expiry_key(site, at, pid), b"")?;
        }
    }
    Ok(Written::Yes)
}

/// Moves `pid` in the segment indexes from `before` to `after`, keeping
/// the sizes right.
pub fn reindex(site: &str, pid: &str, before: &[String], after: &[String]) -> Result<(), Error> {
    for left in before.iter().filter(|segment| !after.contains(segment)) {
        if storage::delete(&index_key(site, left, pid))? {
            storage::update_json(&size_key(site, left), |n: Option<u64>| {
                n.unwrap_or(0).saturating_sub(1)
            })?;
        }
    }
    for joined in after.iter().filter(|segment| !before.contains(segment)) {
        if let CasOutcome::Swapped =
            storage::compare_and_swap(&index_key(site, joined, pid), None, Some(b""))?
        {
            storage::update_json(&size_key(site, joined), |n: Option<u64>| {
                n.unwrap_or(0).saturating_add(1)
            })?;
        }
    }
    Ok(())
}

/// The segments of profile `pid` for `/me/segments`: one read of its
/// membership record (two for a merged visitor), re-evaluated only when a
/// time window has passed since.
pub fn segments_of(site: &str, pid: &str, now: u64) -> Result<Vec<String>, Error> {
    let mut pid = pid.to_owned();
    for _ in 0..2 {
        match storage::get_json::<Record>(&member_key(site, &pid))? {
            None => return Ok(Vec::new()),
            Some(Record::Alias { alias }) => pid = alias,
            Some(Record::Members(members)) => {
                if members.expires_at.is_some_and(|at| at <= now) {
                    return match update(site, &pid, now, false, |_| Ok(())) {
                        Ok(profile) => Ok(profile.segments),
                        Err(error) if error.status == 404 => Ok(Vec::new()),
                        Err(error) => Err(error),
                    };
                }
                return Ok(members.segments);
            }
        }
    }
    Ok(Vec::new())
}

/// Re-evaluates every person whose time-window answers are due by `now`,
/// and erases anonymous visitors past their retention, at most `limit`;
/// returns how many.
pub fn expire_due(site: &str, now: u64, limit: usize) -> Result<usize, Error> {
    let prefix = expiry_prefix(site);
    let mut done = 0;
    for entry in storage::scan(&prefix) {
        let (key, _) = entry?;
        let Some((at, pid)) = key.trim_start_matches(&prefix).split_once('/') else {
            storage::delete(&key)?;
            continue;
        };
        let Ok(at) = at.parse::<u64>() else {
            storage::delete(&key)?;
            continue;
        };
        if at > now || done >= limit {
            break;
        }
        // An anonymous visitor inactive past the retention is erased.
        if let Some(Stored::Profile(profile)) = load(site, pid)?
            && profile
                .retention_end(retention_days())
                .is_some_and(|end| end <= now)
        {
            crate::erase::erase(site, pid, now)?;
            storage::delete(&key)?;
            done += 1;
            continue;
        }
        match update(site, pid, now, false, |_| Ok(())) {
            Ok(_) => {}
            Err(error) if matches!(error.status, 404 | 409) => {}
            Err(error) => return Err(error),
        }
        // The update moved the person's expiry; this key may remain when the
        // expiry did not change (a stale record): drop it either way.
        storage::delete(&key)?;
        done += 1;
    }
    Ok(done)
}

/// Schedules the re-evaluation of every profile of `site` (after its
/// segments changed), from the first profile. A kernel without a job
/// scheduler (503) is logged: profiles are then re-evaluated at their next
/// activity only.
pub fn schedule_reindex(site: &str) -> Result<(), Error> {
    match jobs::at(&format!("reindex/{site}"), jobs::now_ms(), b"") {
        Err(error) if error.status == 503 => {
            log::warn(&format!(
                "cannot re-evaluate the profiles of {site} in the background: {error}"
            ));
            Ok(())
        }
        other => other,
    }
}

/// Drops `pid`'s expiry index entry at `at`.
pub fn forget_expiry(site: &str, at: u64, pid: &str) -> Result<(), Error> {
    storage::delete(&expiry_key(site, at, pid))?;
    Ok(())
}
