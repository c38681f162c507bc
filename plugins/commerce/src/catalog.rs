//! The catalog model: products with variants (SKUs), attributes,
//! categories, localised names and descriptions, CMS asset references and
//! a publish state; its validation and its search terms. Pure: no kernel
//! calls.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use tessera_sdk::Error;

use crate::context::{is_sku, is_slug};

/// Whether a product is visible to shoppers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Only staff see it.
    #[default]
    Draft,
    /// Listed, searchable, purchasable.
    Published,
}

/// One purchasable variant of a product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// Stock keeping unit, unique in the catalog.
    pub sku: String,
    /// What sets it apart (`{"size": "M", "colour": "red"}`).
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// CMS asset ids of its pictures.
    #[serde(default)]
    pub assets: Vec<String>,
}

/// A product as written by `PUT /products/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductInput {
    /// Name per locale (`{"en": "T-shirt", "de": "T-Shirt"}`).
    pub names: BTreeMap<String, String>,
    /// Description per locale.
    #[serde(default)]
    pub descriptions: BTreeMap<String, String>,
    /// Category ids.
    #[serde(default)]
    pub categories: Vec<String>,
    /// Attributes shared by every variant (`{"brand": "Acme"}`).
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// CMS asset ids.
    #[serde(default)]
    pub assets: Vec<String>,
    /// Draft or published.
    #[serde(default)]
    pub status: Status,
    /// At least one variant.
    pub variants: Vec<Variant>,
}

/// A stored product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Product {
    /// The product id (a slug).
    pub id: String,
    /// What was written.
    #[serde(flatten)]
    pub input: ProductInput,
    /// When it was created (ms).
    pub created_at: u64,
    /// When it was last written (ms).
    pub updated_at: u64,
}

/// A category: an id and names per locale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Category {
    /// The category id (set from the path).
    #[serde(default)]
    pub id: String,
    /// Name per locale.
    pub names: BTreeMap<String, String>,
    /// The parent category, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
}

fn invalid(message: String) -> Error {
    Error::new(400, "invalid_product", message)
}

/// Whether `tag` is a locale tag such as `en` or `de-CH`.
pub fn is_locale(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let language = parts.next().unwrap_or_default();
    (2..=3).contains(&language.len())
        && language.chars().all(|c| c.is_ascii_lowercase())
        && parts.all(|part| {
            (2..=8).contains(&part.len()) && part.chars().all(|c| c.is_ascii_alphanumeric())
        })
}

/// Checks localised texts: at least one when `required`, valid locales,
/// non-empty texts of at most `max` characters.
pub fn check_texts(
    field: &str,
    texts: &BTreeMap<String, String>,
    required: bool,
    max: usize,
) -> Result<(), Error> {
    if required && texts.is_empty() {
        return Err(invalid(format!(
            "`{field}` needs a text in at least one locale"
        )));
    }
    for (locale, text) in texts {
        if !is_locale(locale) {
            return Err(invalid(format!(
                "`{field}.{locale}`: not a locale tag such as `en` or `de-CH`"
            )));
        }
        if text.trim().is_empty() || text.chars().count() > max {
            return Err(invalid(format!(
                "`{field}.{locale}` must have 1 to {max} characters"
            )));
        }
    }
    Ok(())
}

fn check_attributes(field: &str, attributes: &BTreeMap<String, String>) -> Result<(), Error> {
    if attributes.len() > 32 {
        return Err(invalid(format!("`{field}`: at most 32 attributes")));
    }
    for (name, value) in attributes {
        if !is_slug(name) {
            return Err(invalid(format!(
                "`{field}.{name}`: attribute names are slugs"
            )));
        }
        if value.is_empty() || value.chars().count() > 200 {
            return Err(invalid(format!(
                "`{field}.{name}` must have 1 to 200 characters"
            )));
        }
    }
    Ok(())
}

fn check_assets(field: &str, assets: &[String]) -> Result<(), Error> {
    if assets.len() > 20 {
        return Err(invalid(format!("`{field}`: at most 20 assets")));
    }
    for (index, asset) in assets.iter().enumerate() {
        if asset.is_empty() || asset.len() > 128 || asset.contains('/') {
            return Err(invalid(format!(
                "`{field}[{index}]` must be a CMS asset id (1 to 128 characters, no `/`)"
            )));
        }
    }
    Ok(())
}

