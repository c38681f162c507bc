//! Entry validation against a content type. Pure: references to entries
//! and assets are resolved through a callback so that the rules are
//! testable natively.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::locales::Locales;
use crate::schema::{Field, Invalid, Kind, TypeDef, accepts};

/// What a [`Resolve`] callback looks up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// An entry id: answer the key of its type.
    Entry,
    /// An asset id: answer its media type.
    Asset,
}

/// Resolves an entry id to the key of its type, or an asset id to its
/// media type (`None`: no such entry or asset).
pub type Resolve<'a> = dyn FnMut(Lookup, &str) -> Result<Option<String>, Invalid> + 'a;

/// Checks `data` against `def`: every key is a field, every value has the
/// field's type and passes its rules, required fields are present.
/// Localized fields hold an object `{locale: value}` with configured locales
/// only; `required` then means present in the default locale. `null` counts
/// as absent and is dropped. Returns the data to store.
pub fn entry(
    def: &TypeDef,
    data: &Map<String, Value>,
    locales: &Locales,
    resolve: &mut Resolve<'_>,
) -> Result<Map<String, Value>, Invalid> {
    if let Some(unknown) = data.keys().find(|key| def.field(key).is_none()) {
        return Err(Invalid::new(
            unknown.as_str(),
            "is not a field of this type",
        ));
    }
    let mut clean = Map::new();
    for field in &def.fields {
        let value = data.get(&field.name).filter(|value| !value.is_null());
        let Some(value) = value else {
            if field.required {
                return Err(Invalid::new(field.name.as_str(), "is required"));
            }
            continue;
        };
        if field.localized {
            let Value::Object(per_locale) = value else {
                return Err(Invalid::new(
                    field.name.as_str(),
                    "is localized: send an object with one value per locale, such as {\"en\": ...}",
                ));
            };
            let mut kept = Map::new();
            for (locale, value) in per_locale {
                let at = format!("{}.{locale}", field.name);
                if !locales.contains(locale) {
                    return Err(Invalid::new(
                        at,
                        format!("`{locale}` is not a configured locale"),
                    ));
                }
                if !value.is_null() {
                    kept.insert(locale.clone(), checked(field, value, &at, resolve)?);
                }
            }
            if field.required && !kept.contains_key(locales.default()) {
                return Err(Invalid::new(
                    format!("{}.{}", field.name, locales.default()),
                    "is required in the default locale",
                ));
            }
            if !kept.is_empty() {
                clean.insert(field.name.clone(), Value::Object(kept));
            }
        } else {
            clean.insert(
                field.name.clone(),
                checked(field, value, &field.name, resolve)?,
            );
        }
    }
    Ok(clean)
}

