//! Personalised variants: an entry may hold, next to its content, variants
//! for audience segments, each a partial set of field values that replaces
//! the default ones for callers in that segment. The delivery API serves
//! the first variant, in the entry's order, whose segment the caller is in
//! (see [`crate::segments`]), else the default content. Filters, sorting
//! and search see the default content. Pure: no kernel calls.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The most variants one entry may hold.
pub const MAX_VARIANTS: usize = 10;

/// One variant: the fields it changes, for one segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// The segment's key, as the personalisation plugin names it.
    pub segment: String,
    /// The field values that replace the default ones (a localized field
    /// as an object by locale, like in `data`).
    pub data: Map<String, Value>,
}

fn is_segment(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 64
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Checks the variants' shape: at most [`MAX_VARIANTS`], segment keys
/// unique and well formed, each changing at least one field. The error
/// names the variant. Their values are validated by the caller, merged
/// over the draft ([`merged`]).
pub fn check(variants: &[Variant]) -> Result<(), (String, String)> {
    if variants.len() > MAX_VARIANTS {
        return Err((
            "variants".to_owned(),
            format!("at most {MAX_VARIANTS} variants per entry"),
        ));
    }
    for (at, variant) in variants.iter().enumerate() {
        let field = format!("variants[{at}]");
        if !is_segment(&variant.segment) {
            return Err((
                format!("{field}.segment"),
                format!(
                    "`{}` is not a segment key (letters, digits, `-`, `_`, `.`; at most 64)",
                    variant.segment
                ),
            ));
        }
        if variants
            .iter()
            .take(at)
            .any(|earlier| earlier.segment == variant.segment)
        {
            return Err((
                format!("{field}.segment"),
                format!("segment `{}` has two variants", variant.segment),
            ));
        }
        if variant.data.is_empty() {
            return Err((
                format!("{field}.data"),
                "a variant changes at least one field".to_owned(),
            ));
        }
    }
    Ok(())
}

/// The default `data` with `variant`'s values laid over it.
pub fn merged(data: &Map<String, Value>, variant: &Variant) -> Map<String, Value> {
    let mut merged = data.clone();
    for (name, value) in &variant.data {
        merged.insert(name.clone(), value.clone());
    }
    merged
}

/// The variant for a caller in `segments`: the first of `variants`, in
/// order, whose segment is among them.
pub fn choose<'a>(variants: &'a [Variant], segments: &[String]) -> Option<&'a Variant> {
    variants
        .iter()
        .find(|variant| segments.contains(&variant.segment))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn variant(segment: &str, data: Value) -> Variant {
        Variant {
            segment: segment.into(),
            data: data.as_object().unwrap().clone(),
        }
    }

    #[test]
    fn the_first_matching_variant_wins() {
        let variants = [
            variant("tech", json!({"title": "Specs"})),
            variant("biz", json!({"title": "Savings"})),
        ];
        let both = ["biz".to_owned(), "tech".to_owned()];
        assert_eq!(choose(&variants, &both).unwrap().segment, "tech");
        assert_eq!(
            choose(&variants, &["biz".to_owned()]).unwrap().segment,
            "biz"
        );
        assert_eq!(choose(&variants, &[]), None);
        let data = json!({"title": "Hello", "price": 3});
        let merged = merged(data.as_object().unwrap(), &variants[0]);
        assert_eq!(Value::Object(merged), json!({"title": "Specs", "price": 3}));
    }

    #[test]
    fn shapes_are_checked() {
        assert!(check(&[variant("tech", json!({"a": 1}))]).is_ok());
        let (field, _) = check(&[variant("te ch", json!({"a": 1}))]).unwrap_err();
        assert_eq!(field, "variants[0].segment");
        let (_, why) =
            check(&[variant("t", json!({"a": 1})), variant("t", json!({"a": 2}))]).unwrap_err();
        assert!(why.contains("two variants"));
        assert!(check(&[variant("t", json!({}))]).is_err());
        let many: Vec<Variant> = (0..=MAX_VARIANTS)
            .map(|i| variant(&format!("s{i}"), json!({"a": 1})))
            .collect();
        assert!(check(&many).is_err());
    }
}
