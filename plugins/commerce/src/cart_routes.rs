//! The cart API: `/carts/{token}/...` for anonymous carts (whoever holds
//! the token), `/cart/...` for the signed-in user's cart, and
//! `POST /cart/merge` to move an anonymous cart into the user's at login.
//! Every change is validated (quantity, SKU, price, stock) before it is
//! written with a compare-and-swap; every answer carries the totals the
//! server computed.

use serde_json::Value;
use tessera_sdk::prelude::*;

use crate::cart::{self, Cart, CartRef, MAX_QUANTITY};
use crate::context::{now, principal, setting, signed_in};
use crate::inventory;
use crate::money;
use crate::pricer;
use crate::rules_store;

/// The cart a request is about: its site, reference and owner (if a user).
struct Target {
    site: String,
    cart: CartRef,
    user: Option<String>,
}

fn anonymous(params: &Params) -> Result<Target, Error> {
    let token = params.require("token")?;
    if !cart::is_token(token) {
        return Err(cart::unknown_cart());
    }
    Ok(Target {
        site: principal().site,
        cart: CartRef::Anonymous(token.to_owned()),
        user: None,
    })
}

fn mine() -> Result<Target, Error> {
    let (site, user) = signed_in()?;
    Ok(Target {
        site,
        cart: CartRef::User(user.id.clone()),
        user: Some(user.id),
    })
}

fn target(params: &Params) -> Result<Target, Error> {
    if params.get("token").is_some() {
        anonymous(params)
    } else {
        mine()
    }
}

fn locale(request: &Request) -> String {
    request
        .query("locale")
        .unwrap_or_else(|| setting("default-locale", "en"))
}

/// The current cart: an anonymous one must exist; a user's starts empty.
fn current(target: &Target) -> Result<Cart, Error> {
    match (cart::load(&target.site, &target.cart)?, &target.cart) {
        (Some(cart), _) => Ok(cart),
        (None, CartRef::User(_)) => Ok(Cart::empty(&setting("default-currency", "EUR"), now())),
        (None, CartRef::Anonymous(_)) => Err(cart::unknown_cart()),
    }
}

/// Read-modify-write of the cart with a compare-and-swap loop.
fn modify(
    target: &Target,
    mut change: impl FnMut(&mut Cart) -> Result<(), Error>,
) -> Result<Cart, Error> {
    let key = target.cart.key(&target.site);
    storage::try_update_json(&key, |stored: Option<Cart>| {
        let mut cart = match (stored, &target.cart) {
            (Some(cart), _) => cart,
            (None, CartRef::User(_)) => Cart::empty(&setting("default-currency", "EUR"), now()),
            (None, CartRef::Anonymous(_)) => return Err(cart::unknown_cart()),
        };
        change(&mut cart)?;
        cart.updated_at = now();
        Ok(cart)
    })
}

/// The cart as answered: lines with prices, problems, totals.
fn view(target: &Target, cart: &Cart, locale: &str) -> Result<Value, Error> {
    let customer = pricer::customer(&target.site, target.user.as_deref(), &cart.currency)?;
    let priced = pricer::price(&target.site, cart, &customer, locale, None)?;
    let mut value = serde_json::to_value(&priced).map_err(|e| Error::internal(e.to_string()))?;
    if let (Value::Object(map), CartRef::Anonymous(token)) = (&mut value, &target.cart) {
        map.insert("token".into(), json!(token));
    }
    if let Value::Object(map) = &mut value {
        map.insert("currency".into(), json!(cart.currency));
        map.insert("updated_at".into(), json!(cart.updated_at));
    }
    Ok(value)
}

fn answer(target: &Target, cart: &Cart, request: &Request) -> Result<Response, Error> {
    Ok(Response::ok_json(&view(target, cart, &locale(request))?))
}

