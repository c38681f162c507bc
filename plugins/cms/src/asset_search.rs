//! Search over asset metadata (title, tags, alt text, filename) for the
//! people choosing assets: `GET /assets/search?q=...`. An inverted index
//! per site, written when an asset is uploaded or its metadata changes and
//! removed when it is deleted. Words are those of [`crate::search`].
//!
//! Keys under `site/{site}/asset-search/`:
//!
//! | key | value |
//! |---|---|
//! | `terms/{term}/{asset}` | the term's weight in the asset (decimal) |
//! | `assets/{asset}` | the terms the asset is indexed under (JSON), to remove them later |

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;
use tessera_sdk::prelude::*;
use tessera_sdk::storage::Operation;

use crate::assets::{self, Asset};
use crate::routes::caller;
use crate::search::{self, BODY_WEIGHT, SLUG_WEIGHT, TITLE_WEIGHT};

/// Most terms one asset is indexed under.
pub const MAX_TERMS: usize = 200;

/// The weighted terms of an asset: a word counts 3 in the title, 2 in a
/// tag and 1 in the alt text or the filename, summed; the heaviest
/// [`MAX_TERMS`] are kept.
pub fn terms(asset: &Asset) -> BTreeMap<String, u32> {
    let mut weights: BTreeMap<String, u32> = BTreeMap::new();
    let mut add = |text: &str, weight: u32| {
        for term in search::tokenize(text) {
            if term.chars().count() <= search::MAX_TERM_CHARS {
                let slot = weights.entry(term).or_insert(0);
                *slot = slot.saturating_add(weight);
            }
        }
    };
    add(&asset.title, TITLE_WEIGHT);
    for tag in &asset.tags {
        add(tag, SLUG_WEIGHT);
    }
    add(&asset.alt, BODY_WEIGHT);
    add(&asset.filename, BODY_WEIGHT);
    if weights.len() > MAX_TERMS {
        let mut ranked: Vec<(String, u32)> = weights.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        ranked.truncate(MAX_TERMS);
        weights = ranked.into_iter().collect();
    }
    weights
}

fn root(site: &str) -> String {
    format!("site/{site}/asset-search/")
}

fn term_prefix(site: &str, term: &str) -> String {
    format!("{}terms/{term}/", root(site))
}

fn record_key(site: &str, id: &str) -> String {
    format!("{}assets/{id}", root(site))
}

/// Replaces the index entries of `id` with `new` (`None`: removes them).
fn write(site: &str, id: &str, new: Option<&BTreeMap<String, u32>>) -> Result<(), Error> {
    let record = record_key(site, id);
    let old: BTreeSet<String> = storage::get_json(&record)?.unwrap_or_default();
    let mut operations: Vec<Operation> = old
        .iter()
        .filter(|term| new.is_none_or(|new| !new.contains_key(*term)))
        .map(|term| Operation::delete(format!("{}{id}", term_prefix(site, term))))
        .collect();
    match new {
        Some(new) => {
            operations.extend(new.iter().map(|(term, weight)| {
                Operation::set(
                    format!("{}{id}", term_prefix(site, term)),
                    weight.to_string(),
                )
            }));
            let terms: BTreeSet<&String> = new.keys().collect();
            operations.push(Operation::set_json(record, &terms)?);
        }
        None => operations.push(Operation::delete(record)),
    }
    storage::batch(&operations)
}

/// Indexes `asset` as it is now. A failure is logged: the asset itself is
/// stored, and its next change indexes it again.
pub fn index(site: &str, asset: &Asset) {
    if let Err(error) = write(site, &asset.id, Some(&terms(asset))) {
        log::warn(&format!("cannot index asset {}: {error}", asset.id));
    }
}

/// Removes `id` from the index (logged on failure, like [`index`]).
pub fn unindex(site: &str, id: &str) {
    if let Err(error) = write(site, id, None) {
        log::warn(&format!("cannot remove asset {id} from the index: {error}"));
    }
}

/// `GET /assets/search?q=&limit=`: assets holding every word of `q`,
/// heaviest first (the sum of the words' weights), ties by id.
pub fn handle(request: &Request, _: &Params) -> Result<Response, Error> {
    let (site, _) = caller(assets::READ)?;
    let mut q = None;
    let mut limit = None;
    for (name, value) in request.query_pairs() {
        match name.as_str() {
            "q" => q = Some(value),
            "limit" => limit = Some(value),
            _ => {
                return Err(Error::new(
                    400,
                    "invalid_query",
                    format!("unknown parameter `{name}`: use q, limit"),
                ));
            }
        }
    }
    let invalid = |message: String| Error::new(400, "invalid_query", message);
    let words = search::parse_query(q.as_deref()).map_err(invalid)?;
    let limit = search::parse_limit(limit.as_deref()).map_err(invalid)?;
    let mut scores: Option<BTreeMap<String, u32>> = None;
    for word in &words {
        let prefix = term_prefix(&site, word);
        let mut found = BTreeMap::new();
        for item in storage::scan(&prefix) {
            let (key, value) = item?;
            if let (Some(id), Ok(weight)) = (
                key.strip_prefix(&prefix),
                String::from_utf8_lossy(&value).parse::<u32>(),
            ) {
                found.insert(id.to_owned(), weight);
            }
        }
        scores = Some(match scores {
            None => found,
            Some(mut so_far) => {
                so_far.retain(|id, _| found.contains_key(id));
                for (id, score) in &mut so_far {
                    *score = score.saturating_add(found.get(id).copied().unwrap_or(0));
                }
                so_far
            }
        });
    }
    let mut ranked: Vec<(String, u32)> = scores.unwrap_or_default().into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut items = Vec::new();
    for (id, score) in ranked {
        if items.len() >= limit {
            break;
        }
        // Postings of an asset deleted meanwhile are skipped.
        if let Ok((asset, _)) = assets::get(&site, &id) {
            let mut item = serde_json::to_value(&asset)
                .map_err(|error| Error::internal(format!("cannot serialise: {error}")))?;
            if let Some(object) = item.as_object_mut() {
                object.insert("score".to_owned(), json!(score));
            }
            items.push(item);
        }
    }
    Ok(Response::ok_json(
        &json!({ "query": words, "items": items }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_tags_alt_and_filename_weigh_differently() {
        let asset = Asset {
            id: "a_1".into(),
            site: "default".into(),
            filename: "harbour-dusk.png".into(),
            content_type: "image/png".into(),
            size: 1,
            sha256: String::new(),
            width: None,
            height: None,
            title: "Harbour".into(),
            alt: "Boats in the harbour".into(),
            tags: vec!["Boats".into(), "sea".into()],
            created_at: 0,
            created_by: "ada".into(),
            updated_at: 0,
            updated_by: "ada".into(),
        };
        let terms = terms(&asset);
        assert_eq!(terms.get("harbour"), Some(&5), "title 3, alt 1, filename 1");
        assert_eq!(terms.get("boats"), Some(&3), "tag 2, alt 1");
        assert_eq!(terms.get("sea"), Some(&2));
        assert_eq!(terms.get("png"), Some(&1));
        assert_eq!(terms.get("the"), Some(&1));
    }
}
