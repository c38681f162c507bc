//! `POST /checkout`: turns the signed-in user's cart into an order.
//!
//! The `Idempotency-Key` header is required. The first request with a key
//! claims it (compare-and-swap) and places the order; a repeat with the
//! same key and body answers the same order (200, `idempotent-replay:
//! true`) without placing another; the same key with a different body is
//! 422 `idempotency_key_reused`; a repeat while the first is still running
//! is 409 `checkout_in_progress`. A checkout that fails before the order
//! exists frees its key; one that ended without answering (a trap, the
//! time limit) leaves a claim that a retry takes over after a minute.
//!
//! Placing: price the cart (shipping and tax for the address's country),
//! schedule the recovery job (which gives back the stock should the
//! checkout end without its order), reserve the stock (all or nothing, 409
//! `out_of_stock`; the reservation record grows with each take), count
//! the coupon's use (409 `coupon_exhausted`), then write the order, its indexes and the idempotency
//! record in one batch, cancel the recovery job and take the ordered units
//! out of the cart. An order of a
//! company member above the company's limit waits in `pending_approval`;
//! otherwise it is `placed` and, when the body has a `payment`, charged
//! at once.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tessera_sdk::User;
use tessera_sdk::prelude::*;
use tessera_sdk::storage::{CasOutcome, Operation};

use crate::accounts;
use crate::approval;
use crate::cart::{self, CartRef};
use crate::context::{now, root, setting, signed_in};
use crate::inventory;
use crate::lifecycle;
use crate::order::{Address, Order, Status, Step};
use crate::order_store;
use crate::payment::PaymentRequest;
use crate::pricer::{self, Destination};
use crate::rules_store;

/// The body of `POST /checkout`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckoutRequest {
    shipping_address: Address,
    #[serde(default)]
    billing_address: Option<Address>,
    shipping_method: String,
    #[serde(default)]
    payment: Option<PaymentRequest>,
}

/// What an idempotency key stands for.
#[derive(Debug, Serialize, Deserialize)]
struct Claim {
    request: Value,
    order: String,
    done: bool,
    /// When it was claimed (ms).
    #[serde(default)]
    at: u64,
}

/// A claim not done after this long was abandoned: its checkout ended
/// without answering (a trap or the plugin's time limit, far shorter than
/// this), so a retry with the same key and body takes it over.
const ABANDONED_MS: u64 = 60_000;

impl Claim {
    fn abandoned(&self, body: &Value, now: u64) -> bool {
        !self.done && self.request == *body && now.saturating_sub(self.at) > ABANDONED_MS
    }
}

fn claim_key(site: &str, user: &str, key: &str) -> String {
    format!("{}idempotency/{user}/{key}", root(site))
}

fn idempotency_key(request: &Request) -> Result<String, Error> {
    let key = request.header("idempotency-key").ok_or_else(|| {
        Error::new(
            400,
            "idempotency_key_required",
            "send an `Idempotency-Key` header (a unique string per checkout) so that a retry cannot order twice",
        )
    })?;
    let valid = (1..=128).contains(&key.len())
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c));
    if valid {
        Ok(key.to_owned())
    } else {
        Err(Error::new(
            400,
            "invalid_idempotency_key",
            "`Idempotency-Key` must be 1 to 128 letters, digits, `-`, `_`, `.` or `:`",
        ))
    }
}

/// The answer for a key already claimed.
fn replay(site: &str, claim: &Claim, body: &Value) -> Result<Response, Error> {
    if claim.request != *body {
        return Err(Error::new(
            422,
            "idempotency_key_reused",
            "this Idempotency-Key was used for a different checkout: use a new key",
        ));
    }
    if !claim.done {
        return Err(Error::new(
            409,
            "checkout_in_progress",
            "a checkout with this Idempotency-Key is still running: retry in a moment",
        ));
    }
    let order = order_store::order(site, &claim.order)?
        .ok_or_else(|| order_store::unknown_order(&claim.order))?;
    Ok(Response::ok_json(&order).with_header("idempotent-replay", "true"))
}

