//! Where products and categories live, and the listing indexes kept on
//! every write (published products only):
//!
//! | key (under `site/{site}/`) | value |
//! |---|---|
//! | `products/{id}` | a [`Product`] |
//! | `categories/{id}` | a [`Category`] |
//! | `skus/{sku}` | the id of the product that owns the SKU |
//! | `idx/all/{id}` | every product (staff listing) |
//! | `idx/pub/{id}` | every published product |
//! | `idx/cat/{category}/{id}` | published products per category |
//! | `idx/term/{word}/{id}` | published products per search word |
//!
//! Index entries are written in the same batch as the product; readers
//! verify each hit against the product, so an entry left stale by two
//! concurrent writes of one product is skipped, never shown.

use std::collections::BTreeSet;

use tessera_sdk::Error;
use tessera_sdk::storage::{self, CasOutcome, Operation};

use crate::catalog::{Category, Product};
use crate::context::root;

fn product_key(site: &str, id: &str) -> String {
    format!("{}products/{id}", root(site))
}

fn category_key(site: &str, id: &str) -> String {
    format!("{}categories/{id}", root(site))
}

fn sku_key(site: &str, sku: &str) -> String {
    format!("{}skus/{sku}", root(site))
}

/// The prefix of an index: `all`, `pub`, `cat/{category}` or
/// `term/{word}`.
pub fn index_prefix(site: &str, index: &str) -> String {
    format!("{}idx/{index}/", root(site))
}

fn index_keys(site: &str, product: &Product) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    keys.insert(format!("{}{}", index_prefix(site, "all"), product.id));
    if product.published() {
        keys.insert(format!("{}{}", index_prefix(site, "pub"), product.id));
        for category in &product.input.categories {
            keys.insert(format!(
                "{}{}",
                index_prefix(site, &format!("cat/{category}")),
                product.id
            ));
        }
        for term in product.terms() {
            keys.insert(format!(
                "{}{}",
                index_prefix(site, &format!("term/{term}")),
                product.id
            ));
        }
    }
    keys
}

/// The product `id`, if any.
pub fn product(site: &str, id: &str) -> Result<Option<Product>, Error> {
    storage::get_json(&product_key(site, id))
}

/// The product that owns `sku`, if any.
pub fn product_of_sku(site: &str, sku: &str) -> Result<Option<Product>, Error> {
    match storage::get(&sku_key(site, sku))? {
        Some(id) => {
            let id = String::from_utf8_lossy(&id).into_owned();
            Ok(product(site, &id)?.filter(|product| product.variant(sku).is_some()))
        }
        None => Ok(None),
    }
}

/// Claims `sku` for product `id`: 409 `sku_taken` when another product
/// owns it.
fn claim_sku(site: &str, sku: &str, id: &str) -> Result<bool, Error> {
    match storage::compare_and_swap(&sku_key(site, sku), None, Some(id.as_bytes()))? {
        CasOutcome::Swapped => Ok(true),
        CasOutcome::Conflict(Some(owner)) if owner == id.as_bytes() => Ok(false),
        CasOutcome::Conflict(owner) => Err(Error::new(
            409,
            "sku_taken",
            format!(
                "SKU `{sku}` belongs to product `{}`",
                String::from_utf8_lossy(&owner.unwrap_or_default())
            ),
        )),
    }
}

fn release_sku(site: &str, sku: &str, id: &str) {
    let _ = storage::compare_and_swap(&sku_key(site, sku), Some(id.as_bytes()), None);
}

/// Writes `product` (replacing `previous`), claiming its SKUs, releasing
/// those it dropped, and moving its index entries, in one batch.
pub fn put_product(site: &str, product: &Product, previous: Option<&Product>) -> Result<(), Error> {
    let mut claimed = Vec::new();
    for sku in product.input.skus() {
        match claim_sku(site, &sku, &product.id) {
            Ok(true) => claimed.push(sku),
            Ok(false) => {}
            Err(error) => {
                for sku in &claimed {
                    release_sku(site, sku, &product.id);
                }
                return Err(error);
            }
        }
    }
    let new_keys = index_keys(site, product);
    let mut operations = vec![Operation::set_json(
        product_key(site, &product.id),
        product,
    )?];
    if let Some(previous) = previous {
        for key in index_keys(site, previous).difference(&new_keys) {
            operations.push(Operation::delete(key.clone()));
        }
    }
    for key in &new_keys {
        operations.push(Operation::set(key.clone(), ""));
    }
    if let Err(error) = storage::batch(&operations) {
        for sku in &claimed {
            release_sku(site, sku, &product.id);
        }
        return Err(error);
    }
    if let Some(previous) = previous {
        for sku in previous.input.skus().difference(&product.input.skus()) {
            release_sku(site, sku, &product.id);
        }
    }
    Ok(())
}

/// Deletes a product, its index entries and its SKU claims.
pub fn delete_product(site: &str, product: &Product) -> Result<(), Error> {
    let mut operations = vec![Operation::delete(product_key(site, &product.id))];
    operations.extend(index_keys(site, product).into_iter().map(Operation::delete));
    storage::batch(&operations)?;
    for sku in product.input.skus() {
        release_sku(site, &sku, &product.id);
    }
    Ok(())
}

/// The category `id`, if any.
pub fn category(site: &str, id: &str) -> Result<Option<Category>, Error> {
    storage::get_json(&category_key(site, id))
}

/// Writes a category.
pub fn put_category(site: &str, category: &Category) -> Result<(), Error> {
    storage::set_json(&category_key(site, &category.id), category)
}

/// Every category of `site`, by id.
pub fn categories(site: &str) -> Result<Vec<Category>, Error> {
    storage::scan(&format!("{}categories/", root(site)))
        .map(|entry| {
            let (key, value) = entry?;
            crate::context::decode(&key, &value)
        })
        .collect()
}
