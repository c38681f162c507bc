//! Where everything lives in the plugin's storage, scoped by site:
//!
//! | key | value |
//! |---|---|
//! | `sites/{site}` | present once the site has data (the jobs walk these) |
//! | `s/{site}/p/{pid}` | a [`Profile`], or `{"merged_into": pid}` for a merged visitor |
//! | `s/{site}/m/{pid}` | the person's [`crate::membership::Membership`]: what `/me/segments` reads |
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

use tessera_sdk::Error;
use tessera_sdk::storage;

use crate::experiments::Experiment;
use crate::membership;
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

/// The key of one member of a segment.
pub fn index_key(site: &str, segment: &str, pid: &str) -> String {
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

/// The key of one entry of the expiry index.
pub fn expiry_key(site: &str, at: u64, pid: &str) -> String {
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

/// `visitor-retention-days`: days without activity after which an
/// anonymous visitor's profile is deleted (0: never).
pub fn retention_days() -> u64 {
    tessera_sdk::config::get("visitor-retention-days")
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(395)
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
    let retention = retention_days();
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
        // An anonymous profile also expires when its retention ends.
        if let Some(end) = profile.retention_end(retention) {
            profile.expires_at = Some(profile.expires_at.map_or(end, |at| at.min(end)));
        }
        Ok(Stored::Profile(Box::new(profile)))
    })?;
    let Stored::Profile(profile) = stored else {
        return Err(Error::internal("a profile update wrote a merge mark"));
    };
    membership::sync(site, &profile)?;
    Ok(*profile)
}
