//! Staff APIs for what prices and ships the catalog: price lists and
//! their tiers, coupons, tax rules, shipping methods and stock levels.
//! Tax rules and shipping methods are readable by everybody (a storefront
//! shows them).

use serde::Deserialize;
use serde_json::Value;
use tessera_sdk::prelude::*;

use crate::context::{CATALOG, is_sku, principal, slug, staff};
use crate::coupons::{self, Coupon};
use crate::inventory;
use crate::pricing::{self, PriceList, Prices, Tier};
use crate::rules_store;
use crate::shipping::{self, ShippingMethod, TaxRule};

fn created(existed: bool) -> u16 {
    if existed { 200 } else { 201 }
}

/// `PUT /price-lists/{id}`: the header (`currency`, `account` or
/// `segment`, `valid_from`, `valid_until`, `priority`) and optionally
/// `prices`: `{"SKU": [{"min_quantity": 1, "amount": 1999}, ...]}`.
pub fn put_price_list(request: &Request, params: &Params) -> Result<Response, Error> {
    let (site, _) = staff(CATALOG)?;
    let id = slug("price list", params.require("id")?)?;
    let mut body: Value = request.json()?;
    let prices: Prices = match body.as_object_mut().and_then(|map| map.remove("prices")) {
        Some(prices) => serde_json::from_value(prices)?,
        None => Prices::new(),
    };
    let mut list: PriceList = serde_json::from_value(body)?;
    list.id = id.to_owned();
    list.validate()?;
    for (sku, tiers) in &prices {
        pricing::check_tiers(sku, tiers)?;
    }
    let existed = rules_store::price_list(&site, id)?.is_some();
    rules_store::put_price_list(&site, &list, &prices)?;
    Ok(Response::json(
        created(existed),
        &json!({"price_list": list, "prices_written": prices.len()}),
    ))
}

/// `GET /price-lists`.
pub fn list_price_lists(_: &Request, _: &Params) -> Result<Response, Error> {
    let (site, _) = staff(CATALOG)?;
    Ok(Response::ok_json(
        &json!({"price_lists": rules_store::price_lists(&site)?}),
    ))
}

fn unknown_list(id: &str) -> Error {
    Error::new(404, "unknown_price_list", format!("no price list `{id}`"))
}

/// `PUT /price-lists/{id}/prices/{sku}` `{"tiers": [...]}`.
pub fn put_prices(request: &Request, params: &Params) -> Result<Response, Error> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        tiers: Vec<Tier>,
    }
    let (site, _) = staff(CATALOG)?;
    let id = params.require("id")?;
    let sku = params.require("sku")?;
    let body: Body = request.json()?;
    pricing::check_tiers(sku, &body.tiers)?;
    rules_store::price_list(&site, id)?.ok_or_else(|| unknown_list(id))?;
    rules_store::put_tiers(&site, id, sku, &body.tiers)?;
    Ok(Response::ok_json(
        &json!({"price_list": id, "sku": sku, "tiers": body.tiers}),
    ))
}

/// `GET /price-lists/{id}/prices/{sku}`.
pub fn get_prices(_: &Request, params: &Params) -> Result<Response, Error> {
    let (site, _) = staff(CATALOG)?;
    let id = params.require("id")?;
    let sku = params.require("sku")?;
    let tiers = rules_store::tiers(&site, id, sku)?.ok_or_else(|| {
        Error::new(
            404,
            "no_price",
            format!("price list `{id}` has no price for `{sku}`"),
        )
    })?;
    Ok(Response::ok_json(
        &json!({"price_list": id, "sku": sku, "tiers": tiers}),
    ))
}

/// `DELETE /price-lists/{id}/prices/{sku}`.
pub fn delete_prices(_: &Request, params: &Params) -> Result<Response, Error> {
    let (site, _) = staff(CATALOG)?;
    let id = params.require("id")?;
    let sku = params.require("sku")?;
    if rules_store::delete_tiers(&site, id, sku)? {
        Ok(Response::empty(204))
    } else {
        Err(Error::new(
            404,
            "no_price",
            format!("price list `{id}` has no price for `{sku}`"),
        ))
    }
}

/// `PUT /coupons/{code}`.
pub fn put_coupon(request: &Request, params: &Params) -> Result<Response, Error> {
    let (site, _) = staff(CATALOG)?;
    let code = coupons::normalise(params.require("code")?)?;
    let mut coupon: Coupon = request.json()?;
    coupon.code = code.clone();
    coupon.validate()?;
    let existed = rules_store::coupon(&site, &code)?.is_some();
    rules_store::put_coupon(&site, &coupon)?;
    Ok(Response::json(created(existed), &coupon))
}

/// `GET /coupons/{code}`: the coupon and how often it was used.
pub fn get_coupon(_: &Request, params: &Params) -> Result<Response, Error> {
    let (site, _) = staff(CATALOG)?;
    let code = coupons::normalise(params.require("code")?)?;
    let coupon = rules_store::coupon(&site, &code)?
        .ok_or_else(|| Error::new(404, "unknown_coupon", format!("no coupon {code}")))?;
    Ok(Response::ok_json(
        &json!({"coupon": coupon, "uses": rules_store::coupon_uses(&site, &code)?}),
    ))
}

