//! Where orders and invoices live, with the indexes that list them per
//! user and per company:
//!
//! | key (under `site/{site}/`) | value |
//! |---|---|
//! | `orders/{id}` | an [`Order`] |
//! | `{user,company,all}-orders/{owner}/{entry}` | index entries, newest first (see [`newest_first`]) |
//! | `invoices/{number}` | an [`Invoice`] |
//! | `{user,company,all}-invoices/{owner}/{entry}` | index entries, newest first |
//! | `seq/{orders or invoices}` | the last number handed out |
//! | `idempotency/{user id}/{key}` | a checkout's idempotency record |

use serde::{Deserialize, Serialize};
use tessera_sdk::storage::{self, Operation};
use tessera_sdk::{Error, identity};

use crate::accounts;
use crate::context::{ORDERS, root};
use crate::order::{Address, Order};
use crate::totals::{PricedLine, Totals};

/// An invoice, issued when an order is paid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invoice {
    /// Its number (`INV-00000001`), sequential per site.
    pub number: String,
    /// The order.
    pub order: String,
    /// Who bought (user id).
    pub user_id: String,
    /// Their username.
    pub username: String,
    /// Their company.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    /// Where it is addressed.
    pub billing_address: Address,
    /// The lines.
    pub lines: Vec<PricedLine>,
    /// The totals, tax shown separately.
    pub totals: Totals,
    /// The payment's reference.
    pub payment_reference: String,
    /// When (ms).
    pub issued_at: u64,
}

/// The key of order `id`.
pub fn order_key(site: &str, id: &str) -> String {
    format!("{}orders/{id}", root(site))
}

/// The index prefix of a user's or company's orders or invoices: `kind`
/// is `user-orders`, `company-orders`, `user-invoices` or
/// `company-invoices`; `all-orders` and `all-invoices` (owner `site`) list
/// every one.
pub fn index_prefix(site: &str, kind: &str, owner: &str) -> String {
    format!("{}{kind}/{owner}/", root(site))
}

/// The index entry name of an order or invoice id (`O00000042`,
/// `INV-00000007`): its number subtracted from `u64::MAX`, then the id, so
/// that indexes list the newest first.
pub fn newest_first(id: &str) -> String {
    let digits = id.trim_start_matches(|c: char| !c.is_ascii_digit());
    let number: u64 = digits.parse().unwrap_or(0);
    format!("{:020}-{id}", u64::MAX - number)
}

/// The id in an index entry name made by [`newest_first`].
pub fn entry_id(entry: &str) -> &str {
    entry.split_once('-').map_or(entry, |(_, id)| id)
}

/// The index operations of an order or invoice `id` of `user` and
/// `company`: `kind` is `orders` or `invoices`.
fn index_operations(
    site: &str,
    kind: &str,
    id: &str,
    user: &str,
    company: Option<&str>,
) -> Vec<Operation> {
    let entry = newest_first(id);
    let mut owners = vec![
        (format!("user-{kind}"), user),
        (format!("all-{kind}"), "site"),
    ];
    if let Some(company) = company {
        owners.push((format!("company-{kind}"), company));
    }
    owners
        .into_iter()
        .map(|(index, owner)| {
            Operation::set(format!("{}{entry}", index_prefix(site, &index, owner)), "")
        })
        .collect()
}

/// The next number of sequence `name` (`orders`, `invoices`).
pub fn next_number(site: &str, name: &str) -> Result<u64, Error> {
    storage::update_json(&format!("{}seq/{name}", root(site)), |n: Option<u64>| {
        n.unwrap_or(0).saturating_add(1)
    })
}

/// The order `id`, if any.
pub fn order(site: &str, id: &str) -> Result<Option<Order>, Error> {
    storage::get_json(&order_key(site, id))
}

/// 404 `unknown_order`.
pub fn unknown_order(id: &str) -> Error {
    Error::new(404, "unknown_order", format!("no order `{id}`"))
}

/// The operations that create `order` and its index entries.
pub fn create_operations(order: &Order) -> Result<Vec<Operation>, Error> {
    let site = &order.site;
    let mut operations = vec![Operation::set_json(order_key(site, &order.id), order)?];
    operations.extend(index_operations(
        site,
        "orders",
        &order.id,
        &order.user_id,
        order.company.as_deref(),
    ));
    Ok(operations)
}

/// Read-modify-write of order `id` with a compare-and-swap loop: of two
/// concurrent transitions from one state, one wins and the other sees the
/// new state (and usually a 409).
pub fn update(
    site: &str,
    id: &str,
    mut change: impl FnMut(&mut Order) -> Result<(), Error>,
) -> Result<Order, Error> {
    storage::try_update_json(&order_key(site, id), |current: Option<Order>| {
        let mut order = current.ok_or_else(|| unknown_order(id))?;
        change(&mut order)?;
        Ok(order)
    })
}

/// Whether the signed-in user `user_id` may see `order`: they placed it,
/// they are a member of its company, or they hold `commerce.order.manage`.
pub fn visible(
    site: &str,
    order_company: Option<&str>,
    owner: &str,
    user_id: &str,
) -> Result<bool, Error> {
    if owner == user_id || identity::check(ORDERS, None) {
        return Ok(true);
    }
    match (order_company, accounts::membership(site, user_id)?) {
        (Some(company), Some(member)) => Ok(member.company == company),
        _ => Ok(false),
    }
}

/// Issues the invoice of a paid `order` (once: an order that has one keeps
/// it); returns its number.
pub fn issue_invoice(order: &Order, reference: &str, now: u64) -> Result<String, Error> {
    if let Some(number) = &order.invoice {
        return Ok(number.clone());
    }
    let site = &order.site;
    let number = format!("INV-{:08}", next_number(site, "invoices")?);
    let invoice = Invoice {
        number: number.clone(),
        order: order.id.clone(),
        user_id: order.user_id.clone(),
        username: order.username.clone(),
        company: order.company.clone(),
        billing_address: order.billing_address.clone(),
        lines: order.lines.clone(),
        totals: order.totals.clone(),
        payment_reference: reference.to_owned(),
        issued_at: now,
    };
    let mut operations = vec![Operation::set_json(
        format!("{}invoices/{number}", root(site)),
        &invoice,
    )?];
    operations.extend(index_operations(
        site,
        "invoices",
        &number,
        &order.user_id,
        order.company.as_deref(),
    ));
    storage::batch(&operations)?;
    update(site, &order.id, |order| {
        if order.invoice.is_none() {
            order.invoice = Some(number.clone());
        }
        Ok(())
    })?;
    Ok(number)
}

/// The invoice `number`, if any.
pub fn invoice(site: &str, number: &str) -> Result<Option<Invoice>, Error> {
    storage::get_json(&format!("{}invoices/{number}", root(site)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_entries_sort_newest_first_and_name_their_id() {
        let (older, newer) = (newest_first("O00000009"), newest_first("O00000010"));
        assert!(newer < older);
        assert_eq!(entry_id(&newer), "O00000010");
        let invoice = newest_first("INV-00000002");
        assert!(invoice < newest_first("INV-00000001"));
        assert_eq!(entry_id(&invoice), "INV-00000002");
    }
}
