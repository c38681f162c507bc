//! Runs a delivery list query that has filters or a sort on the per-field
//! indexes ([`crate::field_index`]), reading at most a budget of index keys
//! and entries (plugin configuration `query-budget`, default
//! [`DEFAULT_BUDGET`]); a query that would need more is refused with 422
//! `query_too_expensive`, saying how to narrow it.
//!
//! The plan, in order of preference:
//!
//! 1. a filter on `id` (`eq`, `in`): those entries;
//! 2. an `eq` or `in` filter on an indexed field: the entries the index
//!    lists for those values (the first such filter that stays within the
//!    budget);
//!    2b. an `$or` whose every branch is one `eq` or `in` filter on an
//!    indexed field: the union of what the index lists for each;
//! 3. one sort key on an indexed field: walk that field's index in the
//!    sort's direction from the cursor, keeping the entries that pass the
//!    filters, until the page is full;
//! 4. a range filter (`gt`, `gte`, `lt`, `lte`) on an indexed field: the
//!    entries the index lists in that range;
//! 5. otherwise every published entry of the type, if there are no more
//!    than the budget.
//!
//! Candidates from 1, 2, 4 and 5 are filtered, sorted and paged in memory
//! ([`crate::query::run`]), so every filter is checked on the full value.
//! `$and`/`$or`/`$not` groups and filters on paths through references
//! ([`crate::conditions`]) are checked on every candidate too; each
//! referenced entry a path reads is paid from the same budget.

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;
use tessera_sdk::Error;
use tessera_sdk::bindings::tessera::plugin::storage as raw;

use crate::conditions::{self, Condition};
use crate::delivery::{render, render_with_variants};
use crate::field_index::{self, Direction, IndexedField};
use crate::locales::Locales;
use crate::model::{Published, StoredType};
use crate::query::{self, Cursor, Filter, Op, Page, Query};
use crate::schema::{Kind, RESERVED};
use crate::store;

/// The most index keys plus entries one list query may read, unless the
/// plugin configuration's `query-budget` says otherwise.
pub const DEFAULT_BUDGET: usize = 2_000;

/// The configured budget.
fn budget() -> usize {
    tessera_sdk::config::get("query-budget")
        .and_then(|text| text.trim().parse().ok())
        .filter(|budget| *budget > 0)
        .unwrap_or(DEFAULT_BUDGET)
}

/// Index keys read per storage call.
const SCAN_PAGE: usize = 500;

fn too_expensive(why: &str) -> Error {
    let budget = budget();
    Error::new(
        422,
        "query_too_expensive",
        format!(
            "{why}: a list query may read at most {budget} entries. Add an `eq` or `in` filter, or a narrower range, on an indexed field (every field but rich text, groups and repeatable fields; and slug, locale, version, published_at), or sort by one indexed field"
        ),
    )
}

/// What one query reads with: the type, the locale, and the reads left.
struct Reader<'a> {
    site: &'a str,
    stored: &'a StoredType,
    locale: &'a str,
    locales: &'a Locales,
    left: usize,
    /// Referenced entries read for filter paths, rendered (`None`: not
    /// published), by type and id.
    referenced: HashMap<(String, String), Option<Value>>,
}

