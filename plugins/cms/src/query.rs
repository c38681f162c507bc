//! The delivery API's list query: `filter[field][op]=value`, `sort`,
//! `limit`, `cursor`, `fields` and `locale`, parsed from the query string and
//! applied to published documents. Pure: no kernel calls.
//!
//! A document is the JSON the delivery API returns:
//! `{"id","type","locale","slug","version","published_at","fields":{...}}`.
//! A name in a filter or a sort is a field of `fields`, or one of the
//! metadata keys `id`, `slug`, `locale`, `version`, `published_at`.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use crate::conditions::{self, Condition};
use crate::schema::RESERVED;

/// The default page size.
pub const DEFAULT_LIMIT: usize = 20;
/// The largest page size.
pub const MAX_LIMIT: usize = 100;
/// The most filters one query may carry.
pub const MAX_FILTERS: usize = 16;

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Equal.
    Eq,
    /// Not equal (also true when the field is absent).
    Ne,
    /// Greater than.
    Gt,
    /// Greater than or equal.
    Gte,
    /// Less than.
    Lt,
    /// Less than or equal.
    Lte,
    /// Equal to one of a comma-separated list.
    In,
}

impl Op {
    /// The operator written `text` in a filter.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "eq" => Self::Eq,
            "ne" => Self::Ne,
            "gt" => Self::Gt,
            "gte" => Self::Gte,
            "lt" => Self::Lt,
            "lte" => Self::Lte,
            "in" => Self::In,
            _ => return None,
        })
    }
}

/// One `filter[field][op]=value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    /// The field or metadata key.
    pub field: String,
    /// The comparison.
    pub op: Op,
    /// The value as written in the query.
    pub value: String,
}

/// One sort key: a field, descending when written `-field`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKey {
    /// The field or metadata key.
    pub field: String,
    /// Largest first.
    pub descending: bool,
}

/// A parsed list query.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Query {
    /// All must hold.
    pub filters: Vec<Filter>,
    /// `$and`/`$or`/`$not` groups and filters on reference paths, which
    /// must all hold too (see [`crate::conditions`]).
    pub conditions: Vec<Condition>,
    /// Applied in order; the id breaks ties.
    pub sort: Vec<SortKey>,
    /// The page size.
    pub limit: usize,
    /// Where the previous page ended.
    pub cursor: Option<Cursor>,
    /// The fields to return (`None`: all).
    pub fields: Option<Vec<String>>,
    /// The locale asked for.
    pub locale: Option<String>,
    /// The references and assets to expand, as written (see
    /// [`crate::expand`]).
    pub expand: Option<String>,
}

/// The position after the last document of a page: its sort values and id.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    /// The values of the sort keys.
    pub values: Vec<Value>,
    /// The id.
    pub id: String,
}

impl Cursor {
    /// The cursor of `doc` under `sort`.
    pub fn of(doc: &Value, sort: &[SortKey]) -> Self {
        Self {
            values: sort
                .iter()
                .map(|key| lookup(doc, &key.field).cloned().unwrap_or(Value::Null))
                .collect(),
            id: doc
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        }
    }

    /// The opaque text clients send back: hex of a JSON array.
    pub fn encode(&self) -> String {
        let mut items = self.values.clone();
        items.push(Value::String(self.id.clone()));
        Value::Array(items)
            .to_string()
            .bytes()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Parses [`Cursor::encode`]'s output for a query with `keys` sort keys.
    pub fn decode(text: &str, keys: usize) -> Option<Self> {
        if !text.len().is_multiple_of(2) || text.len() > 8192 {
            return None;
        }
        let bytes = (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
            .collect::<Option<Vec<u8>>>()?;
        let Value::Array(mut items) = serde_json::from_slice(&bytes).ok()? else {
            return None;
        };
        let id = items.pop()?.as_str()?.to_owned();
        (items.len() == keys).then_some(Self { values: items, id })
    }
}

/// The value of `name` in `doc`: metadata or a field.
pub fn lookup<'a>(doc: &'a Value, name: &str) -> Option<&'a Value> {
    if RESERVED.contains(&name) {
        doc.get(name)
    } else {
        doc.get("fields")?.get(name)
    }
    .filter(|value| !value.is_null())
}

