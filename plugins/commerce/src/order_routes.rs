//! The order API: lists and reads (the buyer, their company's members,
//! staff), payment, cancellation, staff transitions, invoices and
//! one-click re-order.

use serde::Deserialize;
use tessera_sdk::prelude::*;

use crate::accounts;
use crate::cart::{Cart, CartRef, MAX_QUANTITY};
use crate::context::{ORDERS, body_or_default, now, setting, signed_in, staff};
use crate::inventory;
use crate::lifecycle;
use crate::order::{Order, Status, parse_status};
use crate::order_store::{self, Invoice};
use crate::paging;
use crate::payment::PaymentRequest;
use crate::pricer;
use crate::rules_store;

/// The order `id` if the signed-in caller may see it; 404 otherwise (as
/// if it did not exist).
fn visible_order(id: &str) -> Result<(String, tessera_sdk::User, Order), Error> {
    let (site, user) = signed_in()?;
    let order = order_store::order(&site, id)?.ok_or_else(|| order_store::unknown_order(id))?;
    if !order_store::visible(&site, order.company.as_deref(), &order.user_id, &user.id)? {
        return Err(order_store::unknown_order(id));
    }
    Ok((site, user, order))
}

/// Where the caller's list of `what` (`orders`, `invoices`) comes from:
/// everything for staff with `scope=all`, the company's for members, their
/// own otherwise.
fn list_prefix(request: &Request, what: &str) -> Result<(String, String), Error> {
    let (site, user) = signed_in()?;
    if request.query("scope").as_deref() == Some("all") {
        staff(ORDERS)?;
        let prefix = order_store::index_prefix(&site, &format!("all-{what}"), "site");
        return Ok((site, prefix));
    }
    let prefix = match accounts::membership(&site, &user.id)? {
        Some(member) => {
            order_store::index_prefix(&site, &format!("company-{what}"), &member.company)
        }
        None => order_store::index_prefix(&site, &format!("user-{what}"), &user.id),
    };
    Ok((site, prefix))
}

/// `GET /orders?cursor=&limit=&scope=all`: newest first.
pub fn list(request: &Request, _: &Params) -> Result<Response, Error> {
    let (site, prefix) = list_prefix(request, "orders")?;
    let limit = paging::limit(request.query("limit"))?;
    let page = paging::page(
        &prefix,
        request.query("cursor").as_deref(),
        limit,
        |entry| order_store::order(&site, order_store::entry_id(entry)),
    )?;
    Ok(Response::ok_json(
        &json!({"orders": page.items, "next_cursor": page.next}),
    ))
}

/// `GET /orders/{id}`.
pub fn get(_: &Request, params: &Params) -> Result<Response, Error> {
    let (_, _, order) = visible_order(params.require("id")?)?;
    Ok(Response::ok_json(&order))
}

