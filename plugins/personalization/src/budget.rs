//! The site-wide budget of new anonymous visitor profiles per minute
//! (`new-profiles-per-minute`): what bounds clients that never keep a
//! visitor id.

use tessera_sdk::storage;
use tessera_sdk::{Error, config};

use crate::profile::Stored;
use crate::store::load;

/// The profile anonymous activity of `pid` lands on, like [`crate::store::resolve`];
/// creating a new visitor profile first takes one from the site's
/// `new-profiles-per-minute` budget (429 `rate_limited` when spent), which
/// bounds what clients that never keep a visitor id can store.
pub fn target(site: &str, pid: &str, now: u64) -> Result<String, Error> {
    match load(site, pid)? {
        Some(Stored::Merged { merged_into }) => Ok(merged_into),
        Some(Stored::Profile(_)) => Ok(pid.to_owned()),
        None if pid.starts_with("v:") => {
            let limit: u64 = config::get("new-profiles-per-minute")
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
