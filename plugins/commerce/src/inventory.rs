//! Stock per SKU and warehouse, and reservations. Every change to a stock
//! level is a compare-and-swap on that level, so concurrent checkouts of
//! the last units never sell more than there is.
//!
//! | key (under `site/{site}/`) | value |
//! |---|---|
//! | `stock/{sku}/{warehouse}` | a [`Stock`] level |
//! | `reservations/{order}` | the order's [`Reservation`] |
//!
//! A reservation is `held` from checkout until the order is paid
//! (`committed`: the units leave `on_hand`) or cancelled or timed out
//! (`released`: the units are available again). The state change is a
//! compare-and-swap too, so a release that runs twice (a job and a cancel)
//! gives the units back once.

use serde::{Deserialize, Serialize};
use tessera_sdk::storage;
use tessera_sdk::{Error, log};

use crate::context::{decode, root};

/// The stock of one SKU in one warehouse.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stock {
    /// Units in the warehouse.
    pub on_hand: u32,
    /// Units held by unpaid orders.
    pub reserved: u32,
}

impl Stock {
    /// Units that can still be sold.
    pub fn available(&self) -> u32 {
        self.on_hand.saturating_sub(self.reserved)
    }
}

/// Units of one SKU held in one warehouse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    /// The SKU.
    pub sku: String,
    /// The warehouse.
    pub warehouse: String,
    /// Units.
    pub quantity: u32,
}

/// Where a reservation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Units held for the order.
    Held,
    /// The order was paid: the units left the warehouse's stock.
    Committed,
    /// Given back.
    Released,
}

/// The units an order holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    /// The order.
    pub order: String,
    /// What is held where.
    pub items: Vec<Held>,
    /// Where it stands.
    pub state: State,
}

fn stock_key(site: &str, sku: &str, warehouse: &str) -> String {
    format!("{}stock/{sku}/{warehouse}", root(site))
}

/// The key of an order's reservation.
pub fn reservation_key(site: &str, order: &str) -> String {
    format!("{}reservations/{order}", root(site))
}

/// Sets the units on hand of `sku` in `warehouse`; 409
/// `stock_below_reserved` when fewer than the units reserved there.
pub fn set_on_hand(site: &str, sku: &str, warehouse: &str, on_hand: u32) -> Result<Stock, Error> {
    storage::try_update_json(&stock_key(site, sku, warehouse), |stock: Option<Stock>| {
        let stock = stock.unwrap_or_default();
        if on_hand < stock.reserved {
            return Err(Error::new(
                409,
                "stock_below_reserved",
                format!(
                    "{} units of {sku} are reserved in {warehouse}: on_hand cannot go below that",
                    stock.reserved
                ),
            ));
        }
        Ok(Stock { on_hand, ..stock })
    })
}

/// Every warehouse's stock of `sku`, by warehouse id.
pub fn levels(site: &str, sku: &str) -> Result<Vec<(String, Stock)>, Error> {
    let prefix = format!("{}stock/{sku}/", root(site));
    storage::scan(&prefix)
        .map(|entry| {
            let (key, value) = entry?;
            let warehouse = key.strip_prefix(&prefix).unwrap_or(&key).to_owned();
            Ok((warehouse, decode(&key, &value)?))
        })
        .collect()
}

/// Units of `sku` available over every warehouse.
pub fn available(site: &str, sku: &str) -> Result<u32, Error> {
    Ok(levels(site, sku)?.iter().fold(0u32, |sum, (_, stock)| {
        sum.saturating_add(stock.available())
    }))
}

/// 409 `out_of_stock`.
pub fn out_of_stock(sku: &str, wanted: u32, available: u32) -> Error {
    Error::new(
        409,
        "out_of_stock",
        format!("{wanted} × {sku} wanted, {available} available"),
    )
}

/// Takes up to `wanted` available units of `sku` in `warehouse`; returns
/// how many it took.
fn take(site: &str, sku: &str, warehouse: &str, wanted: u32) -> Result<u32, Error> {
    let mut taken = 0;
    storage::try_update_json(&stock_key(site, sku, warehouse), |stock: Option<Stock>| {
        let mut stock = stock.unwrap_or_default();
        taken = stock.available().min(wanted);
        stock.reserved = stock.reserved.saturating_add(taken);
        Ok(stock)
    })?;
    Ok(taken)
}