/// `POST /orders/{id}/pay` `{"provider": "test", "token": "tok_ok"}`.
pub fn pay(request: &Request, params: &Params) -> Result<Response, Error> {
    let (site, user, order) = visible_order(params.require("id")?)?;
    let payment: PaymentRequest = request.json()?;
    Ok(Response::ok_json(&lifecycle::pay(
        &site,
        &order.id,
        &payment,
        &user.username,
    )?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Note {
    #[serde(default)]
    reason: Option<String>,
}

/// `POST /orders/{id}/cancel` `{"reason": "..."}`: the buyer or an
/// approver of their company cancels an order until it is paid; staff
/// also paid ones (refunded).
pub fn cancel(request: &Request, params: &Params) -> Result<Response, Error> {
    let (site, user, order) = visible_order(params.require("id")?)?;
    let note: Note = body_or_default(request)?;
    order.status.check(Status::Cancelled)?;
    let is_staff = identity::check(ORDERS, None);
    if order.status == Status::Paid && !is_staff {
        return Err(Error::forbidden(
            "a paid order is cancelled (and refunded) by staff: it needs `commerce.order.manage`",
        ));
    }
    let may = is_staff
        || order.user_id == user.id
        || match &order.company {
            Some(company) => accounts::is_approver(&site, company, &user.username)?,
            None => false,
        };
    if !may {
        return Err(Error::forbidden(
            "only the buyer, an approver of their company or staff may cancel this order",
        ));
    }
    let order = lifecycle::transition(
        &site,
        &order.id,
        Status::Cancelled,
        &user.username,
        note.reason,
    )?;
    Ok(Response::ok_json(&order))
}

/// `POST /orders/{id}/transitions` `{"to": "shipped", "note": "..."}`:
/// staff move orders along the state machine; 409 `invalid_transition`
/// for an illegal move.
pub fn transition(request: &Request, params: &Params) -> Result<Response, Error> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        to: String,
        #[serde(default)]
        note: Option<String>,
    }
    let (site, by) = staff(ORDERS)?;
    let id = params.require("id")?;
    let body: Body = request.json()?;
    let to = parse_status(&body.to)?;
    let order = order_store::order(&site, id)?.ok_or_else(|| order_store::unknown_order(id))?;
    order.status.check(to)?;
    match to {
        Status::Placed => Err(Error::new(
            409,
            "approval_required",
            "an order leaves pending_approval through its approval workflow (or is cancelled)",
        )),
        Status::Paid => Err(Error::new(
            409,
            "payment_required",
            "an order becomes paid through POST /orders/{id}/pay",
        )),
        _ => Ok(Response::ok_json(&lifecycle::transition(
            &site, id, to, &by, body.note,
        )?)),
    }
}

/// `POST /orders/{id}/reorder`: puts the order's lines into the caller's
/// cart again, at today's prices; lines that cannot be bought any more
/// (gone, no price, not enough stock) are listed under `skipped`.
pub fn reorder(request: &Request, params: &Params) -> Result<Response, Error> {
    let (site, user, order) = visible_order(params.require("id")?)?;
    let cart_ref = CartRef::User(user.id.clone());
    let current = crate::cart::load(&site, &cart_ref)?
        .unwrap_or_else(|| Cart::empty(&order.totals.currency, now()));
    let customer = pricer::customer(&site, Some(&user.id), &current.currency)?;
    let lists = rules_store::price_lists(&site)?;
    let locale = setting("default-locale", "en");
    let mut added = Vec::new();
    let mut skipped = Vec::new();
    for line in &order.lines {
        let wanted = current
            .quantity(&line.sku)
            .saturating_add(line.quantity)
            .min(MAX_QUANTITY);
        let check = pricer::price_line(&site, &lists, &customer, &line.sku, wanted, &locale)
            .and_then(|_| {
                let available = inventory::available(&site, &line.sku)?;
                if available < wanted {
                    Err(inventory::out_of_stock(&line.sku, wanted, available))
                } else {
                    Ok(())
                }
            });
        match check {
            Ok(()) => added.push(line.clone()),
            Err(error) if error.status < 500 => {
                skipped.push(json!({"sku": line.sku, "code": error.code, "message": error.message}))
            }
            Err(error) => return Err(error),
        }
    }
    let cart = storage::try_update_json(&cart_ref.key(&site), |stored: Option<Cart>| {
        let mut cart = stored.unwrap_or_else(|| Cart::empty(&order.totals.currency, now()));
        for line in &added {
            let total = cart
                .quantity(&line.sku)
                .saturating_add(line.quantity)
                .min(MAX_QUANTITY);
            cart.set(&line.sku, total)?;
        }
        cart.updated_at = now();
        Ok(cart)
    })?;
    let priced = pricer::price(
        &site,
        &cart,
        &customer,
        &request.query("locale").unwrap_or(locale),
        None,
    )?;
    Ok(Response::ok_json(&json!({
        "order": order.id,
        "cart": {"currency": cart.currency, "lines": priced.lines, "totals": priced.totals},
        "skipped": skipped,
    })))
}

fn visible_invoice(number: &str) -> Result<Invoice, Error> {
    let (site, user) = signed_in()?;
    let unknown = || Error::new(404, "unknown_invoice", format!("no invoice `{number}`"));
    let invoice = order_store::invoice(&site, number)?.ok_or_else(unknown)?;
    if !order_store::visible(
        &site,
        invoice.company.as_deref(),
        &invoice.user_id,
        &user.id,
    )? {
        return Err(unknown());
    }
    Ok(invoice)
}

/// `GET /orders/{id}/invoice`.
pub fn order_invoice(_: &Request, params: &Params) -> Result<Response, Error> {
    let (_, _, order) = visible_order(params.require("id")?)?;
    let number = order.invoice.ok_or_else(|| {
        Error::new(
            404,
            "no_invoice",
            format!("order {} is not paid: no invoice yet", order.id),
        )
    })?;
    Ok(Response::ok_json(&visible_invoice(&number)?))
}

/// `GET /invoices/{number}`.
pub fn invoice(_: &Request, params: &Params) -> Result<Response, Error> {
    Ok(Response::ok_json(&visible_invoice(
        params.require("number")?,
    )?))
}

/// `GET /invoices?cursor=&limit=&scope=all`: newest first.
pub fn invoices(request: &Request, _: &Params) -> Result<Response, Error> {
    let (site, prefix) = list_prefix(request, "invoices")?;
    let limit = paging::limit(request.query("limit"))?;
    let page = paging::page(
        &prefix,
        request.query("cursor").as_deref(),
        limit,
        |entry| order_store::invoice(&site, order_store::entry_id(entry)),
    )?;
    Ok(Response::ok_json(
        &json!({"invoices": page.items, "next_cursor": page.next}),
    ))
}
