//! Which entries refer to which assets, so that deleting an asset in use
//! is refused after one prefix read, never a scan of entries. Keys under
//! `site/{site}/`:
//!
//! | key | value |
//! |---|---|
//! | `asset-refs/{asset}/{entry}` | empty: the entry's draft or published copy refers to the asset |
//! | `entry-assets/{entry}/{asset}` | empty: the same pair, to find an entry's references |
//!
//! A save [`hold`]s the references its new draft needs **before** the
//! entry is written and then checks that those assets still exist; an
//! asset deletion removes the asset record and then checks the references
//! again, restoring the record if one appeared. Of a save and a deletion
//! racing each other, one always sees the other: no entry is left pointing
//! to a deleted asset. After every save, publish, unpublish and delete the
//! references are [`sync`]ed with what the stored draft and published copy
//! use, so references no longer needed go.
//!
//! A save that fails after [`hold`] leaves its extra references until the
//! entry's next change: they only block deleting those assets, with an
//! error naming the entry. Two saves of one entry racing a deletion of an
//! asset only the later save uses can, in a window of a few storage calls,
//! leave that save pointing to the deleted asset (see `docs/cms.md`).

use std::collections::BTreeSet;

use tessera_sdk::Error;
use tessera_sdk::storage::{self, Operation};

fn asset_prefix(site: &str, asset: &str) -> String {
    format!("site/{site}/asset-refs/{asset}/")
}

fn entry_prefix(site: &str, entry: &str) -> String {
    format!("site/{site}/entry-assets/{entry}/")
}

/// The assets the entry `entry` holds references to.
pub fn held(site: &str, entry: &str) -> Result<BTreeSet<String>, Error> {
    let prefix = entry_prefix(site, entry);
    storage::scan(&prefix)
        .map(|item| item.map(|(key, _)| key.strip_prefix(&prefix).unwrap_or_default().to_owned()))
        .collect()
}

/// Up to `limit` ids of entries referring to `asset`, in id order.
pub fn users(site: &str, asset: &str, limit: usize) -> Result<Vec<String>, Error> {
    let prefix = asset_prefix(site, asset);
    storage::scan(&prefix)
        .take(limit)
        .map(|item| item.map(|(key, _)| key.strip_prefix(&prefix).unwrap_or_default().to_owned()))
        .collect()
}

/// Adds the references of `entry` to `wanted` that it does not hold yet,
/// then checks, with `exists`, that each asset in `wanted` still exists.
/// When one does not (deleted meanwhile), the references just added are
/// removed again and the error names it.
pub fn hold(
    site: &str,
    entry: &str,
    wanted: &BTreeSet<String>,
    exists: impl Fn(&str) -> Result<bool, Error>,
) -> Result<(), Error> {
    if wanted.is_empty() {
        return Ok(());
    }
    let current = held(site, entry)?;
    let added: Vec<&String> = wanted.difference(&current).collect();
    let operations: Vec<Operation> = added
        .iter()
        .flat_map(|asset| {
            [
                Operation::set(format!("{}{entry}", asset_prefix(site, asset)), Vec::new()),
                Operation::set(format!("{}{asset}", entry_prefix(site, entry)), Vec::new()),
            ]
        })
        .collect();
    if !operations.is_empty() {
        storage::batch(&operations)?;
    }
    for asset in wanted {
        if !exists(asset)? {
            let _ = remove(site, entry, added.iter().map(|asset| asset.as_str()));
            return Err(Error::new(
                400,
                "invalid_entry",
                format!("asset `{asset}` was deleted meanwhile: choose another one"),
            ));
        }
    }
    Ok(())
}

fn remove<'a>(site: &str, entry: &str, assets: impl Iterator<Item = &'a str>) -> Result<(), Error> {
    let operations: Vec<Operation> = assets
        .flat_map(|asset| {
            [
                Operation::delete(format!("{}{entry}", asset_prefix(site, asset))),
                Operation::delete(format!("{}{asset}", entry_prefix(site, entry))),
            ]
        })
        .collect();
    for chunk in operations.chunks(1000) {
        storage::batch(chunk)?;
    }
    Ok(())
}

/// Makes the references of `entry` exactly `wanted`: adds the missing
/// ones, removes the others.
pub fn sync(site: &str, entry: &str, wanted: &BTreeSet<String>) -> Result<(), Error> {
    let current = held(site, entry)?;
    let operations: Vec<Operation> = wanted
        .difference(&current)
        .flat_map(|asset| {
            [
                Operation::set(format!("{}{entry}", asset_prefix(site, asset)), Vec::new()),
                Operation::set(format!("{}{asset}", entry_prefix(site, entry)), Vec::new()),
            ]
        })
        .collect();
    for chunk in operations.chunks(1000) {
        storage::batch(chunk)?;
    }
    remove(site, entry, current.difference(wanted).map(String::as_str))
}
