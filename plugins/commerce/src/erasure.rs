//! Honouring `cdp.profile.erased` (docs/personalization.md): when the
//! personalisation plugin erases a person, commerce deletes what it holds
//! about them that no law requires it to keep: the user's cart. Orders and
//! invoices are accounting records (kept for the statutory period, e.g.
//! ten years in Germany) and stay; see docs/commerce.md, "Personal data".

use serde::Deserialize;
use tessera_sdk::prelude::*;

use crate::cart::CartRef;

/// The topic announcing an erasure.
pub const TOPIC: &str = "cdp.profile.erased";

/// The only plugin whose erasures are honoured.
const SOURCE: &str = "tessera.personalization";

#[derive(Debug, Deserialize)]
struct Erased {
    site: String,
    #[serde(default)]
    user_id: Option<String>,
}

/// Deletes the erased user's cart.
pub fn on_event(event: &Event) -> Result<(), String> {
    if event.source != SOURCE {
        log::warn(&format!(
            "ignoring {TOPIC} from `{}`: only {SOURCE} announces erasures",
            event.source
        ));
        return Ok(());
    }
    let erased: Erased = event.json().map_err(|error| error.to_string())?;
    if let Some(user) = erased.user_id {
        storage::delete(&CartRef::User(user.clone()).key(&erased.site))
            .map_err(|error| error.to_string())?;
        log::info(&format!(
            "erased the cart of user {user} on {}",
            erased.site
        ));
    }
    Ok(())
}
