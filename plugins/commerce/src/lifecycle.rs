//! Moving orders through their states and what each move sets off: paying
//! commits the reserved stock and issues the invoice; cancelling releases
//! the stock and refunds a payment; approval starts the payment timeout;
//! every move publishes `commerce.order.{state}`. The state change itself
//! is a compare-and-swap on the order, so it happens once; the effects
//! that follow are idempotent.

use serde::{Deserialize, Serialize};
use tessera_sdk::prelude::*;

use crate::context::{now, setting};
use crate::inventory::{self, State};
use crate::order::{Order, Payment, Status};
use crate::order_store;
use crate::payment::{self, Charge, PaymentRequest};

/// The job that cancels an unpaid order and releases its stock.
const EXPIRY_PREFIX: &str = "expire/";

/// The payload of an expiry job.
#[derive(Debug, Serialize, Deserialize)]
struct Expiry {
    site: String,
    order: String,
}

fn expiry_job(site: &str, order: &str) -> String {
    format!("{EXPIRY_PREFIX}{site}/{order}")
}

/// The job that gives back the stock of a checkout that never wrote its
/// order (it crashed or hit the time limit after reserving).
const RECOVERY_PREFIX: &str = "recover/";

/// How long after a checkout starts its recovery job runs: far longer than
/// the plugin's time limit, so the checkout has ended by then.
const RECOVERY_MS: u64 = 120_000;

fn recovery_job(site: &str, order: &str) -> String {
    format!("{RECOVERY_PREFIX}{site}/{order}")
}

/// Whether `name` is one of this module's jobs.
pub fn owns(name: &str) -> bool {
    name.starts_with(EXPIRY_PREFIX) || name.starts_with(RECOVERY_PREFIX)
}

fn payload(site: &str, order: &str) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(&Expiry {
        site: site.to_owned(),
        order: order.to_owned(),
    })
    .map_err(|e| Error::internal(e.to_string()))
}

/// Schedules the recovery of checkout `order`, before it reserves stock.
pub fn schedule_recovery(site: &str, order: &str) -> Result<(), Error> {
    jobs::at(
        &recovery_job(site, order),
        now().saturating_add(RECOVERY_MS),
        &payload(site, order)?,
    )
}

/// Cancels the recovery of checkout `order`: it ended, one way or the
/// other.
pub fn cancel_recovery(site: &str, order: &str) {
    let _ = jobs::cancel(&recovery_job(site, order));
}

/// Schedules the payment timeout of a placed order
/// (`reservation-seconds`).
pub fn schedule_expiry(site: &str, order: &str) -> Result<(), Error> {
    let seconds: u64 = setting("reservation-seconds", "900").parse().unwrap_or(900);
    let payload = payload(site, order)?;
    jobs::at(
        &expiry_job(site, order),
        now().saturating_add(seconds.saturating_mul(1000)),
        &payload,
    )
}

/// Announces that `order` entered its current state.
pub fn announce(order: &Order) {
    let from = order
        .history
        .last()
        .and_then(|step| step.from)
        .map(Status::name);
    let payload = json!({
        "site": order.site,
        "order": order.id,
        "status": order.status.name(),
        "from": from,
        "user_id": order.user_id,
        "company": order.company,
        "total": order.totals.total,
        "currency": order.totals.currency,
    });
    if let Err(error) = events::publish_json(&order.status.topic(), &payload) {
        log::warn(&format!(
            "could not announce order {} {}: {error}",
            order.id,
            order.status.name()
        ));
    }
}

