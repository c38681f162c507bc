//! What changed between two versions of an entry:
//! `GET /entries/{id}/versions/{from}/diff/{to}`. Field by field (and per
//! locale for localized values), so an editor reviewing a draft sees which
//! values were added, removed or changed. The pure comparison is
//! [`compare`].

use serde::Serialize;
use serde_json::{Map, Value};
use tessera_sdk::prelude::*;

use crate::model::Version;
use crate::routes::{READ, caller};
use crate::store;

/// How one value differs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "change")]
pub enum Change {
    /// Absent in `from`, present in `to`.
    Added {
        /// The new value.
        to: Value,
    },
    /// Present in `from`, absent in `to`.
    Removed {
        /// The old value.
        from: Value,
    },
    /// Present in both, different.
    Changed {
        /// The old value.
        from: Value,
        /// The new value.
        to: Value,
    },
}

/// One difference: where (`title`, `title.fr`, `slug`) and how.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Difference {
    /// The field, `field.locale` inside a localized value, or `slug`.
    pub path: String,
    /// How it differs.
    #[serde(flatten)]
    pub change: Change,
}

fn difference(path: String, from: Option<&Value>, to: Option<&Value>) -> Option<Difference> {
    let change = match (from, to) {
        (None, Some(to)) => Change::Added { to: to.clone() },
        (Some(from), None) => Change::Removed { from: from.clone() },
        (Some(from), Some(to)) if from != to => Change::Changed {
            from: from.clone(),
            to: to.clone(),
        },
        _ => return None,
    };
    Some(Difference { path, change })
}

/// Whether `value` is a localized value: an object (field values are
/// never objects otherwise).
fn as_locales(value: Option<&Value>) -> Option<&Map<String, Value>> {
    match value {
        Some(Value::Object(map)) => Some(map),
        _ => None,
    }
}

/// The differences from `from` to `to`, by field name, then locale, then
/// the slug: objects on both sides (localized values) are compared per
/// locale.
pub fn compare(from: &Version, to: &Version) -> Vec<Difference> {
    let names: std::collections::BTreeSet<&String> =
        from.data.keys().chain(to.data.keys()).collect();
    let mut out = Vec::new();
    for name in names {
        let (old, new) = (from.data.get(name), to.data.get(name));
        match (as_locales(old), as_locales(new)) {
            (Some(old), Some(new)) => {
                let locales: std::collections::BTreeSet<&String> =
                    old.keys().chain(new.keys()).collect();
                out.extend(locales.into_iter().filter_map(|locale| {
                    difference(format!("{name}.{locale}"), old.get(locale), new.get(locale))
                }));
            }
            _ => out.extend(difference(name.clone(), old, new)),
        }
    }
    let slug = |version: &Version| version.slug.clone().map(Value::String);
    out.extend(difference(
        "slug".into(),
        slug(from).as_ref(),
        slug(to).as_ref(),
    ));
    // Variants, by segment: `variants.{segment}`.
    let variant = |version: &Version, segment: &str| {
        version
            .variants
            .iter()
            .find(|variant| variant.segment == segment)
            .map(|variant| Value::Object(variant.data.clone()))
    };
    let segments: std::collections::BTreeSet<&String> = from
        .variants
        .iter()
        .chain(&to.variants)
        .map(|variant| &variant.segment)
        .collect();
    for segment in segments {
        out.extend(difference(
            format!("variants.{segment}"),
            variant(from, segment).as_ref(),
            variant(to, segment).as_ref(),
        ));
    }
    out
}

/// `GET /entries/{id}/versions/{from}/diff/{to}`.
pub fn handle(_: &Request, params: &Params) -> Result<Response, Error> {
    let (site, _) = caller(READ)?;
    let id = params.require("id")?;
    store::entry(&site, id)?;
    let from: u32 = params.parse("from")?;
    let to: u32 = params.parse("to")?;
    let (old, new) = (
        store::version(&site, id, from)?,
        store::version(&site, id, to)?,
    );
    Ok(Response::ok_json(&json!({
        "id": id,
        "from": from,
        "to": to,
        "schema_versions": [old.schema_version, new.schema_version],
        "differences": compare(&old, &new),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn version(slug: Option<&str>, data: Value) -> Version {
        Version {
            version: 1,
            slug: slug.map(str::to_owned),
            schema_version: 1,
            data: serde_json::from_value(data).unwrap(),
            saved_at: 0,
            saved_by: "w".into(),
            restored_from: None,
            variants: Vec::new(),
        }
    }

    #[test]
    fn differences_name_fields_locales_and_the_slug() {
        let old = version(
            Some("hello"),
            json!({"title": {"en": "Hello", "fr": "Salut"}, "price": 10, "old": true}),
        );
        let new = version(
            Some("hello-world"),
            json!({"title": {"en": "Hello", "fr": "Bonjour", "de": "Hallo"}, "price": 12, "tone": "calm"}),
        );
        let found = serde_json::to_value(compare(&old, &new)).unwrap();
        assert_eq!(
            found,
            json!([
                {"path": "old", "change": "removed", "from": true},
                {"path": "price", "change": "changed", "from": 10, "to": 12},
                {"path": "title.de", "change": "added", "to": "Hallo"},
                {"path": "title.fr", "change": "changed", "from": "Salut", "to": "Bonjour"},
                {"path": "tone", "change": "added", "to": "calm"},
                {"path": "slug", "change": "changed", "from": "hello", "to": "hello-world"}
            ])
        );
        assert!(compare(&old, &old).is_empty());
    }

    #[test]
    fn a_value_that_became_localized_is_one_change() {
        let old = version(None, json!({"title": "Hello"}));
        let new = version(None, json!({"title": {"en": "Hello"}}));
        let found = compare(&old, &new);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].path, "title");
    }
}
