//! Orders and their state machine:
//!
//! ```text
//! pending_approval ─approve─▶ placed ─pay─▶ paid ─▶ fulfilled ─▶ shipped ─▶ delivered ─▶ returned
//!        │                      │              │
//!        └──reject──▶ cancelled ◀──────────────┘
//! ```
//!
//! Every transition is checked here; an illegal one is a 409
//! `invalid_transition` naming the states allowed from where the order
//! stands. Pure.

use serde::{Deserialize, Serialize};
use tessera_sdk::Error;

use crate::totals::{PricedLine, Totals};

/// Where an order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Above the company's limit: waiting for an approver.
    PendingApproval,
    /// Placed, stock reserved, not paid yet.
    Placed,
    /// Paid; an invoice was issued.
    Paid,
    /// Picked and packed.
    Fulfilled,
    /// Handed to the carrier.
    Shipped,
    /// Delivered.
    Delivered,
    /// Cancelled (terminal).
    Cancelled,
    /// Returned after delivery (terminal).
    Returned,
}

impl Status {
    /// The snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Status::PendingApproval => "pending_approval",
            Status::Placed => "placed",
            Status::Paid => "paid",
            Status::Fulfilled => "fulfilled",
            Status::Shipped => "shipped",
            Status::Delivered => "delivered",
            Status::Cancelled => "cancelled",
            Status::Returned => "returned",
        }
    }

    /// The event topic announcing an order entered this state.
    pub fn topic(self) -> String {
        format!("commerce.order.{}", self.name().replace('_', "-"))
    }

    /// The states an order may move to from this one.
    pub fn next(self) -> &'static [Status] {
        match self {
            Status::PendingApproval => &[Status::Placed, Status::Cancelled],
            Status::Placed => &[Status::Paid, Status::Cancelled],
            Status::Paid => &[Status::Fulfilled, Status::Cancelled],
            Status::Fulfilled => &[Status::Shipped],
            Status::Shipped => &[Status::Delivered],
            Status::Delivered => &[Status::Returned],
            Status::Cancelled | Status::Returned => &[],
        }
    }

    /// `Ok` when an order may move from this state to `to`; 409
    /// `invalid_transition` otherwise.
    pub fn check(self, to: Status) -> Result<(), Error> {
        if self.next().contains(&to) {
            return Ok(());
        }
        let allowed: Vec<&str> = self.next().iter().map(|status| status.name()).collect();
        Err(Error::new(
            409,
            "invalid_transition",
            if allowed.is_empty() {
                format!("the order is {}: it cannot change any more", self.name())
            } else {
                format!(
                    "an order that is {} cannot become {}; it can become: {}",
                    self.name(),
                    to.name(),
                    allowed.join(", ")
                )
            },
        ))
    }
}

/// A postal address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    /// Recipient.
    pub name: String,
    /// Street and number.
    pub line1: String,
    /// More.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    /// Postal code.
    pub postal_code: String,
    /// City.
    pub city: String,
    /// ISO 3166-1 alpha-2 country.
    pub country: String,
}

impl Address {
    /// Checks every field; the message names it under `field`.
    pub fn validate(&self, field: &str) -> Result<(), Error> {
        let texts = [
            ("name", Some(&self.name)),
            ("line1", Some(&self.line1)),
            ("line2", self.line2.as_ref()),
            ("postal_code", Some(&self.postal_code)),
            ("city", Some(&self.city)),
        ];
        for (name, value) in texts {
            if let Some(value) = value
                && (value.trim().is_empty() || value.chars().count() > 200)
            {
                return Err(Error::new(
                    400,
                    "invalid_address",
                    format!("`{field}.{name}` must have 1 to 200 characters"),
                ));
            }
        }
        crate::shipping::country(&self.country).map(|_| ())
    }
}

/// A payment taken for an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    /// The provider id.
    pub provider: String,
    /// The provider's reference.
    pub reference: String,
    /// What was charged (minor units of the order's currency).
    pub amount: i64,
    /// When (ms).
    pub at: u64,
    /// Whether it was refunded.
    #[serde(default)]
    pub refunded: bool,
}

