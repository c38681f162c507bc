//! Full-text search over published entries: an inverted index per site and
//! locale, maintained on publish, unpublish and delete, ranked with BM25.
//!
//! Everything but [`handle`] is pure: tokenising, what an entry contributes
//! to the index ([`indexed`]), the storage changes that move the index from
//! one state of an entry to the next ([`changes`]), query parsing and
//! ranking ([`rank`]). `store` applies the changes in the same batch as the
//! publish or withdrawal they belong to.
//!
//! Keys, all under `site/{site}/search/`:
//!
//! | key | value |
//! |---|---|
//! | `terms/{locale}/{term}/{type}/{id}` | the term's weighted frequency in the entry |
//! | `docs/{locale}/{type}/{id}` | the entry's weighted length in that locale |
//! | `entries/{id}` | the entry's [`Indexed`] record: what to remove later |

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tessera_sdk::prelude::*;

use crate::locales::Locales;
use crate::model::Published;
use crate::schema::{Kind, TypeDef};
use crate::{delivery, query, store};

/// Longest query, in characters.
pub const MAX_QUERY_CHARS: usize = 256;
/// Most distinct words in a query.
pub const MAX_QUERY_TERMS: usize = 8;
/// Longest indexed word, in characters; longer ones are not indexed.
pub const MAX_TERM_CHARS: usize = 64;
/// Most postings one entry writes, over all locales (a batch holds at most
/// 1000 operations, and a re-publish may delete as many as it writes).
pub const MAX_POSTINGS: usize = 400;
/// Default and largest `limit`.
pub const DEFAULT_LIMIT: usize = 10;
/// Largest `limit`.
pub const MAX_LIMIT: usize = 50;
/// How much a word of the title field counts.
pub const TITLE_WEIGHT: u32 = 3;
/// How much a word of the slug counts.
pub const SLUG_WEIGHT: u32 = 2;
/// How much a word of any other text or rich-text field counts.
pub const BODY_WEIGHT: u32 = 1;
/// BM25 term-frequency saturation.
const K1: f64 = 1.2;
/// BM25 length normalisation.
const B: f64 = 0.75;

/// The words of `text`: maximal runs of Unicode letters and digits,
/// lower-cased, any length.
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
}

/// The indexable terms of `text`: its words of at most
/// [`MAX_TERM_CHARS`] characters.
pub fn tokenize(text: &str) -> Vec<String> {
    words(text)
        .filter(|word| word.chars().count() <= MAX_TERM_CHARS)
        .collect()
}

/// `text` with HTML-like tags (`<...>`) replaced by spaces.
pub fn strip_tags(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// The field that titles an entry: the text field named `title`, else the
/// first text field.
pub fn title_field(def: &TypeDef) -> Option<&str> {
    let text = || {
        def.fields
            .iter()
            .filter(|field| field.kind == Kind::Text && !field.repeatable)
    };
    text()
        .find(|field| field.name == "title")
        .or_else(|| text().next())
        .map(|field| field.name.as_str())
}

/// What one entry contributes to the index of one locale.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocTerms {
    /// Its weighted length: the sum of the weights of all its words.
    pub length: u32,
    /// Its terms and their weighted frequencies.
    pub terms: BTreeMap<String, u32>,
}

/// What an entry contributes to the index, per locale: the record kept to
/// remove it later.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Indexed {
    /// Its type key.
    #[serde(rename = "type")]
    pub kind: String,
    /// Per locale.
    pub locales: BTreeMap<String, DocTerms>,
}

/// The terms of `fields` and `slug` as rendered through the locales of
/// `chain` (a locale and its fallbacks, as in the delivery API), keeping
/// the `cap` heaviest terms (ties: alphabetical).
pub fn doc_terms(
    def: &TypeDef,
    fields: &Map<String, Value>,
    slug: Option<&str>,
    chain: &[&str],
    cap: usize,
) -> DocTerms {
    let mut fields = fields.clone();
    let localized: Vec<&str> = def
        .fields
        .iter()
        .filter(|field| field.localized)
        .map(|field| field.name.as_str())
        .collect();
    query::localize(&mut fields, &localized, chain);
    let title = title_field(def);
    let mut doc = DocTerms::default();
    let mut add = |text: &str, weight: u32| {
        for term in tokenize(text) {
            doc.length = doc.length.saturating_add(weight);
            let tf = doc.terms.entry(term).or_insert(0);
            *tf = tf.saturating_add(weight);
        }
    };
    for field in &def.fields {
        let Some(text) = fields.get(&field.name).and_then(Value::as_str) else {
            continue;
        };
        match field.kind {
            Kind::Text if Some(field.name.as_str()) == title => add(text, TITLE_WEIGHT),
            Kind::Text => add(text, BODY_WEIGHT),
            Kind::RichText => add(&strip_tags(text), BODY_WEIGHT),
            _ => {}
        }
    }
    if let Some(slug) = slug {
        add(slug, SLUG_WEIGHT);
    }
    if doc.terms.len() > cap {
        let mut heaviest: Vec<(String, u32)> = std::mem::take(&mut doc.terms).into_iter().collect();
        heaviest.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        heaviest.truncate(cap);
        doc.terms = heaviest.into_iter().collect();
    }
    doc
}