/// Checks that `quantity` × `sku` can be bought by the cart's customer:
/// 422 `unknown_sku` or `no_price`, 409 `out_of_stock`.
fn check_line(
    target: &Target,
    cart: &Cart,
    sku: &str,
    quantity: u32,
    locale: &str,
) -> Result<(), Error> {
    let customer = pricer::customer(&target.site, target.user.as_deref(), &cart.currency)?;
    let lists = rules_store::price_lists(&target.site)?;
    pricer::price_line(&target.site, &lists, &customer, sku, quantity, locale)?;
    let available = inventory::available(&target.site, sku)?;
    if available < quantity {
        return Err(inventory::out_of_stock(sku, quantity, available));
    }
    Ok(())
}

fn too_many(sku: &str, quantity: u64) -> Error {
    Error::new(
        400,
        "invalid_quantity",
        format!("that would make {quantity} × {sku}: at most {MAX_QUANTITY} per line"),
    )
}

/// `POST /carts` `{"currency": "EUR"}`: a new anonymous cart.
pub fn create(request: &Request, _: &Params) -> Result<Response, Error> {
    let body: Value = crate::context::body_or_default(request)?;
    let currency = match body.get("currency") {
        Some(Value::String(code)) => money::currency(code)?.to_owned(),
        Some(_) => {
            return Err(Error::new(
                400,
                "invalid_currency",
                "`currency` must be a string such as \"EUR\"",
            ));
        }
        None => setting("default-currency", "EUR"),
    };
    let token = cart::token()?;
    let target = Target {
        site: principal().site,
        cart: CartRef::Anonymous(token),
        user: None,
    };
    let cart = Cart::empty(&currency, now());
    storage::set_json(&target.cart.key(&target.site), &cart)?;
    if let Err(error) = crate::cleanup::ensure_scheduled(&target.site) {
        log::warn(&format!(
            "anonymous carts of {} will not expire: {error}",
            target.site
        ));
    }
    Ok(Response::json(
        201,
        &view(&target, &cart, &locale(request))?,
    ))
}

/// `GET /carts/{token}` and `GET /cart`.
pub fn get(request: &Request, params: &Params) -> Result<Response, Error> {
    let target = target(params)?;
    let cart = current(&target)?;
    answer(&target, &cart, request)
}

/// `POST .../lines` `{"sku": "...", "quantity": 2}`: adds units.
pub fn add_line(request: &Request, params: &Params) -> Result<Response, Error> {
    let target = target(params)?;
    let body: Value = request.json()?;
    let sku = body
        .get("sku")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::new(400, "invalid_sku", "`sku` must be a string"))?
        .to_owned();
    let added = cart::quantity(body.get("quantity"))?;
    let before = current(&target)?;
    let wanted = u64::from(before.quantity(&sku)) + u64::from(added);
    let wanted = u32::try_from(wanted)
        .ok()
        .filter(|n| *n <= MAX_QUANTITY)
        .ok_or_else(|| too_many(&sku, wanted))?;
    check_line(&target, &before, &sku, wanted, &locale(request))?;
    let cart = modify(&target, |cart| {
        let total = cart.quantity(&sku).saturating_add(added);
        if total > MAX_QUANTITY {
            return Err(too_many(&sku, u64::from(total)));
        }
        cart.set(&sku, total)
    })?;
    answer(&target, &cart, request)
}

/// `PUT .../lines/{sku}` `{"quantity": 3}`: sets the units of a line.
pub fn set_line(request: &Request, params: &Params) -> Result<Response, Error> {
    let target = target(params)?;
    let sku = params.require("sku")?.to_owned();
    let body: Value = request.json()?;
    let quantity = cart::quantity(body.get("quantity"))?;
    let before = current(&target)?;
    check_line(&target, &before, &sku, quantity, &locale(request))?;
    let cart = modify(&target, |cart| cart.set(&sku, quantity))?;
    answer(&target, &cart, request)
}

