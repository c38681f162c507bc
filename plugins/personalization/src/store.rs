//! Where everything lives in the plugin's storage, scoped by site:
//!
//! | key | value |
//! |---|---|
//! | `sites/{site}` | present once the site has data (the jobs walk these) |
//! | `s/{site}/p/{pid}` | a [`Profile`], or `{"merged_into": pid}` for a merged visitor |
//! | `s/{site}/m/{pid}` | the person's [`Membership`]: what `/me/segments` reads |
//! | `s/{site}/segments` | every [`Segment`] of the site |
//! | `s/{site}/sx/{segment}/{pid}` | membership index: the members of a segment |
//! | `s/{site}/sn/{segment}` | a segment's size |
//! | `s/{site}/exp/{ms:013}/{pid}` | when a person's time-window answers change |
//! | `s/{site}/experiments` | every experiment of the site |
//! | `s/{site}/xn/{experiment}/{variant}/{shard}` | exposures and conversions |
//! | `s/{site}/ex/{key}` | an experience |
//! | `s/{site}/an/{day:06}/{segment}/{shard}` | daily analytics |
//! | `s/{site}/newp/{minute:010}` | new visitor profiles created in that minute |
//! | `s/{site}/evt/{day:06}/{event id}` | a server-side event already counted (kept two days) |

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tessera_sdk::storage::{self, CasOutcome};
use tessera_sdk::{Error, jobs, log};

use crate::experiments::Experiment;
use crate::profile::{Profile, Stored};
use crate::segments::{self, Compiled, Segment};

/// The key of a site's registration.
pub fn site_key(site: &str) -> String {
    format!("sites/{site}")
}

/// The key of a profile.
pub fn profile_key(site: &str, pid: &str) -> String {
    format!("s/{site}/p/{pid}")
}

/// The prefix of every profile of a site.
pub fn profiles_prefix(site: &str) -> String {
    format!("s/{site}/p/")
}

/// The key of a person's membership.
pub fn member_key(site: &str, pid: &str) -> String {
    format!("s/{site}/m/{pid}")
}

/// The key of a site's segments.
pub fn segments_key(site: &str) -> String {
    format!("s/{site}/segments")
}

/// The prefix of a segment's members.
pub fn index_prefix(site: &str, segment: &str) -> String {
    format!("s/{site}/sx/{segment}/")
}

fn index_key(site: &str, segment: &str, pid: &str) -> String {
    format!("s/{site}/sx/{segment}/{pid}")
}

/// The key of a segment's size.
pub fn size_key(site: &str, segment: &str) -> String {
    format!("s/{site}/sn/{segment}")
}

/// The prefix of a site's expiry index.
pub fn expiry_prefix(site: &str) -> String {
    format!("s/{site}/exp/")
}

fn expiry_key(site: &str, at: u64, pid: &str) -> String {
    format!("s/{site}/exp/{at:013}/{pid}")
}

/// The key of a site's experiments.
pub fn experiments_key(site: &str) -> String {
    format!("s/{site}/experiments")
}

/// The key of one shard of an experiment variant's counts.
pub fn arm_key(site: &str, experiment: &str, variant: &str, shard: u64) -> String {
    format!("s/{site}/xn/{experiment}/{variant}/{shard}")
}

/// The prefix of an experiment's counts.
pub fn arm_prefix(site: &str, experiment: &str) -> String {
    format!("s/{site}/xn/{experiment}/")
}

/// The key of an experience.
pub fn experience_key(site: &str, key: &str) -> String {
    format!("s/{site}/ex/{key}")
}

/// The key of one shard of a day's analytics for a segment.
pub fn day_key(site: &str, day: u32, segment: &str, shard: u64) -> String {
    format!("s/{site}/an/{day:06}/{segment}/{shard}")
}

/// The prefix of a day's analytics for a segment.
pub fn day_prefix(site: &str, day: u32, segment: &str) -> String {
    format!("s/{site}/an/{day:06}/{segment}/")
}

/// The key marking server-side event `id` as counted (published `day`).
pub fn event_mark_key(site: &str, day: u32, id: &str) -> String {
    format!("s/{site}/evt/{day:06}/{id}")
}

/// The prefix of a site's event marks.
pub fn event_mark_prefix(site: &str) -> String {
    format!("s/{site}/evt/")
}

/// Remembers that `site` has data.
pub fn register_site(site: &str) -> Result<(), Error> {
    if storage::get(&site_key(site))?.is_none() {
        storage::set(&site_key(site), b"1")?;
    }
    Ok(())
}

/// Every site with data.
pub fn sites() -> Result<Vec<String>, Error> {
    storage::scan("sites/")
        .map(|entry| entry.map(|(key, _)| key.trim_start_matches("sites/").to_owned()))
        .collect()
}

/// A site's segments.
pub fn segments(site: &str) -> Result<BTreeMap<String, Segment>, Error> {
    Ok(storage::get_json(&segments_key(site))?.unwrap_or_default())
}

/// A site's experiments.
pub fn experiments(site: &str) -> Result<BTreeMap<String, Experiment>, Error> {
    Ok(storage::get_json(&experiments_key(site))?.unwrap_or_default())
}

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

