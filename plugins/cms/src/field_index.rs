//! Per-field indexes of published entries, so that delivery filters and
//! sorts read only the entries they return (plus a bounded number of
//! candidates), never every entry of a type. Pure: key building and
//! encoding; [`crate::store`] writes the keys and [`crate::planner`] reads
//! them.
//!
//! For every published entry and every indexed field (every field of the
//! type except rich text, groups and repeatable fields, and the metadata
//! `slug`, `locale`, `version`, `published_at`), two keys with empty
//! values:
//!
//! ```text
//! site/{site}/fidx/{type}/a/{scope}/{field}/{ascending encoding}/{id}
//! site/{site}/fidx/{type}/d/{scope}/{field}/{descending encoding}/{id}
//! ```
//!
//! `scope` is `*` for fields that are not localized, else the locale: a
//! localized field is indexed once per configured locale, as the delivery
//! API renders it there (the locale's value, else the default locale's).
//! The encodings sort byte-wise exactly as [`crate::query::compare`] orders
//! values (absent < booleans < numbers < strings), ascending in `a`,
//! descending in `d`; the id after the last `/` breaks ties in id order in
//! both. Strings are indexed by their first [`MAX_INDEXED_BYTES`] bytes:
//! filters re-check the full value, and a sort orders values that share
//! those bytes by id.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::delivery::render;
use crate::locales::Locales;
use crate::model::Published;
use crate::query::lookup;
use crate::schema::{Kind, TypeDef};

/// How many leading bytes of a string the index keeps.
pub const MAX_INDEXED_BYTES: usize = 96;

/// The metadata keys that are indexed like fields (`id` order is the
/// `published/` index itself).
pub const INDEXED_METADATA: [&str; 4] = ["slug", "locale", "version", "published_at"];

/// Which way an index runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Smallest first.
    Ascending,
    /// Largest first.
    Descending,
}

impl Direction {
    fn letter(self) -> char {
        match self {
            Direction::Ascending => 'a',
            Direction::Descending => 'd',
        }
    }
}

/// Where a field's index lives and what it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedField {
    /// The field or metadata key.
    pub name: String,
    /// Whether it is indexed per locale.
    pub localized: bool,
}

/// The fields of `def` that are indexed, metadata included.
pub fn indexed_fields(def: &TypeDef) -> Vec<IndexedField> {
    let metadata = INDEXED_METADATA.iter().map(|name| IndexedField {
        name: (*name).to_owned(),
        localized: false,
    });
    let fields = def
        .fields
        .iter()
        .filter(|field| !field.repeatable && !matches!(field.kind, Kind::RichText | Kind::Group))
        .map(|field| IndexedField {
            name: field.name.clone(),
            localized: field.localized,
        });
    metadata.chain(fields).collect()
}

/// The indexed field called `name` in `def`, if it is one.
pub fn indexed_field(def: &TypeDef, name: &str) -> Option<IndexedField> {
    indexed_fields(def)
        .into_iter()
        .find(|field| field.name == name)
}

/// The prefix of one field's index: every key of `field` on `site` and
/// type `kind`, in `scope` (`*` or a locale), running `direction`.
pub fn field_prefix(
    site: &str,
    kind: &str,
    direction: Direction,
    scope: &str,
    field: &str,
) -> String {
    format!(
        "site/{site}/fidx/{kind}/{}/{scope}/{field}/",
        direction.letter()
    )
}

/// The scope a query in `locale` reads `field` in.
pub fn scope<'a>(field: &IndexedField, locale: &'a str) -> &'a str {
    if field.localized { locale } else { "*" }
}

/// Where the record of an entry's index keys lives.
pub fn record_key(site: &str, id: &str) -> String {
    format!("site/{site}/fidx-keys/{id}")
}

fn hex(bytes: impl Iterator<Item = u8>) -> String {
    bytes.map(|byte| format!("{byte:02x}")).collect()
}

/// The bits of `number` as an unsigned integer ordered as `f64::total_cmp`.
fn ordered_bits(number: f64) -> u64 {
    let bits = number.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | 1 << 63
    }
}

/// The leading bytes of `text` the index keeps, cut at a character boundary.
fn indexed_prefix(text: &str) -> &str {
    if text.len() <= MAX_INDEXED_BYTES {
        return text;
    }
    let mut end = MAX_INDEXED_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default()
}

/// The encoding of `value` (`None`: absent) in an index running
/// `direction`; `None` for values no index holds (arrays, objects).
pub fn encode(value: Option<&Value>, direction: Direction) -> Option<String> {
    let (rank, payload) = match value {
        None | Some(Value::Null) => (0, Vec::new()),
        Some(Value::Bool(flag)) => (1, vec![u8::from(*flag)]),
        Some(Value::Number(number)) => (2, ordered_bits(number.as_f64()?).to_be_bytes().to_vec()),
        Some(Value::String(text)) => (3, indexed_prefix(text).as_bytes().to_vec()),
        Some(Value::Array(_) | Value::Object(_)) => return None,
    };
    Some(match direction {
        Direction::Ascending => format!("{rank}{}", hex(payload.into_iter())),
        // Inverted rank and bytes; `~` sorts after every hex digit, so a
        // string sorts before its own prefixes, as descending order wants.
        Direction::Descending => {
            format!("{}{}~", 9 - rank, hex(payload.into_iter().map(|b| !b)))
        }
    })
}

