//! Tax rules per country and shipping methods. Prices in the catalog are
//! net; an order's tax is `rate` (basis points: 1900 is 19 %) of its
//! subtotal after the discount plus shipping, rounded half up to the minor
//! unit, for the country of the shipping address. A country without a tax
//! rule is not shipped to. Pure.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tessera_sdk::Error;

use crate::catalog::check_texts;
use crate::money;

/// The tax rule of one country.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaxRule {
    /// ISO 3166-1 alpha-2 country code (set from the path).
    #[serde(default)]
    pub country: String,
    /// The rate in basis points, 0 to 10 000 (1900 = 19 %).
    pub rate_bp: u32,
    /// What the tax is called on invoices (`VAT`, `sales tax`).
    #[serde(default)]
    pub name: String,
}

/// A way to ship an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShippingMethod {
    /// The method id (set from the path).
    #[serde(default)]
    pub id: String,
    /// Name per locale.
    pub names: BTreeMap<String, String>,
    /// The price per currency (minor units); a currency not listed cannot
    /// use the method.
    pub prices: BTreeMap<String, i64>,
    /// The countries it ships to; empty: every country with a tax rule.
    #[serde(default)]
    pub countries: Vec<String>,
}

/// 400 `invalid_country` unless `code` is two upper-case letters.
pub fn country(code: &str) -> Result<&str, Error> {
    if code.len() == 2 && code.chars().all(|c| c.is_ascii_uppercase()) {
        Ok(code)
    } else {
        Err(Error::new(
            400,
            "invalid_country",
            format!("`{code}` is not an ISO 3166-1 alpha-2 country code such as DE or US"),
        ))
    }
}

impl TaxRule {
    /// Checks the rate.
    pub fn validate(&self) -> Result<(), Error> {
        country(&self.country)?;
        if self.rate_bp > 10_000 {
            return Err(Error::new(
                400,
                "invalid_tax_rule",
                "`rate_bp` must be 0 to 10000 (basis points)",
            ));
        }
        Ok(())
    }
}

impl ShippingMethod {
    /// Checks names, prices and countries.
    pub fn validate(&self) -> Result<(), Error> {
        check_texts("names", &self.names, true, 200)?;
        if self.prices.is_empty() {
            return Err(Error::new(
                400,
                "invalid_shipping_method",
                "`prices` needs at least one currency",
            ));
        }
        for (currency, amount) in &self.prices {
            money::currency(currency)?;
            money::amount(*amount, &format!("prices.{currency}"))?;
        }
        for code in &self.countries {
            country(code)?;
        }
        Ok(())
    }

    /// Its price for `currency` to `to`; 422 `shipping_unavailable` when it
    /// does not ship there or has no price in that currency.
    pub fn price(&self, currency: &str, to: &str) -> Result<i64, Error> {
        if !self.countries.is_empty() && !self.countries.iter().any(|c| c == to) {
            return Err(Error::new(
                422,
                "shipping_unavailable",
                format!("shipping method `{}` does not ship to {to}", self.id),
            ));
        }
        self.prices.get(currency).copied().ok_or_else(|| {
            Error::new(
                422,
                "shipping_unavailable",
                format!("shipping method `{}` has no price in {currency}", self.id),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn rules_and_methods_are_checked() {
        let rule: TaxRule =
            serde_json::from_value(json!({"country": "DE", "rate_bp": 1900})).unwrap();
        rule.validate().unwrap();
        let bad = TaxRule {
            rate_bp: 10_001,
            ..rule.clone()
        };
        assert!(bad.validate().is_err());
        assert!(country("de").is_err());
        let method: ShippingMethod = serde_json::from_value(json!({
            "id": "standard", "names": {"en": "Standard"}, "prices": {"EUR": 490}, "countries": ["DE", "AT"]
        }))
        .unwrap();
        method.validate().unwrap();
        assert_eq!(method.price("EUR", "DE").unwrap(), 490);
        assert_eq!(
            method.price("USD", "DE").unwrap_err().code,
            "shipping_unavailable"
        );
        assert_eq!(
            method.price("EUR", "US").unwrap_err().code,
            "shipping_unavailable"
        );
    }
}