impl Reader<'_> {
    /// Takes `count` reads from the budget; false when it is spent.
    fn spend(&mut self, count: usize) -> bool {
        match self.left.checked_sub(count) {
            Some(left) => {
                self.left = left;
                true
            }
            None => false,
        }
    }

    /// Whether `doc` passes every filter and condition of `query`.
    fn passes(&mut self, doc: &Value, query: &Query) -> Result<bool, Error> {
        if !query
            .filters
            .iter()
            .all(|filter| query::matches(doc, filter))
        {
            return Ok(false);
        }
        for condition in &query.conditions {
            if !condition.holds(doc, &mut |doc, path| self.values(doc, path))? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The values `path` has in `doc`: the field's own value, or for a path
    /// through references (`author.name`), the values of the last step in
    /// every published entry the path reaches.
    fn values(&mut self, doc: &Value, path: &str) -> Result<Vec<Value>, Error> {
        let mut steps = path.split('.');
        let first = steps.next().unwrap_or_default();
        let mut current: Vec<Value> = query::lookup(doc, first).cloned().into_iter().collect();
        if !conditions::is_path(path) {
            return Ok(current);
        }
        let mut def = self.stored.def.clone();
        let mut field = first;
        for step in steps {
            let to = def
                .field(field)
                .and_then(|field| field.to.clone())
                .unwrap_or_default();
            let target = store::latest_type(self.site, &to)?;
            let mut next = Vec::new();
            for id in current.iter().flat_map(ids_of) {
                if let Some(found) = self.referenced(&target, &id)?
                    && let Some(value) = query::lookup(&found, step)
                {
                    next.push(value.clone());
                }
            }
            current = next;
            def = target.def;
            field = step;
        }
        Ok(current)
    }

    /// The published entry `id` of `target`, rendered, read once per query
    /// and paid from the budget.
    fn referenced(&mut self, target: &StoredType, id: &str) -> Result<Option<Value>, Error> {
        let key = (target.key.clone(), id.to_owned());
        if let Some(found) = self.referenced.get(&key) {
            return Ok(found.clone());
        }
        if !self.spend(1) {
            return Err(too_expensive(
                "the filters on reference paths read too many referenced entries",
            ));
        }
        let found = store::published(self.site, &target.key, id)?
            .map(|doc| render(doc, &target.def, self.locale, self.locales));
        self.referenced.insert(key, found.clone());
        Ok(found)
    }

    /// The published entry `id`, rendered in the query's locale.
    fn document(&mut self, id: &str) -> Result<Option<Value>, Error> {
        Ok(store::published(self.site, &self.stored.key, id)?.map(|doc| self.show(doc)))
    }

    fn show(&self, doc: Published) -> Value {
        render_with_variants(doc, &self.stored.def, self.locale, self.locales)
    }

    /// The ids of the keys of the index at `field_prefix` that start with
    /// `scan_prefix`, after `start_after`, while `keep` holds for the
    /// encoded value; `None` when that takes more than the budget.
    fn ids_in(
        &mut self,
        field_prefix: &str,
        scan_prefix: &str,
        start_after: Option<String>,
        keep: impl Fn(&str) -> bool,
    ) -> Result<Option<Vec<String>>, Error> {
        let mut ids = Vec::new();
        let mut after = start_after;
        loop {
            let page = scan(scan_prefix, after.take(), SCAN_PAGE.min(self.left + 1))?;
            for entry in &page.entries {
                let Some((encoded, id)) = field_index::split_key(field_prefix, &entry.key) else {
                    continue;
                };
                if !keep(encoded) {
                    return Ok(Some(ids));
                }
                if !self.spend(1) {
                    return Ok(None);
                }
                ids.push(id.to_owned());
            }
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(Some(ids)),
            }
        }
    }

    /// The candidates of `filter` from its field's ascending index, or
    /// `None` when they exceed the budget or the index cannot answer it.
    fn candidates(
        &mut self,
        filter: &Filter,
        field: &IndexedField,
    ) -> Result<Option<Vec<String>>, Error> {
        let kind = self.value_kind(&field.name);
        let prefix = field_index::field_prefix(
            self.site,
            &self.stored.key,
            Direction::Ascending,
            field_index::scope(field, self.locale),
            &field.name,
        );
        let encoded = |text: &str| {
            typed(text, kind)
                .and_then(|value| field_index::encode(Some(&value), Direction::Ascending))
        };
        match filter.op {
            Op::Eq | Op::In => {
                let mut ids = Vec::new();
                let values: Vec<&str> = match filter.op {
                    Op::In => filter.value.split(',').collect(),
                    _ => vec![filter.value.as_str()],
                };
                for value in values {
                    // A value of another type than the field's matches nothing.
                    let Some(encoded) = encoded(value) else {
                        continue;
                    };
                    match self.ids_in(&prefix, &format!("{prefix}{encoded}/"), None, |_| true)? {
                        Some(found) => ids.extend(found),
                        None => return Ok(None),
                    }
                }
                Ok(Some(ids))
            }
            Op::Gt | Op::Gte | Op::Lt | Op::Lte => {
                let Some(bound) = encoded(&filter.value) else {
                    return Ok(None);
                };
                // Values of the field's own type only (absent passes no range).
                let Some(rank) = bound.get(..1) else {
                    return Ok(None);
                };
                let region = format!("{prefix}{rank}");
                let ids = if matches!(filter.op, Op::Gt | Op::Gte) {
                    // Inclusive: truncated strings may hold larger values.
                    self.ids_in(&prefix, &region, Some(format!("{prefix}{bound}")), |_| true)?
                } else {
                    self.ids_in(&prefix, &region, None, |encoded| {
                        encoded <= bound.as_str() || encoded.starts_with(bound.as_str())
                    })?
                };
                Ok(ids)
            }
            Op::Ne => Ok(None),
        }
    }

    /// The kind of value `name` holds: its field's, or a metadata key's.
    fn value_kind(&self, name: &str) -> Option<Kind> {
        match self.stored.def.field(name) {
            Some(field) => Some(field.kind),
            None => metadata_kind(name),
        }
    }

    /// Walks the index of `field` in `direction` from the cursor, keeping
    /// documents that pass every filter, until `limit + 1` are found.
    fn walk(
        &mut self,
        query: &Query,
        field: &IndexedField,
        direction: Direction,
    ) -> Result<Page, Error> {
        let prefix = field_index::field_prefix(
            self.site,
            &self.stored.key,
            direction,
            field_index::scope(field, self.locale),
            &field.name,
        );
        let mut after = match &query.cursor {
            Some(cursor) => {
                let value = cursor.values.first().filter(|value| !value.is_null());
                let encoded = field_index::encode(value, direction).ok_or_else(|| {
                    Error::new(400, "invalid_query", "`cursor`: not a cursor of this query")
                })?;
                Some(format!("{prefix}{encoded}/{}", cursor.id))
            }
            None => None,
        };
        let mut items: Vec<Value> = Vec::new();
        loop {
            let page = scan(&prefix, after.take(), SCAN_PAGE.min(query.limit * 2 + 1))?;
            for entry in &page.entries {
                if !self.spend(2) {
                    return Err(too_expensive(
                        "the filters keep too few of the entries in sort order",
                    ));
                }
                let Some((_, id)) = field_index::split_key(&prefix, &entry.key) else {
                    continue;
                };
                let Some(doc) = self.document(id)? else {
                    continue;
                };
                if self.passes(&doc, query)? {
                    items.push(doc);
                    if items.len() > query.limit {
                        items.truncate(query.limit);
                        let next = items
                            .last()
                            .map(|last| Cursor::of(last, &query.sort).encode());
                        return Ok(Page {
                            items,
                            next_cursor: next,
                        });
                    }
                }
            }
            match page.next {
                Some(next) => after = Some(next),
                None => {
                    return Ok(Page {
                        items,
                        next_cursor: None,
                    });
                }
            }
        }
    }
}

