//! A cart's or order's totals, computed by the server from priced lines:
//! subtotal = Σ unit × quantity; discount from the coupon; tax = rate of
//! (subtotal − discount + shipping), rounded half up; total = subtotal −
//! discount + shipping + tax. Integer minor units throughout. Pure.

use serde::{Deserialize, Serialize};
use tessera_sdk::Error;

use crate::money;

/// A line with its resolved price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PricedLine {
    /// The SKU.
    pub sku: String,
    /// The product it belongs to.
    pub product: String,
    /// The product name in the caller's locale.
    pub name: String,
    /// Units.
    pub quantity: u32,
    /// Unit price (minor units), after quantity tiers.
    pub unit_price: i64,
    /// `unit_price × quantity`.
    pub line_total: i64,
    /// The price list the price came from.
    pub price_list: String,
}

/// The totals of a cart or an order, in `currency`'s minor units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// ISO 4217 code.
    pub currency: String,
    /// Σ line totals.
    pub subtotal: i64,
    /// The coupon's discount.
    pub discount: i64,
    /// The shipping method's price (0 until one is chosen).
    pub shipping: i64,
    /// The tax rate applied, in basis points (absent until the country is
    /// known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_rate_bp: Option<u32>,
    /// The tax.
    pub tax: i64,
    /// What the customer pays.
    pub total: i64,
}

/// One priced line; checked arithmetic.
pub fn line(
    sku: &str,
    product: &str,
    name: &str,
    quantity: u32,
    unit_price: i64,
    price_list: &str,
) -> Result<PricedLine, Error> {
    Ok(PricedLine {
        sku: sku.to_owned(),
        product: product.to_owned(),
        name: name.to_owned(),
        quantity,
        unit_price,
        line_total: money::times(unit_price, quantity)?,
        price_list: price_list.to_owned(),
    })
}

/// The subtotal of `lines`.
pub fn subtotal(lines: &[PricedLine]) -> Result<i64, Error> {
    lines
        .iter()
        .try_fold(0, |sum, line| money::add(sum, line.line_total))
}

/// The totals of `lines` with a `discount` (at most the subtotal),
/// `shipping` and a tax rate.
pub fn totals(
    lines: &[PricedLine],
    currency: &str,
    discount: i64,
    shipping: i64,
    tax_rate_bp: Option<u32>,
) -> Result<Totals, Error> {
    let subtotal = subtotal(lines)?;
    let discount = discount.clamp(0, subtotal);
    let taxable = money::add(subtotal - discount, shipping)?;
    let tax = match tax_rate_bp {
        Some(rate) => money::rate_half_up(taxable, rate)?,
        None => 0,
    };
    Ok(Totals {
        currency: currency.to_owned(),
        subtotal,
        discount,
        shipping,
        tax_rate_bp,
        tax,
        total: money::add(taxable, tax)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_add_up() {
        let lines = vec![
            line("A", "p", "P", 2, 1999, "eur").unwrap(),
            line("B", "q", "Q", 1, 500, "eur").unwrap(),
        ];
        // 39.98 + 5.00 = 44.98; 10 % off = 4.49; + 4.90 shipping = 45.39;
        // 19 % = 8.6241 → 8.62; total 54.01.
        let totals = totals(&lines, "EUR", 449, 490, Some(1900)).unwrap();
        assert_eq!(totals.subtotal, 4498);
        assert_eq!(totals.tax, 862);
        assert_eq!(totals.total, 5401);
        let untaxed = super::totals(&lines, "EUR", 10_000, 0, None).unwrap();
        assert_eq!((untaxed.discount, untaxed.total), (4498, 0));
    }
}
