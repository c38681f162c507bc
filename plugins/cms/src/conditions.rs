//! Boolean filters of the delivery API: `$and`, `$or` and `$not` groups and
//! comparisons on paths through references, written in the same bracket
//! style as plain filters:
//!
//! ```text
//! filter[$or][0][tag][eq]=news&filter[$or][1][featured][eq]=true
//! filter[$not][status][eq]=archived
//! filter[$and][0][$or][0][a][eq]=1&filter[$and][0][$or][1][b][eq]=2
//! filter[author.name][eq]=Ann          (a field of the referenced entry)
//! ```
//!
//! `$or` and `$and` take numbered branches; each branch, like the inside of
//! `$not`, holds one or more filters that must all hold. Parsing is pure;
//! evaluation asks a resolver for the values of dotted paths, so reading
//! referenced entries stays with the planner and its budget.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::query::{Filter, Op};

/// How deep `$and`/`$or`/`$not` groups may nest.
pub const MAX_NESTING: usize = 4;
/// How many references a filter path may cross (`a.b.c` crosses two).
pub const MAX_HOPS: usize = 2;

/// The values a field or dotted path has in a document (several for
/// repeatable references, none when absent).
pub type Values<'a, E> = dyn FnMut(&Value, &str) -> Result<Vec<Value>, E> + 'a;

/// One `filter[...]` parameter: its segments after `filter`, and its value.
pub type Param = (Vec<String>, String);

/// A boolean condition over a delivered document.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// One comparison; its field may be a dotted path through references.
    Compare(Filter),
    /// Every condition holds.
    All(Vec<Condition>),
    /// At least one condition holds.
    Any(Vec<Condition>),
    /// The condition does not hold.
    Not(Box<Condition>),
}

impl Condition {
    /// Whether it holds for `doc`; `values(doc, path)` gives the values a
    /// field or dotted path has in `doc` (several for repeatable references,
    /// none when absent).
    pub fn holds<E>(&self, doc: &Value, values: &mut Values<'_, E>) -> Result<bool, E> {
        Ok(match self {
            Self::Compare(filter) => {
                let found = values(doc, &filter.field)?;
                if filter.op == Op::Ne {
                    // `ne`: no value equals (an absent field passes).
                    found.iter().all(|value| compares(value, filter))
                } else {
                    found.iter().any(|value| compares(value, filter))
                }
            }
            Self::All(all) => {
                for condition in all {
                    if !condition.holds(doc, values)? {
                        return Ok(false);
                    }
                }
                true
            }
            Self::Any(any) => {
                for condition in any {
                    if condition.holds(doc, values)? {
                        return Ok(true);
                    }
                }
                false
            }
            Self::Not(inner) => !inner.holds(doc, values)?,
        })
    }

    /// Every comparison in it.
    pub fn comparisons(&self) -> Vec<&Filter> {
        match self {
            Self::Compare(filter) => vec![filter],
            Self::All(items) | Self::Any(items) => {
                items.iter().flat_map(Self::comparisons).collect()
            }
            Self::Not(inner) => inner.comparisons(),
        }
    }
}

/// Whether one present `value` passes `filter`.
fn compares(value: &Value, filter: &Filter) -> bool {
    let doc = serde_json::json!({ "fields": { "v": value } });
    crate::query::matches(
        &doc,
        &Filter {
            field: "v".to_owned(),
            op: filter.op,
            value: filter.value.clone(),
        },
    )
}

/// Whether `name` is a path through references (`author.name`).
pub fn is_path(name: &str) -> bool {
    name.contains('.')
}

/// The bracketed segments of a `filter[...]...[...]` parameter name:
/// `filter[$or][0][a][eq]` gives `["$or", "0", "a", "eq"]`.
pub fn segments(name: &str) -> Option<Vec<String>> {
    let mut rest = name.strip_prefix("filter")?;
    let mut segments = Vec::new();
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[')?;
        let (segment, after) = inner.split_once(']')?;
        segments.push(segment.to_owned());
        rest = after;
    }
    (!segments.is_empty()).then_some(segments)
}

/// Builds the conditions of the parameters `pairs` (segments after
/// `filter`, value), which must all hold. The error names the parameter.
pub fn build(
    pairs: &[Param],
    is_field: &dyn Fn(&str) -> bool,
    op: &dyn Fn(&str) -> Option<Op>,
) -> Result<Vec<Condition>, String> {
    build_level(pairs, 0, is_field, op)
}

fn written(segments: &[String]) -> String {
    let inside: String = segments.iter().map(|s| format!("[{s}]")).collect();
    format!("filter{inside}")
}

