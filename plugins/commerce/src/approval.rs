//! Approval of B2B orders above their company's limit through the
//! workflow plugin. Checkout leaves such an order `pending_approval` and
//! publishes `workflow.start` for the subject `{"type": "commerce.order",
//! "id": ...}` with the definition named by `approval-workflow`. That
//! definition's actions publish `workflow.commerce.approved` and
//! `workflow.commerce.rejected`; [`on_event`] accepts them only from
//! `tessera.workflow`, and only when the user who decided (`by`) is an
//! approver of the order's company per the membership records: approval
//! places the order, rejection cancels it (releasing its stock). A
//! decision by anyone else is recorded on the order and changes nothing;
//! staff may still cancel it.

use serde::Deserialize;
use tessera_sdk::prelude::*;

use crate::accounts;
use crate::context::setting;
use crate::lifecycle;
use crate::order::{Order, Status};
use crate::order_store;

/// The plugin that runs approvals, the only trusted source of outcomes.
const WORKFLOW: &str = "tessera.workflow";

/// The subject type of an order in workflow instances.
const SUBJECT_TYPE: &str = "commerce.order";

/// Starts the approval workflow of `order`.
pub fn request(order: &Order) -> Result<(), Error> {
    let definition = setting("approval-workflow", "commerce-order-approval");
    events::publish_json(
        "workflow.start",
        &json!({
            "definition": definition,
            "site": order.site,
            "subject": {"type": SUBJECT_TYPE, "id": order.id},
            "data": {
                "company": order.company,
                "buyer": order.username,
                "total": order.totals.total,
                "currency": order.totals.currency,
            },
        }),
    )
    .map(|_| ())
}

#[derive(Debug, Deserialize)]
struct Outcome {
    site: String,
    subject: Subject,
    #[serde(default)]
    by: Option<String>,
    #[serde(default)]
    comment: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Subject {
    #[serde(rename = "type")]
    kind: String,
    id: String,
}

/// Handles `workflow.commerce.approved` and `workflow.commerce.rejected`.
/// Redeliveries find the order decided and do nothing.
pub fn on_event(event: &Event) -> Result<(), String> {
    if event.source != WORKFLOW {
        return Err(format!(
            "{} from `{}` ignored: approvals come from {WORKFLOW}",
            event.topic, event.source
        ));
    }
    let approved = match event.topic.as_str() {
        "workflow.commerce.approved" => true,
        "workflow.commerce.rejected" => false,
        other => return Err(format!("commerce does not handle `{other}`")),
    };
    let outcome: Outcome = serde_json::from_slice(&event.payload)
        .map_err(|error| format!("{} {}: unreadable payload: {error}", event.topic, event.id))?;
    if outcome.subject.kind != SUBJECT_TYPE {
        return Ok(());
    }
    let (site, id) = (&outcome.site, &outcome.subject.id);
    let Some(order) = order_store::order(site, id).map_err(|e| e.message)? else {
        log::warn(&format!("{}: no order {id} on {site}", event.topic));
        return Ok(());
    };
    if order.status != Status::PendingApproval {
        return Ok(());
    }
    let by = outcome.by.unwrap_or_else(|| "system".to_owned());
    let company = order.company.clone().unwrap_or_default();
    if !accounts::is_approver(site, &company, &by).map_err(|e| e.message)? {
        let note = format!(
            "{} by `{by}` ignored: not an approver of `{company}`",
            if approved { "approval" } else { "rejection" }
        );
        log::warn(&format!("order {id}: {note}"));
        order_store::update(site, id, |order| {
            order.approval = Some(note.clone());
            Ok(())
        })
        .map_err(|e| e.message)?;
        return Ok(());
    }
    let (to, verb) = if approved {
        (Status::Placed, "approved")
    } else {
        (Status::Cancelled, "rejected")
    };
    let note = match &outcome.comment {
        Some(comment) => format!("{verb} by {by}: {comment}"),
        None => format!("{verb} by {by}"),
    };
    let recorded = note.clone();
    match lifecycle::transition_with(site, id, to, &by, Some(note), |order| {
        order.approval = Some(recorded.clone());
    }) {
        Ok(_) => Ok(()),
        Err(error) if error.status == 409 => Ok(()),
        Err(error) => Err(error.message),
    }
}