/// `POST /checkout`.
pub fn checkout(request: &Request, _: &Params) -> Result<Response, Error> {
    let (site, user) = signed_in()?;
    let key = idempotency_key(request)?;
    let body: Value = request.json()?;
    let parsed: CheckoutRequest = serde_json::from_value(body.clone())?;
    parsed.shipping_address.validate("shipping_address")?;
    if let Some(billing) = &parsed.billing_address {
        billing.validate("billing_address")?;
    }
    if let Some(payment) = &parsed.payment {
        crate::payment::provider(&payment.provider)?;
    }
    let claim_at = claim_key(&site, &user.id, &key);
    let existing = storage::get(&claim_at)?;
    if let Some(bytes) = &existing {
        let claim: Claim = crate::context::decode(&claim_at, bytes)?;
        if !claim.abandoned(&body, now()) {
            return replay(&site, &claim, &body);
        }
        log::warn(&format!(
            "checkout {key} of {} abandoned order {}: taking it over",
            user.username, claim.order
        ));
    }
    let id = format!("O{:08}", order_store::next_number(&site, "orders")?);
    let claim = Claim {
        request: body.clone(),
        order: id.clone(),
        done: false,
        at: now(),
    };
    let encoded = serde_json::to_vec(&claim).map_err(|e| Error::internal(e.to_string()))?;
    match storage::compare_and_swap(&claim_at, existing.as_deref(), Some(&encoded))? {
        CasOutcome::Swapped => {}
        CasOutcome::Conflict(Some(current)) => {
            let current: Claim = crate::context::decode(&claim_at, &current)?;
            return replay(&site, &current, &body);
        }
        CasOutcome::Conflict(None) => {
            return Err(Error::new(
                409,
                "checkout_in_progress",
                "a checkout with this Idempotency-Key changed meanwhile: retry in a moment",
            ));
        }
    }
    let locale = request
        .query("locale")
        .unwrap_or_else(|| setting("default-locale", "en"));
    let placed = place(&site, &user, &id, &parsed, &claim_at, &body, &locale);
    let order = match placed {
        Ok(order) => order,
        Err(error) => {
            let _ = storage::compare_and_swap(&claim_at, Some(&encoded), None);
            return Err(error);
        }
    };
    let mut answer = serde_json::to_value(&order).map_err(|e| Error::internal(e.to_string()))?;
    if let (Some(payment), Status::Placed) = (&parsed.payment, order.status) {
        match lifecycle::pay(&site, &id, payment, &user.username) {
            Ok(paid) => {
                answer = serde_json::to_value(&paid).map_err(|e| Error::internal(e.to_string()))?
            }
            Err(error) => {
                if let Value::Object(map) = &mut answer {
                    map.insert(
                        "payment_error".into(),
                        json!({"code": error.code, "message": error.message}),
                    );
                }
            }
        }
    }
    Ok(Response::json(201, &answer))
}

