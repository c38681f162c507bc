//! The plugin's private key-value store: bytes, JSON values, scans and
//! lost-update-free read-modify-write with [`update_json`].
//!
//! Requires `storage = true` under `[capabilities]` in `plugin.toml`;
//! without it every call fails with a 403 `not_permitted` [`Error`].

use std::collections::VecDeque;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::tessera::plugin::storage as wit;
pub use crate::bindings::tessera::plugin::storage::{CasOutcome, Entry, Operation, StorageError};
use crate::error::Error;

/// How many entries [`scan`] fetches per call to the kernel.
const PAGE_SIZE: u32 = 100;

/// How often [`update_json`] retries after losing a race.
const MAX_ATTEMPTS: usize = 64;

/// The value stored under `key`, or `None`.
///
/// ```no_run
/// let bytes: Option<Vec<u8>> = tessera_sdk::storage::get("avatar/ada")?;
/// # Ok::<(), tessera_sdk::Error>(())
/// ```
pub fn get(key: &str) -> Result<Option<Vec<u8>>, Error> {
    Ok(wit::get(key)?)
}

/// Stores `value` under `key`, replacing what was there. Durable once it
/// returns `Ok`.
///
/// ```no_run
/// tessera_sdk::storage::set("motd", "hello")?;
/// tessera_sdk::storage::set("blob", vec![1, 2, 3])?;
/// # Ok::<(), tessera_sdk::Error>(())
/// ```
pub fn set(key: &str, value: impl AsRef<[u8]>) -> Result<(), Error> {
    Ok(wit::set(key, value.as_ref())?)
}

/// Deletes `key`; returns whether it existed.
///
/// ```no_run
/// let existed = tessera_sdk::storage::delete("motd")?;
/// # let _ = existed;
/// # Ok::<(), tessera_sdk::Error>(())
/// ```
pub fn delete(key: &str) -> Result<bool, Error> {
    Ok(wit::delete(key)?)
}

/// Atomically replaces the value of `key` with `new` (`None`: delete) if its
/// current value is `expected` (`None`: absent). On
/// [`CasOutcome::Conflict`] nothing changed and the current value is
/// returned.
///
/// ```no_run
/// use tessera_sdk::storage::{self, CasOutcome};
///
/// // Claim a slug only if nobody has it yet.
/// match storage::compare_and_swap("slug/hello", None, Some(b"entry-7"))? {
///     CasOutcome::Swapped => println!("claimed"),
///     CasOutcome::Conflict(owner) => println!("taken by {owner:?}"),
/// }
/// # Ok::<(), tessera_sdk::Error>(())
/// ```
pub fn compare_and_swap(
    key: &str,
    expected: Option<&[u8]>,
    new: Option<&[u8]>,
) -> Result<CasOutcome, Error> {
    Ok(wit::compare_and_swap(key, expected, new)?)
}

/// Applies all `operations` atomically (at most 1000).
///
/// ```no_run
/// use tessera_sdk::storage::{self, Operation};
///
/// storage::batch(&[
///     Operation::set("entry/7", r#"{"title":"Hi"}"#),
///     Operation::set("slug/hi", "7"),
///     Operation::delete("draft/7"),
/// ])?;
/// # Ok::<(), tessera_sdk::Error>(())
/// ```
pub fn batch(operations: &[Operation]) -> Result<(), Error> {
    Ok(wit::batch(operations)?)
}

/// Every entry whose key starts with `prefix` (`""`: all), in key order,
/// fetched from the kernel a page at a time as the iterator advances. After
/// an error the iterator ends.
///
/// ```no_run
/// let mut keys = Vec::new();
/// for entry in tessera_sdk::storage::scan("entry/") {
///     let (key, _value) = entry?;
///     keys.push(key);
/// }
/// # Ok::<(), tessera_sdk::Error>(())
/// ```
pub fn scan(prefix: &str) -> Scan {
    Scan {
        prefix: prefix.to_owned(),
        start_after: None,
        buffer: VecDeque::new(),
        done: false,
    }
}

/// The iterator [`scan`] returns: yields `(key, value)` pairs.
///
/// ```no_run
/// let keys: Vec<String> = tessera_sdk::storage::scan("")
///     .map(|entry| entry.map(|(key, _)| key))
///     .collect::<Result<_, _>>()?;
/// # Ok::<(), tessera_sdk::Error>(())
/// ```
#[derive(Debug)]
pub struct Scan {
    prefix: String,
    start_after: Option<String>,
    buffer: VecDeque<Entry>,
    done: bool,
}

impl Iterator for Scan {
    type Item = Result<(String, Vec<u8>), Error>;

    /// The next entry, fetching the next page when needed.
    ///
    /// ```no_run
    /// let first = tessera_sdk::storage::scan("entry/").next();
    /// # let _ = first;
    /// ```
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(entry) = self.buffer.pop_front() {
                return Some(Ok((entry.key, entry.value)));
            }
            if self.done {
                return None;
            }
            let request = wit::ScanRequest {
                prefix: self.prefix.clone(),
                start_after: self.start_after.take(),
                limit: PAGE_SIZE,
            };
            match wit::scan(&request) {
                Ok(page) => {
                    self.buffer.extend(page.entries);
                    self.done = page.next.is_none();
                    self.start_after = page.next;
                }
                Err(error) => {
                    self.done = true;
                    return Some(Err(error.into()));
                }
            }
        }
    }
}

fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|e| {
        Error::new(
            500,
            "invalid_stored_value",
            format!("the value stored under `{key}` is not the expected JSON: {e}"),
        )
    })
}

fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(value)
        .map_err(|e| Error::internal(format!("cannot serialise the value to store: {e}")))
}

/// The JSON value stored under `key`, or `None`. A stored value that does not
/// parse as a `T` is a 500 `invalid_stored_value` error.
///
/// ```no_run
/// let count: u64 = tessera_sdk::storage::get_json("counter")?.unwrap_or(0);
/// # let _ = count;
/// # Ok::<(), tessera_sdk::Error>(())
/// ```
pub fn get_json<T: DeserializeOwned>(key: &str) -> Result<Option<T>, Error> {
    get(key)?.map(|bytes| decode(key, &bytes)).transpose()
}

/// Stores `value` as JSON under `key`.
///
/// ```no_run
/// tessera_sdk::storage::set_json("settings", &serde_json::json!({ "theme": "dark" }))?;
/// # Ok::<(), tessera_sdk::Error>(())
/// ```
pub fn set_json<T: Serialize + ?Sized>(key: &str, value: &T) -> Result<(), Error> {
    set(key, encode(value)?)
}

/// Read-modify-write of the JSON value under `key` that never loses a
/// concurrent update: `update` gets the current value (`None`: absent) and
/// returns the new one, which is written with a compare-and-swap. If another
/// request changed the value meanwhile, `update` runs again on the new value.
/// After 64 lost races it gives up with a 409 `conflict` error. Returns the
/// value written.
///
/// `update` may run more than once, so it must not have side effects.
///
/// ```no_run
/// let visits: u64 = tessera_sdk::storage::update_json("visits", |n: Option<u64>| n.unwrap_or(0) + 1)?;
/// # let _ = visits;
/// # Ok::<(), tessera_sdk::Error>(())
/// ```
pub fn update_json<T, F>(key: &str, mut update: F) -> Result<T, Error>
where
    T: Serialize + DeserializeOwned,
    F: FnMut(Option<T>) -> T,
{
    try_update_json(key, |current| Ok(update(current)))
}

/// [`update_json`] with an `update` that may fail: its error is returned and
/// nothing is written.
///
/// ```no_run
/// use tessera_sdk::Error;
///
/// let stock = tessera_sdk::storage::try_update_json("stock/widget", |n: Option<u32>| {
///     match n.unwrap_or(0) {
///         0 => Err(Error::conflict("sold out")),
///         n => Ok(n - 1),
///     }
/// })?;
/// # let _ = stock;
/// # Ok::<(), tessera_sdk::Error>(())
/// ```
pub fn try_update_json<T, F>(key: &str, mut update: F) -> Result<T, Error>
where
    T: Serialize + DeserializeOwned,
    F: FnMut(Option<T>) -> Result<T, Error>,
{
    let mut current = get(key)?;
    for _ in 0..MAX_ATTEMPTS {
        let value = current
            .as_deref()
            .map(|bytes| decode(key, bytes))
            .transpose()?;
        let next = update(value)?;
        let bytes = encode(&next)?;
        match compare_and_swap(key, current.as_deref(), Some(&bytes))? {
            CasOutcome::Swapped => return Ok(next),
            CasOutcome::Conflict(now) => current = now,
        }
    }
    Err(Error::conflict(format!(
        "`{key}` kept changing: gave up after {MAX_ATTEMPTS} attempts"
    )))
}

impl Operation {
    /// An operation that sets `key` to `value`.
    ///
    /// ```no_run
    /// use tessera_sdk::storage::{self, Operation};
    ///
    /// storage::batch(&[Operation::set("a", "1"), Operation::set("b", vec![2u8])])?;
    /// # Ok::<(), tessera_sdk::Error>(())
    /// ```
    pub fn set(key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        Operation::Set(Entry {
            key: key.into(),
            value: value.into(),
        })
    }

    /// An operation that sets `key` to `value` as JSON.
    ///
    /// ```no_run
    /// use tessera_sdk::storage::{self, Operation};
    ///
    /// storage::batch(&[Operation::set_json("entry/7", &serde_json::json!({ "title": "Hi" }))?])?;
    /// # Ok::<(), tessera_sdk::Error>(())
    /// ```
    pub fn set_json<T: Serialize + ?Sized>(
        key: impl Into<String>,
        value: &T,
    ) -> Result<Self, Error> {
        Ok(Self::set(key, encode(value)?))
    }

    /// An operation that deletes `key` (no error when absent).
    ///
    /// ```no_run
    /// use tessera_sdk::storage::{self, Operation};
    ///
    /// storage::batch(&[Operation::delete("draft/7")])?;
    /// # Ok::<(), tessera_sdk::Error>(())
    /// ```
    pub fn delete(key: impl Into<String>) -> Self {
        Operation::Delete(key.into())
    }
}
