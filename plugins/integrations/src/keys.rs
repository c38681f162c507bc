//! Where the plugin keeps things, per site. Every key starts with
//! `site/{site}/`:
//!
//! | key | value |
//! |---|---|
//! | `seq` | the last number handed out for ids |
//! | `webhooks/{id}` | a [`crate::webhooks::Webhook`] |
//! | `deliveries/{id}` | a [`crate::deliveries::Delivery`] |
//! | `webhook-deliveries/{webhook}/{u64::MAX - created_at:020}/{id}` | empty: a webhook's deliveries, newest first |
//! | `sources/{key}` | a [`crate::inbound::Source`] |

use tessera_sdk::Error;
use tessera_sdk::storage;

/// The prefix of every key of `site`.
pub fn root(site: &str) -> String {
    format!("site/{site}/")
}

/// A new id with `prefix` (`wh_7`, `dl_8`), unique on `site`.
pub fn next_id(site: &str, prefix: &str) -> Result<String, Error> {
    let number: u64 = storage::update_json(&format!("{}seq", root(site)), |seq: Option<u64>| {
        seq.unwrap_or(0) + 1
    })?;
    Ok(format!("{prefix}_{number}"))
}

/// A random secret: 32 bytes as hex.
pub fn new_secret() -> Result<String, Error> {
    let mut bytes = [0_u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|error| Error::internal(format!("no randomness for a secret: {error}")))?;
    Ok(hex::encode(bytes))
}

/// The caller's site, once `integrations.webhook.manage` is checked.
pub fn manager() -> Result<(String, String), Error> {
    tessera_sdk::identity::require(crate::MANAGE)?;
    let principal = tessera_sdk::identity::current();
    let by = principal
        .user
        .map(|user| user.username)
        .unwrap_or_else(|| "anonymous".to_owned());
    Ok((principal.site, by))
}