impl ProductInput {
    /// Checks every field; the message names the field.
    pub fn validate(&self) -> Result<(), Error> {
        check_texts("names", &self.names, true, 200)?;
        check_texts("descriptions", &self.descriptions, false, 10_000)?;
        check_attributes("attributes", &self.attributes)?;
        check_assets("assets", &self.assets)?;
        if self.categories.len() > 16 {
            return Err(invalid("`categories`: at most 16".to_owned()));
        }
        for (index, category) in self.categories.iter().enumerate() {
            if !is_slug(category) {
                return Err(invalid(format!(
                    "`categories[{index}]`: `{category}` is not a category id"
                )));
            }
        }
        if self.variants.is_empty() || self.variants.len() > 100 {
            return Err(invalid("`variants` must list 1 to 100 variants".to_owned()));
        }
        let mut skus = BTreeSet::new();
        for (index, variant) in self.variants.iter().enumerate() {
            if !is_sku(&variant.sku) {
                return Err(invalid(format!(
                    "`variants[{index}].sku`: `{}` is not a SKU (1 to 64 letters, digits, `-`, `_`, `.`)",
                    variant.sku
                )));
            }
            if !skus.insert(variant.sku.as_str()) {
                return Err(invalid(format!(
                    "`variants[{index}].sku`: `{}` appears twice",
                    variant.sku
                )));
            }
            check_attributes(
                &format!("variants[{index}].attributes"),
                &variant.attributes,
            )?;
            check_assets(&format!("variants[{index}].assets"), &variant.assets)?;
        }
        Ok(())
    }

    /// The SKUs of its variants.
    pub fn skus(&self) -> BTreeSet<String> {
        self.variants
            .iter()
            .map(|variant| variant.sku.clone())
            .collect()
    }
}

impl Product {
    /// The variant with `sku`.
    pub fn variant(&self, sku: &str) -> Option<&Variant> {
        self.input
            .variants
            .iter()
            .find(|variant| variant.sku == sku)
    }

    /// Whether shoppers see it.
    pub fn published(&self) -> bool {
        self.input.status == Status::Published
    }

    /// The search terms of the product: the words of its names in every
    /// locale and of its SKUs, lower-cased.
    pub fn terms(&self) -> BTreeSet<String> {
        let mut terms = BTreeSet::new();
        for name in self.input.names.values() {
            terms.extend(words(name));
        }
        for variant in &self.input.variants {
            terms.extend(words(&variant.sku));
        }
        terms.into_iter().take(64).collect()
    }
}

/// The words of `text`, lower-cased, of at least two characters; what the
/// search index and the search query are made of.
pub fn words(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| word.chars().count() >= 2)
        .map(str::to_lowercase)
        .filter(|word| word.len() <= 64)
        .collect()
}

/// `texts` in `locale`, else in `fallback`, else the first.
pub fn localised<'a>(
    texts: &'a BTreeMap<String, String>,
    locale: &str,
    fallback: &str,
) -> Option<&'a str> {
    texts
        .get(locale)
        .or_else(|| texts.get(fallback))
        .or_else(|| texts.values().next())
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn input(value: serde_json::Value) -> ProductInput {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn valid_products_pass_and_invalid_ones_name_the_field() {
        let good = input(json!({
            "names": {"en": "Red T-shirt", "de": "Rotes T-Shirt"},
            "categories": ["shirts"],
            "variants": [{"sku": "TS-RED-M", "attributes": {"size": "M"}}, {"sku": "TS-RED-L"}]
        }));
        good.validate().unwrap();
        let cases = [
            (json!({"names": {}, "variants": [{"sku": "A"}]}), "`names`"),
            (
                json!({"names": {"EN": "x"}, "variants": [{"sku": "A"}]}),
                "names.EN",
            ),
            (json!({"names": {"en": "x"}, "variants": []}), "`variants`"),
            (
                json!({"names": {"en": "x"}, "variants": [{"sku": "A"}, {"sku": "A"}]}),
                "variants[1].sku",
            ),
            (
                json!({"names": {"en": "x"}, "variants": [{"sku": "A B"}]}),
                "variants[0].sku",
            ),
            (
                json!({"names": {"en": "x"}, "categories": ["Bad"], "variants": [{"sku": "A"}]}),
                "categories[0]",
            ),
            (
                json!({"names": {"en": "x"}, "assets": ["a/b"], "variants": [{"sku": "A"}]}),
                "assets[0]",
            ),
        ];
        for (value, needle) in cases {
            let error = input(value).validate().unwrap_err();
            assert_eq!(error.code, "invalid_product");
            assert!(
                error.message.contains(needle),
                "{} lacks {needle}",
                error.message
            );
        }
    }

    #[test]
    fn terms_and_locales() {
        let product = Product {
            id: "shirt".into(),
            input: input(
                json!({"names": {"en": "Red T-shirt", "de": "Rotes Hemd"}, "variants": [{"sku": "TS-1"}]}),
            ),
            created_at: 0,
            updated_at: 0,
        };
        let terms = product.terms();
        for term in ["red", "shirt", "rotes", "hemd", "ts"] {
            assert!(terms.contains(term), "{terms:?} lacks {term}");
        }
        assert!(!terms.contains("t"));
        assert_eq!(
            localised(&product.input.names, "fr", "en"),
            Some("Red T-shirt")
        );
        assert_eq!(
            localised(&product.input.names, "de", "en"),
            Some("Rotes Hemd")
        );
        assert!(is_locale("de-CH") && !is_locale("deutsch") && !is_locale(""));
    }
}
