//! Who is calling, where their data lives, and the small helpers every
//! handler shares: permission names, identifier rules, request bodies.

use serde::de::DeserializeOwned;
use tessera_sdk::prelude::*;
use tessera_sdk::{Principal, User};

/// Staff permission: products, categories, prices, stock, coupons, tax,
/// shipping methods.
pub const CATALOG: &str = "commerce.catalog.manage";

/// Staff permission: every order, order transitions, companies.
pub const ORDERS: &str = "commerce.order.manage";

/// The storage prefix of `site`'s data.
pub fn root(site: &str) -> String {
    format!("site/{site}/")
}

/// The current principal.
pub fn principal() -> Principal {
    identity::current()
}

/// The caller's site and user; 401 for anonymous callers.
pub fn signed_in() -> Result<(String, User), Error> {
    let principal = principal();
    match principal.user {
        Some(user) => Ok((principal.site, user)),
        None => Err(Error::unauthenticated("sign in first")),
    }
}

/// The caller's site once `permission` is checked (401 or 403 otherwise),
/// and their username.
pub fn staff(permission: &str) -> Result<(String, String), Error> {
    identity::require(permission)?;
    let principal = principal();
    let name = principal
        .user
        .map_or_else(|| "system".to_owned(), |user| user.username);
    Ok((principal.site, name))
}

/// Whether `text` is an identifier: 1 to 64 lower-case letters, digits,
/// `-` or `_`.
pub fn is_slug(text: &str) -> bool {
    (1..=64).contains(&text.len())
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// Whether `text` is a SKU: 1 to 64 ASCII letters, digits, `-`, `_` or `.`.
pub fn is_sku(text: &str) -> bool {
    (1..=64).contains(&text.len())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
}

/// 400 `invalid_id` unless `id` is a slug.
pub fn slug<'a>(what: &str, id: &'a str) -> Result<&'a str, Error> {
    if is_slug(id) {
        Ok(id)
    } else {
        Err(Error::new(
            400,
            "invalid_id",
            format!(
                "`{id}` is not a valid {what} id: use 1 to 64 lower-case letters, digits, `-` or `_`"
            ),
        ))
    }
}

/// The body as JSON, or `T::default()` when it is empty.
pub fn body_or_default<T: DeserializeOwned + Default>(request: &Request) -> Result<T, Error> {
    if request.body.iter().all(u8::is_ascii_whitespace) {
        Ok(T::default())
    } else {
        request.json()
    }
}

/// The current time, ms since the epoch.
pub fn now() -> u64 {
    jobs::now_ms()
}

/// A configuration value, trimmed, or `default`.
pub fn setting(name: &str, default: &str) -> String {
    config::get(name)
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// A storage key's value as `T`, or 500 when it does not parse.
pub fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(bytes)
        .map_err(|error| Error::internal(format!("the value under `{key}` is unreadable: {error}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        assert!(is_slug("t-shirts_2"));
        assert!(!is_slug("T-shirts"));
        assert!(!is_slug(""));
        assert!(!is_slug("a/b"));
        assert!(is_sku("TS-RED.M"));
        assert!(!is_sku("TS RED"));
        assert!(!is_sku(&"x".repeat(65)));
    }
}
