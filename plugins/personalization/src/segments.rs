//! Segment definitions (a key, a name and a rule) and the evaluation of
//! every segment of a site against one profile. Pure.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tessera_sdk::Error;

use crate::profile::Profile;
use crate::rules::{self, Rule};

/// The most segments one site may define.
pub const MAX_SEGMENTS: usize = 100;

/// A segment as stored: the rule is kept as the JSON the administrator
/// sent and parsed when evaluated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    /// Its key (what the CMS's variants name).
    pub key: String,
    /// A name to show.
    pub name: String,
    /// What it is for.
    #[serde(default)]
    pub description: String,
    /// The rule, as JSON.
    pub rule: Value,
    /// When it was last changed (ms).
    pub updated_at: u64,
}

/// What an administrator sends to define a segment.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentInput {
    /// A name to show.
    pub name: String,
    /// What it is for.
    #[serde(default)]
    pub description: String,
    /// The rule.
    pub rule: Value,
}

/// Checks `input` and makes the segment `key`: 400 `invalid_segment`
/// naming the failing part of the rule.
pub fn define(key: &str, input: SegmentInput, now: u64) -> Result<Segment, Error> {
    let invalid = |message: String| Error::new(400, "invalid_segment", message);
    if input.name.trim().is_empty() || input.name.len() > 200 {
        return Err(invalid("`name` is 1 to 200 bytes".into()));
    }
    if input.description.len() > 2000 {
        return Err(invalid("`description` is at most 2000 bytes".into()));
    }
    rules::parse(&input.rule).map_err(|(path, message)| invalid(format!("{path}: {message}")))?;
    Ok(Segment {
        key: key.to_owned(),
        name: input.name.trim().to_owned(),
        description: input.description,
        rule: input.rule,
        updated_at: now,
    })
}

/// A site's segments, parsed once per evaluation.
pub struct Compiled {
    rules: Vec<(String, Rule)>,
}

impl Compiled {
    /// Parses every segment's rule; a rule that no longer parses (never
    /// stored that way) is skipped.
    pub fn new(segments: &BTreeMap<String, Segment>) -> Compiled {
        Compiled {
            rules: segments
                .values()
                .filter_map(|segment| {
                    rules::parse(&segment.rule)
                        .ok()
                        .map(|rule| (segment.key.clone(), rule))
                })
                .collect(),
        }
    }

    /// The keys of the segments `profile` is in at `now`, in key order,
    /// and when the answer can next change without new activity.
    pub fn evaluate(&self, profile: &Profile, now: u64) -> (Vec<String>, Option<u64>) {
        let members = self
            .rules
            .iter()
            .filter(|(_, rule)| rules::holds(rule, profile, now))
            .map(|(key, _)| key.clone())
            .collect();
        let expires = self
            .rules
            .iter()
            .filter_map(|(_, rule)| rules::next_change(rule, profile, now))
            .min();
        (members, expires)
    }
}

/// Evaluates `segments` for `profile` and stores the answer in it.
pub fn refresh(compiled: &Compiled, profile: &mut Profile, now: u64) {
    let (members, expires) = compiled.evaluate(profile, now);
    profile.segments = members;
    profile.expires_at = expires;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::DAY_MS;
    use serde_json::json;

    fn segment(key: &str, rule: Value) -> (String, Segment) {
        let input = SegmentInput {
            name: key.into(),
            description: String::new(),
            rule,
        };
        (key.to_owned(), define(key, input, 0).unwrap())
    }

    #[test]
    fn every_segment_is_evaluated_with_the_earliest_expiry() {
        let now = 20_000 * DAY_MS;
        let segments: BTreeMap<String, Segment> = [
            segment("de", json!({"attribute": "country", "eq": "DE"})),
            segment("active", json!({"last_login_within_days": 7})),
            segment(
                "pricing",
                json!({"page": "/pricing", "min_count": 3, "within_days": 30}),
            ),
        ]
        .into_iter()
        .collect();
        let compiled = Compiled::new(&segments);
        let mut profile = Profile::new("u:ada", now);
        profile.attributes.insert("country".into(), "DE".into());
        profile.last_login = Some(now);
        refresh(&compiled, &mut profile, now);
        assert_eq!(profile.segments, ["active", "de"]);
        assert_eq!(profile.expires_at, Some(now + 7 * DAY_MS));
    }

    #[test]
    fn bad_definitions_are_refused_with_the_place() {
        let input = SegmentInput {
            name: "x".into(),
            description: String::new(),
            rule: json!({"any": [{"page": "nope"}]}),
        };
        let error = define("x", input, 0).unwrap_err();
        assert_eq!(error.status, 400);
        assert!(
            error.message.contains("rule.any[0].page"),
            "{}",
            error.message
        );
        let unnamed = SegmentInput {
            name: " ".into(),
            description: String::new(),
            rule: json!({"role": "a"}),
        };
        assert_eq!(define("x", unnamed, 0).unwrap_err().code, "invalid_segment");
    }
}
