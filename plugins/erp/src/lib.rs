//! `tessera.erp`: a connector to a REST ERP, and the model of how a
//! partner writes one. Orders and invoices are pulled incrementally by
//! cursor on a schedule (kernel jobs, outbound HTTP to the configured ERP
//! only) and pushed by the ERP through signed incoming webhooks (the
//! integrations plugin's source `erp`); ERP customers are mapped to B2B
//! companies, whose buyers read their orders and invoices. See
//! `docs/integrations.md`.

mod push;
pub mod records;
mod routes;
mod store;
pub mod sync;

use tessera_sdk::prelude::*;

/// The plugin.
pub struct Erp;

impl Plugin for Erp {
    fn router() -> Router {
        routes::router()
    }

    fn on_event(event: Event) -> Result<(), String> {
        if event.topic == "integrations.inbound.erp" {
            push::on_event(&event)
        } else {
            Ok(())
        }
    }

    fn run_job(name: String, payload: Vec<u8>) -> Result<(), String> {
        if sync::owns(&name) {
            sync::run_job(&payload)
        } else {
            Err(format!("the ERP connector has no job `{name}`"))
        }
    }
}

export_plugin!(Erp);