/// What the published copy `doc` contributes to the index: one
/// [`DocTerms`] per configured locale, within [`MAX_POSTINGS`] in all.
pub fn indexed(doc: &Published, def: &TypeDef, locales: &Locales) -> Indexed {
    let cap = MAX_POSTINGS / locales.all().len().max(1);
    Indexed {
        kind: doc.kind.clone(),
        locales: locales
            .all()
            .iter()
            .map(|locale| {
                let terms = doc_terms(
                    def,
                    &doc.fields,
                    doc.slug.as_deref(),
                    &locales.chain(locale),
                    cap,
                );
                (locale.clone(), terms)
            })
            .filter(|(_, terms)| !terms.terms.is_empty())
            .collect(),
    }
}

fn root(site: &str) -> String {
    format!("site/{site}/search/")
}

/// The prefix of the postings of `term` in `locale`, of type `kind` if
/// given.
pub fn postings_prefix(site: &str, locale: &str, term: &str, kind: Option<&str>) -> String {
    match kind {
        Some(kind) => format!("{}terms/{locale}/{term}/{kind}/", root(site)),
        None => format!("{}terms/{locale}/{term}/", root(site)),
    }
}

fn posting_key(site: &str, locale: &str, term: &str, kind: &str, id: &str) -> String {
    format!("{}{id}", postings_prefix(site, locale, term, Some(kind)))
}

/// The prefix of the document lengths in `locale`, of type `kind` if
/// given.
pub fn docs_prefix(site: &str, locale: &str, kind: Option<&str>) -> String {
    match kind {
        Some(kind) => format!("{}docs/{locale}/{kind}/", root(site)),
        None => format!("{}docs/{locale}/", root(site)),
    }
}

/// The key of an entry's [`Indexed`] record.
pub fn record_key(site: &str, id: &str) -> String {
    format!("{}entries/{id}", root(site))
}

/// One storage change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Write the value under the key.
    Set(String, Vec<u8>),
    /// Delete the key.
    Delete(String),
}

/// The keys an entry's record puts in the index, with their values.
fn entries_of(site: &str, id: &str, indexed: &Indexed) -> BTreeMap<String, Vec<u8>> {
    let mut keys = BTreeMap::new();
    for (locale, doc) in &indexed.locales {
        for (term, tf) in &doc.terms {
            keys.insert(
                posting_key(site, locale, term, &indexed.kind, id),
                tf.to_string().into_bytes(),
            );
        }
        keys.insert(
            format!("{}{id}", docs_prefix(site, locale, Some(&indexed.kind))),
            doc.length.to_string().into_bytes(),
        );
    }
    keys
}

/// The changes that take the index from the entry `id` indexed as `old`
/// to indexed as `new` (`None`: not indexed): the new postings and lengths
/// written, the old ones no longer wanted deleted, found from the old
/// record without scanning.
pub fn changes(site: &str, id: &str, old: Option<&Indexed>, new: Option<&Indexed>) -> Vec<Change> {
    let before = old.map(|old| entries_of(site, id, old)).unwrap_or_default();
    let after = new.map(|new| entries_of(site, id, new)).unwrap_or_default();
    let mut out: Vec<Change> = before
        .keys()
        .filter(|key| !after.contains_key(*key))
        .map(|key| Change::Delete(key.clone()))
        .collect();
    out.extend(
        after
            .into_iter()
            .filter(|(key, value)| before.get(key) != Some(value))
            .map(|(key, value)| Change::Set(key, value)),
    );
    match new {
        Some(new) => out.push(Change::Set(
            record_key(site, id),
            serde_json::to_vec(new).unwrap_or_default(),
        )),
        None if old.is_some() => out.push(Change::Delete(record_key(site, id))),
        None => {}
    }
    out
}

