//! Page-level experiences: which blocks each segment sees. An experience
//! lists audiences in priority order, each a segment and its blocks, and
//! default blocks; a caller gets the blocks of the first audience whose
//! segment they are in, else the default. Pure.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tessera_sdk::Error;

use crate::ids::is_key;

/// The most audiences one experience may have.
pub const MAX_AUDIENCES: usize = 20;
/// The most blocks one list may hold.
pub const MAX_BLOCKS: usize = 50;
/// The largest experience, serialised.
pub const MAX_BYTES: usize = 256 * 1024;

/// The blocks one segment sees.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Audience {
    /// The segment's key.
    pub segment: String,
    /// Its blocks (any JSON: a CMS entry reference, a component and its
    /// props ...), in page order.
    pub blocks: Vec<Value>,
}

/// An experience.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Experience {
    /// Its key.
    pub key: String,
    /// A name to show.
    pub name: String,
    /// Audiences, highest priority first.
    pub audiences: Vec<Audience>,
    /// What everyone else sees.
    pub default: Vec<Value>,
    /// When it was last changed (ms).
    pub updated_at: u64,
}

/// What an administrator sends.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperienceInput {
    /// A name to show.
    pub name: String,
    /// Audiences, highest priority first.
    #[serde(default)]
    pub audiences: Vec<Audience>,
    /// What everyone else sees.
    #[serde(default)]
    pub default: Vec<Value>,
}

/// Checks `input`: 400 `invalid_experience` naming the audience.
pub fn define(key: &str, input: ExperienceInput, now: u64) -> Result<Experience, Error> {
    let invalid = |message: String| Error::new(400, "invalid_experience", message);
    if input.name.trim().is_empty() || input.name.len() > 200 {
        return Err(invalid("`name` is 1 to 200 bytes".into()));
    }
    if input.audiences.len() > MAX_AUDIENCES {
        return Err(invalid(format!("at most {MAX_AUDIENCES} audiences")));
    }
    if input.default.len() > MAX_BLOCKS {
        return Err(invalid(format!(
            "`default` holds at most {MAX_BLOCKS} blocks"
        )));
    }
    for (at, audience) in input.audiences.iter().enumerate() {
        if !is_key(&audience.segment) {
            return Err(invalid(format!(
                "audiences[{at}].segment `{}` is not a segment key",
                audience.segment
            )));
        }
        if input
            .audiences
            .iter()
            .take(at)
            .any(|earlier| earlier.segment == audience.segment)
        {
            return Err(invalid(format!(
                "audiences[{at}].segment `{}` appears twice",
                audience.segment
            )));
        }
        if audience.blocks.len() > MAX_BLOCKS {
            return Err(invalid(format!(
                "audiences[{at}].blocks holds at most {MAX_BLOCKS} blocks"
            )));
        }
    }
    let experience = Experience {
        key: key.to_owned(),
        name: input.name.trim().to_owned(),
        audiences: input.audiences,
        default: input.default,
        updated_at: now,
    };
    let size = serde_json::to_vec(&experience)
        .map(|bytes| bytes.len())
        .unwrap_or(usize::MAX);
    if size > MAX_BYTES {
        return Err(invalid(format!(
            "an experience is at most {MAX_BYTES} bytes"
        )));
    }
    Ok(experience)
}

impl Experience {
    /// The segment (if any) and blocks for a caller in `segments`.
    pub fn choose(&self, segments: &[String]) -> (Option<&str>, &[Value]) {
        match self
            .audiences
            .iter()
            .find(|audience| segments.contains(&audience.segment))
        {
            Some(audience) => (Some(&audience.segment), &audience.blocks),
            None => (None, &self.default),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_first_audience_in_order_wins() {
        let input: ExperienceInput = serde_json::from_value(json!({
            "name": "Home",
            "audiences": [
                {"segment": "tech", "blocks": [{"hero": "specs"}]},
                {"segment": "biz", "blocks": [{"hero": "roi"}, {"quote": 1}]}
            ],
            "default": [{"hero": "welcome"}]
        }))
        .unwrap();
        let home = define("home", input, 0).unwrap();
        let both = ["biz".to_owned(), "tech".to_owned()];
        assert_eq!(
            home.choose(&both),
            (Some("tech"), &[json!({"hero": "specs"})][..])
        );
        assert_eq!(home.choose(&["biz".to_owned()]).1.len(), 2);
        assert_eq!(home.choose(&[]), (None, &[json!({"hero": "welcome"})][..]));
    }

    #[test]
    fn bad_experiences_are_refused() {
        let input: ExperienceInput = serde_json::from_value(json!({
            "name": "Home",
            "audiences": [{"segment": "a", "blocks": []}, {"segment": "a", "blocks": []}]
        }))
        .unwrap();
        assert!(
            define("home", input, 0)
                .unwrap_err()
                .message
                .contains("audiences[1]")
        );
    }
}
