//! Content types: their fields and validation rules, and the checks a type
//! passes before it is stored. Pure: no kernel calls.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Names reserved for entry metadata; no field may use them.
pub const RESERVED: [&str; 6] = ["id", "type", "slug", "locale", "version", "published_at"];

/// What a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A plain string.
    Text,
    /// Markdown, stored as a string.
    RichText,
    /// A JSON number.
    Number,
    /// `true` or `false`.
    Boolean,
    /// An RFC 3339 date and time, stored as given.
    Datetime,
    /// One of `values`.
    Enum,
    /// The id of an entry of the type `to`.
    Reference,
    /// The id of an asset on the same site, of a media type in `accept`
    /// when given.
    Asset,
    /// An object of named sub-fields (`fields`), such as an address or, with
    /// `repeatable`, the rows of a specification table.
    Group,
}

/// One field of a content type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Field {
    /// Its name: 1 to 64 lower-case letters, digits or `_`, starting with a letter.
    pub name: String,
    /// What it holds.
    #[serde(rename = "type")]
    pub kind: Kind,
    /// Every entry must have a value (for localized fields: in the default locale).
    #[serde(default, skip_serializing_if = "is_false")]
    pub required: bool,
    /// No two entries of the type may hold the same value.
    #[serde(default, skip_serializing_if = "is_false")]
    pub unique: bool,
    /// The value is an object with one value per locale.
    #[serde(default, skip_serializing_if = "is_false")]
    pub localized: bool,
    /// The least number, or the least length in characters of a text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// The greatest number, or the greatest length in characters of a text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// A regular expression text values must match (anywhere, unless
    /// anchored with `^` and `$`), in the syntax of the `regex` crate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// The allowed values of an enum.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// The content type a reference points to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// The media types an asset field accepts: `image/png` or `image/*`
    /// (empty: any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accept: Vec<String>,
    /// The value is a list of such values (`required`: at least one).
    #[serde(default, skip_serializing_if = "is_false")]
    pub repeatable: bool,
    /// The fewest items of a repeatable field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_items: Option<u32>,
    /// The most items of a repeatable field (at most [`MAX_ITEMS`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_items: Option<u32>,
    /// The sub-fields of a group: not groups themselves, not localized,
    /// not unique.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<Field>,
}

/// The most items a repeatable field may hold.
pub const MAX_ITEMS: u32 = 1000;

/// Whether `media_type` (parameters ignored) matches one of `patterns`
/// (`type/subtype` or `type/*`); an empty list accepts anything.
pub fn accepts(patterns: &[String], media_type: &str) -> bool {
    let essence = media_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    patterns.is_empty()
        || patterns
            .iter()
            .any(|pattern| match pattern.strip_suffix("/*") {
                Some(kind) => essence
                    .split_once('/')
                    .is_some_and(|(actual, _)| actual == kind),
                None => *pattern == essence,
            })
}

fn is_media_pattern(pattern: &str) -> bool {
    let token = |text: &str| {
        !text.is_empty()
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$&-^_.+".contains(&b))
    };
    match pattern.split_once('/') {
        Some((kind, "*")) => token(kind),
        Some((kind, subtype)) => token(kind) && token(subtype),
        None => false,
    }
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// A content type as an administrator sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypeDef {
    /// A human name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The fields, in display order.
    pub fields: Vec<Field>,
}

/// A reason a type or an entry is refused, naming the field at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// Where: `fields[2].max` for a type, the field name for an entry.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl Invalid {
    /// An error about `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.field, self.message)
    }
}

/// Whether `name` is a valid type key or field name: 1 to 64 characters,
/// lower-case letters, digits, `_` or `-`, starting with a letter.
pub fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

impl TypeDef {
    /// The field called `name`.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|field| field.name == name)
    }

    /// Checks the whole definition; the first problem names its field.
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.fields.is_empty() {
            return Err(Invalid::new("fields", "a type needs at least one field"));
        }
        validate_fields(&self.fields, "fields", false)
    }
}