/// The distinct terms of the query `q`, in order; or why it is refused.
pub fn parse_query(q: Option<&str>) -> Result<Vec<String>, String> {
    let q = q.unwrap_or_default();
    if q.trim().is_empty() {
        return Err("`q`: give the words to search for".to_owned());
    }
    let chars = q.chars().count();
    if chars > MAX_QUERY_CHARS {
        return Err(format!(
            "`q`: at most {MAX_QUERY_CHARS} characters, got {chars}"
        ));
    }
    let mut seen = BTreeSet::new();
    let mut terms = Vec::new();
    for word in words(q) {
        if word.chars().count() > MAX_TERM_CHARS {
            return Err(format!(
                "`q`: words are at most {MAX_TERM_CHARS} characters long"
            ));
        }
        if seen.insert(word.clone()) {
            terms.push(word);
        }
    }
    if terms.is_empty() {
        return Err("`q` holds no words: give letters or digits".to_owned());
    }
    if terms.len() > MAX_QUERY_TERMS {
        return Err(format!(
            "`q`: at most {MAX_QUERY_TERMS} distinct words, got {}",
            terms.len()
        ));
    }
    Ok(terms)
}

/// `limit`: [`DEFAULT_LIMIT`] when absent, 1 to [`MAX_LIMIT`].
pub fn parse_limit(limit: Option<&str>) -> Result<usize, String> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(format!("`limit`: give 1 to {MAX_LIMIT}, not `{text}`")),
        },
    }
}

/// BM25 inverse document frequency.
fn idf(docs: f64, df: f64) -> f64 {
    ((docs - df + 0.5) / (df + 0.5)).ln_1p()
}

/// Ranks the documents that hold every term (AND): `postings` holds, per
/// query term, the documents holding it with the term's weighted
/// frequency; `lengths` every indexed document of the scope with its
/// weighted length. BM25 (k1 = 1.2, b = 0.75); the best first, ties by
/// document. Postings of documents without a length are ignored.
pub fn rank(
    postings: &[BTreeMap<String, u32>],
    lengths: &BTreeMap<String, u32>,
) -> Vec<(String, f64)> {
    let Some((first, rest)) = postings.split_first() else {
        return Vec::new();
    };
    let docs = lengths.len() as f64;
    let average = lengths.values().map(|&n| f64::from(n)).sum::<f64>() / docs.max(1.0);
    let idfs: Vec<f64> = postings
        .iter()
        .map(|term| {
            let df = term.keys().filter(|doc| lengths.contains_key(*doc)).count();
            idf(docs, df as f64)
        })
        .collect();
    let mut scored: Vec<(String, f64)> = first
        .keys()
        .filter(|doc| rest.iter().all(|term| term.contains_key(*doc)))
        .filter_map(|doc| {
            let length = f64::from(*lengths.get(doc)?);
            let norm = K1 * (1.0 - B + B * length / average.max(1.0));
            let score = postings
                .iter()
                .zip(&idfs)
                .filter_map(|(term, idf)| {
                    let tf = f64::from(*term.get(doc)?);
                    Some(idf * tf * (K1 + 1.0) / (tf + norm))
                })
                .sum::<f64>();
            Some((doc.clone(), score))
        })
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    scored
}