/// Adjusts one level: `reserved -= quantity`, and `on_hand -= quantity`
/// when `commit`.
fn give_back(site: &str, held: &Held, commit: bool) -> Result<(), Error> {
    storage::update_json(
        &stock_key(site, &held.sku, &held.warehouse),
        |stock: Option<Stock>| {
            let stock = stock.unwrap_or_default();
            Stock {
                on_hand: if commit {
                    stock.on_hand.saturating_sub(held.quantity)
                } else {
                    stock.on_hand
                },
                reserved: stock.reserved.saturating_sub(held.quantity),
            }
        },
    )
    .map(|_| ())
}

/// Holds `quantity` units of each SKU for `order`, warehouse by warehouse
/// in id order; all or nothing: 409 `out_of_stock` (and nothing held) when
/// a SKU lacks units.
///
/// The reservation record is written first (empty) and each take is added
/// to it right after it succeeded, so that what a crashed checkout held
/// can be given back from the record (see [`abandon`]); a crash between a
/// take and its record can only hold units too long, never give back more
/// than was taken.
pub fn reserve(site: &str, order: &str, lines: &[(String, u32)]) -> Result<Vec<Held>, Error> {
    let key = reservation_key(site, order);
    storage::set_json(
        &key,
        &Reservation {
            order: order.to_owned(),
            items: Vec::new(),
            state: State::Held,
        },
    )?;
    match take_all(site, &key, lines) {
        Ok(holds) => Ok(holds),
        Err(error) => {
            abandon(site, order);
            Err(error)
        }
    }
}

fn take_all(site: &str, key: &str, lines: &[(String, u32)]) -> Result<Vec<Held>, Error> {
    let mut holds: Vec<Held> = Vec::new();
    for (sku, quantity) in lines {
        let mut missing = *quantity;
        for (warehouse, stock) in levels(site, sku)? {
            if missing == 0 {
                break;
            }
            if stock.available() == 0 {
                continue;
            }
            let taken = take(site, sku, &warehouse, missing)?;
            if taken == 0 {
                continue;
            }
            missing -= taken;
            let held = Held {
                sku: sku.clone(),
                warehouse,
                quantity: taken,
            };
            let recorded = storage::try_update_json(key, |reservation: Option<Reservation>| {
                let mut reservation = reservation
                    .ok_or_else(|| Error::internal("the reservation record vanished"))?;
                reservation.items.push(held.clone());
                Ok(reservation)
            });
            if let Err(error) = recorded {
                // Not in the record, so `abandon` would not give it back.
                if let Err(lost) = give_back(site, &held, false) {
                    log::error(&format!(
                        "could not give back {} × {}: {lost}",
                        held.quantity, held.sku
                    ));
                }
                return Err(error);
            }
            holds.push(held);
        }
        if missing > 0 {
            return Err(out_of_stock(sku, *quantity, quantity - missing));
        }
    }
    Ok(holds)
}

/// Gives back what `order` holds and deletes its reservation record: the
/// checkout failed, or crashed, before the order existed.
pub fn abandon(site: &str, order: &str) {
    if let Err(error) = settle(site, order, State::Released) {
        log::error(&format!(
            "could not release the stock held for {order}: {error}"
        ));
        return;
    }
    let _ = storage::delete(&reservation_key(site, order));
}

/// Moves `order`'s reservation from `held` to `to` (committed or
/// released) and adjusts the stock; does nothing when it is not held (a
/// second call).
pub fn settle(site: &str, order: &str, to: State) -> Result<(), Error> {
    let key = reservation_key(site, order);
    let mut moved = None;
    let result = storage::try_update_json(&key, |current: Option<Reservation>| {
        let Some(mut reservation) = current else {
            return Err(Error::not_found(format!("order {order} holds no stock")));
        };
        moved = (reservation.state == State::Held).then(|| reservation.items.clone());
        if reservation.state == State::Held {
            reservation.state = to;
        }
        Ok(reservation)
    });
    match result {
        Ok(_) => {}
        Err(error) if error.status == 404 => return Ok(()),
        Err(error) => return Err(error),
    }
    for held in moved.unwrap_or_default() {
        give_back(site, &held, to == State::Committed)?;
    }
    Ok(())
}
