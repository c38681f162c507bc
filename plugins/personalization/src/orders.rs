//! Orders from the commerce plugin's `commerce.order.{state}` events
//! (`{"site", "order", "status", "user_id", "total", "currency", ...}`,
//! totals in minor units), read and applied to the buyer's profile. Pure.

use serde::Deserialize;
use serde_json::json;

use crate::ids::Person;
use crate::profile::{Order, Profile};

#[derive(Debug, Deserialize)]
struct Payload {
    site: String,
    order: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    total: u64,
    #[serde(default)]
    currency: String,
}

/// What one order event says.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderUpdate {
    /// The site.
    pub site: String,
    /// The buyer's profile id.
    pub pid: String,
    /// The order id.
    pub order: String,
    /// Its state now.
    pub status: String,
    /// Minor units.
    pub total: u64,
    /// ISO code, upper case.
    pub currency: String,
}

/// The update an event of `topic` carries; `Ok(None)` for an order
/// without a (well-formed) buyer, such as a guest checkout.
pub fn parse(topic: &str, payload: &[u8]) -> Result<Option<OrderUpdate>, serde_json::Error> {
    let payload: Payload = serde_json::from_slice(payload)?;
    let Some(user_id) = payload.user_id else {
        return Ok(None);
    };
    let pid = Person::User(user_id).pid();
    if Person::parse(&pid).is_none() {
        return Ok(None);
    }
    let status = payload
        .status
        .unwrap_or_else(|| topic.trim_start_matches("commerce.order.").to_owned());
    Ok(Some(OrderUpdate {
        site: payload.site,
        pid,
        order: payload.order,
        status,
        total: payload.total,
        currency: payload.currency.to_ascii_uppercase(),
    }))
}

/// Applies event `event_id` of `topic` (published `at`) to `profile`:
/// the order and the topic as an event. Returns false, changing nothing,
/// for an event applied before.
pub fn apply(
    profile: &mut Profile,
    update: &OrderUpdate,
    event_id: &str,
    topic: &str,
    at: u64,
) -> bool {
    if !profile.first_time(event_id) {
        return false;
    }
    profile.record_order(
        &update.order,
        Order {
            total: update.total,
            currency: update.currency.clone(),
            status: update.status.clone(),
            at,
        },
    );
    profile.record_event(
        topic,
        topic,
        at,
        json!({"order": update.order, "total": update.total, "currency": update.currency}),
    );
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules;

    fn event(status: &str) -> Vec<u8> {
        json!({"site": "default", "order": "O00000007", "status": status, "from": "placed",
               "user_id": "u_ada", "company": "acme", "total": 150_000, "currency": "eur"})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn an_order_over_a_thousand_euros_puts_the_buyer_in_the_segment_until_cancelled() {
        let big =
            rules::parse(&json!({"order_over": {"amount": 100_000, "currency": "EUR"}})).unwrap();
        let paid_twice =
            rules::parse(&json!({"event": "commerce.order.paid", "min_count": 2})).unwrap();
        let mut profile = Profile::new("u:u_ada", 1_000);
        let placed = parse("commerce.order.placed", &event("placed"))
            .unwrap()
            .unwrap();
        assert_eq!(placed.pid, "u:u_ada");
        assert_eq!(placed.currency, "EUR");
        assert!(apply(
            &mut profile,
            &placed,
            "e1",
            "commerce.order.placed",
            1_000
        ));
        assert!(rules::holds(&big, &profile, 2_000));
        let paid = parse("commerce.order.paid", &event("paid"))
            .unwrap()
            .unwrap();
        assert!(apply(
            &mut profile,
            &paid,
            "e2",
            "commerce.order.paid",
            2_000
        ));
        // A redelivery changes nothing.
        assert!(!apply(
            &mut profile,
            &paid,
            "e2",
            "commerce.order.paid",
            2_000
        ));
        assert_eq!(
            profile.events.get("commerce.order.paid").map(|c| c.total),
            Some(1)
        );
        assert!(!rules::holds(&paid_twice, &profile, 3_000));
        assert_eq!(profile.orders.get("O00000007").map(|o| o.at), Some(1_000));
        let cancelled = parse("commerce.order.cancelled", &event("cancelled"))
            .unwrap()
            .unwrap();
        assert!(apply(
            &mut profile,
            &cancelled,
            "e3",
            "commerce.order.cancelled",
            3_000
        ));
        assert!(!rules::holds(&big, &profile, 4_000));
    }

    #[test]
    fn guests_and_strange_payloads_are_told_apart() {
        let guest = json!({"site": "default", "order": "O1", "total": 5}).to_string();
        assert_eq!(
            parse("commerce.order.placed", guest.as_bytes()).unwrap(),
            None
        );
        let no_status = json!({"site": "default", "order": "O1", "user_id": "u_1", "total": 5, "currency": "EUR"});
        let update = parse("commerce.order.shipped", no_status.to_string().as_bytes())
            .unwrap()
            .unwrap();
        assert_eq!(update.status, "shipped");
        let bad_user = json!({"site": "default", "order": "O1", "user_id": "a/b"});
        assert_eq!(
            parse("commerce.order.paid", bad_user.to_string().as_bytes()).unwrap(),
            None
        );
        assert!(parse("commerce.order.paid", b"[1]").is_err());
    }
}