/// `DELETE .../lines/{sku}`: 404 `not_in_cart` when absent.
pub fn remove_line(request: &Request, params: &Params) -> Result<Response, Error> {
    let target = target(params)?;
    let sku = params.require("sku")?.to_owned();
    let cart = modify(&target, |cart| {
        if cart.remove(&sku) {
            Ok(())
        } else {
            Err(Error::new(
                404,
                "not_in_cart",
                format!("`{sku}` is not in the cart"),
            ))
        }
    })?;
    answer(&target, &cart, request)
}

/// `PUT .../coupon` `{"code": "SAVE10"}`: 404 `unknown_coupon`, 422
/// `coupon_not_applicable`.
pub fn set_coupon(request: &Request, params: &Params) -> Result<Response, Error> {
    let target = target(params)?;
    let body: Value = request.json()?;
    let code = body
        .get("code")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::new(400, "invalid_coupon_code", "`code` must be a string"))?;
    let before = current(&target)?;
    let customer = pricer::customer(&target.site, target.user.as_deref(), &before.currency)?;
    let priced = pricer::price(&target.site, &before, &customer, &locale(request), None)?;
    let code = pricer::check_coupon(&target.site, code, priced.coupon_base, &before.currency)?;
    let cart = modify(&target, |cart| {
        cart.coupon = Some(code.clone());
        Ok(())
    })?;
    answer(&target, &cart, request)
}

/// `DELETE .../coupon`.
pub fn remove_coupon(request: &Request, params: &Params) -> Result<Response, Error> {
    let target = target(params)?;
    let cart = modify(&target, |cart| {
        cart.coupon = None;
        Ok(())
    })?;
    answer(&target, &cart, request)
}

/// `PUT /cart/currency` `{"currency": "USD"}`: prices the user's cart in
/// another currency.
pub fn set_currency(request: &Request, params: &Params) -> Result<Response, Error> {
    let target = target(params)?;
    let body: Value = request.json()?;
    let code = body
        .get("currency")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::new(400, "invalid_currency", "`currency` must be a string"))?;
    let code = money::currency(code)?.to_owned();
    let cart = modify(&target, |cart| {
        cart.currency = code.clone();
        Ok(())
    })?;
    answer(&target, &cart, request)
}

/// `POST /cart/merge` `{"token": "..."}`: moves the lines of an anonymous
/// cart into the signed-in user's cart (quantities add up, capped at the
/// per-line maximum) and deletes the anonymous cart. Repeating it adds
/// nothing.
pub fn merge(request: &Request, _: &Params) -> Result<Response, Error> {
    let target = mine()?;
    let body: Value = request.json()?;
    let token = body
        .get("token")
        .and_then(Value::as_str)
        .filter(|token| cart::is_token(token))
        .ok_or_else(|| {
            Error::new(
                400,
                "invalid_token",
                "`token` must be an anonymous cart's token",
            )
        })?
        .to_owned();
    let anonymous_ref = CartRef::Anonymous(token.clone());
    let before = current(&target)?;
    let Some(anonymous) = cart::load(&target.site, &anonymous_ref)? else {
        if before.merged.contains(&token) {
            return answer(&target, &before, request);
        }
        return Err(cart::unknown_cart());
    };
    let cart = modify(&target, |cart| {
        if cart.merged.contains(&token) {
            return Ok(());
        }
        if cart.lines.is_empty() {
            cart.currency = anonymous.currency.clone();
        }
        for line in &anonymous.lines {
            let total = cart
                .quantity(&line.sku)
                .saturating_add(line.quantity)
                .min(MAX_QUANTITY);
            cart.set(&line.sku, total)?;
        }
        if cart.coupon.is_none() {
            cart.coupon = anonymous.coupon.clone();
        }
        cart.merged.push(token.clone());
        Ok(())
    })?;
    storage::delete(&anonymous_ref.key(&target.site))?;
    answer(&target, &cart, request)
}
