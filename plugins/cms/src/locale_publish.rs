//! Per-locale drafts and publishing. A French editor saves and publishes
//! the French values of an entry without touching what is live in other
//! locales:
//!
//! - a **per-locale save** (`PUT /entries/{id}?locale=fr`) carries plain
//!   values for localized fields and replaces only their `fr` values in the
//!   draft ([`merge_draft`]);
//! - a **per-locale publish** (`{"locales": ["fr"]}`) copies only the `fr`
//!   values of localized fields from the draft over the published copy;
//!   non-localized fields and the slug follow the default locale, so they
//!   change only when the default locale is published ([`publish_locales`]);
//! - a **per-locale unpublish** removes those locales' values; withdrawing
//!   the default locale withdraws the entry ([`withdraw_locales`]).
//!
//! Pure: no kernel calls.

use serde_json::{Map, Value};

use crate::locales::Locales;
use crate::model::{Entry, Published};
use crate::schema::TypeDef;

/// `draft` with the values of `changes` (plain values of localized fields)
/// set for `locale`; a `null` removes that locale's value. The error names
/// a field that is not localized or not in the type.
pub fn merge_draft(
    def: &TypeDef,
    draft: &Map<String, Value>,
    changes: &Map<String, Value>,
    locale: &str,
) -> Result<Map<String, Value>, (String, String)> {
    let mut merged = draft.clone();
    for (name, value) in changes {
        let Some(field) = def.field(name) else {
            return Err((name.clone(), "is not a field of the type".to_owned()));
        };
        if !field.localized {
            return Err((
                name.clone(),
                format!(
                    "is not localized: save it without `locale`, it is shared by every locale (not only `{locale}`)"
                ),
            ));
        }
        let mut per_locale = match merged.remove(name) {
            Some(Value::Object(per_locale)) => per_locale,
            _ => Map::new(),
        };
        if value.is_null() {
            per_locale.remove(locale);
        } else {
            per_locale.insert(locale.to_owned(), value.clone());
        }
        if !per_locale.is_empty() {
            merged.insert(name.clone(), Value::Object(per_locale));
        }
    }
    Ok(merged)
}

/// The locales a published copy serves: those it lists, or all of the
/// site's when it was published whole.
pub fn served(doc: &Published, locales: &Locales) -> Vec<String> {
    doc.locales
        .clone()
        .unwrap_or_else(|| locales.all().to_vec())
}

/// The published copy after publishing the `only` locales of `entry`'s
/// draft over `previous` (the current published copy, if any).
pub fn publish_locales(
    entry: &Entry,
    previous: Option<&Published>,
    def: &TypeDef,
    only: &[String],
    locales: &Locales,
    now: u64,
) -> Published {
    let mut doc = Published::of(entry, now);
    let with_default = only.iter().any(|locale| locale == locales.default());
    let mut served_now: Vec<String> = previous
        .map(|previous| served(previous, locales))
        .unwrap_or_default();
    for locale in only {
        if !served_now.contains(locale) {
            served_now.push(locale.clone());
        }
    }
    doc.locales = Some(served_now);
    let Some(previous) = previous else {
        // First publish: only the chosen locales' values go live.
        for field in def.fields.iter().filter(|field| field.localized) {
            keep_locales(&mut doc.fields, &field.name, only);
        }
        return doc;
    };
    let mut fields = previous.fields.clone();
    for field in &def.fields {
        let name = &field.name;
        if field.localized {
            let mut per_locale = match fields.remove(name) {
                Some(Value::Object(per_locale)) => per_locale,
                _ => Map::new(),
            };
            let draft = entry.data.get(name).and_then(Value::as_object);
            for locale in only {
                match draft.and_then(|draft| draft.get(locale)) {
                    Some(value) => per_locale.insert(locale.clone(), value.clone()),
                    None => per_locale.remove(locale),
                };
            }
            if !per_locale.is_empty() {
                fields.insert(name.clone(), Value::Object(per_locale));
            }
        } else if with_default {
            match entry.data.get(name) {
                Some(value) => fields.insert(name.clone(), value.clone()),
                None => fields.remove(name),
            };
        }
    }
    doc.fields = fields;
    if !with_default {
        doc.slug = previous.slug.clone();
        doc.variants = previous.variants.clone();
    }
    doc
}

/// Keeps only the values of `locales` in the localized field `name`.
fn keep_locales(fields: &mut Map<String, Value>, name: &str, locales: &[String]) {
    if let Some(Value::Object(per_locale)) = fields.get_mut(name) {
        per_locale.retain(|locale, _| locales.contains(locale));
        if per_locale.is_empty() {
            fields.remove(name);
        }
    }
}