/// Checks a list of fields at `path` (`fields`, or `fields[2].fields` for
/// a group's); `nested` for a group's sub-fields.
fn validate_fields(fields: &[Field], path: &str, nested: bool) -> Result<(), Invalid> {
    let mut seen = BTreeSet::new();
    for (index, field) in fields.iter().enumerate() {
        let at = |what: &str| format!("{path}[{index}].{what}");
        if !is_name(&field.name) || field.name.contains('-') {
            return Err(Invalid::new(
                at("name"),
                format!(
                    "`{}` is not a field name: use 1 to 64 lower-case letters, digits or `_`, starting with a letter",
                    field.name
                ),
            ));
        }
        if !nested && RESERVED.contains(&field.name.as_str()) {
            return Err(Invalid::new(
                at("name"),
                format!("`{}` is reserved for entry metadata", field.name),
            ));
        }
        if !seen.insert(field.name.as_str()) {
            return Err(Invalid::new(
                at("name"),
                format!("`{}` is defined twice", field.name),
            ));
        }
        if nested {
            let refused = if field.kind == Kind::Group {
                Some(("type", "a group cannot hold another group"))
            } else if field.localized {
                Some(("localized", "localize the whole group, not its sub-fields"))
            } else if field.unique {
                Some(("unique", "a group's sub-fields cannot be unique"))
            } else {
                None
            };
            if let Some((what, message)) = refused {
                return Err(Invalid::new(at(what), message));
            }
        }
        field
            .validate()
            .map_err(|(what, message)| Invalid::new(at(what), message))?;
        if field.kind == Kind::Group {
            validate_fields(&field.fields, &at("fields"), true)?;
        }
    }
    Ok(())
}

impl Field {
    fn validate(&self) -> Result<(), (&'static str, String)> {
        self.validate_shape()?;
        self.validate_rules()
    }

    /// Groups, repeatable fields and their item counts.
    fn validate_shape(&self) -> Result<(), (&'static str, String)> {
        match (self.kind, self.fields.is_empty()) {
            (Kind::Group, true) => {
                return Err(("fields", "a group needs at least one field".into()));
            }
            (Kind::Group, false) | (_, true) => {}
            (_, false) => return Err(("fields", "`fields` applies to group fields only".into())),
        }
        if !self.repeatable && (self.min_items.is_some() || self.max_items.is_some()) {
            return Err((
                "min_items",
                "`min_items` and `max_items` apply to repeatable fields only".into(),
            ));
        }
        if let (Some(min), Some(max)) = (self.min_items, self.max_items)
            && min > max
        {
            return Err((
                "max_items",
                format!("`max_items` ({max}) is less than `min_items` ({min})"),
            ));
        }
        if self.max_items.is_some_and(|max| max > MAX_ITEMS) {
            return Err(("max_items", format!("`max_items` is at most {MAX_ITEMS}")));
        }
        if self.unique && (self.repeatable || self.kind == Kind::Group) {
            return Err((
                "unique",
                "repeatable and group fields cannot be unique".into(),
            ));
        }
        Ok(())
    }

    /// The rules of one value.
    fn validate_rules(&self) -> Result<(), (&'static str, String)> {
        let ranged = matches!(self.kind, Kind::Text | Kind::RichText | Kind::Number);
        if !ranged && (self.min.is_some() || self.max.is_some()) {
            return Err((
                "min",
                "`min` and `max` apply to number and text fields only".into(),
            ));
        }
        if let (Some(min), Some(max)) = (self.min, self.max)
            && min > max
        {
            return Err(("max", format!("`max` ({max}) is less than `min` ({min})")));
        }
        if self.kind != Kind::Number
            && [self.min, self.max]
                .iter()
                .flatten()
                .any(|n| *n < 0.0 || n.fract() != 0.0)
        {
            return Err((
                "min",
                "a text length must be a whole number of characters, at least 0".into(),
            ));
        }
        match (self.kind, self.values.is_empty()) {
            (Kind::Enum, true) => {
                return Err(("values", "an enum needs at least one value".into()));
            }
            (Kind::Enum, false) => {
                let distinct: BTreeSet<_> = self.values.iter().collect();
                if distinct.len() != self.values.len() {
                    return Err(("values", "the enum values must be distinct".into()));
                }
            }
            (_, false) => return Err(("values", "`values` applies to enum fields only".into())),
            (_, true) => {}
        }
        match (self.kind, &self.to) {
            (Kind::Reference, None) => {
                return Err(("to", "a reference needs `to`: the type it points to".into()));
            }
            (Kind::Reference, Some(to)) if !is_name(to) => {
                return Err(("to", format!("`{to}` is not a type key")));
            }
            (Kind::Reference, Some(_)) | (_, None) => {}
            (_, Some(_)) => return Err(("to", "`to` applies to reference fields only".into())),
        }
        if !self.accept.is_empty() {
            if self.kind != Kind::Asset {
                return Err(("accept", "`accept` applies to asset fields only".into()));
            }
            if let Some(bad) = self.accept.iter().find(|p| !is_media_pattern(p)) {
                return Err((
                    "accept",
                    format!("`{bad}` is not a media type such as `image/png` or `image/*`"),
                ));
            }
        }
        if let Some(pattern) = &self.pattern {
            if !matches!(self.kind, Kind::Text | Kind::RichText) {
                return Err(("pattern", "`pattern` applies to text fields only".into()));
            }
            compile(pattern).map_err(|message| ("pattern", message))?;
        }
        if self.unique && matches!(self.kind, Kind::Boolean | Kind::RichText) {
            return Err((
                "unique",
                "boolean and rich text fields cannot be unique".into(),
            ));
        }
        if self.unique && self.localized {
            return Err((
                "unique",
                "a localized field cannot be unique (not yet)".into(),
            ));
        }
        Ok(())
    }
}