/// Checks one (non-null) value of `field` found at `path`: a list for a
/// repeatable field, each item (or the value) by [`checked_item`]. Returns
/// the value to store.
fn checked(
    field: &Field,
    value: &Value,
    path: &str,
    resolve: &mut Resolve<'_>,
) -> Result<Value, Invalid> {
    if !field.repeatable {
        return checked_item(field, value, path, resolve);
    }
    let Value::Array(items) = value else {
        return Err(Invalid::new(path, "is repeatable: send a list of values"));
    };
    let count = u32::try_from(items.len()).unwrap_or(u32::MAX);
    let (min, max) = (
        field.min_items.unwrap_or(u32::from(field.required)),
        field.max_items.unwrap_or(crate::schema::MAX_ITEMS),
    );
    if count < min {
        return Err(Invalid::new(
            path,
            format!("needs at least {min} items, got {count}"),
        ));
    }
    if count > max {
        return Err(Invalid::new(
            path,
            format!("holds at most {max} items, got {count}"),
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(index, item)| checked_item(field, item, &format!("{path}[{index}]"), resolve))
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

/// Checks one item of `field` at `path`: a group's object field by field
/// (unknown keys refused, nulls dropped, required sub-fields present), a
/// scalar by its rules.
fn checked_item(
    field: &Field,
    value: &Value,
    path: &str,
    resolve: &mut Resolve<'_>,
) -> Result<Value, Invalid> {
    if field.kind != Kind::Group {
        check(field, value, resolve).map_err(|message| Invalid::new(path, message))?;
        return Ok(value.clone());
    }
    let Value::Object(values) = value else {
        return Err(Invalid::new(
            path,
            "is a group: send an object of its fields",
        ));
    };
    if let Some(unknown) = values
        .keys()
        .find(|key| !field.fields.iter().any(|sub| &sub.name == *key))
    {
        return Err(Invalid::new(
            format!("{path}.{unknown}"),
            "is not a field of this group",
        ));
    }
    let mut clean = Map::new();
    for sub in &field.fields {
        let at = format!("{path}.{}", sub.name);
        match values.get(&sub.name).filter(|value| !value.is_null()) {
            Some(value) => {
                clean.insert(sub.name.clone(), checked(sub, value, &at, resolve)?);
            }
            None if sub.required => return Err(Invalid::new(at, "is required")),
            None => {}
        }
    }
    Ok(Value::Object(clean))
}

fn check(field: &Field, value: &Value, resolve: &mut Resolve<'_>) -> Result<(), String> {
    match field.kind {
        Kind::Text | Kind::RichText => {
            let text = value.as_str().ok_or("must be a string")?;
            let length = text.chars().count() as f64;
            range(field, length, "characters")?;
            match &field.pattern {
                Some(pattern) if !crate::schema::compile(pattern)?.is_match(text) => {
                    Err(format!("does not match the pattern `{pattern}`"))
                }
                _ => Ok(()),
            }
        }
        Kind::Number => {
            let number = value.as_f64().ok_or("must be a number")?;
            range(field, number, "")
        }
        Kind::Boolean => value
            .as_bool()
            .map(|_| ())
            .ok_or_else(|| "must be true or false".into()),
        Kind::Datetime => {
            let text = value
                .as_str()
                .ok_or("must be an RFC 3339 date-time string")?;
            if is_rfc3339(text) {
                Ok(())
            } else {
                Err(format!(
                    "`{text}` is not an RFC 3339 date-time such as 2026-01-31T09:30:00Z"
                ))
            }
        }
        Kind::Enum => {
            let text = value.as_str().ok_or("must be a string")?;
            if field.values.iter().any(|allowed| allowed == text) {
                Ok(())
            } else {
                Err(format!(
                    "`{text}` is not one of {}",
                    field.values.join(", ")
                ))
            }
        }
        Kind::Reference => {
            let id = value.as_str().ok_or("must be an entry id (a string)")?;
            let to = field.to.as_deref().unwrap_or_default();
            match resolve(Lookup::Entry, id).map_err(|invalid| invalid.message)? {
                Some(kind) if kind == to => Ok(()),
                Some(kind) => Err(format!("entry `{id}` is a `{kind}`, not a `{to}`")),
                None => Err(format!("no entry `{id}` on this site")),
            }
        }
        // Groups are checked field by field in `checked_item`.
        Kind::Group => Ok(()),
        Kind::Asset => {
            let id = value.as_str().ok_or("must be an asset id (a string)")?;
            match resolve(Lookup::Asset, id).map_err(|invalid| invalid.message)? {
                Some(media_type) if accepts(&field.accept, &media_type) => Ok(()),
                Some(media_type) => Err(format!(
                    "asset `{id}` is {media_type}, not one of {}",
                    field.accept.join(", ")
                )),
                None => Err(format!("no asset `{id}` on this site")),
            }
        }
    }
}

/// The ids of the assets `data` refers to through the asset fields of
/// `def`, at any depth: in every locale, every item of a repeatable field
/// and every group.
pub fn asset_ids(def: &TypeDef, data: &Map<String, Value>) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for field in &def.fields {
        if let Some(value) = data.get(&field.name) {
            collect_assets(field, value, field.localized, &mut ids);
        }
    }
    ids
}

/// Adds the asset ids in `value` of `field` to `ids`; `per_locale`: the
/// value is an object of locale → value.
fn collect_assets(field: &Field, value: &Value, per_locale: bool, ids: &mut BTreeSet<String>) {
    match value {
        Value::Object(locales) if per_locale => {
            for value in locales.values() {
                collect_assets(field, value, false, ids);
            }
        }
        Value::Array(items) if field.repeatable => {
            for item in items {
                collect_item_assets(field, item, ids);
            }
        }
        item => collect_item_assets(field, item, ids),
    }
}

fn collect_item_assets(field: &Field, item: &Value, ids: &mut BTreeSet<String>) {
    match (field.kind, item) {
        (Kind::Asset, Value::String(id)) => {
            ids.insert(id.clone());
        }
        (Kind::Group, Value::Object(values)) => {
            for sub in &field.fields {
                if let Some(value) = values.get(&sub.name) {
                    collect_assets(sub, value, false, ids);
                }
            }
        }
        _ => {}
    }
}

fn range(field: &Field, value: f64, unit: &str) -> Result<(), String> {
    let unit = if unit.is_empty() {
        String::new()
    } else {
        format!(" {unit}")
    };
    if let Some(min) = field.min
        && value < min
    {
        return Err(format!("must be at least {min}{unit}"));
    }
    if let Some(max) = field.max
        && value > max
    {
        return Err(format!("must be at most {max}{unit}"));
    }
    Ok(())
}

fn digits(text: &str, from: usize, count: usize) -> Option<u32> {
    let part = text.get(from..from + count)?;
    if part.bytes().all(|b| b.is_ascii_digit()) {
        part.parse().ok()
    } else {
        None
    }
}

/// Whether `text` is an RFC 3339 date-time: `YYYY-MM-DDTHH:MM:SS`, optional
/// fraction, then `Z` or `±HH:MM`.
pub fn is_rfc3339(text: &str) -> bool {
    let bytes = text.as_bytes();
    let at = |i: usize| bytes.get(i).copied();
    let separators = at(4) == Some(b'-')
        && at(7) == Some(b'-')
        && matches!(at(10), Some(b'T' | b't' | b' '))
        && at(13) == Some(b':')
        && at(16) == Some(b':');
    let (Some(year), Some(month), Some(day), Some(hour), Some(minute), Some(second)) = (
        digits(text, 0, 4),
        digits(text, 5, 2),
        digits(text, 8, 2),
        digits(text, 11, 2),
        digits(text, 14, 2),
        digits(text, 17, 2),
    ) else {
        return false;
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    if !separators || day == 0 || day > days || hour > 23 || minute > 59 || second > 60 {
        return false;
    }
    let mut rest = text.get(19..).unwrap_or_default();
    if let Some(fraction) = rest.strip_prefix('.') {
        let count = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if count == 0 {
            return false;
        }
        rest = fraction.get(count..).unwrap_or_default();
    }
    match rest {
        "Z" | "z" => true,
        offset if offset.len() == 6 && matches!(offset.as_bytes().first(), Some(b'+' | b'-')) => {
            offset.as_bytes().get(3) == Some(&b':')
                && digits(offset, 1, 2).is_some_and(|h| h <= 23)
                && digits(offset, 4, 2).is_some_and(|m| m <= 59)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn article() -> TypeDef {
        serde_json::from_value(json!({"fields": [
            {"name": "title", "type": "text", "required": true, "min": 2, "max": 10, "localized": true},
            {"name": "body", "type": "rich_text"},
            {"name": "price", "type": "number", "min": 0, "max": 100},
            {"name": "featured", "type": "boolean"},
            {"name": "at", "type": "datetime"},
            {"name": "tone", "type": "enum", "values": ["calm", "loud"]},
            {"name": "author", "type": "reference", "to": "author"},
            {"name": "sku", "type": "text", "pattern": "^[A-Z]{3}-\\d+$"},
            {"name": "hero", "type": "asset", "accept": ["image/*"]},
            {"name": "files", "type": "asset", "localized": true},
            {"name": "tags", "type": "text", "repeatable": true, "max_items": 3, "max": 8},
            {"name": "specs", "type": "group", "repeatable": true, "fields": [
                {"name": "label", "type": "text", "required": true},
                {"name": "value", "type": "number", "min": 0},
                {"name": "photo", "type": "asset"},
                {"name": "notes", "type": "text", "repeatable": true}
            ]},
            {"name": "address", "type": "group", "fields": [
                {"name": "city", "type": "text", "required": true}
            ]}
        ]}))
        .unwrap()
    }

    fn locales() -> Locales {
        Locales::parse("en, fr", "en")
    }

    fn run(data: Value) -> Result<Map<String, Value>, Invalid> {
        let mut resolve = |lookup: Lookup, id: &str| {
            Ok(match (lookup, id) {
                (Lookup::Entry, "a1") => Some("author".to_owned()),
                (Lookup::Entry, "p1") => Some("page".to_owned()),
                (Lookup::Asset, "img") => Some("image/png".to_owned()),
                (Lookup::Asset, "doc") => Some("text/plain; charset=utf-8".to_owned()),
                _ => None,
            })
        };
        entry(
            &article(),
            data.as_object().unwrap(),
            &locales(),
            &mut resolve,
        )
    }

    fn field_of(data: Value) -> String {
        run(data).unwrap_err().field
    }

    #[test]
    fn a_valid_entry_is_kept_and_nulls_are_dropped() {
        let data = run(json!({
            "title": {"en": "Hello", "fr": "Salut"},
            "body": "# Hi", "price": 10, "featured": true,
            "at": "2026-02-28T10:00:00.5+01:00", "tone": "calm", "author": "a1", "unused": null
        }));
        assert!(data.is_err(), "unknown keys are refused even when null");
        let data =
            run(json!({"title": {"en": "Hello", "fr": null}, "price": null, "author": "a1"}))
                .unwrap();
        assert_eq!(
            Value::Object(data),
            json!({"title": {"en": "Hello"}, "author": "a1"})
        );
    }

    #[test]
    fn every_rule_names_its_field() {
        assert_eq!(field_of(json!({})), "title");
        assert_eq!(field_of(json!({"title": "Hello"})), "title");
        assert_eq!(field_of(json!({"title": {"fr": "Salut"}})), "title.en");
        assert_eq!(
            field_of(json!({"title": {"en": "Hello", "de": "Hallo"}})),
            "title.de"
        );
        assert_eq!(field_of(json!({"title": {"en": "H"}})), "title.en");
        assert_eq!(
            field_of(json!({"title": {"en": "Hello world!"}})),
            "title.en"
        );
        let ok = json!({"en": "Hello"});
        assert_eq!(field_of(json!({"title": ok, "extra": 1})), "extra");
        assert_eq!(field_of(json!({"title": ok, "body": 1})), "body");
        assert_eq!(field_of(json!({"title": ok, "price": "1"})), "price");
        assert_eq!(field_of(json!({"title": ok, "price": 101})), "price");
        assert_eq!(field_of(json!({"title": ok, "price": -1})), "price");
        assert_eq!(
            field_of(json!({"title": ok, "featured": "yes"})),
            "featured"
        );
        assert_eq!(
            field_of(json!({"title": ok, "at": "2026-02-30T10:00:00Z"})),
            "at"
        );
        assert_eq!(field_of(json!({"title": ok, "tone": "quiet"})), "tone");
        assert_eq!(field_of(json!({"title": ok, "author": "p1"})), "author");
        assert_eq!(field_of(json!({"title": ok, "author": "nobody"})), "author");
        assert_eq!(field_of(json!({"title": ok, "sku": "abc-1"})), "sku");
        assert_eq!(field_of(json!({"title": ok, "hero": "doc"})), "hero");
        assert_eq!(field_of(json!({"title": ok, "hero": "a1"})), "hero");
        assert_eq!(field_of(json!({"title": ok, "hero": 7})), "hero");
        assert_eq!(
            field_of(json!({"title": ok, "files": {"fr": "nope"}})),
            "files.fr"
        );
        let with_assets =
            run(json!({"title": ok, "hero": "img", "files": {"en": "doc", "fr": "img"}})).unwrap();
        assert_eq!(
            asset_ids(&article(), &with_assets)
                .into_iter()
                .collect::<Vec<_>>(),
            ["doc", "img"]
        );
        assert!(run(json!({"title": ok, "sku": "ABC-12"})).is_ok());
        let message = run(json!({"title": ok, "price": 101}))
            .unwrap_err()
            .to_string();
        assert_eq!(message, "`price`: must be at most 100");
    }

    #[test]
    fn repeatable_fields_and_groups_are_checked_item_by_item() {
        let good = json!({"title": {"en": "Hi"}, "tags": ["a", "b"],
            "specs": [{"label": "Weight", "value": 3, "photo": "img", "notes": ["x"]},
                      {"label": "Size", "value": null}],
            "address": {"city": "Lyon"}});
        let kept = run(good).unwrap();
        assert_eq!(kept["specs"][1], json!({"label": "Size"}), "nulls dropped");
        let ids = asset_ids(&article(), &kept);
        assert_eq!(ids.into_iter().collect::<Vec<_>>(), ["img"]);
        for (data, field) in [
            (json!({"tags": "a"}), "tags"),
            (json!({"tags": ["a", "b", "c", "d"]}), "tags"),
            (json!({"tags": ["a", "much too long"]}), "tags[1]"),
            (json!({"specs": [{"value": 1}]}), "specs[0].label"),
            (
                json!({"specs": [{"label": "L", "value": -1}]}),
                "specs[0].value",
            ),
            (
                json!({"specs": [{"label": "L", "colour": 1}]}),
                "specs[0].colour",
            ),
            (
                json!({"specs": [{"label": "L", "notes": [1]}]}),
                "specs[0].notes[0]",
            ),
            (
                json!({"specs": [{"label": "L", "photo": "nope"}]}),
                "specs[0].photo",
            ),
            (json!({"address": []}), "address"),
            (json!({"address": {}}), "address.city"),
        ] {
            let mut data = data;
            data["title"] = json!({"en": "Hi"});
            assert_eq!(field_of(data.clone()), field, "{data}");
        }
    }

    #[test]
    fn rfc3339_is_checked() {
        for good in [
            "2026-01-31T09:30:00Z",
            "2024-02-29T00:00:00.123+05:30",
            "2026-12-01t23:59:59-08:00",
        ] {
            assert!(is_rfc3339(good), "{good}");
        }
        for bad in [
            "2026-01-31",
            "2025-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-01-31T24:00:00Z",
            "2026-01-31T09:30:00",
            "2026-01-31T09:30:00.Z",
            "2026-01-31T09:30:00+0100",
            "２026-01-31T09:30:00Z",
        ] {
            assert!(!is_rfc3339(bad), "{bad}");
        }
    }
}
