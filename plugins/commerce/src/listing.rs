//! The catalog listing's filters: which index a listing reads and whether
//! a product read through it matches. Pure.

use std::collections::BTreeMap;

use crate::catalog::Product;

/// What `GET /products` asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only products in this category.
    pub category: Option<String>,
    /// Every word must be a search term of the product.
    pub words: Vec<String>,
    /// Attribute values the product or one of its variants must have.
    pub attributes: BTreeMap<String, String>,
    /// Drafts too (staff).
    pub drafts: bool,
}

impl Filter {
    /// The narrowest index for the filter (see `catalog_store`): all
    /// products for staff listings with drafts, else the longest search
    /// word's, else the category's, else all published products.
    pub fn index(&self) -> String {
        match (
            self.words.iter().max_by_key(|word| word.len()),
            &self.category,
        ) {
            _ if self.drafts => "all".to_owned(),
            (Some(word), _) => format!("term/{word}"),
            (None, Some(category)) => format!("cat/{category}"),
            (None, None) => "pub".to_owned(),
        }
    }

    /// Whether `product` matches every part of the filter (index entries
    /// are checked with it, so a stale one is skipped).
    pub fn matches(&self, product: &Product) -> bool {
        let input = &product.input;
        (self.drafts || product.published())
            && self
                .category
                .as_ref()
                .is_none_or(|category| input.categories.contains(category))
            && (self.words.is_empty() || {
                let terms = product.terms();
                self.words.iter().all(|word| terms.contains(word))
            })
            && self.attributes.iter().all(|(name, value)| {
                input.attributes.get(name) == Some(value)
                    || input
                        .variants
                        .iter()
                        .any(|variant| variant.attributes.get(name) == Some(value))
            })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn product(status: &str) -> Product {
        Product {
            id: "shirt".into(),
            input: serde_json::from_value(json!({
                "names": {"en": "Organic T-shirt"},
                "categories": ["apparel"],
                "attributes": {"brand": "acme"},
                "status": status,
                "variants": [{"sku": "TS-M", "attributes": {"size": "m"}}]
            }))
            .unwrap(),
            created_at: 0,
            updated_at: 0,
        }
    }

    fn filter(value: serde_json::Value) -> Filter {
        let words = value["words"].as_array().map(|words| {
            words
                .iter()
                .map(|word| word.as_str().unwrap().to_owned())
                .collect()
        });
        let attributes = value["attributes"].as_object().map(|map| {
            map.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect()
        });
        Filter {
            category: value["category"].as_str().map(str::to_owned),
            words: words.unwrap_or_default(),
            attributes: attributes.unwrap_or_default(),
            drafts: value["drafts"].as_bool().unwrap_or(false),
        }
    }

    #[test]
    fn the_narrowest_index_is_read() {
        assert_eq!(filter(json!({})).index(), "pub");
        assert_eq!(
            filter(json!({"category": "apparel"})).index(),
            "cat/apparel"
        );
        assert_eq!(
            filter(json!({"category": "apparel", "words": ["organic", "ts"]})).index(),
            "term/organic"
        );
        assert_eq!(
            filter(json!({"words": ["organic"], "drafts": true})).index(),
            "all"
        );
    }

    #[test]
    fn every_part_of_the_filter_must_match() {
        let published = product("published");
        let matching = [
            json!({}),
            json!({"category": "apparel"}),
            json!({"words": ["organic", "shirt"]}),
            json!({"words": ["ts"]}),
            json!({"attributes": {"brand": "acme", "size": "m"}}),
        ];
        for value in matching {
            assert!(filter(value.clone()).matches(&published), "{value}");
        }
        let failing = [
            json!({"category": "kitchen"}),
            json!({"words": ["organic", "mug"]}),
            json!({"attributes": {"size": "l"}}),
        ];
        for value in failing {
            assert!(!filter(value.clone()).matches(&published), "{value}");
        }
        let draft = product("draft");
        assert!(!filter(json!({})).matches(&draft));
        assert!(filter(json!({"drafts": true})).matches(&draft));
    }
}