fn scan(prefix: &str, start_after: Option<String>, limit: usize) -> Result<raw::ScanPage, Error> {
    let request = raw::ScanRequest {
        prefix: prefix.to_owned(),
        start_after,
        limit: u32::try_from(limit.max(1)).unwrap_or(u32::MAX),
    };
    Ok(raw::scan(&request)?)
}

/// The query value `text` as the JSON a field of `kind` holds (`None`: it
/// cannot be one, so no entry has it). Metadata: numbers for `version`
/// and `published_at`, strings otherwise.
fn typed(text: &str, kind: Option<Kind>) -> Option<Value> {
    let number = || {
        text.parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
    };
    match kind {
        Some(Kind::Number) => number(),
        Some(Kind::Boolean) => match text {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            _ => None,
        },
        Some(_) => Some(Value::String(text.to_owned())),
        None => None,
    }
}

/// The kind of value a metadata key holds, as the index sees it.
fn metadata_kind(name: &str) -> Option<Kind> {
    match name {
        "version" | "published_at" => Some(Kind::Number),
        _ if RESERVED.contains(&name) => Some(Kind::Text),
        _ => None,
    }
}

/// `filter` with its field, when that field is indexed.
fn indexed<'a>(stored: &StoredType, filter: &'a Filter) -> Option<(&'a Filter, IndexedField)> {
    field_index::indexed_field(&stored.def, &filter.field).map(|field| (filter, field))
}