/// The longest pattern accepted.
pub const MAX_PATTERN: usize = 512;

/// Compiles a field's `pattern`, with a size limit so that no pattern can
/// exhaust the plugin's memory.
pub fn compile(pattern: &str) -> Result<regex::Regex, String> {
    if pattern.len() > MAX_PATTERN {
        return Err(format!("a pattern may be at most {MAX_PATTERN} bytes long"));
    }
    regex::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .build()
        .map_err(|error| format!("`{pattern}` is not a valid pattern: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn def(fields: serde_json::Value) -> Result<TypeDef, serde_json::Error> {
        serde_json::from_value(json!({ "name": "Article", "fields": fields }))
    }

    fn refused(fields: serde_json::Value) -> Invalid {
        def(fields).unwrap().validate().unwrap_err()
    }

    #[test]
    fn groups_and_repeatable_fields_have_their_own_rules() {
        let ok = def(json!([
            {"name": "tags", "type": "text", "repeatable": true, "min_items": 1, "max_items": 5},
            {"name": "specs", "type": "group", "repeatable": true, "localized": true, "fields": [
                {"name": "label", "type": "text", "required": true},
                {"name": "photos", "type": "asset", "repeatable": true}
            ]}
        ]))
        .unwrap();
        assert_eq!(ok.validate(), Ok(()));
        for (fields, at) in [
            (json!([{"name": "g", "type": "group"}]), "fields[0].fields"),
            (
                json!([{"name": "t", "type": "text", "fields": [{"name": "a", "type": "text"}]}]),
                "fields[0].fields",
            ),
            (
                json!([{"name": "t", "type": "text", "max_items": 3}]),
                "fields[0].min_items",
            ),
            (
                json!([{"name": "t", "type": "text", "repeatable": true, "min_items": 4, "max_items": 3}]),
                "fields[0].max_items",
            ),
            (
                json!([{"name": "t", "type": "text", "repeatable": true, "max_items": 5000}]),
                "fields[0].max_items",
            ),
            (
                json!([{"name": "t", "type": "text", "repeatable": true, "unique": true}]),
                "fields[0].unique",
            ),
            (
                json!([{"name": "g", "type": "group", "fields": [{"name": "h", "type": "group", "fields": [{"name": "x", "type": "text"}]}]}]),
                "fields[0].fields[0].type",
            ),
            (
                json!([{"name": "g", "type": "group", "fields": [{"name": "x", "type": "text", "localized": true}]}]),
                "fields[0].fields[0].localized",
            ),
            (
                json!([{"name": "g", "type": "group", "fields": [{"name": "x", "type": "text"}, {"name": "x", "type": "number"}]}]),
                "fields[0].fields[1].name",
            ),
        ] {
            assert_eq!(refused(fields.clone()).field, at, "{fields}");
        }
    }

    #[test]
    fn a_full_type_is_valid() {
        let article = def(json!([
            {"name": "title", "type": "text", "required": true, "max": 120, "localized": true},
            {"name": "body", "type": "rich_text"},
            {"name": "price", "type": "number", "min": 0, "unique": true},
            {"name": "featured", "type": "boolean"},
            {"name": "at", "type": "datetime"},
            {"name": "tone", "type": "enum", "values": ["calm", "loud"]},
            {"name": "sku", "type": "text", "pattern": "^[A-Z]{3}-\\d+$"},
            {"name": "author", "type": "reference", "to": "author"},
            {"name": "hero", "type": "asset", "accept": ["image/*", "application/pdf"]}
        ]))
        .unwrap();
        assert_eq!(article.validate(), Ok(()));
        let accept = &article.field("hero").unwrap().accept;
        assert!(accepts(accept, "image/png"));
        assert!(accepts(accept, "application/pdf"));
        assert!(!accepts(accept, "text/plain; charset=utf-8"));
        assert!(accepts(&[], "text/plain"));
        assert_eq!(article.field("tone").unwrap().kind, Kind::Enum);
    }

    #[test]
    fn unknown_keys_and_kinds_do_not_parse() {
        assert!(def(json!([{"name": "x", "type": "text", "colour": 1}])).is_err());
        assert!(def(json!([{"name": "x", "type": "blob"}])).is_err());
    }

    #[test]
    fn mistakes_name_the_field_at_fault() {
        assert_eq!(refused(json!([])).field, "fields");
        assert_eq!(
            refused(json!([{"name": "Title", "type": "text"}])).field,
            "fields[0].name"
        );
        assert_eq!(
            refused(json!([{"name": "slug", "type": "text"}])).field,
            "fields[0].name"
        );
        let twice =
            refused(json!([{"name": "a", "type": "text"}, {"name": "a", "type": "number"}]));
        assert_eq!(twice.field, "fields[1].name");
        assert_eq!(
            refused(json!([{"name": "a", "type": "boolean", "min": 1}])).field,
            "fields[0].min"
        );
        assert_eq!(
            refused(json!([{"name": "a", "type": "number", "min": 5, "max": 1}])).field,
            "fields[0].max"
        );
        assert_eq!(
            refused(json!([{"name": "a", "type": "text", "max": 1.5}])).field,
            "fields[0].min"
        );
        assert_eq!(
            refused(json!([{"name": "a", "type": "enum"}])).field,
            "fields[0].values"
        );
        assert_eq!(
            refused(json!([{"name": "a", "type": "text", "pattern": "(["}])).field,
            "fields[0].pattern"
        );
        assert_eq!(
            refused(json!([{"name": "a", "type": "number", "pattern": "1"}])).field,
            "fields[0].pattern"
        );
        let long = "a".repeat(MAX_PATTERN + 1);
        assert_eq!(
            refused(json!([{"name": "a", "type": "text", "pattern": long}])).field,
            "fields[0].pattern"
        );
        assert_eq!(
            refused(json!([{"name": "a", "type": "enum", "values": ["x", "x"]}])).field,
            "fields[0].values"
        );
        assert_eq!(
            refused(json!([{"name": "a", "type": "text", "values": ["x"]}])).field,
            "fields[0].values"
        );
        assert_eq!(
            refused(json!([{"name": "a", "type": "reference"}])).field,
            "fields[0].to"
        );
        assert_eq!(
            refused(json!([{"name": "a", "type": "text", "to": "b"}])).field,
            "fields[0].to"
        );
        assert_eq!(
            refused(json!([{"name": "a", "type": "text", "accept": ["image/*"]}])).field,
            "fields[0].accept"
        );
        assert_eq!(
            refused(json!([{"name": "a", "type": "asset", "accept": ["image"]}])).field,
            "fields[0].accept"
        );
        assert_eq!(
            refused(json!([{"name": "a", "type": "boolean", "unique": true}])).field,
            "fields[0].unique"
        );
        assert_eq!(
            refused(json!([{"name": "a", "type": "text", "unique": true, "localized": true}]))
                .field,
            "fields[0].unique"
        );
    }

    #[test]
    fn names_are_checked() {
        assert!(is_name("article"));
        assert!(is_name("blog-post_2"));
        assert!(!is_name(""));
        assert!(!is_name("2fast"));
        assert!(!is_name("Upper"));
        assert!(!is_name(&"a".repeat(65)));
    }
}