/// The published copy after withdrawing `gone` locales from `previous`;
/// `None` when nothing would stay (the default locale is withdrawn, or no
/// locale is left): the entry is then unpublished.
pub fn withdraw_locales(
    previous: &Published,
    def: &TypeDef,
    gone: &[String],
    locales: &Locales,
    now: u64,
) -> Option<Published> {
    if gone.iter().any(|locale| locale == locales.default()) {
        return None;
    }
    let left: Vec<String> = served(previous, locales)
        .into_iter()
        .filter(|locale| !gone.contains(locale))
        .collect();
    if left.is_empty() {
        return None;
    }
    let mut doc = previous.clone();
    for field in def.fields.iter().filter(|field| field.localized) {
        keep_locales_except(&mut doc.fields, &field.name, gone);
    }
    doc.locales = Some(left);
    doc.published_at = now;
    Some(doc)
}

fn keep_locales_except(fields: &mut Map<String, Value>, name: &str, gone: &[String]) {
    if let Some(Value::Object(per_locale)) = fields.get_mut(name) {
        per_locale.retain(|locale, _| !gone.contains(locale));
        if per_locale.is_empty() {
            fields.remove(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn def() -> TypeDef {
        serde_json::from_value(json!({"fields": [
            {"name": "title", "type": "text", "localized": true},
            {"name": "price", "type": "number"}
        ]}))
        .unwrap()
    }

    fn map(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    fn entry(data: Value) -> Entry {
        serde_json::from_value(json!({
            "id": "e_1", "type": "article", "locale": "en", "slug": "new-slug", "version": 3,
            "schema_version": 1, "data": data, "created_at": 1, "created_by": "ed",
            "updated_at": 2, "updated_by": "ed"
        }))
        .unwrap()
    }

    #[test]
    fn a_locale_save_touches_only_that_locale() {
        let draft = map(json!({"title": {"en": "Hello", "fr": "Salut"}, "price": 3}));
        let merged = merge_draft(&def(), &draft, &map(json!({"title": "Bonjour"})), "fr").unwrap();
        assert_eq!(
            merged,
            map(json!({"title": {"en": "Hello", "fr": "Bonjour"}, "price": 3}))
        );
        let removed = merge_draft(&def(), &draft, &map(json!({"title": null})), "fr").unwrap();
        assert_eq!(removed["title"], json!({"en": "Hello"}));
        let (field, why) =
            merge_draft(&def(), &draft, &map(json!({"price": 4})), "fr").unwrap_err();
        assert_eq!(field, "price");
        assert!(why.contains("not localized"));
        assert!(merge_draft(&def(), &draft, &map(json!({"nope": 1})), "fr").is_err());
    }

    #[test]
    fn publishing_a_locale_leaves_the_others_live_as_they_were() {
        let locales = Locales::parse("en,fr,de", "en");
        let live = Published {
            id: "e_1".into(),
            kind: "article".into(),
            locale: "en".into(),
            slug: Some("old-slug".into()),
            version: 1,
            schema_version: 1,
            published_at: 1,
            fields: map(json!({"title": {"en": "Hello", "fr": "Salut"}, "price": 3})),
            locales: None,
            variants: Vec::new(),
        };
        let draft = entry(json!({"title": {"en": "Hello again", "fr": "Bonjour"}, "price": 9}));
        let fr = publish_locales(&draft, Some(&live), &def(), &["fr".into()], &locales, 5);
        assert_eq!(
            fr.fields,
            map(json!({"title": {"en": "Hello", "fr": "Bonjour"}, "price": 3}))
        );
        assert_eq!(
            fr.slug.as_deref(),
            Some("old-slug"),
            "the slug follows the default locale"
        );
        assert_eq!(
            fr.locales,
            Some(vec!["en".into(), "fr".into(), "de".into()])
        );
        let en = publish_locales(&draft, Some(&fr), &def(), &["en".into()], &locales, 6);
        assert_eq!(
            en.fields,
            map(json!({"title": {"en": "Hello again", "fr": "Bonjour"}, "price": 9}))
        );
        assert_eq!(en.slug.as_deref(), Some("new-slug"));

        let first = publish_locales(&draft, None, &def(), &["fr".into()], &locales, 5);
        assert_eq!(
            first.fields,
            map(json!({"title": {"fr": "Bonjour"}, "price": 9}))
        );
        assert_eq!(first.locales, Some(vec!["fr".into()]));

        let without_fr = withdraw_locales(&en, &def(), &["fr".into()], &locales, 7).unwrap();
        assert_eq!(without_fr.fields["title"], json!({"en": "Hello again"}));
        assert_eq!(without_fr.locales, Some(vec!["en".into(), "de".into()]));
        assert_eq!(
            withdraw_locales(&en, &def(), &["en".into()], &locales, 7),
            None
        );
        assert_eq!(
            withdraw_locales(&first, &def(), &["fr".into()], &locales, 7),
            None
        );
    }
}
