//! Money: integer amounts in the currency's minor unit (cents for EUR)
//! with an ISO 4217 currency code. Never floats; every operation is checked
//! and an overflow is a 422 error, never a wrong total.

use serde::{Deserialize, Serialize};
use tessera_sdk::Error;

/// The largest amount accepted anywhere (10^13 minor units).
pub const MAX_AMOUNT: i64 = 10_000_000_000_000;

/// An amount in minor units of `currency`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Money {
    /// Minor units (cents), never fractional.
    pub amount: i64,
    /// ISO 4217 code, three upper-case letters.
    pub currency: String,
}

impl Money {
    /// `amount` of `currency`.
    pub fn new(amount: i64, currency: &str) -> Self {
        Self {
            amount,
            currency: currency.to_owned(),
        }
    }

    /// 400 unless the currency is a code and the amount within
    /// `0..=MAX_AMOUNT`; `what` names the field in the message.
    pub fn validate(&self, what: &str) -> Result<(), Error> {
        currency(&self.currency)?;
        amount(self.amount, what)
    }
}

/// 400 `invalid_currency` unless `code` is three upper-case ASCII letters.
pub fn currency(code: &str) -> Result<&str, Error> {
    if code.len() == 3 && code.chars().all(|c| c.is_ascii_uppercase()) {
        Ok(code)
    } else {
        Err(Error::new(
            400,
            "invalid_currency",
            format!("`{code}` is not an ISO 4217 currency code such as EUR or USD"),
        ))
    }
}

/// 400 `invalid_amount` unless `0 <= value <= MAX_AMOUNT`.
pub fn amount(value: i64, what: &str) -> Result<(), Error> {
    if (0..=MAX_AMOUNT).contains(&value) {
        Ok(())
    } else {
        Err(Error::new(
            400,
            "invalid_amount",
            format!(
                "`{what}` must be a whole number of minor units from 0 to {MAX_AMOUNT}, not {value}"
            ),
        ))
    }
}

/// 422 `amount_too_large`.
pub fn too_large() -> Error {
    Error::new(
        422,
        "amount_too_large",
        "the amounts involved are too large to compute",
    )
}

/// `a + b`, checked.
pub fn add(a: i64, b: i64) -> Result<i64, Error> {
    a.checked_add(b)
        .filter(|sum| *sum <= MAX_AMOUNT * 1000)
        .ok_or_else(too_large)
}

/// `unit * quantity`, checked.
pub fn times(unit: i64, quantity: u32) -> Result<i64, Error> {
    unit.checked_mul(i64::from(quantity)).ok_or_else(too_large)
}

/// `base * basis_points / 10 000`, rounded half up (for tax): 19 % is 1900.
pub fn rate_half_up(base: i64, basis_points: u32) -> Result<i64, Error> {
    let product = i128::from(base) * i128::from(basis_points);
    let rounded = (product + 5_000) / 10_000;
    i64::try_from(rounded).map_err(|_| too_large())
}

/// `base * percent / 100`, rounded down (for discounts: never more than
/// the percentage).
pub fn percent_down(base: i64, percent: u32) -> Result<i64, Error> {
    let product = i128::from(base) * i128::from(percent);
    i64::try_from(product / 100).map_err(|_| too_large())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currencies_and_amounts_are_checked() {
        assert!(currency("EUR").is_ok());
        assert_eq!(currency("eur").unwrap_err().code, "invalid_currency");
        assert_eq!(currency("EURO").unwrap_err().code, "invalid_currency");
        assert!(Money::new(0, "USD").validate("price").is_ok());
        assert_eq!(
            Money::new(-1, "USD").validate("price").unwrap_err().code,
            "invalid_amount"
        );
        assert!(Money::new(MAX_AMOUNT + 1, "USD").validate("price").is_err());
    }

    #[test]
    fn rounding_is_exact() {
        // 19 % of 10.05 = 1.9095 → 1.91
        assert_eq!(rate_half_up(1005, 1900).unwrap(), 191);
        // 7 % of 0.50 = 0.035 → 0.04 (half up)
        assert_eq!(rate_half_up(50, 700).unwrap(), 4);
        assert_eq!(rate_half_up(0, 1900).unwrap(), 0);
        // 10 % off 9.99 = 0.999 → 0.99 (down)
        assert_eq!(percent_down(999, 10).unwrap(), 99);
        assert_eq!(times(MAX_AMOUNT, 999).unwrap(), MAX_AMOUNT * 999);
        assert_eq!(times(i64::MAX, 2).unwrap_err().code, "amount_too_large");
        assert!(add(i64::MAX, 1).is_err());
    }
}
