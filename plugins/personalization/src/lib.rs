//! `tessera.personalization`: the customer data platform of Tessera.
//! Visitors and users are tracked (`/track`, page views and custom
//! events; server-side events of identity and commerce), one profile per
//! person joins attributes with behaviour (an anonymous visitor's history
//! merges into the user's at sign-in), segments defined by rules are kept
//! up to date as events arrive (membership precomputed, so `/me/segments`
//! is one storage read), experiences choose blocks per segment, A/B tests
//! assign deterministically and count conversions, and daily analytics
//! aggregate per segment. Erasure deletes a profile and announces
//! `cdp.profile.erased`. See `docs/personalization.md`.
//!
//! The rules (ids, profiles, segment rules, experiments, experiences,
//! analytics, the tracking body) live in modules that never call the
//! kernel and are unit-tested natively; the others talk to the kernel.

mod aggregate;
pub mod analytics;
mod background;
mod budget;
pub mod caller;
pub mod device;
mod erase;
mod experience_routes;
pub mod experiences;
pub mod experiments;
pub mod fields;
pub mod ids;
mod membership;
pub mod orders;
mod paging;
pub mod profile;
mod profile_routes;
mod routes;
pub mod rules;
mod segment_routes;
pub mod segments;
mod server_events;
mod store;
mod track;
pub mod tracked;
mod trials;

use tessera_sdk::prelude::*;

/// The plugin.
pub struct Personalization;

impl Plugin for Personalization {
    fn router() -> Router {
        routes::router()
    }

    fn migrate(_from_version: Option<String>) -> Result<(), String> {
        background::schedule().map_err(|error| error.to_string())
    }

    fn on_event(event: Event) -> Result<(), String> {
        server_events::on_event(&event)
    }

    fn run_job(name: String, payload: Vec<u8>) -> Result<(), String> {
        background::run_job(&name, &payload)
    }
}

export_plugin!(Personalization);
