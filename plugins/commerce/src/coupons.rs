//! Coupon codes and their rules. A coupon takes either a percentage off
//! the cart's subtotal (rounded down to the minor unit) or a fixed amount
//! in one currency (never more than the subtotal); it may need a minimum
//! subtotal (same currency), be valid between two dates, and be limited to
//! a number of uses (counted when an order is placed). One coupon per
//! cart.
//!
//! Automatic discounts have the same rules without a code (and without
//! `max_uses`): of those that apply to a cart, the one taking the most off
//! applies (they do not add up); a coupon then applies on top, to the
//! subtotal after the automatic discount (its minimum too). Pure.

use serde::{Deserialize, Serialize};
use tessera_sdk::Error;

use crate::money::{self, Money};
use crate::pricing::instant;

/// A coupon as written by `PUT /coupons/{code}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Coupon {
    /// The code (set from the path, upper-case).
    #[serde(default)]
    pub code: String,
    /// Percentage off the subtotal, 1 to 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent_off: Option<u32>,
    /// A fixed amount off, in that currency only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_off: Option<Money>,
    /// The smallest subtotal it applies to, in that currency only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_subtotal: Option<Money>,
    /// Valid from (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<String>,
    /// Valid until, excluded (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
    /// How many orders may use it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_uses: Option<u32>,
}

/// A code normalised to upper case; 400 `invalid_coupon_code` unless 3 to
/// 32 letters, digits, `-` or `_`.
pub fn normalise(code: &str) -> Result<String, Error> {
    let upper = code.trim().to_ascii_uppercase();
    if (3..=32).contains(&upper.len())
        && upper
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-' || c == '_')
    {
        Ok(upper)
    } else {
        Err(Error::new(
            400,
            "invalid_coupon_code",
            format!("`{code}` is not a coupon code: 3 to 32 letters, digits, `-` or `_`"),
        ))
    }
}

fn not_applicable(message: String) -> Error {
    Error::new(422, "coupon_not_applicable", message)
}

impl Coupon {
    /// Checks the rule: exactly one of `percent_off` and `amount_off`.
    pub fn validate(&self) -> Result<(), Error> {
        let invalid = |message: &str| Error::new(400, "invalid_coupon", message.to_owned());
        match (&self.percent_off, &self.amount_off) {
            (Some(percent), None) if (1..=100).contains(percent) => {}
            (Some(_), None) => return Err(invalid("`percent_off` must be 1 to 100")),
            (None, Some(amount)) => amount.validate("amount_off.amount")?,
            _ => {
                return Err(invalid(
                    "give exactly one of `percent_off` and `amount_off`",
                ));
            }
        }
        if let Some(minimum) = &self.minimum_subtotal {
            minimum.validate("minimum_subtotal.amount")?;
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
            return Err(invalid("`valid_from` must be before `valid_until`"));
        }
        Ok(())
    }

    /// The discount on `subtotal` of `currency` at `now`; 422
    /// `coupon_not_applicable` saying why it does not apply.
    pub fn discount(&self, subtotal: i64, currency: &str, now: u64) -> Result<i64, Error> {
        if let Some(from) = &self.valid_from
            && instant("valid_from", from)? > now
        {
            return Err(not_applicable(format!(
                "coupon {} is valid from {from}",
                self.code
            )));
        }
        if let Some(until) = &self.valid_until
            && instant("valid_until", until)? <= now
        {
            return Err(not_applicable(format!(
                "coupon {} expired at {until}",
                self.code
            )));
        }
        if let Some(minimum) = &self.minimum_subtotal {
            if minimum.currency != currency {
                return Err(not_applicable(format!(
                    "coupon {} applies to {} carts only",
                    self.code, minimum.currency
                )));
            }
            if subtotal < minimum.amount {
                return Err(not_applicable(format!(
                    "coupon {} needs a subtotal of at least {} {} minor units",
                    self.code, minimum.amount, minimum.currency
                )));
            }
        }
        match (&self.percent_off, &self.amount_off) {
            (Some(percent), _) => money::percent_down(subtotal, *percent),
            (_, Some(amount)) if amount.currency == currency => Ok(amount.amount.min(subtotal)),
            (_, Some(amount)) => Err(not_applicable(format!(
                "coupon {} takes {} off {} carts only",
                self.code, amount.amount, amount.currency
            ))),
            (None, None) => Ok(0),
        }
    }
}