/// What follows an order entering its current state.
fn effects(order: &Order) -> Result<Order, Error> {
    let site = &order.site;
    let mut order = order.clone();
    match order.status {
        Status::Placed => schedule_expiry(site, &order.id)?,
        Status::Paid => {
            inventory::settle(site, &order.id, State::Committed)?;
            let _ = jobs::cancel(&expiry_job(site, &order.id));
            let reference = order
                .payment
                .as_ref()
                .map(|p| p.reference.clone())
                .unwrap_or_default();
            let number = order_store::issue_invoice(&order, &reference, now())?;
            order.invoice = Some(number);
        }
        Status::Cancelled => {
            inventory::settle(site, &order.id, State::Released)?;
            let _ = jobs::cancel(&expiry_job(site, &order.id));
            if let Some(paid) = order.payment.clone().filter(|payment| !payment.refunded) {
                let provider = payment::provider(&paid.provider)?;
                provider
                    .refund(&paid.reference, paid.amount)
                    .map_err(|e| payment::declined(&e))?;
                order = order_store::update(site, &order.id, |order| {
                    if let Some(payment) = &mut order.payment {
                        payment.refunded = true;
                    }
                    Ok(())
                })?;
            }
        }
        _ => {}
    }
    announce(&order);
    Ok(order)
}

/// Moves order `id` to `to` (409 when the state machine forbids it) and
/// runs the effects.
pub fn transition(
    site: &str,
    id: &str,
    to: Status,
    by: &str,
    note: Option<String>,
) -> Result<Order, Error> {
    transition_with(site, id, to, by, note, |_| {})
}

/// [`transition`] that also applies `also` to the order in the same
/// compare-and-swap.
pub fn transition_with(
    site: &str,
    id: &str,
    to: Status,
    by: &str,
    note: Option<String>,
    also: impl Fn(&mut Order),
) -> Result<Order, Error> {
    let at = now();
    let order = order_store::update(site, id, |order| {
        order.transition(to, by, note.clone(), at)?;
        also(order);
        Ok(())
    })?;
    effects(&order)
}

/// Charges a placed order with `request` and marks it paid: 402
/// `payment_declined` (the order stays placed), 409 when it is not
/// placed.
pub fn pay(site: &str, id: &str, request: &PaymentRequest, by: &str) -> Result<Order, Error> {
    let order = order_store::order(site, id)?.ok_or_else(|| order_store::unknown_order(id))?;
    order.status.check(Status::Paid)?;
    let provider = payment::provider(&request.provider)?;
    let reference = provider
        .charge(&Charge {
            order: id,
            amount: order.totals.total,
            currency: &order.totals.currency,
            token: &request.token,
        })
        .map_err(|reason| payment::declined(&reason))?;
    let at = now();
    let paid = order_store::update(site, id, |order| {
        order.transition(Status::Paid, by, None, at)?;
        order.payment = Some(Payment {
            provider: provider.id().to_owned(),
            reference: reference.clone(),
            amount: order.totals.total,
            at,
            refunded: false,
        });
        Ok(())
    });
    match paid {
        Ok(order) => effects(&order),
        Err(error) => {
            // Charged, but the order moved meanwhile (cancelled by its
            // timeout): give the money back.
            if let Err(refund) = provider.refund(&reference, order.totals.total) {
                log::error(&format!(
                    "order {id}: charged {reference} but could not refund it: {}",
                    refund.0
                ));
            }
            Err(error)
        }
    }
}

/// Runs an expiry job (cancels the order if it is still unpaid) or a
/// recovery job (gives back what a checkout that wrote no order held).
pub fn run_job(name: &str, payload: &[u8]) -> Result<(), String> {
    let expiry: Expiry =
        serde_json::from_slice(payload).map_err(|e| format!("{name}: bad payload: {e}"))?;
    let order = order_store::order(&expiry.site, &expiry.order).map_err(|e| e.to_string())?;
    if name.starts_with(RECOVERY_PREFIX) {
        if order.is_none() {
            log::warn(&format!(
                "checkout of order {} never finished: giving back its stock",
                expiry.order
            ));
            inventory::abandon(&expiry.site, &expiry.order);
        }
        return Ok(());
    }
    match order {
        Some(order) if order.status == Status::Placed => {
            transition(
                &expiry.site,
                &expiry.order,
                Status::Cancelled,
                "system",
                Some("not paid in time: the reservation expired".to_owned()),
            )
            .map_err(|e| e.to_string())?;
            log::info(&format!(
                "order {} cancelled: unpaid at its reservation timeout",
                expiry.order
            ));
            Ok(())
        }
        _ => Ok(()),
    }
}