/// The id and encoded value of an index key under `prefix`.
pub fn split_key<'a>(prefix: &str, key: &'a str) -> Option<(&'a str, &'a str)> {
    let rest = key.strip_prefix(prefix)?;
    let (encoded, id) = rest.rsplit_once('/')?;
    Some((encoded, id))
}

/// Every index key of the published `doc`.
pub fn keys(site: &str, doc: &Published, def: &TypeDef, locales: &Locales) -> BTreeSet<String> {
    let fields = indexed_fields(def);
    let default_view = render(doc.clone(), def, locales.default(), locales);
    let mut keys = BTreeSet::new();
    let mut add = |view: &Value, field: &IndexedField, scope: &str| {
        for direction in [Direction::Ascending, Direction::Descending] {
            if let Some(encoded) = encode(lookup(view, &field.name), direction) {
                let prefix = field_prefix(site, &doc.kind, direction, scope, &field.name);
                keys.insert(format!("{prefix}{encoded}/{}", doc.id));
            }
        }
    };
    for field in fields.iter().filter(|field| !field.localized) {
        add(&default_view, field, "*");
    }
    if fields.iter().any(|field| field.localized) {
        for locale in locales.all() {
            let view = render(doc.clone(), def, locale, locales);
            for field in fields.iter().filter(|field| field.localized) {
                add(&view, field, locale);
            }
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ascending(value: &Value) -> String {
        encode(Some(value), Direction::Ascending).unwrap()
    }

    fn descending(value: &Value) -> String {
        encode(Some(value), Direction::Descending).unwrap()
    }

    /// Keys as they sort in storage: encoding, `/`, id.
    fn order(values: &[Value], encoder: fn(&Value) -> String) -> Vec<usize> {
        let mut keyed: Vec<(String, usize)> = values
            .iter()
            .enumerate()
            .map(|(i, value)| (format!("{}/{i}", encoder(value)), i))
            .collect();
        keyed.sort();
        keyed.into_iter().map(|(_, i)| i).collect()
    }

    #[test]
    fn encodings_sort_as_compare_does_both_ways() {
        let values = vec![
            json!("b"),
            json!(-1.5),
            json!(true),
            Value::Null,
            json!("ab"),
            json!(10),
            json!("a"),
            json!(false),
            json!(-200),
            json!(0.25),
            json!(""),
        ];
        let mut by_compare: Vec<usize> = (0..values.len()).collect();
        by_compare.sort_by(|a, b| crate::query::compare(&values[*a], &values[*b]).then(a.cmp(b)));
        assert_eq!(order(&values, ascending), by_compare);
        let mut reversed: Vec<usize> = (0..values.len()).collect();
        reversed.sort_by(|a, b| crate::query::compare(&values[*b], &values[*a]).then(a.cmp(b)));
        assert_eq!(order(&values, descending), reversed);
    }

    #[test]
    fn long_strings_keep_their_first_bytes_at_a_character_boundary() {
        let long = "é".repeat(100);
        let kept = indexed_prefix(&long);
        assert!(kept.len() <= MAX_INDEXED_BYTES);
        assert_eq!(kept.chars().count(), MAX_INDEXED_BYTES / 2);
        assert_eq!(encode(Some(&json!([1])), Direction::Ascending), None);
        assert_eq!(encode(None, Direction::Ascending).unwrap(), "0");
    }

    #[test]
    fn a_document_gets_two_keys_per_field_and_localized_ones_per_locale() {
        let def: TypeDef = serde_json::from_value(json!({"fields": [
            {"name": "title", "type": "text", "localized": true},
            {"name": "body", "type": "rich_text"},
            {"name": "price", "type": "number"}
        ]}))
        .unwrap();
        let doc = Published {
            id: "e_1".into(),
            kind: "article".into(),
            locale: "en".into(),
            slug: Some("hi".into()),
            version: 2,
            schema_version: 1,
            published_at: 5,
            fields: serde_json::from_value(
                json!({"title": {"en": "Hi", "fr": "Salut"}, "body": "x", "price": 3}),
            )
            .unwrap(),
            locales: None,
            variants: Vec::new(),
        };
        let locales = Locales::parse("en,fr", "en");
        let keys = keys("default", &doc, &def, &locales);
        // 4 metadata + price, and title in two locales: 7 fields, 2 ways.
        assert_eq!(keys.len(), 14, "{keys:#?}");
        let price = field_prefix("default", "article", Direction::Ascending, "*", "price");
        assert!(keys.contains(&format!("{price}{}/e_1", ascending(&json!(3)))));
        let title_fr = field_prefix("default", "article", Direction::Ascending, "fr", "title");
        let key = format!("{title_fr}{}/e_1", ascending(&json!("Salut")));
        assert!(keys.contains(&key));
        assert_eq!(
            split_key(&title_fr, &key),
            Some((ascending(&json!("Salut")).as_str(), "e_1"))
        );
        assert!(!keys.iter().any(|key| key.contains("/body/")));
    }
}