/// `PUT /discounts/{id}`: an automatic discount (a coupon's rules, no
/// code, no `max_uses`).
pub fn put_discount(request: &Request, params: &Params) -> Result<Response, Error> {
    let (site, _) = staff(CATALOG)?;
    let id = slug("discount", params.require("id")?)?;
    let mut discount: Coupon = request.json()?;
    discount.code = id.to_owned();
    discount.validate()?;
    if discount.max_uses.is_some() {
        return Err(Error::new(
            400,
            "invalid_coupon",
            "`max_uses` is for coupons: an automatic discount applies to every cart it fits",
        ));
    }
    let existed = rules_store::discount(&site, id)?.is_some();
    rules_store::put_discount(&site, &discount)?;
    Ok(Response::json(created(existed), &discount))
}

/// `GET /discounts`.
pub fn list_discounts(_: &Request, _: &Params) -> Result<Response, Error> {
    let (site, _) = staff(CATALOG)?;
    Ok(Response::ok_json(
        &json!({"discounts": rules_store::discounts(&site)?}),
    ))
}

/// `DELETE /discounts/{id}`.
pub fn delete_discount(_: &Request, params: &Params) -> Result<Response, Error> {
    let (site, _) = staff(CATALOG)?;
    let id = params.require("id")?;
    if rules_store::delete_discount(&site, id)? {
        Ok(Response::empty(204))
    } else {
        Err(Error::new(
            404,
            "unknown_discount",
            format!("no discount `{id}`"),
        ))
    }
}

/// `PUT /tax-rules/{country}` `{"rate_bp": 1900, "name": "VAT"}`.
pub fn put_tax_rule(request: &Request, params: &Params) -> Result<Response, Error> {
    let (site, _) = staff(CATALOG)?;
    let country = shipping::country(params.require("country")?)?.to_owned();
    let mut rule: TaxRule = request.json()?;
    rule.country = country.clone();
    rule.validate()?;
    let existed = rules_store::tax_rule(&site, &country)?.is_some();
    rules_store::put_tax_rule(&site, &rule)?;
    Ok(Response::json(created(existed), &rule))
}

/// `GET /tax-rules`.
pub fn list_tax_rules(_: &Request, _: &Params) -> Result<Response, Error> {
    Ok(Response::ok_json(
        &json!({"tax_rules": rules_store::tax_rules(&principal().site)?}),
    ))
}

/// `PUT /shipping-methods/{id}`.
pub fn put_shipping_method(request: &Request, params: &Params) -> Result<Response, Error> {
    let (site, _) = staff(CATALOG)?;
    let id = slug("shipping method", params.require("id")?)?;
    let mut method: ShippingMethod = request.json()?;
    method.id = id.to_owned();
    method.validate()?;
    let existed = rules_store::shipping_method(&site, id)?.is_some();
    rules_store::put_shipping_method(&site, &method)?;
    Ok(Response::json(created(existed), &method))
}

/// `GET /shipping-methods`.
pub fn list_shipping_methods(_: &Request, _: &Params) -> Result<Response, Error> {
    Ok(Response::ok_json(
        &json!({"shipping_methods": rules_store::shipping_methods(&principal().site)?}),
    ))
}

fn sku(params: &Params) -> Result<&str, Error> {
    let sku = params.require("sku")?;
    if is_sku(sku) {
        Ok(sku)
    } else {
        Err(Error::new(
            400,
            "invalid_sku",
            format!("`{sku}` is not a SKU"),
        ))
    }
}

/// `PUT /inventory/{sku}/{warehouse}` `{"on_hand": 12}`.
pub fn put_stock(request: &Request, params: &Params) -> Result<Response, Error> {
    let (site, _) = staff(CATALOG)?;
    let sku = sku(params)?;
    let warehouse = slug("warehouse", params.require("warehouse")?)?;
    let body: Value = request.json()?;
    let on_hand = body
        .get("on_hand")
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| {
            Error::new(
                400,
                "invalid_quantity",
                "`on_hand` must be a whole number from 0",
            )
        })?;
    let stock = inventory::set_on_hand(&site, sku, warehouse, on_hand)?;
    Ok(Response::ok_json(&json!({
        "sku": sku, "warehouse": warehouse,
        "on_hand": stock.on_hand, "reserved": stock.reserved, "available": stock.available(),
    })))
}

/// `GET /inventory/{sku}`: the SKU's stock per warehouse.
pub fn get_stock(_: &Request, params: &Params) -> Result<Response, Error> {
    let (site, _) = staff(CATALOG)?;
    let sku = sku(params)?;
    let warehouses: Vec<Value> = inventory::levels(&site, sku)?
        .into_iter()
        .map(|(warehouse, stock)| {
            json!({"warehouse": warehouse, "on_hand": stock.on_hand, "reserved": stock.reserved, "available": stock.available()})
        })
        .collect();
    let available = inventory::available(&site, sku)?;
    Ok(Response::ok_json(
        &json!({"sku": sku, "available": available, "warehouses": warehouses}),
    ))
}
