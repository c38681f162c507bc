//! `tessera.commerce`: a catalog of products with variants, categories and
//! localised texts; price lists per currency, account and segment with
//! quantity tiers; coupons, automatic discounts and tax rules; stock per
//! warehouse with reservations that concurrent checkouts cannot oversell;
//! anonymous and signed-in carts with server-computed totals; idempotent
//! checkout with a payment-provider interface; orders with an enforced
//! state machine, events and invoices; and B2B company accounts whose
//! orders above a limit are approved through the workflow plugin. See
//! `docs/commerce.md`.
//!
//! The rules (money, catalog validation, listing filters, price
//! resolution, coupons and discounts, tax and shipping, totals, cart lines,
//! the order state machine, the test payment provider) are pure functions,
//! unit-tested natively; `accounts`, `inventory`, `cleanup`, the `*_store`
//! and `*_routes` modules, `checkout`, `lifecycle` and `approval` talk to
//! the kernel and are tested end to end (`tests/commerce.rs`).

pub mod accounts;
mod accounts_routes;
mod approval;
pub mod cart;
mod cart_routes;
pub mod catalog;
mod catalog_routes;
mod catalog_store;
mod checkout;
mod cleanup;
pub mod context;
pub mod coupons;
mod erasure;
mod inventory;
mod lifecycle;
pub mod listing;
pub mod money;
pub mod order;
mod order_routes;
mod order_store;
mod paging;
pub mod payment;
mod pricer;
pub mod pricing;
mod routes;
mod rules_routes;
mod rules_store;
pub mod shipping;
pub mod totals;

use tessera_sdk::prelude::*;

/// The plugin.
pub struct Commerce;

impl Plugin for Commerce {
    fn router() -> Router {
        routes::router()
    }

    fn on_event(event: Event) -> Result<(), String> {
        if event.topic == erasure::TOPIC {
            erasure::on_event(&event)
        } else {
            approval::on_event(&event)
        }
    }

    fn run_job(name: String, payload: Vec<u8>) -> Result<(), String> {
        if lifecycle::owns(&name) {
            lifecycle::run_job(&name, &payload)
        } else if cleanup::owns(&name) {
            cleanup::run_job(&name, &payload)
        } else {
            Err(format!("commerce has no job `{name}`"))
        }
    }
}

export_plugin!(Commerce);