/// The profile `pid` as stored.
pub fn load(site: &str, pid: &str) -> Result<Option<Stored>, Error> {
    storage::get_json(&profile_key(site, pid))
}

/// The profile `pid`, following a merged visitor to its profile.
pub fn load_profile(site: &str, pid: &str) -> Result<Option<Profile>, Error> {
    match load(site, pid)? {
        Some(Stored::Profile(profile)) => Ok(Some(*profile)),
        Some(Stored::Merged { merged_into }) => match load(site, &merged_into)? {
            Some(Stored::Profile(profile)) => Ok(Some(*profile)),
            _ => Ok(None),
        },
        None => Ok(None),
    }
}

/// The profile a person's activity lands on: `pid`, or the profile a
/// merged visitor was merged into.
pub fn resolve(site: &str, pid: &str) -> Result<String, Error> {
    match load(site, pid)? {
        Some(Stored::Merged { merged_into }) => Ok(merged_into),
        _ => Ok(pid.to_owned()),
    }
}

/// The profile anonymous activity of `pid` lands on, like [`resolve`];
/// creating a new visitor profile first takes one from the site's
/// `new-profiles-per-minute` budget (429 `rate_limited` when spent), which
/// bounds what clients that never keep a visitor id can store.
pub fn target(site: &str, pid: &str, now: u64) -> Result<String, Error> {
    match load(site, pid)? {
        Some(Stored::Merged { merged_into }) => Ok(merged_into),
        Some(Stored::Profile(_)) => Ok(pid.to_owned()),
        None if pid.starts_with("v:") => {
            let limit: u64 = tessera_sdk::config::get("new-profiles-per-minute")
                .and_then(|value| value.trim().parse().ok())
                .unwrap_or(1000);
            storage::try_update_json(&new_profiles_key(site, now / 60_000), |n: Option<u64>| {
                let n = n.unwrap_or(0);
                if n >= limit {
                    return Err(Error::new(
                        429,
                        "rate_limited",
                        format!("this site takes at most {limit} new visitors per minute"),
                    ));
                }
                Ok(n.saturating_add(1))
            })?;
            Ok(pid.to_owned())
        }
        None => Ok(pid.to_owned()),
    }
}

fn new_profiles_key(site: &str, minute: u64) -> String {
    format!("s/{site}/newp/{minute:010}")
}

/// Deletes the new-visitor budgets of past minutes.
pub fn forget_old_budgets(site: &str, now: u64) -> Result<(), Error> {
    let prefix = format!("s/{site}/newp/");
    let current = new_profiles_key(site, now / 60_000);
    let old: Vec<String> = storage::scan(&prefix)
        .map(|entry| entry.map(|(key, _)| key))
        .take_while(|key| key.as_ref().map_or(true, |key| *key < current))
        .collect::<Result<_, _>>()?;
    for key in old {
        storage::delete(&key)?;
    }
    Ok(())
}

/// Changes profile `pid` with `change` (creating it when `create`, else
/// 404 when absent), re-evaluates its segments, and brings its membership
/// record, the segment indexes and the expiry index up to date. Returns
/// the profile written. `change` may run more than once.
pub fn update<F>(
    site: &str,
    pid: &str,
    now: u64,
    create: bool,
    mut change: F,
) -> Result<Profile, Error>
where
    F: FnMut(&mut Profile) -> Result<(), Error>,
{
    let compiled = Compiled::new(&segments(site)?);
    let stored = storage::try_update_json(&profile_key(site, pid), |current: Option<Stored>| {
        let mut profile = match current {
            Some(Stored::Profile(profile)) => *profile,
            Some(Stored::Merged { merged_into }) => {
                return Err(Error::new(
                    409,
                    "profile_merged",
                    format!("`{pid}` was merged into `{merged_into}`"),
                ));
            }
            None if create => Profile::new(pid, now),
            None => return Err(Error::not_found(format!("no profile `{pid}`"))),
        };
        change(&mut profile)?;
        profile.rev = profile.rev.saturating_add(1);
        segments::refresh(&compiled, &mut profile, now);
        Ok(Stored::Profile(Box::new(profile)))
    })?;
    let Stored::Profile(profile) = stored else {
        return Err(Error::internal("a profile update wrote a merge mark"));
    };
    sync_membership(site, &profile)?;
    Ok(*profile)
}

/// Brings `profile`'s membership record, the segment indexes and the
/// expiry index up to date. The record is written only when the segments
/// or the expiry changed, and never over a newer revision; after a write
/// the profile is read again, and should a newer revision have been
/// stored meanwhile (whose own sync may have seen the record unchanged
/// and skipped it), that revision is synced too.
pub fn sync_membership(site: &str, profile: &Profile) -> Result<(), Error> {
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
/// at most `limit`; returns how many.
pub fn expire_due(site: &str, now: u64, limit: usize) -> Result<usize, Error> {
    let prefix = expiry_prefix(site);
    let mut done = 0;
    for entry in storage::scan(&prefix) {
        let (key, _) = entry?;
        let Some((at, pid)) = key.trim_start_matches(&prefix).split_once('/') else {
            storage::delete(&key)?;
            continue;
        };
        if at.parse::<u64>().map_or(true, |at| at > now) || done >= limit {
            break;
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