fn is_key(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A field name, or a path through at most [`conditions::MAX_HOPS`]
/// references (`author.company.name`).
fn is_field_or_path(name: &str) -> bool {
    let steps: Vec<&str> = name.split('.').collect();
    steps.len() <= conditions::MAX_HOPS + 1 && steps.iter().all(|step| is_key(step))
}

impl Query {
    /// Whether it filters at all.
    pub fn is_filtered(&self) -> bool {
        !self.filters.is_empty() || !self.conditions.is_empty()
    }
}

/// Parses the query-string pairs; the error says which parameter is wrong.
pub fn parse(pairs: &[(String, String)]) -> Result<Query, String> {
    let mut query = Query {
        limit: DEFAULT_LIMIT,
        ..Query::default()
    };
    let mut cursor = None;
    let mut grouped = Vec::new();
    for (name, value) in pairs {
        if name.starts_with("filter[") {
            let segments = conditions::segments(name)
                .ok_or_else(|| format!("`{name}`: write filters as filter[field][op]=value"))?;
            match segments.as_slice() {
                [field, op] if is_key(field) => {
                    let op = Op::parse(op).ok_or_else(|| {
                        format!("`{name}`: `{op}` is not one of eq, ne, gt, gte, lt, lte, in")
                    })?;
                    query.filters.push(Filter {
                        field: field.clone(),
                        op,
                        value: value.clone(),
                    });
                }
                _ => grouped.push((segments, value.clone())),
            }
            continue;
        }
        match name.as_str() {
            "sort" => {
                for item in value.split(',').filter(|item| !item.is_empty()) {
                    let (field, descending) = match item.strip_prefix('-') {
                        Some(field) => (field, true),
                        None => (item, false),
                    };
                    if !is_key(field) {
                        return Err(format!("`sort`: `{item}` is not a field"));
                    }
                    query.sort.push(SortKey {
                        field: field.to_owned(),
                        descending,
                    });
                }
            }
            "limit" => {
                query.limit = value
                    .parse()
                    .ok()
                    .filter(|limit| (1..=MAX_LIMIT).contains(limit))
                    .ok_or_else(|| format!("`limit`: use a number from 1 to {MAX_LIMIT}"))?;
            }
            "cursor" => cursor = Some(value.clone()),
            "fields" => {
                let fields: Vec<String> = value
                    .split(',')
                    .filter(|field| !field.is_empty())
                    .map(str::to_owned)
                    .collect();
                if let Some(bad) = fields.iter().find(|field| !is_key(field)) {
                    return Err(format!("`fields`: `{bad}` is not a field"));
                }
                query.fields = Some(fields);
            }
            "locale" => query.locale = Some(value.clone()),
            "expand" => query.expand = Some(value.clone()),
            other => {
                return Err(format!(
                    "`{other}` is not a query parameter of the delivery API"
                ));
            }
        }
    }
    query.conditions = conditions::build(&grouped, &is_field_or_path, &Op::parse)?;
    let comparisons = query.filters.len()
        + query
            .conditions
            .iter()
            .map(|condition| condition.comparisons().len())
            .sum::<usize>();
    if comparisons > MAX_FILTERS {
        return Err(format!("at most {MAX_FILTERS} filters per query"));
    }
    if let Some(text) = cursor {
        query.cursor = Some(
            Cursor::decode(&text, query.sort.len())
                .ok_or("`cursor`: not a cursor of this query (pass `next_cursor` back unchanged with the same sort)")?,
        );
    }
    Ok(query)
}

/// Orders JSON values: absent/null < booleans < numbers < strings; arrays
/// and objects compare as their JSON text.
pub fn compare(a: &Value, b: &Value) -> Ordering {
    fn rank(value: &Value) -> u8 {
        match value {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::Number(_) => 2,
            Value::String(_) => 3,
            Value::Array(_) | Value::Object(_) => 4,
        }
    }
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            x.total_cmp(&y)
        }
        (Value::String(x), Value::String(y)) => x.cmp(y),
        _ if rank(a) == rank(b) => a.to_string().cmp(&b.to_string()),
        _ => rank(a).cmp(&rank(b)),
    }
}

/// The query value `text` read as the same JSON type as `like`.
fn typed(text: &str, like: &Value) -> Value {
    match like {
        Value::Number(_) => text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or_else(|| Value::String(text.to_owned()), Value::Number),
        Value::Bool(_) => match text {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::String(text.to_owned()),
        },
        _ => Value::String(text.to_owned()),
    }
}

/// Whether `doc` passes `filter`. An absent field passes only `ne`.
pub fn matches(doc: &Value, filter: &Filter) -> bool {
    let Some(value) = lookup(doc, &filter.field) else {
        return filter.op == Op::Ne;
    };
    let order = || compare(value, &typed(&filter.value, value));
    match filter.op {
        Op::Eq => order() == Ordering::Equal,
        Op::Ne => order() != Ordering::Equal,
        Op::Gt => order() == Ordering::Greater,
        Op::Gte => order() != Ordering::Less,
        Op::Lt => order() == Ordering::Less,
        Op::Lte => order() != Ordering::Greater,
        Op::In => filter
            .value
            .split(',')
            .any(|item| compare(value, &typed(item, value)) == Ordering::Equal),
    }
}

