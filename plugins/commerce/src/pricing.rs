//! Price lists: per currency, optionally for one customer account (a
//! company) or one segment, valid between two dates, each with tiered
//! (quantity) prices per SKU. Resolution picks, for a SKU, a quantity and
//! a customer, the most specific list valid now that prices the SKU:
//! account lists before segment lists before general lists, then the
//! higher `priority`, then the smaller list id; within it, the tier with
//! the largest `min_quantity` not above the quantity. Pure.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tessera_sdk::Error;

use crate::context::{is_sku, is_slug};
use crate::money;

/// One price tier: from `min_quantity` units on, `amount` per unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    /// The smallest quantity this unit price applies to (the first tier: 1).
    pub min_quantity: u32,
    /// The unit price, in minor units of the list's currency.
    pub amount: i64,
}

/// A price list as written by `PUT /price-lists/{id}`, without its prices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceList {
    /// The list id (set from the path).
    #[serde(default)]
    pub id: String,
    /// ISO 4217 currency of every price in the list.
    pub currency: String,
    /// Only for this company account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Only for customers in this segment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<String>,
    /// Valid from this instant on (RFC 3339), if bounded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<String>,
    /// Valid until this instant, excluded (RFC 3339), if bounded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
    /// Among lists equally specific, the higher wins.
    #[serde(default)]
    pub priority: i32,
}

/// Who is buying, in what currency, when.
#[derive(Debug, Clone, Default)]
pub struct Customer {
    /// The currency of the cart.
    pub currency: String,
    /// Their company, if any.
    pub account: Option<String>,
    /// Their segments.
    pub segments: Vec<String>,
    /// Now (ms).
    pub now: u64,
}

fn invalid(message: String) -> Error {
    Error::new(400, "invalid_price_list", message)
}

/// An RFC 3339 instant as ms since the epoch.
pub fn instant(field: &str, text: &str) -> Result<u64, Error> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .and_then(|at| u64::try_from(at.timestamp_millis()).ok())
        .ok_or_else(|| {
            invalid(format!(
                "`{field}`: `{text}` is not an RFC 3339 time such as 2026-12-01T00:00:00Z"
            ))
        })
}

/// Checks tiers: 1 to 20, the first from quantity 1, quantities rising,
/// amounts valid.
pub fn check_tiers(sku: &str, tiers: &[Tier]) -> Result<(), Error> {
    if !is_sku(sku) {
        return Err(invalid(format!("`prices`: `{sku}` is not a SKU")));
    }
    if tiers.is_empty() || tiers.len() > 20 {
        return Err(invalid(format!("`prices.{sku}` must have 1 to 20 tiers")));
    }
    let mut last = 0;
    for (index, tier) in tiers.iter().enumerate() {
        if index == 0 && tier.min_quantity != 1 {
            return Err(invalid(format!("`prices.{sku}[0].min_quantity` must be 1")));
        }
        if tier.min_quantity <= last {
            return Err(invalid(format!(
                "`prices.{sku}[{index}].min_quantity` must be above the previous tier's"
            )));
        }
        last = tier.min_quantity;
        money::amount(tier.amount, &format!("prices.{sku}[{index}].amount"))?;
    }
    Ok(())
}

impl PriceList {
    /// Checks the header: currency, account or segment (not both), dates.
    pub fn validate(&self) -> Result<(), Error> {
        money::currency(&self.currency)?;
        if self.account.is_some() && self.segment.is_some() {
            return Err(invalid(
                "a price list is for an `account` or a `segment`, not both".to_owned(),
            ));
        }
        for (field, value) in [("account", &self.account), ("segment", &self.segment)] {
            if let Some(value) = value
                && !is_slug(value)
            {
                return Err(invalid(format!("`{field}`: `{value}` is not an id")));
            }
        }
        let from = self
            .valid_from
            .as_deref()
            .map(|t| instant("valid_from", t))
            .transpose()?;
        let until = self
            .valid_until
            .as_deref()
            .map(|t| instant("valid_until", t))
            .transpose()?;
        if let (Some(from), Some(until)) = (from, until)
            && from >= until
        {
            return Err(invalid(
                "`valid_from` must be before `valid_until`".to_owned(),
            ));
        }
        Ok(())
    }

    /// How specific the list is for `customer` (2 account, 1 segment, 0
    /// general), or `None` when it does not apply.
    pub fn specificity(&self, customer: &Customer) -> Option<u8> {
        if self.currency != customer.currency {
            return None;
        }
        let after_start = self
            .valid_from
            .as_deref()
            .is_none_or(|from| instant("valid_from", from).is_ok_and(|from| from <= customer.now));
        let before_end = self.valid_until.as_deref().is_none_or(|until| {
            instant("valid_until", until).is_ok_and(|until| customer.now < until)
        });
        if !after_start || !before_end {
            return None;
        }
        match (&self.account, &self.segment) {
            (Some(account), _) => (customer.account.as_ref() == Some(account)).then_some(2),
            (_, Some(segment)) => customer.segments.contains(segment).then_some(1),
            _ => Some(0),
        }
    }
}

/// The lists that apply to `customer`, best first.
pub fn applicable<'a>(lists: &'a [PriceList], customer: &Customer) -> Vec<&'a PriceList> {
    let mut ranked: Vec<(u8, &PriceList)> = lists
        .iter()
        .filter_map(|list| list.specificity(customer).map(|rank| (rank, list)))
        .collect();
    ranked.sort_by(|(a_rank, a), (b_rank, b)| {
        b_rank
            .cmp(a_rank)
            .then(b.priority.cmp(&a.priority))
            .then(a.id.cmp(&b.id))
    });
    ranked.into_iter().map(|(_, list)| list).collect()
}

