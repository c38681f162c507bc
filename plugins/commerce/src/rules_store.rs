//! Where price lists, prices, coupons, tax rules and shipping methods
//! live:
//!
//! | key (under `site/{site}/`) | value |
//! |---|---|
//! | `price-lists/{id}` | a [`PriceList`] header |
//! | `prices/{list}/{sku}` | the SKU's [`Tier`]s in that list |
//! | `coupons/{code}` | a [`Coupon`] |
//! | `coupon-uses/{code}` | how many orders used it |
//! | `discounts/{id}` | an automatic discount (a [`Coupon`] without a code) |
//! | `tax/{country}` | a [`TaxRule`] |
//! | `shipping/{id}` | a [`ShippingMethod`] |

use serde::de::DeserializeOwned;
use tessera_sdk::Error;
use tessera_sdk::storage::{self, Operation};

use crate::context::{decode, root};
use crate::coupons::Coupon;
use crate::pricing::{PriceList, Prices, Tier};
use crate::shipping::{ShippingMethod, TaxRule};

fn key(site: &str, rest: &str) -> String {
    format!("{}{rest}", root(site))
}

fn all<T: DeserializeOwned>(site: &str, prefix: &str) -> Result<Vec<T>, Error> {
    storage::scan(&key(site, prefix))
        .map(|entry| {
            let (key, value) = entry?;
            decode(&key, &value)
        })
        .collect()
}

/// Every price list header of `site`.
pub fn price_lists(site: &str) -> Result<Vec<PriceList>, Error> {
    all(site, "price-lists/")
}

/// The price list `id`, if any.
pub fn price_list(site: &str, id: &str) -> Result<Option<PriceList>, Error> {
    storage::get_json(&key(site, &format!("price-lists/{id}")))
}

/// Writes a price list header and, in the same batch, `prices` (at most
/// 999 SKUs per call).
pub fn put_price_list(site: &str, list: &PriceList, prices: &Prices) -> Result<(), Error> {
    if prices.len() > 999 {
        return Err(Error::bad_request(
            "at most 999 SKUs per call: send the rest to /price-lists/{id}/prices/{sku}",
        ));
    }
    let mut operations = vec![Operation::set_json(
        key(site, &format!("price-lists/{}", list.id)),
        list,
    )?];
    for (sku, tiers) in prices {
        operations.push(Operation::set_json(
            key(site, &format!("prices/{}/{sku}", list.id)),
            tiers,
        )?);
    }
    storage::batch(&operations)
}

/// The tiers of `sku` in list `list`, if priced there.
pub fn tiers(site: &str, list: &str, sku: &str) -> Result<Option<Vec<Tier>>, Error> {
    storage::get_json(&key(site, &format!("prices/{list}/{sku}")))
}

/// Sets the tiers of `sku` in `list`.
pub fn put_tiers(site: &str, list: &str, sku: &str, tiers: &[Tier]) -> Result<(), Error> {
    storage::set_json(&key(site, &format!("prices/{list}/{sku}")), tiers)
}

/// Removes `sku` from `list`; whether it was there.
pub fn delete_tiers(site: &str, list: &str, sku: &str) -> Result<bool, Error> {
    storage::delete(&key(site, &format!("prices/{list}/{sku}")))
}

/// The coupon `code` (normalised), if any.
pub fn coupon(site: &str, code: &str) -> Result<Option<Coupon>, Error> {
    storage::get_json(&key(site, &format!("coupons/{code}")))
}

/// Writes a coupon.
pub fn put_coupon(site: &str, coupon: &Coupon) -> Result<(), Error> {
    storage::set_json(&key(site, &format!("coupons/{}", coupon.code)), coupon)
}

/// How many orders used `code`.
pub fn coupon_uses(site: &str, code: &str) -> Result<u32, Error> {
    Ok(storage::get_json(&key(site, &format!("coupon-uses/{code}")))?.unwrap_or(0))
}

/// Counts one use of `coupon` (compare-and-swap); 409 `coupon_exhausted`
/// once `max_uses` orders used it.
pub fn use_coupon(site: &str, coupon: &Coupon) -> Result<(), Error> {
    storage::try_update_json(
        &key(site, &format!("coupon-uses/{}", coupon.code)),
        |uses: Option<u32>| {
            let uses = uses.unwrap_or(0);
            match coupon.max_uses {
                Some(max) if uses >= max => Err(Error::new(
                    409,
                    "coupon_exhausted",
                    format!(
                        "coupon {} has been used {max} times, its limit",
                        coupon.code
                    ),
                )),
                _ => Ok(uses.saturating_add(1)),
            }
        },
    )
    .map(|_| ())
}

/// Gives back one use of `code` (the order it was counted for failed).
pub fn unuse_coupon(site: &str, code: &str) {
    let _ = storage::update_json(
        &key(site, &format!("coupon-uses/{code}")),
        |uses: Option<u32>| uses.unwrap_or(0).saturating_sub(1),
    );
}

/// Every automatic discount of `site`.
pub fn discounts(site: &str) -> Result<Vec<Coupon>, Error> {
    all(site, "discounts/")
}

/// The automatic discount `id`, if any.
pub fn discount(site: &str, id: &str) -> Result<Option<Coupon>, Error> {
    storage::get_json(&key(site, &format!("discounts/{id}")))
}

/// Writes an automatic discount (its `code` is its id).
pub fn put_discount(site: &str, discount: &Coupon) -> Result<(), Error> {
    storage::set_json(
        &key(site, &format!("discounts/{}", discount.code)),
        discount,
    )
}

/// Deletes an automatic discount; whether it existed.
pub fn delete_discount(site: &str, id: &str) -> Result<bool, Error> {
    storage::delete(&key(site, &format!("discounts/{id}")))
}

/// The tax rule of `country`, if any.
pub fn tax_rule(site: &str, country: &str) -> Result<Option<TaxRule>, Error> {
    storage::get_json(&key(site, &format!("tax/{country}")))
}

/// Writes a tax rule.
pub fn put_tax_rule(site: &str, rule: &TaxRule) -> Result<(), Error> {
    storage::set_json(&key(site, &format!("tax/{}", rule.country)), rule)
}

/// Every tax rule of `site`.
pub fn tax_rules(site: &str) -> Result<Vec<TaxRule>, Error> {
    all(site, "tax/")
}

/// The shipping method `id`, if any.
pub fn shipping_method(site: &str, id: &str) -> Result<Option<ShippingMethod>, Error> {
    storage::get_json(&key(site, &format!("shipping/{id}")))
}

/// Writes a shipping method.
pub fn put_shipping_method(site: &str, method: &ShippingMethod) -> Result<(), Error> {
    storage::set_json(&key(site, &format!("shipping/{}", method.id)), method)
}

/// Every shipping method of `site`.
pub fn shipping_methods(site: &str) -> Result<Vec<ShippingMethod>, Error> {
    all(site, "shipping/")
}