/// One step of an order's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// The state before (`None` at creation).
    pub from: Option<Status>,
    /// The state after.
    pub to: Status,
    /// Who (a username or `system`).
    pub by: String,
    /// When (ms).
    pub at: u64,
    /// Why, if said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// An order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// The order id.
    pub id: String,
    /// The site.
    pub site: String,
    /// Where it stands.
    pub status: Status,
    /// Who placed it (user id).
    pub user_id: String,
    /// Their username.
    pub username: String,
    /// Their company, for B2B orders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    /// The lines as priced at checkout.
    pub lines: Vec<PricedLine>,
    /// The automatic discount applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automatic_discount: Option<crate::coupons::Applied>,
    /// The coupon used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coupon: Option<String>,
    /// The totals as computed at checkout.
    pub totals: Totals,
    /// Where it ships.
    pub shipping_address: Address,
    /// Where the invoice goes.
    pub billing_address: Address,
    /// The shipping method id.
    pub shipping_method: String,
    /// The payment, once paid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment: Option<Payment>,
    /// The invoice number, once paid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice: Option<String>,
    /// The workflow approval note, for orders that waited for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<String>,
    /// Every state change.
    pub history: Vec<Step>,
    /// Created (ms).
    pub created_at: u64,
    /// Last change (ms).
    pub updated_at: u64,
}

impl Order {
    /// Moves the order to `to` if the state machine allows it, recording
    /// the step.
    pub fn transition(
        &mut self,
        to: Status,
        by: &str,
        note: Option<String>,
        at: u64,
    ) -> Result<(), Error> {
        self.status.check(to)?;
        self.history.push(Step {
            from: Some(self.status),
            to,
            by: by.to_owned(),
            at,
            note,
        });
        self.status = to;
        self.updated_at = at;
        Ok(())
    }
}

/// Parses a state name; 400 `invalid_status`.
pub fn parse_status(name: &str) -> Result<Status, Error> {
    serde_json::from_value(serde_json::Value::String(name.to_owned())).map_err(|_| {
        Error::new(
            400,
            "invalid_status",
            format!("`{name}` is not an order state: pending_approval, placed, paid, fulfilled, shipped, delivered, cancelled or returned"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_machine_allows_only_its_edges() {
        let all = [
            Status::PendingApproval,
            Status::Placed,
            Status::Paid,
            Status::Fulfilled,
            Status::Shipped,
            Status::Delivered,
            Status::Cancelled,
            Status::Returned,
        ];
        let edges = [
            ("pending_approval", "placed"),
            ("pending_approval", "cancelled"),
            ("placed", "paid"),
            ("placed", "cancelled"),
            ("paid", "fulfilled"),
            ("paid", "cancelled"),
            ("fulfilled", "shipped"),
            ("shipped", "delivered"),
            ("delivered", "returned"),
        ];
        for from in all {
            for to in all {
                let legal = edges.contains(&(from.name(), to.name()));
                assert_eq!(
                    from.check(to).is_ok(),
                    legal,
                    "{} → {}",
                    from.name(),
                    to.name()
                );
            }
        }
        let error = Status::Placed.check(Status::Shipped).unwrap_err();
        assert_eq!(
            (error.status, error.code.as_str()),
            (409, "invalid_transition")
        );
        assert!(
            error.message.contains("paid, cancelled"),
            "{}",
            error.message
        );
        assert!(
            Status::Cancelled
                .check(Status::Placed)
                .unwrap_err()
                .message
                .contains("cannot change")
        );
        assert_eq!(parse_status("shipped").unwrap(), Status::Shipped);
        assert_eq!(parse_status("lost").unwrap_err().code, "invalid_status");
        assert_eq!(
            Status::PendingApproval.topic(),
            "commerce.order.pending-approval"
        );
    }
}
