//! What the plugin stores: content type versions, entries (the draft and
//! its metadata), entry versions and published documents; and the payload
//! of `cms.entry.*` events. Pure data.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::schema::TypeDef;
use crate::variants::Variant;

/// One stored version of a content type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredType {
    /// The type key.
    pub key: String,
    /// Its schema version, from 1.
    pub version: u32,
    /// When this version was stored (ms since the epoch).
    pub created_at: u64,
    /// Who stored it.
    pub created_by: String,
    /// The definition.
    #[serde(flatten)]
    pub def: TypeDef,
}

/// An entry: its current draft and where it stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Its id, unique on the site.
    pub id: String,
    /// The key of its content type.
    #[serde(rename = "type")]
    pub kind: String,
    /// The locale it was created in (its slug is unique within it).
    pub locale: String,
    /// Its slug, unique per type and locale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slug: Option<String>,
    /// The version of the current draft, from 1.
    pub version: u32,
    /// The schema version the draft was validated against.
    pub schema_version: u32,
    /// The draft's field values.
    pub data: Map<String, Value>,
    /// Creation time (ms since the epoch).
    pub created_at: u64,
    /// Creator.
    pub created_by: String,
    /// Time of the last save.
    pub updated_at: u64,
    /// Author of the last save.
    pub updated_by: String,
    /// The version that is published, if any.
    #[serde(default)]
    pub published_version: Option<u32>,
    /// When it was last published.
    #[serde(default)]
    pub published_at: Option<u64>,
    /// The locales published, when they were published one by one (none:
    /// published whole, every locale; see [`crate::locale_publish`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_locales: Option<Vec<String>>,
    /// Personalised variants per segment (see [`crate::variants`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<Variant>,
}

/// One saved version of an entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Version {
    /// The version number, from 1.
    pub version: u32,
    /// The slug at that version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slug: Option<String>,
    /// The schema version it was validated against.
    pub schema_version: u32,
    /// The field values.
    pub data: Map<String, Value>,
    /// When it was saved.
    pub saved_at: u64,
    /// Who saved it.
    pub saved_by: String,
    /// The version it restored, when it is a restore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored_from: Option<u32>,
    /// Personalised variants per segment (see [`crate::variants`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<Variant>,
}

impl Version {
    /// The version an entry is at.
    pub fn of(entry: &Entry, restored_from: Option<u32>) -> Self {
        Self {
            version: entry.version,
            slug: entry.slug.clone(),
            schema_version: entry.schema_version,
            data: entry.data.clone(),
            saved_at: entry.updated_at,
            saved_by: entry.updated_by.clone(),
            restored_from,
            variants: entry.variants.clone(),
        }
    }
}

/// The published copy of an entry, as stored (the delivery API localizes
/// and selects its fields).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Published {
    /// The entry id.
    pub id: String,
    /// The type key.
    #[serde(rename = "type")]
    pub kind: String,
    /// The entry's locale.
    pub locale: String,
    /// The slug.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slug: Option<String>,
    /// The entry version published.
    pub version: u32,
    /// The schema version of that version.
    pub schema_version: u32,
    /// When it was published.
    pub published_at: u64,
    /// The field values.
    pub fields: Map<String, Value>,
    /// The locales it serves when they were published one by one (none:
    /// published whole; see [`crate::locale_publish`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locales: Option<Vec<String>>,
    /// Personalised variants per segment (see [`crate::variants`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<Variant>,
}

impl Published {
    /// The published copy of `entry`'s current draft.
    pub fn of(entry: &Entry, now: u64) -> Self {
        Self {
            id: entry.id.clone(),
            kind: entry.kind.clone(),
            locale: entry.locale.clone(),
            slug: entry.slug.clone(),
            version: entry.version,
            schema_version: entry.schema_version,
            published_at: now,
            fields: entry.data.clone(),
            locales: None,
            variants: entry.variants.clone(),
        }
    }
}

/// The payload of every `cms.entry.*` event.
pub fn event_payload(site: &str, entry: &Entry) -> Value {
    json!({
        "site": site,
        "type": entry.kind,
        "id": entry.id,
        "locale": entry.locale,
        "version": entry.version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_names_the_site_type_id_locale_and_version() {
        let entry = Entry {
            id: "e7".into(),
            kind: "article".into(),
            locale: "en".into(),
            slug: Some("hello".into()),
            version: 3,
            schema_version: 1,
            data: Map::new(),
            created_at: 1,
            created_by: "ada".into(),
            updated_at: 2,
            updated_by: "ada".into(),
            published_version: None,
            published_at: None,
            published_locales: None,
            variants: Vec::new(),
        };
        assert_eq!(
            event_payload("default", &entry),
            json!({"site": "default", "type": "article", "id": "e7", "locale": "en", "version": 3})
        );
        let published = Published::of(&entry, 9);
        assert_eq!(published.version, 3);
        assert_eq!(published.published_at, 9);
        assert_eq!(Version::of(&entry, Some(1)).restored_from, Some(1));
    }
}
