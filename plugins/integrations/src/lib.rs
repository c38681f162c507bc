//! `tessera.integrations`: outgoing webhooks (event topics delivered to
//! external URLs, signed with HMAC-SHA256, retried with backoff, logged and
//! replayable) and incoming webhooks (one endpoint per configured source,
//! its signature checked, turned into an event). See
//! `docs/integrations.md`.
//!
//! The pure rules (signatures, backoff, topic patterns, origins) are
//! unit-tested natively; the rest talks to the kernel.

pub mod backoff;
mod deliveries;
mod inbound;
mod keys;
pub mod origins;
pub mod signature;
pub mod topics;
mod webhooks;

use tessera_sdk::prelude::*;

/// The permission every administrative route needs.
pub const MANAGE: &str = "integrations.webhook.manage";

/// The plugin.
pub struct Integrations;

impl Plugin for Integrations {
    fn router() -> Router {
        Router::new()
            .post("/webhooks", webhooks::create)
            .get("/webhooks", webhooks::list)
            .get("/webhooks/:id", webhooks::show)
            .put("/webhooks/:id", webhooks::update)
            .delete("/webhooks/:id", webhooks::delete)
            .post("/webhooks/:id/rotate-secret", webhooks::rotate)
            .get("/webhooks/:id/deliveries", deliveries::list)
            .get("/deliveries/:id", deliveries::show)
            .post("/deliveries/:id/replay", deliveries::replay)
            .put("/sources/:key", inbound::put)
            .get("/sources", inbound::list)
            .delete("/sources/:key", inbound::delete)
            .post("/inbound/:source", inbound::receive)
    }

    fn on_event(event: Event) -> Result<(), String> {
        deliveries::fan_out(&event).map_err(|error| error.to_string())
    }

    fn run_job(name: String, _payload: Vec<u8>) -> Result<(), String> {
        if deliveries::owns(&name) {
            deliveries::run_job(&name)
        } else {
            Err(format!("the integrations plugin has no job `{name}`"))
        }
    }
}

export_plugin!(Integrations);