fn build_level(
    pairs: &[(Vec<String>, String)],
    depth: usize,
    is_field: &dyn Fn(&str) -> bool,
    op: &dyn Fn(&str) -> Option<Op>,
) -> Result<Vec<Condition>, String> {
    if depth > MAX_NESTING {
        return Err(format!("filter groups nest at most {MAX_NESTING} deep"));
    }
    let mut conditions = Vec::new();
    // Groups keep their branches together, in the order first written.
    let mut groups: Vec<(String, BTreeMap<usize, Vec<Param>>)> = Vec::new();
    let mut negated: Vec<Param> = Vec::new();
    for (segments, value) in pairs {
        let Some((first, rest)) = segments.split_first() else {
            continue;
        };
        match first.as_str() {
            "$or" | "$and" => {
                let Some((index, inner)) = rest.split_first() else {
                    return Err(format!(
                        "`{}`: number the branches of `{first}`, as {first}[0][field][op]",
                        written(segments)
                    ));
                };
                let index: usize = index.parse().map_err(|_| {
                    format!(
                        "`{}`: `{index}` is not a branch number of `{first}`",
                        written(segments)
                    )
                })?;
                let at = match groups.iter().position(|(name, _)| name == first) {
                    Some(at) => at,
                    None => {
                        groups.push((first.clone(), BTreeMap::new()));
                        groups.len() - 1
                    }
                };
                if let Some((_, branches)) = groups.get_mut(at) {
                    branches
                        .entry(index)
                        .or_default()
                        .push((inner.to_vec(), value.clone()));
                }
            }
            "$not" => negated.push((rest.to_vec(), value.clone())),
            field => {
                let [name] = rest else {
                    return Err(format!(
                        "`{}`: write filters as filter[field][op]=value",
                        written(segments)
                    ));
                };
                if !is_field(field) {
                    return Err(format!(
                        "`{}`: `{field}` is not a field name, a path like author.name (at most {MAX_HOPS} references), nor $and, $or, $not",
                        written(segments)
                    ));
                }
                let op = op(name).ok_or_else(|| {
                    format!(
                        "`{}`: `{name}` is not one of eq, ne, gt, gte, lt, lte, in",
                        written(segments)
                    )
                })?;
                conditions.push(Condition::Compare(Filter {
                    field: field.to_owned(),
                    op,
                    value: value.clone(),
                }));
            }
        }
    }
    for (name, branches) in groups {
        let mut built = Vec::new();
        for branch in branches.values() {
            built.push(Condition::All(build_level(
                branch,
                depth + 1,
                is_field,
                op,
            )?));
        }
        conditions.push(if name == "$or" {
            Condition::Any(built)
        } else {
            Condition::All(built)
        });
    }
    if !negated.is_empty() {
        let inner = build_level(&negated, depth + 1, is_field, op)?;
        conditions.push(Condition::Not(Box::new(Condition::All(inner))));
    }
    Ok(conditions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn op(text: &str) -> Option<Op> {
        Some(match text {
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "gt" => Op::Gt,
            "in" => Op::In,
            _ => return None,
        })
    }

    fn parse(query: &str) -> Result<Vec<Condition>, String> {
        let pairs: Vec<(Vec<String>, String)> = query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .map(|(name, value)| (segments(name).unwrap(), value.to_owned()))
            .collect();
        build(
            &pairs,
            &|name| !name.is_empty() && !name.starts_with('$'),
            &op,
        )
    }

    fn plain(doc: &Value, path: &str) -> Result<Vec<Value>, ()> {
        Ok(doc["fields"]
            .get(path)
            .filter(|value| !value.is_null())
            .cloned()
            .into_iter()
            .collect())
    }

    fn holds(query: &str, doc: &Value) -> bool {
        parse(query)
            .unwrap()
            .iter()
            .all(|condition| condition.holds(doc, &mut plain).unwrap())
    }

    #[test]
    fn segments_split_the_brackets() {
        assert_eq!(
            segments("filter[$or][0][a][eq]"),
            Some(vec!["$or".into(), "0".into(), "a".into(), "eq".into()])
        );
        assert_eq!(segments("filter[a"), None);
        assert_eq!(segments("filter"), None);
        assert_eq!(segments("filters[a][eq]"), None);
    }

    #[test]
    fn or_and_not_combine() {
        let doc = json!({"fields": {"tag": "news", "n": 3}});
        assert!(holds(
            "filter[$or][0][tag][eq]=x&filter[$or][1][n][gt]=2",
            &doc
        ));
        assert!(!holds(
            "filter[$or][0][tag][eq]=x&filter[$or][1][n][gt]=5",
            &doc
        ));
        assert!(holds("filter[$not][tag][eq]=x", &doc));
        assert!(!holds("filter[$not][tag][eq]=news", &doc));
        // A branch holds when all its filters do.
        assert!(!holds(
            "filter[$or][0][tag][eq]=news&filter[$or][0][n][eq]=4&filter[$or][1][n][eq]=9",
            &doc
        ));
        assert!(holds(
            "filter[$and][0][$or][0][n][eq]=1&filter[$and][0][$or][1][n][eq]=3",
            &doc
        ));
        assert!(holds("filter[missing][ne]=1", &doc));
    }

    #[test]
    fn paths_and_lists_match_any_value() {
        let doc = json!({"fields": {"author.name": ["Ann", "Bo"]}});
        let list = |doc: &Value, path: &str| -> Result<Vec<Value>, ()> {
            Ok(doc["fields"][path].as_array().cloned().unwrap_or_default())
        };
        let parsed = parse("filter[author.name][eq]=Bo").unwrap();
        assert!(parsed[0].holds(&doc, &mut { list }).unwrap());
        let parsed = parse("filter[author.name][ne]=Bo").unwrap();
        assert!(!parsed[0].holds(&doc, &mut { list }).unwrap());
    }

    #[test]
    fn mistakes_name_the_parameter() {
        assert!(
            parse("filter[$or][x][a][eq]=1")
                .unwrap_err()
                .contains("branch number")
        );
        assert!(
            parse("filter[$or][a][eq]=1")
                .unwrap_err()
                .contains("filter[$or][a][eq]")
        );
        assert!(
            parse("filter[$not][a]=1")
                .unwrap_err()
                .contains("filter[field][op]")
        );
        assert!(
            parse("filter[$xor][0][a][eq]=1")
                .unwrap_err()
                .contains("$xor")
        );
        assert!(parse("filter[a][like]=1").unwrap_err().contains("like"));
        let deep = "filter[$not][$not][$not][$not][$not][a][eq]=1";
        assert!(parse(deep).unwrap_err().contains("nest"));
    }
}
