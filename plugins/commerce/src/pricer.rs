//! Prices a cart for a customer: each line's unit price from the price
//! lists (with quantity tiers), the best automatic discount, the coupon's
//! discount on top and, once the
//! country and shipping method are known, shipping and tax. Lines that
//! cannot be bought any more (unknown SKU, unpublished product, no price)
//! are reported as problems, not priced.

use serde::Serialize;
use tessera_sdk::Error;

use crate::accounts;
use crate::cart::Cart;
use crate::catalog::localised;
use crate::catalog_store;
use crate::context::{now, setting};
use crate::coupons::{self, Applied, Coupon};
use crate::money;
use crate::pricing::{self, Customer, PriceList};
use crate::rules_store;
use crate::totals::{self, PricedLine, Totals};

/// A line that cannot be priced, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// The SKU.
    pub sku: String,
    /// The error code (`unknown_sku`, `no_price`).
    pub code: String,
    /// What is wrong.
    pub message: String,
}

/// A priced cart.
#[derive(Debug, Clone, Serialize)]
pub struct Priced {
    /// Priced lines.
    pub lines: Vec<PricedLine>,
    /// Lines that could not be priced.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<Problem>,
    /// The automatic discount that applies, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub automatic_discount: Option<Applied>,
    /// The applied coupon.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coupon: Option<String>,
    /// What the coupon takes off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coupon_discount: Option<i64>,
    /// Why the coupon does not apply (it stays on the cart).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coupon_problem: Option<String>,
    /// The totals.
    pub totals: Totals,
    /// The coupon as it was applied (for the order).
    #[serde(skip)]
    pub applied: Option<Coupon>,
    /// The subtotal a coupon applies to: after the automatic discount.
    #[serde(skip)]
    pub coupon_base: i64,
}

/// Where and how the order ships, for shipping and tax.
pub struct Destination<'a> {
    /// ISO 3166-1 alpha-2 country.
    pub country: &'a str,
    /// The shipping method id.
    pub method: &'a str,
}

/// The pricing context of user `user` (none for anonymous carts): their
/// company and its segments.
pub fn customer(site: &str, user: Option<&str>, currency: &str) -> Result<Customer, Error> {
    let mut customer = Customer {
        currency: currency.to_owned(),
        now: now(),
        ..Customer::default()
    };
    if let Some(user) = user
        && let Some(member) = accounts::membership(site, user)?
    {
        if let Some(company) = accounts::company(site, &member.company)? {
            customer.segments = company.segments;
        }
        customer.account = Some(member.company);
    }
    Ok(customer)
}

/// 422 `unknown_sku`.
pub fn unknown_sku(sku: &str) -> Error {
    Error::new(
        422,
        "unknown_sku",
        format!("there is no product with SKU `{sku}` for sale"),
    )
}

/// The price of `quantity` × `sku`: 422 `unknown_sku` or `no_price`.
pub fn price_line(
    site: &str,
    lists: &[PriceList],
    customer: &Customer,
    sku: &str,
    quantity: u32,
    locale: &str,
) -> Result<PricedLine, Error> {
    let product = catalog_store::product_of_sku(site, sku)?
        .filter(|product| product.published())
        .ok_or_else(|| unknown_sku(sku))?;
    let resolved = pricing::resolve(lists, customer, quantity, |list| {
        rules_store::tiers(site, list, sku)
    })?
    .ok_or_else(|| {
        Error::new(
            422,
            "no_price",
            format!(
                "SKU `{sku}` has no price in {} for this customer",
                customer.currency
            ),
        )
    })?;
    let fallback = setting("default-locale", "en");
    let name = localised(&product.input.names, locale, &fallback).unwrap_or(&product.id);
    totals::line(
        sku,
        &product.id,
        name,
        quantity,
        resolved.unit,
        &resolved.list,
    )
}

/// Prices `cart` for `customer`, shipping to `destination` if known.
pub fn price(
    site: &str,
    cart: &Cart,
    customer: &Customer,
    locale: &str,
    destination: Option<Destination<'_>>,
) -> Result<Priced, Error> {
    let lists = rules_store::price_lists(site)?;
    let mut lines = Vec::new();
    let mut problems = Vec::new();
    for line in &cart.lines {
        match price_line(site, &lists, customer, &line.sku, line.quantity, locale) {
            Ok(priced) => lines.push(priced),
            Err(error) if error.status == 422 => problems.push(Problem {
                sku: line.sku.clone(),
                code: error.code,
                message: error.message,
            }),
            Err(error) => return Err(error),
        }
    }
    let subtotal = totals::subtotal(&lines)?;
    let automatic = coupons::best(
        &rules_store::discounts(site)?,
        subtotal,
        &cart.currency,
        customer.now,
    );
    let coupon_base = subtotal - automatic.as_ref().map_or(0, |applied| applied.amount);
    let mut discount = subtotal - coupon_base;
    let mut coupon_discount = None;
    let mut coupon_problem = None;
    let mut applied = None;
    if let Some(code) = &cart.coupon {
        match rules_store::coupon(site, code)? {
            Some(coupon) => match coupon.discount(coupon_base, &cart.currency, customer.now) {
                Ok(amount) => {
                    discount = money::add(discount, amount)?;
                    coupon_discount = Some(amount);
                    applied = Some(coupon);
                }
                Err(error) => coupon_problem = Some(error.message),
            },
            None => coupon_problem = Some(format!("coupon {code} no longer exists")),
        }
    }
    let (shipping, rate) = match destination {
        Some(destination) => {
            let rule = rules_store::tax_rule(site, destination.country)?.ok_or_else(|| {
                Error::new(
                    422,
                    "unsupported_country",
                    format!(
                        "this shop does not ship to {}: it has no tax rule for it",
                        destination.country
                    ),
                )
            })?;
            let method =
                rules_store::shipping_method(site, destination.method)?.ok_or_else(|| {
                    Error::new(
                        422,
                        "unknown_shipping_method",
                        format!("no shipping method `{}`", destination.method),
                    )
                })?;
            (
                method.price(&cart.currency, destination.country)?,
                Some(rule.rate_bp),
            )
        }
        None => (0, None),
    };
    let totals = totals::totals(&lines, &cart.currency, discount, shipping, rate)?;
    Ok(Priced {
        lines,
        problems,
        automatic_discount: automatic,
        coupon: cart.coupon.clone(),
        coupon_discount,
        coupon_problem,
        totals,
        applied,
        coupon_base,
    })
}

/// Checks a coupon code before it is put on a cart: it exists and applies
/// to `subtotal` now; returns the normalised code.
pub fn check_coupon(
    site: &str,
    code: &str,
    subtotal: i64,
    currency: &str,
) -> Result<String, Error> {
    let code = coupons::normalise(code)?;
    let coupon = rules_store::coupon(site, &code)?
        .ok_or_else(|| Error::new(404, "unknown_coupon", format!("no coupon {code}")))?;
    coupon.discount(subtotal, currency, now())?;
    if let Some(max) = coupon.max_uses
        && rules_store::coupon_uses(site, &code)? >= max
    {
        return Err(Error::new(
            409,
            "coupon_exhausted",
            format!("coupon {code} has been used up"),
        ));
    }
    Ok(code)
}