/// Places the order `id` from the user's cart; nothing is left behind when
/// it fails.
fn place(
    site: &str,
    user: &User,
    id: &str,
    request: &CheckoutRequest,
    claim_at: &str,
    body: &Value,
    locale: &str,
) -> Result<Order, Error> {
    let cart_ref = CartRef::User(user.id.clone());
    let cart = cart::load(site, &cart_ref)?
        .filter(|cart| !cart.lines.is_empty())
        .ok_or_else(|| Error::new(422, "empty_cart", "the cart is empty: add something first"))?;
    let customer = pricer::customer(site, Some(&user.id), &cart.currency)?;
    let destination = Destination {
        country: &request.shipping_address.country,
        method: &request.shipping_method,
    };
    let priced = pricer::price(site, &cart, &customer, locale, Some(destination))?;
    if let Some(problem) = priced.problems.first() {
        return Err(Error::new(
            422,
            problem.code.clone(),
            format!("the cart cannot be ordered as it is: {}", problem.message),
        ));
    }
    if let Some(problem) = &priced.coupon_problem {
        return Err(Error::new(422, "coupon_not_applicable", problem.clone()));
    }
    let member = accounts::membership(site, &user.id)?;
    let company = match &member {
        Some(member) => accounts::company(site, &member.company)?,
        None => None,
    };
    let needs_approval = company
        .as_ref()
        .and_then(|company| company.order_limit.as_ref())
        .is_some_and(|limit| {
            limit.currency != priced.totals.currency || priced.totals.total > limit.amount
        });
    // Should this checkout end without writing its order, the recovery
    // job gives back the stock it reserved.
    lifecycle::schedule_recovery(site, id)?;
    let wanted: Vec<(String, u32)> = priced
        .lines
        .iter()
        .map(|line| (line.sku.clone(), line.quantity))
        .collect();
    if let Err(error) = inventory::reserve(site, id, &wanted) {
        // `reserve` gave back what it held.
        lifecycle::cancel_recovery(site, id);
        return Err(error);
    }
    // The coupon's use is counted once the stock is held, so a checkout
    // that loses the race for the last units never takes a use from one
    // that wins it.
    if let Some(coupon) = &priced.applied
        && let Err(error) = rules_store::use_coupon(site, coupon)
    {
        inventory::abandon(site, id);
        lifecycle::cancel_recovery(site, id);
        return Err(error);
    }
    let undo = || {
        inventory::abandon(site, id);
        if let Some(coupon) = &priced.applied {
            rules_store::unuse_coupon(site, &coupon.code);
        }
        lifecycle::cancel_recovery(site, id);
    };
    let at = now();
    let status = if needs_approval {
        Status::PendingApproval
    } else {
        Status::Placed
    };
    let order = Order {
        id: id.to_owned(),
        site: site.to_owned(),
        status,
        user_id: user.id.clone(),
        username: user.username.clone(),
        company: member.map(|member| member.company),
        lines: priced.lines.clone(),
        automatic_discount: priced.automatic_discount.clone(),
        coupon: priced.applied.as_ref().map(|coupon| coupon.code.clone()),
        totals: priced.totals.clone(),
        shipping_address: request.shipping_address.clone(),
        billing_address: request
            .billing_address
            .clone()
            .unwrap_or_else(|| request.shipping_address.clone()),
        shipping_method: request.shipping_method.clone(),
        payment: None,
        invoice: None,
        approval: None,
        history: vec![Step {
            from: None,
            to: status,
            by: user.username.clone(),
            at,
            note: None,
        }],
        created_at: at,
        updated_at: at,
    };
    let written = (|| {
        let mut operations = order_store::create_operations(&order)?;
        operations.push(Operation::set_json(
            claim_at.to_owned(),
            &Claim {
                request: body.clone(),
                order: id.to_owned(),
                done: true,
                at: now(),
            },
        )?);
        storage::batch(&operations)
    })();
    if let Err(error) = written {
        undo();
        return Err(error);
    }
    lifecycle::cancel_recovery(site, id);
    empty_cart(site, &cart_ref, &order);
    let next = match status {
        Status::PendingApproval => approval::request(&order),
        _ => lifecycle::schedule_expiry(site, id),
    };
    if let Err(error) = next {
        log::error(&format!("order {id}: {error}"));
    }
    lifecycle::announce(&order);
    Ok(order)
}

/// Takes the ordered units (and the used coupon) out of the cart with a
/// compare-and-swap, so that a line added while the checkout ran stays.
fn empty_cart(site: &str, cart_ref: &CartRef, order: &Order) {
    let emptied = storage::try_update_json(&cart_ref.key(site), |cart: Option<cart::Cart>| {
        let mut cart = cart.ok_or_else(|| Error::not_found("no cart"))?;
        for line in &order.lines {
            let left = cart.quantity(&line.sku).saturating_sub(line.quantity);
            if left == 0 {
                cart.remove(&line.sku);
            } else {
                cart.set(&line.sku, left)?;
            }
        }
        if cart.coupon.is_some() && cart.coupon == order.coupon {
            cart.coupon = None;
        }
        cart.updated_at = now();
        Ok(cart)
    });
    if let Err(error) = emptied {
        log::warn(&format!(
            "order {}: could not empty the cart: {error}",
            order.id
        ));
    }
}
