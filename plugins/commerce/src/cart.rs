//! Carts: an anonymous cart is reached by its token, a signed-in user's
//! cart by their id; both hold lines (SKU, quantity), a currency and at
//! most one coupon. Prices and totals are never stored: they are computed
//! on every read (see `pricer`).
//!
//! | key (under `site/{site}/`) | value |
//! |---|---|
//! | `carts/anon/{token}` | an anonymous [`Cart`] |
//! | `carts/user/{user id}` | a user's [`Cart`] |

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tessera_sdk::{Error, storage};

use crate::context::root;

/// The most units of one SKU in a cart or order.
pub const MAX_QUANTITY: u32 = 999;

/// The most lines in a cart.
pub const MAX_LINES: usize = 100;

/// One line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    /// The SKU.
    pub sku: String,
    /// Units, 1 to [`MAX_QUANTITY`].
    pub quantity: u32,
}

/// A cart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cart {
    /// ISO 4217 currency its prices are in.
    pub currency: String,
    /// Its lines, in the order added.
    pub lines: Vec<Line>,
    /// The applied coupon code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coupon: Option<String>,
    /// Anonymous cart tokens merged into this one (a merge that is
    /// repeated adds nothing).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged: Vec<String>,
    /// Last change (ms).
    pub updated_at: u64,
}

/// Which cart a request is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CartRef {
    /// An anonymous cart's token.
    Anonymous(String),
    /// A user's id.
    User(String),
}

impl CartRef {
    /// Its storage key.
    pub fn key(&self, site: &str) -> String {
        match self {
            CartRef::Anonymous(token) => format!("{}carts/anon/{token}", root(site)),
            CartRef::User(id) => format!("{}carts/user/{id}", root(site)),
        }
    }
}

impl Cart {
    /// An empty cart in `currency`.
    pub fn empty(currency: &str, now: u64) -> Self {
        Self {
            currency: currency.to_owned(),
            lines: Vec::new(),
            coupon: None,
            merged: Vec::new(),
            updated_at: now,
        }
    }

    /// The quantity of `sku` in the cart.
    pub fn quantity(&self, sku: &str) -> u32 {
        self.lines
            .iter()
            .find(|line| line.sku == sku)
            .map_or(0, |line| line.quantity)
    }

    /// Sets the quantity of `sku` (adding a line at the end if new);
    /// 422 `too_many_lines` past [`MAX_LINES`].
    pub fn set(&mut self, sku: &str, quantity: u32) -> Result<(), Error> {
        let full = self.lines.len() >= MAX_LINES;
        match self.lines.iter_mut().find(|line| line.sku == sku) {
            Some(line) => line.quantity = quantity,
            None if full => {
                return Err(Error::new(
                    422,
                    "too_many_lines",
                    format!("a cart holds at most {MAX_LINES} lines"),
                ));
            }
            None => self.lines.push(Line {
                sku: sku.to_owned(),
                quantity,
            }),
        }
        Ok(())
    }

    /// Removes `sku`; whether it was there.
    pub fn remove(&mut self, sku: &str) -> bool {
        let before = self.lines.len();
        self.lines.retain(|line| line.sku != sku);
        self.lines.len() != before
    }
}

/// 400 `invalid_quantity` unless `value` is a whole number from 1 to
/// [`MAX_QUANTITY`].
pub fn quantity(value: Option<&Value>) -> Result<u32, Error> {
    value
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| (1..=MAX_QUANTITY).contains(n))
        .ok_or_else(|| {
            Error::new(
                400,
                "invalid_quantity",
                format!(
                    "`quantity` must be a whole number from 1 to {MAX_QUANTITY}, not {}",
                    value.map_or_else(|| "nothing".to_owned(), Value::to_string)
                ),
            )
        })
}

/// A fresh cart token: 128 bits from the WASI random source
/// (`wasi:random/random`, cryptographically secure) as 32 hex digits.
pub fn token() -> Result<String, Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|error| Error::internal(format!("no random source for a cart token: {error}")))?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

/// Whether `text` looks like a cart token.
pub fn is_token(text: &str) -> bool {
    text.len() == 32 && text.chars().all(|c| c.is_ascii_hexdigit())
}

/// 404 `unknown_cart`.
pub fn unknown_cart() -> Error {
    Error::new(
        404,
        "unknown_cart",
        "no such cart: create one with POST /carts",
    )
}

/// The cart `cart`, if any.
pub fn load(site: &str, cart: &CartRef) -> Result<Option<Cart>, Error> {
    storage::get_json(&cart.key(site))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn quantities_are_whole_and_bounded() {
        assert_eq!(quantity(Some(&json!(3))).unwrap(), 3);
        for bad in [
            json!(0),
            json!(-1),
            json!(1.5),
            json!("2"),
            json!(1000),
            json!(null),
        ] {
            assert_eq!(
                quantity(Some(&bad)).unwrap_err().code,
                "invalid_quantity",
                "{bad}"
            );
        }
        assert!(quantity(None).is_err());
    }

    #[test]
    fn lines_are_set_and_removed() {
        let mut cart = Cart::empty("EUR", 0);
        cart.set("A", 2).unwrap();
        cart.set("B", 1).unwrap();
        cart.set("A", 5).unwrap();
        assert_eq!(cart.quantity("A"), 5);
        assert_eq!(cart.lines.len(), 2);
        assert!(cart.remove("A"));
        assert!(!cart.remove("A"));
        let token = token().unwrap();
        assert!(is_token(&token));
        assert_ne!(token, super::token().unwrap());
    }
}