fn order_by(sort: &[SortKey], a: &Cursor, b: &Cursor) -> Ordering {
    for (key, (x, y)) in sort.iter().zip(a.values.iter().zip(&b.values)) {
        let order = compare(x, y);
        let order = if key.descending {
            order.reverse()
        } else {
            order
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    a.id.cmp(&b.id)
}

/// One page of results and the cursor of the next one.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The documents of this page.
    pub items: Vec<Value>,
    /// Pass back as `cursor` for the next page; `None` on the last one.
    pub next_cursor: Option<String>,
}

/// Filters, sorts and pages `docs` (keyset pagination: a page starts after
/// the cursor's sort values and id, so concurrent writes never repeat or
/// skip an unchanged document).
pub fn run(docs: Vec<Value>, query: &Query) -> Page {
    let mut keyed: Vec<(Cursor, Value)> = docs
        .into_iter()
        .filter(|doc| query.filters.iter().all(|filter| matches(doc, filter)))
        .map(|doc| (Cursor::of(&doc, &query.sort), doc))
        .filter(|(key, _)| {
            query
                .cursor
                .as_ref()
                .is_none_or(|after| order_by(&query.sort, key, after) == Ordering::Greater)
        })
        .collect();
    keyed.sort_by(|(a, _), (b, _)| order_by(&query.sort, a, b));
    let more = keyed.len() > query.limit;
    keyed.truncate(query.limit);
    let next_cursor = if more {
        keyed.last().map(|(key, _)| key.encode())
    } else {
        None
    };
    Page {
        items: keyed.into_iter().map(|(_, doc)| doc).collect(),
        next_cursor,
    }
}

/// Keeps only the `fields` asked for (metadata is always kept).
pub fn select(doc: &mut Value, fields: Option<&[String]>) {
    let Some(fields) = fields else { return };
    if let Some(Value::Object(values)) = doc.get_mut("fields") {
        values.retain(|name, _| fields.iter().any(|field| field == name));
    }
}

/// Replaces each localized value (an object keyed by locale) in `fields` by
/// the value of the first locale of `chain` that has one; drops it when
/// none has.
pub fn localize(fields: &mut Map<String, Value>, localized: &[&str], chain: &[&str]) {
    for name in localized {
        let chosen = match fields.get(*name) {
            Some(Value::Object(per_locale)) => chain
                .iter()
                .find_map(|locale| per_locale.get(*locale))
                .cloned(),
            Some(other) => Some(other.clone()),
            None => continue,
        };
        match chosen {
            Some(value) => fields.insert((*name).to_owned(), value),
            None => fields.remove(*name),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pairs(query: &str) -> Vec<(String, String)> {
        query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect()
    }

    fn doc(id: &str, price: f64, tag: &str) -> Value {
        json!({"id": id, "slug": format!("s-{id}"), "fields": {"price": price, "tag": tag, "on": price > 5.0}})
    }

    fn docs() -> Vec<Value> {
        vec![
            doc("a", 10.0, "x"),
            doc("b", 5.0, "y"),
            doc("c", 7.5, "x"),
            doc("d", 1.0, "z"),
            doc("e", 7.5, "y"),
        ]
    }

    fn ids(page: &Page) -> Vec<&str> {
        page.items
            .iter()
            .map(|doc| doc["id"].as_str().unwrap())
            .collect()
    }

    #[test]
    fn parses_every_parameter() {
        let query = parse(&pairs("filter[price][gte]=5&filter[tag][in]=x,y&sort=-price,slug&limit=2&fields=price&locale=fr")).unwrap();
        assert_eq!(query.filters.len(), 2);
        assert_eq!(
            query.filters[0],
            Filter {
                field: "price".into(),
                op: Op::Gte,
                value: "5".into()
            }
        );
        assert_eq!(
            query.sort,
            vec![
                SortKey {
                    field: "price".into(),
                    descending: true
                },
                SortKey {
                    field: "slug".into(),
                    descending: false
                },
            ]
        );
        assert_eq!(query.limit, 2);
        assert_eq!(query.fields, Some(vec!["price".to_owned()]));
        assert_eq!(query.locale.as_deref(), Some("fr"));
    }

    #[test]
    fn bad_parameters_say_which() {
        assert!(
            parse(&pairs("filter[price]=5"))
                .unwrap_err()
                .contains("filter[price]")
        );
        assert!(
            parse(&pairs("filter[price][like]=5"))
                .unwrap_err()
                .contains("like")
        );
        assert!(parse(&pairs("limit=0")).unwrap_err().contains("limit"));
        assert!(parse(&pairs("limit=101")).unwrap_err().contains("limit"));
        assert!(parse(&pairs("sort=-")).unwrap_err().contains("sort"));
        assert!(parse(&pairs("cursor=zz")).unwrap_err().contains("cursor"));
        assert!(parse(&pairs("colour=red")).unwrap_err().contains("colour"));
        let many = (0..=MAX_FILTERS)
            .map(|i| format!("filter[$or][{i}][f][eq]=1"))
            .collect::<Vec<_>>()
            .join("&");
        assert!(parse(&pairs(&many)).unwrap_err().contains("at most"));
        assert!(
            parse(&pairs("filter[a.b.c.d][eq]=1"))
                .unwrap_err()
                .contains("a.b.c.d")
        );
    }

    #[test]
    fn groups_and_paths_become_conditions() {
        let query = parse(&pairs(
            "filter[price][gt]=1&filter[$or][0][tag][eq]=x&filter[$or][1][tag][eq]=y&filter[author.name][eq]=Ann",
        ))
        .unwrap();
        assert_eq!(query.filters.len(), 1);
        assert_eq!(query.conditions.len(), 2);
        assert!(query.is_filtered());
        assert!(!parse(&pairs("sort=price")).unwrap().is_filtered());
    }

    #[test]
    fn filters_compare_by_the_stored_type() {
        let run_ids = |q: &str| ids(&run(docs(), &parse(&pairs(q)).unwrap())).join("");
        assert_eq!(run_ids("filter[price][gt]=5"), "ace");
        assert_eq!(run_ids("filter[price][gte]=5"), "abce");
        assert_eq!(run_ids("filter[price][lt]=5"), "d");
        assert_eq!(run_ids("filter[price][lte]=7.5"), "bcde");
        assert_eq!(run_ids("filter[price][eq]=10"), "a");
        assert_eq!(run_ids("filter[tag][ne]=x"), "bde");
        assert_eq!(run_ids("filter[tag][in]=x,z"), "acd");
        assert_eq!(run_ids("filter[on][eq]=true"), "ace");
        assert_eq!(run_ids("filter[slug][eq]=s-b"), "b");
        assert_eq!(run_ids("filter[missing][eq]=1"), "");
        assert_eq!(run_ids("filter[missing][ne]=1"), "abcde");
        assert_eq!(run_ids("filter[price][gt]=5&filter[tag][eq]=y"), "e");
    }

    #[test]
    fn sorts_with_the_id_breaking_ties() {
        let run_ids = |q: &str| ids(&run(docs(), &parse(&pairs(q)).unwrap())).join("");
        assert_eq!(run_ids(""), "abcde");
        assert_eq!(run_ids("sort=price"), "dbcea");
        assert_eq!(run_ids("sort=-price"), "acebd");
        assert_eq!(run_ids("sort=tag,-price"), "acebd");
    }

    #[test]
    fn pages_follow_the_cursor_to_the_end() {
        let mut query = parse(&pairs("sort=-price&limit=2")).unwrap();
        let mut seen = Vec::new();
        loop {
            let page = run(docs(), &query);
            seen.extend(ids(&page).into_iter().map(str::to_owned));
            let Some(next) = page.next_cursor else { break };
            query = parse(&pairs(&format!("sort=-price&limit=2&cursor={next}"))).unwrap();
        }
        assert_eq!(seen.join(""), "acebd");
        let first = run(docs(), &parse(&pairs("limit=5")).unwrap());
        assert_eq!(
            first.next_cursor, None,
            "an exactly full last page has no next cursor"
        );
    }

    #[test]
    fn a_cursor_survives_a_round_trip_and_checks_its_shape() {
        let cursor = Cursor {
            values: vec![json!(7.5), json!("x")],
            id: "c".into(),
        };
        assert_eq!(Cursor::decode(&cursor.encode(), 2), Some(cursor.clone()));
        assert_eq!(Cursor::decode(&cursor.encode(), 1), None);
    }

    #[test]
    fn selects_and_localizes_fields() {
        let mut one = json!({"id": "a", "fields": {"title": {"en": "Hi", "fr": "Salut"}, "sub": {"en": "Sub"}, "n": 1}});
        if let Some(Value::Object(fields)) = one.get_mut("fields") {
            localize(fields, &["title", "sub", "gone"], &["fr", "en"]);
        }
        assert_eq!(
            one["fields"],
            json!({"title": "Salut", "sub": "Sub", "n": 1})
        );
        select(&mut one, Some(&["title".to_owned()]));
        assert_eq!(one, json!({"id": "a", "fields": {"title": "Salut"}}));
    }
}