/// The ids a reference field's value holds (one, or a list).
fn ids_of(value: &Value) -> Vec<String> {
    match value {
        Value::String(id) => vec![id.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

fn unknown_name(what: &str, name: &str, kind: &str) -> Error {
    Error::new(
        400,
        "invalid_query",
        format!(
            "`{what}`: `{name}` is not a field of `{kind}` nor one of id, slug, locale, version, published_at"
        ),
    )
}

/// Refuses filters and sort keys that name no field of the type, and
/// paths whose steps before the last are not reference fields.
fn check_names(site: &str, query: &Query, stored: &StoredType) -> Result<(), Error> {
    let names = query
        .filters
        .iter()
        .chain(query.conditions.iter().flat_map(Condition::comparisons))
        .map(|filter| (&filter.field, "filter"))
        .chain(query.sort.iter().map(|key| (&key.field, "sort")));
    for (name, what) in names {
        let mut current = stored.clone();
        let steps: Vec<&str> = name.split('.').collect();
        for (at, step) in steps.iter().enumerate() {
            let last = at + 1 == steps.len();
            let field = current.def.field(step);
            if last {
                if field.is_none() && !RESERVED.contains(step) {
                    return Err(unknown_name(what, step, &current.key));
                }
                continue;
            }
            let Some(field) = field else {
                return Err(unknown_name(what, step, &current.key));
            };
            if what == "sort" || field.kind != Kind::Reference {
                return Err(Error::new(
                    400,
                    "invalid_query",
                    format!(
                        "`{what}`: `{name}` goes through `{step}`, which is not a reference field of `{}`{}",
                        current.key,
                        if what == "sort" {
                            " (sorting follows no references)"
                        } else {
                            ""
                        }
                    ),
                ));
            }
            current = store::latest_type(site, field.to.as_deref().unwrap_or_default())?;
        }
    }
    Ok(())
}

/// The `eq`/`in` comparisons of an `$or` whose every branch is one such
/// comparison on an indexed field: the union of their index entries is
/// then a complete set of candidates.
fn indexed_alternatives<'a>(
    stored: &StoredType,
    condition: &'a Condition,
) -> Option<Vec<(&'a Filter, IndexedField)>> {
    let Condition::Any(branches) = condition else {
        return None;
    };
    branches
        .iter()
        .map(|branch| match branch {
            Condition::All(inner) => match inner.as_slice() {
                [Condition::Compare(filter)] if matches!(filter.op, Op::Eq | Op::In) => {
                    indexed(stored, filter)
                }
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// Runs `query` (with filters or a sort) over the published entries of
/// `stored` on `site`, rendered in `locale`.
pub fn run(
    site: &str,
    stored: &StoredType,
    query: &Query,
    locale: &str,
    locales: &Locales,
) -> Result<Page, Error> {
    check_names(site, query, stored)?;
    let mut reader = Reader {
        site,
        stored,
        locale,
        locales,
        left: budget(),
        referenced: HashMap::new(),
    };
    // 1. Ids named outright.
    if let Some(filter) = query
        .filters
        .iter()
        .find(|filter| filter.field == "id" && matches!(filter.op, Op::Eq | Op::In))
    {
        let ids: BTreeSet<&str> = filter.value.split(',').collect();
        if ids.len() > reader.left {
            return Err(too_expensive("the `id` filter names too many entries"));
        }
        return in_memory(&mut reader, ids.into_iter().map(str::to_owned), query);
    }
    // 2. Equality on an indexed field.
    let equalities: Vec<(&Filter, IndexedField)> = query
        .filters
        .iter()
        .filter(|filter| matches!(filter.op, Op::Eq | Op::In))
        .filter_map(|filter| indexed(stored, filter))
        .collect();
    for (filter, field) in &equalities {
        if let Some(ids) = reader.candidates(filter, field)? {
            return in_memory(&mut reader, ids, query);
        }
    }
    // 2b. An `$or` of equalities on indexed fields: the union.
    for alternatives in query
        .conditions
        .iter()
        .filter_map(|condition| indexed_alternatives(stored, condition))
    {
        let mut ids = Vec::new();
        let mut within = true;
        for (filter, field) in &alternatives {
            match reader.candidates(filter, field)? {
                Some(found) => ids.extend(found),
                None => {
                    within = false;
                    break;
                }
            }
        }
        if within {
            return in_memory(&mut reader, ids, query);
        }
    }
    // 3. One indexed sort key.
    if let [key] = query.sort.as_slice()
        && let Some(field) = field_index::indexed_field(&stored.def, &key.field)
    {
        let direction = if key.descending {
            Direction::Descending
        } else {
            Direction::Ascending
        };
        return reader.walk(query, &field, direction);
    }
    // 4. A range on an indexed field.
    let ranges: Vec<(&Filter, IndexedField)> = query
        .filters
        .iter()
        .filter(|filter| matches!(filter.op, Op::Gt | Op::Gte | Op::Lt | Op::Lte))
        .filter_map(|filter| indexed(stored, filter))
        .collect();
    for (filter, field) in &ranges {
        if let Some(ids) = reader.candidates(filter, field)? {
            return in_memory(&mut reader, ids, query);
        }
    }
    // 5. Everything, if it is small.
    let (docs, more) = store::published_page(site, &stored.key, None, reader.left)?;
    if more {
        return Err(too_expensive(&format!(
            "`{}` has more published entries than that, and no filter or sort of this query narrows them through an index",
            stored.key
        )));
    }
    let docs = docs.into_iter().map(|doc| reader.show(doc)).collect();
    kept(&mut reader, docs, query)
}

/// Filters `docs` by the query's conditions, then filters, sorts and pages
/// them in memory.
fn kept(reader: &mut Reader<'_>, docs: Vec<Value>, query: &Query) -> Result<Page, Error> {
    let mut passing = Vec::with_capacity(docs.len());
    for doc in docs {
        if reader.passes(&doc, query)? {
            passing.push(doc);
        }
    }
    Ok(query::run(passing, query))
}

/// Reads the entries `ids` and filters, sorts and pages them in memory.
fn in_memory(
    reader: &mut Reader<'_>,
    ids: impl IntoIterator<Item = String>,
    query: &Query,
) -> Result<Page, Error> {
    let unique: BTreeSet<String> = ids.into_iter().collect();
    if !reader.spend(unique.len()) {
        return Err(too_expensive(
            "the filter on an indexed field matches too many entries",
        ));
    }
    let mut docs = Vec::with_capacity(unique.len());
    for id in &unique {
        if let Some(doc) = reader.document(id)? {
            docs.push(doc);
        }
    }
    kept(reader, docs, query)
}