/// `GET /search?q=...&type=...&locale=...&limit=...`: published entries
/// holding every word of `q`, best first.
pub fn handle(request: &Request, _: &Params) -> Result<Response, Error> {
    let invalid = |message: String| Error::new(400, "invalid_query", message);
    let site = identity::current().site;
    let terms = parse_query(request.query("q").as_deref()).map_err(invalid)?;
    let limit = parse_limit(request.query("limit").as_deref()).map_err(invalid)?;
    let locales = Locales::of_site(&site);
    let locale = delivery::locale(request.query("locale").as_deref(), &locales)?;
    let kind = match request.query("type") {
        Some(kind) => Some(store::latest_type(&site, &kind)?.key),
        None => None,
    };
    let lengths = store::search_lengths(&site, &locale, kind.as_deref())?;
    let postings = terms
        .iter()
        .map(|term| store::search_postings(&site, &locale, term, kind.as_deref()))
        .collect::<Result<Vec<_>, _>>()?;
    let mut defs: BTreeMap<String, Option<TypeDef>> = BTreeMap::new();
    let mut items = Vec::new();
    for (doc, score) in rank(&postings, &lengths) {
        if items.len() >= limit {
            break;
        }
        let Some((kind, id)) = doc.split_once('/') else {
            continue;
        };
        let def = match defs.get(kind) {
            Some(def) => def.clone(),
            None => {
                let def = store::latest_type(&site, kind)
                    .ok()
                    .map(|stored| stored.def);
                defs.insert(kind.to_owned(), def.clone());
                def
            }
        };
        let (Some(def), Some(published)) = (def, store::published(&site, kind, id)?) else {
            continue;
        };
        let (id, kind, doc_locale, slug) = (
            published.id.clone(),
            published.kind.clone(),
            published.locale.clone(),
            published.slug.clone(),
        );
        let title = title_field(&def).map(str::to_owned);
        let rendered = delivery::render(published, &def, &locale, &locales);
        let title = title
            .and_then(|name| rendered.get("fields")?.get(&name).cloned())
            .unwrap_or(Value::Null);
        items.push(json!({
            "id": id,
            "type": kind,
            "locale": doc_locale,
            "slug": slug,
            "title": title,
            "score": (score * 1000.0).round() / 1000.0,
        }));
    }
    delivery::cached(
        request,
        &json!({ "query": terms, "locale": locale, "items": items }),
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def() -> TypeDef {
        serde_json::from_value(json!({"fields": [
            {"name": "title", "type": "text", "localized": true},
            {"name": "body", "type": "rich_text"},
            {"name": "price", "type": "number"}
        ]}))
        .unwrap()
    }

    fn published(id: &str, slug: &str, fields: Value) -> Published {
        Published {
            id: id.into(),
            kind: "article".into(),
            locale: "en".into(),
            slug: Some(slug.into()),
            version: 1,
            schema_version: 1,
            published_at: 1,
            fields: serde_json::from_value(fields).unwrap(),
            locales: None,
            variants: Vec::new(),
        }
    }

    /// Applies `changes` to an in-memory store.
    fn apply(store: &mut BTreeMap<String, Vec<u8>>, changes: Vec<Change>) {
        for change in changes {
            match change {
                Change::Set(key, value) => {
                    store.insert(key, value);
                }
                Change::Delete(key) => {
                    store.remove(&key);
                }
            }
        }
    }

    /// `kind/id -> number` under `prefix`, as the store reads it.
    fn read(store: &BTreeMap<String, Vec<u8>>, prefix: &str) -> BTreeMap<String, u32> {
        store
            .iter()
            .filter_map(|(key, value)| {
                let doc = key.strip_prefix(prefix)?;
                Some((doc.to_owned(), String::from_utf8_lossy(value).parse().ok()?))
            })
            .collect()
    }

    fn search(store: &BTreeMap<String, Vec<u8>>, locale: &str, q: &str) -> Vec<String> {
        let terms = parse_query(Some(q)).unwrap();
        let postings: Vec<_> = terms
            .iter()
            .map(|term| read(store, &postings_prefix("s", locale, term, None)))
            .collect();
        let lengths = read(store, &docs_prefix("s", locale, None));
        rank(&postings, &lengths)
            .into_iter()
            .map(|(doc, _)| doc)
            .collect()
    }

    #[test]
    fn tokenising_splits_on_non_alphanumerics_and_lowercases() {
        assert_eq!(
            tokenize("Héllo, WORLD! l'été 2024 foo_bar"),
            ["héllo", "world", "l", "été", "2024", "foo", "bar"]
        );
        assert!(tokenize(&"x".repeat(MAX_TERM_CHARS + 1)).is_empty());
        assert_eq!(tokenize(&"x".repeat(MAX_TERM_CHARS)).len(), 1);
        assert_eq!(strip_tags("<p>Big <b>news</b></p>"), " Big  news  ");
        assert_eq!(tokenize(&strip_tags("<p class=\"x\">Big</p>")), ["big"]);
    }

    #[test]
    fn queries_are_checked() {
        assert_eq!(parse_query(Some("Red red, BLUE")).unwrap(), ["red", "blue"]);
        assert!(parse_query(None).unwrap_err().contains("give the words"));
        assert!(parse_query(Some("  ")).is_err());
        assert!(parse_query(Some("?!")).unwrap_err().contains("no words"));
        let long = "a".repeat(MAX_QUERY_CHARS + 1);
        assert!(
            parse_query(Some(&long))
                .unwrap_err()
                .contains("at most 256")
        );
        let many = "a b c d e f g h i";
        assert!(parse_query(Some(many)).unwrap_err().contains("at most 8"));
        assert!(parse_query(Some(&"w".repeat(65))).is_err());
        assert_eq!(parse_limit(None), Ok(DEFAULT_LIMIT));
        assert_eq!(parse_limit(Some("5")), Ok(5));
        assert!(parse_limit(Some("0")).is_err());
        assert!(parse_limit(Some("51")).is_err());
    }

    #[test]
    fn titles_and_slugs_weigh_more_and_locales_fall_back() {
        let locales = Locales::parse("en,fr,de", "en");
        let doc = published(
            "e_1",
            "red-apple",
            json!({"title": {"en": "Red apple", "fr": "Pomme rouge"}, "body": "<p>An apple a day</p>", "price": 3}),
        );
        let indexed = indexed(&doc, &def(), &locales);
        let en = &indexed.locales["en"];
        assert_eq!(en.terms["apple"], TITLE_WEIGHT + SLUG_WEIGHT + BODY_WEIGHT);
        assert_eq!(en.terms["red"], TITLE_WEIGHT + SLUG_WEIGHT);
        assert_eq!(en.terms["day"], BODY_WEIGHT);
        assert_eq!(
            en.length,
            2 * TITLE_WEIGHT + 2 * SLUG_WEIGHT + 4 * BODY_WEIGHT
        );
        assert_eq!(indexed.locales["fr"].terms["pomme"], TITLE_WEIGHT);
        assert_eq!(
            indexed.locales["fr"].terms["red"], SLUG_WEIGHT,
            "from the slug only"
        );
        // No German title: the default locale's stands in.
        assert_eq!(
            indexed.locales["de"].terms["red"],
            TITLE_WEIGHT + SLUG_WEIGHT
        );
        let capped = doc_terms(&def(), &doc.fields, None, &["en"], 2);
        assert_eq!(capped.terms.keys().collect::<Vec<_>>(), ["apple", "red"]);
    }

    #[test]
    fn ranking_prefers_rarer_terms_title_hits_and_needs_every_term() {
        let locales = Locales::parse("en", "en");
        let mut store = BTreeMap::new();
        let docs = [
            published(
                "e_1",
                "one",
                json!({"title": "Rust guide", "body": "about the compiler"}),
            ),
            published(
                "e_2",
                "two",
                json!({"title": "Cooking", "body": "rust on pans, a rust guide"}),
            ),
            published(
                "e_3",
                "three",
                json!({"title": "Gardening", "body": "soil and seeds"}),
            ),
        ];
        for doc in &docs {
            apply(
                &mut store,
                changes("s", &doc.id, None, Some(&indexed(doc, &def(), &locales))),
            );
        }
        assert_eq!(search(&store, "en", "rust"), ["article/e_1", "article/e_2"]);
        assert_eq!(
            search(&store, "en", "guide RUST"),
            ["article/e_1", "article/e_2"]
        );
        assert_eq!(search(&store, "en", "rust soil"), Vec::<String>::new());
        assert_eq!(search(&store, "en", "seeds"), ["article/e_3"]);
        assert!(search(&store, "fr", "rust").is_empty());
        let lengths = BTreeMap::from([("a".to_owned(), 10), ("b".to_owned(), 10)]);
        let common = BTreeMap::from([("a".to_owned(), 1), ("b".to_owned(), 1)]);
        let rare = BTreeMap::from([("a".to_owned(), 1)]);
        let scores = rank(std::slice::from_ref(&rare), &lengths);
        assert!(
            scores[0].1 > rank(&[common], &lengths)[0].1,
            "rarer terms score higher"
        );
        assert!(
            rank(&[rare], &BTreeMap::new()).is_empty(),
            "no length: stale"
        );
    }

    #[test]
    fn republishing_and_withdrawing_update_the_index_without_scanning() {
        let locales = Locales::parse("en", "en");
        let mut store = BTreeMap::new();
        let first = indexed(
            &published("e_1", "a", json!({"title": "Old words"})),
            &def(),
            &locales,
        );
        apply(&mut store, changes("s", "e_1", None, Some(&first)));
        assert_eq!(search(&store, "en", "old"), ["article/e_1"]);
        let second = indexed(
            &published("e_1", "a", json!({"title": "New words"})),
            &def(),
            &locales,
        );
        let update = changes("s", "e_1", Some(&first), Some(&second));
        assert!(update.contains(&Change::Delete(posting_key(
            "s", "en", "old", "article", "e_1"
        ))));
        assert!(
            !update
                .iter()
                .any(|change| matches!(change, Change::Set(key, _) if key.contains("/words/"))),
            "unchanged postings are not rewritten"
        );
        apply(&mut store, update);
        assert!(search(&store, "en", "old").is_empty());
        assert_eq!(search(&store, "en", "new words"), ["article/e_1"]);
        apply(&mut store, changes("s", "e_1", Some(&second), None));
        assert!(store.is_empty(), "{store:?}");
        assert!(changes("s", "e_1", None, None).is_empty());
    }
}
