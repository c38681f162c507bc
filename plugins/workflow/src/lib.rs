//! `tessera.workflow`: administrators define workflows as versioned JSON
//! definitions (states, transitions guarded by roles, timers, actions that
//! publish events); other plugins start instances on their assets through
//! `invoke` or the event `workflow.start`; users work through their task
//! inbox and every instance keeps its full history. See `docs/workflow.md`.
//!
//! The pure rules (definition validation, transitions, the inbox, timer and
//! event payloads) live in modules that never call the kernel and are
//! unit-tested natively; `store`, `effects`, `start`, `timers` and
//! `routes` talk to the kernel.

pub mod definition;
mod effects;
pub mod inbox;
pub mod instance;
mod routes;
mod start;
mod store;
mod timers;

use tessera_sdk::prelude::*;

/// The plugin.
pub struct Workflow;

impl Plugin for Workflow {
    fn router() -> Router {
        routes::router()
    }

    fn on_event(event: Event) -> Result<(), String> {
        start::on_event(&event)
    }

    fn run_job(name: String, payload: Vec<u8>) -> Result<(), String> {
        timers::run_job(&name, &payload)
    }
}

export_plugin!(Workflow);