/// The unit price of `quantity` units in `tiers`.
pub fn unit_price(tiers: &[Tier], quantity: u32) -> Option<i64> {
    tiers
        .iter()
        .filter(|tier| tier.min_quantity <= quantity)
        .max_by_key(|tier| tier.min_quantity)
        .map(|tier| tier.amount)
}

/// A resolved unit price and the list it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resolved {
    /// The price list.
    pub list: String,
    /// The unit price (minor units).
    pub unit: i64,
    /// Every tier of that list for the SKU.
    pub tiers: Vec<Tier>,
}

/// Resolves the price of `quantity` units: `prices` looks a SKU's tiers up
/// in one list (by id); the first applicable list that has them wins.
pub fn resolve(
    lists: &[PriceList],
    customer: &Customer,
    quantity: u32,
    mut prices: impl FnMut(&str) -> Result<Option<Vec<Tier>>, Error>,
) -> Result<Option<Resolved>, Error> {
    for list in applicable(lists, customer) {
        if let Some(tiers) = prices(&list.id)?
            && let Some(unit) = unit_price(&tiers, quantity)
        {
            return Ok(Some(Resolved {
                list: list.id.clone(),
                unit,
                tiers,
            }));
        }
    }
    Ok(None)
}

/// The tiers of a `PUT /price-lists/{id}` body, per SKU.
pub type Prices = BTreeMap<String, Vec<Tier>>;

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn list(value: serde_json::Value) -> PriceList {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn the_most_specific_valid_list_wins_and_tiers_pick_by_quantity() {
        let lists = vec![
            list(json!({"id": "eur", "currency": "EUR"})),
            list(json!({"id": "eur-promo", "currency": "EUR", "priority": 5,
                        "valid_from": "2026-01-01T00:00:00Z", "valid_until": "2026-02-01T00:00:00Z"})),
            list(json!({"id": "usd", "currency": "USD"})),
            list(json!({"id": "vip", "currency": "EUR", "segment": "vip"})),
            list(json!({"id": "acme", "currency": "EUR", "account": "acme"})),
        ];
        let january = instant("t", "2026-01-15T00:00:00Z").unwrap();
        let march = instant("t", "2026-03-01T00:00:00Z").unwrap();
        let ids = |customer: &Customer| {
            applicable(&lists, customer)
                .iter()
                .map(|l| l.id.clone())
                .collect::<Vec<_>>()
        };
        let mut customer = Customer {
            currency: "EUR".into(),
            now: january,
            ..Customer::default()
        };
        assert_eq!(ids(&customer), ["eur-promo", "eur"]);
        customer.now = march;
        assert_eq!(ids(&customer), ["eur"]);
        customer.segments = vec!["vip".into()];
        customer.account = Some("acme".into());
        assert_eq!(ids(&customer), ["acme", "vip", "eur"]);
        customer.currency = "USD".into();
        assert_eq!(ids(&customer), ["usd"]);

        let tiers = vec![
            Tier {
                min_quantity: 1,
                amount: 1000,
            },
            Tier {
                min_quantity: 10,
                amount: 900,
            },
        ];
        assert_eq!(unit_price(&tiers, 1), Some(1000));
        assert_eq!(unit_price(&tiers, 9), Some(1000));
        assert_eq!(unit_price(&tiers, 10), Some(900));
        assert_eq!(unit_price(&tiers, 0), None);

        // The account list has no price for the SKU: the next list answers.
        customer.currency = "EUR".into();
        let resolved = resolve(&lists, &customer, 10, |id| {
            Ok((id == "eur").then(|| tiers.clone()))
        })
        .unwrap()
        .unwrap();
        assert_eq!((resolved.list.as_str(), resolved.unit), ("eur", 900));
    }

    #[test]
    fn bad_lists_and_tiers_are_refused() {
        assert!(list(json!({"currency": "eur"})).validate().is_err());
        assert!(
            list(json!({"currency": "EUR", "account": "a", "segment": "b"}))
                .validate()
                .is_err()
        );
        assert!(
            list(json!({"currency": "EUR", "valid_from": "yesterday"}))
                .validate()
                .is_err()
        );
        assert!(list(json!({"currency": "EUR", "valid_from": "2026-02-01T00:00:00Z", "valid_until": "2026-01-01T00:00:00Z"})).validate().is_err());
        assert!(
            check_tiers(
                "A",
                &[Tier {
                    min_quantity: 2,
                    amount: 1
                }]
            )
            .is_err()
        );
        assert!(
            check_tiers(
                "A",
                &[
                    Tier {
                        min_quantity: 1,
                        amount: 5
                    },
                    Tier {
                        min_quantity: 1,
                        amount: 4
                    }
                ]
            )
            .is_err()
        );
        assert!(
            check_tiers(
                "A",
                &[Tier {
                    min_quantity: 1,
                    amount: -5
                }]
            )
            .is_err()
        );
        assert!(check_tiers("A", &[]).is_err());
        check_tiers(
            "A",
            &[
                Tier {
                    min_quantity: 1,
                    amount: 5,
                },
                Tier {
                    min_quantity: 5,
                    amount: 4,
                },
            ],
        )
        .unwrap();
    }
}
