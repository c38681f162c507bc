//! Records the ERP pushes: the integrations plugin checks the ERP's
//! signature on `POST /api/integrations/inbound/erp` and publishes
//! `integrations.inbound.erp`; its body is
//! `{"kind": "order"|"invoice", "record": {...}}` (or `"records": [...]`),
//! each record in the same shape as the pull API's items.

use serde::Deserialize;
use serde_json::{Value, json};
use tessera_sdk::prelude::*;

use crate::records::{self, Kind};
use crate::store;

#[derive(Debug, Deserialize)]
struct Inbound {
    site: String,
    body: Pushed,
}

#[derive(Debug, Deserialize)]
struct Pushed {
    kind: Kind,
    #[serde(default)]
    record: Option<Value>,
    #[serde(default)]
    records: Vec<Value>,
}

/// Stores the records of an `integrations.inbound.erp` event. A malformed
/// push is logged and announced (`erp.push.rejected`), not retried: the
/// same event would fail again.
pub fn on_event(event: &Event) -> Result<(), String> {
    let inbound: Inbound = match serde_json::from_slice(&event.payload) {
        Ok(inbound) => inbound,
        Err(error) => {
            reject(
                &event.id,
                "default",
                &format!("not a push of ERP records: {error}"),
            );
            return Ok(());
        }
    };
    let Pushed {
        kind,
        record,
        mut records,
    } = inbound.body;
    records.extend(record);
    let mut stored = 0;
    for item in &records {
        match records::parse(kind, item) {
            Ok(record) => {
                let operations =
                    store::upsert(&inbound.site, &record).map_err(|e| e.to_string())?;
                storage::batch(&operations).map_err(|e| e.to_string())?;
                stored += 1;
            }
            Err(reason) => reject(&event.id, &inbound.site, &reason),
        }
    }
    log::info(&format!(
        "ERP push {}: {stored} of {} records stored",
        event.id,
        records.len()
    ));
    Ok(())
}

fn reject(event: &str, site: &str, reason: &str) {
    log::warn(&format!("ERP push {event} rejected: {reason}"));
    let payload = json!({"site": site, "event": event, "reason": reason});
    if let Err(error) = events::publish_json("erp.push.rejected", &payload) {
        log::warn(&format!("cannot announce the rejected push: {error}"));
    }
}