/// An automatic discount as applied to a cart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// The discount's id.
    pub id: String,
    /// What it takes off (minor units).
    pub amount: i64,
}

/// The automatic discount taking the most off `subtotal` (the first in
/// `discounts` order among equals); `None` when none applies or all take
/// nothing.
pub fn best(discounts: &[Coupon], subtotal: i64, currency: &str, now: u64) -> Option<Applied> {
    let mut best: Option<Applied> = None;
    for discount in discounts {
        if let Ok(amount) = discount.discount(subtotal, currency, now)
            && amount > 0
            && best.as_ref().is_none_or(|best| amount > best.amount)
        {
            best = Some(Applied {
                id: discount.code.clone(),
                amount,
            });
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn coupon(value: serde_json::Value) -> Coupon {
        let mut coupon: Coupon = serde_json::from_value(value).unwrap();
        coupon.code = "TEST".into();
        coupon
    }

    #[test]
    fn discounts_follow_the_rules() {
        let ten = coupon(json!({"percent_off": 10}));
        ten.validate().unwrap();
        assert_eq!(ten.discount(999, "EUR", 0).unwrap(), 99);
        let five = coupon(json!({"amount_off": {"amount": 500, "currency": "EUR"},
                                 "minimum_subtotal": {"amount": 2000, "currency": "EUR"}}));
        five.validate().unwrap();
        assert_eq!(five.discount(2000, "EUR", 0).unwrap(), 500);
        assert_eq!(
            five.discount(1999, "EUR", 0).unwrap_err().code,
            "coupon_not_applicable"
        );
        assert_eq!(
            five.discount(5000, "USD", 0).unwrap_err().code,
            "coupon_not_applicable"
        );
        let capped = coupon(json!({"amount_off": {"amount": 500, "currency": "EUR"}}));
        assert_eq!(capped.discount(300, "EUR", 0).unwrap(), 300);
        let dated = coupon(json!({"percent_off": 5, "valid_until": "2020-01-01T00:00:00Z"}));
        assert!(
            dated
                .discount(100, "EUR", instant("t", "2021-01-01T00:00:00Z").unwrap())
                .is_err()
        );
    }

    #[test]
    fn the_best_automatic_discount_applies() {
        let mut five = coupon(json!({"percent_off": 5}));
        five.code = "five".into();
        let mut flat = coupon(json!({"amount_off": {"amount": 300, "currency": "EUR"},
                                     "minimum_subtotal": {"amount": 5000, "currency": "EUR"}}));
        flat.code = "flat".into();
        let discounts = [five, flat];
        // 5 % of 4000 = 200; the flat 3.00 needs 50.00.
        assert_eq!(
            best(&discounts, 4000, "EUR", 0),
            Some(Applied {
                id: "five".into(),
                amount: 200
            })
        );
        // 5 % of 8000 = 400 beats 300.
        assert_eq!(best(&discounts, 8000, "EUR", 0).unwrap().id, "five");
        // 5 % of 5000 = 250 loses to 300.
        assert_eq!(best(&discounts, 5000, "EUR", 0).unwrap().id, "flat");
        assert_eq!(best(&discounts, 5000, "USD", 0).unwrap().amount, 250);
        assert_eq!(best(&discounts, 0, "EUR", 0), None);
        assert_eq!(best(&[], 1000, "EUR", 0), None);
    }

    #[test]
    fn bad_coupons_are_refused() {
        assert!(coupon(json!({})).validate().is_err());
        assert!(coupon(json!({"percent_off": 0})).validate().is_err());
        assert!(coupon(json!({"percent_off": 101})).validate().is_err());
        assert!(
            coupon(json!({"percent_off": 5, "amount_off": {"amount": 1, "currency": "EUR"}}))
                .validate()
                .is_err()
        );
        assert_eq!(normalise(" save-10 ").unwrap(), "SAVE-10");
        assert!(normalise("x").is_err());
        assert!(normalise("a/b/c").is_err());
    }
}
