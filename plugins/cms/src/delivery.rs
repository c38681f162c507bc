//! The delivery API: published content only, for any caller (anonymous
//! included), with ETags and `Last-Modified`, honouring conditional requests.
//!
//! `GET /delivery/{type}` without filters pages straight through a per-type
//! index of published entries: by id without `sort`, newest first with
//! `sort=-published_at`. Any other query goes through [`crate::planner`],
//! which reads the per-field indexes within a budget.

use serde_json::{Map, Value, json};
use tessera_sdk::prelude::*;

use crate::conditional::{self, Validators};
use crate::expand::{self, Expander};
use crate::locales::Locales;
use crate::model::Published;
use crate::query::{self, Cursor, Query};
use crate::schema::TypeDef;
use crate::segments::CallerSegments;
use crate::variants::{self, Variant};
use crate::{planner, store};

/// The published copy as the delivery API returns it: fields no longer in
/// the schema dropped, localized fields resolved to `locale` (else along
/// its fallback chain to the default locale).
pub fn render(doc: Published, def: &TypeDef, locale: &str, locales: &Locales) -> Value {
    let mut fields: Map<String, Value> = doc
        .fields
        .into_iter()
        .filter(|(name, _)| def.field(name).is_some())
        .collect();
    let localized: Vec<&str> = def
        .fields
        .iter()
        .filter(|field| field.localized)
        .map(|field| field.name.as_str())
        .collect();
    query::localize(&mut fields, &localized, &locales.chain(locale));
    json!({
        "id": doc.id,
        "type": doc.kind,
        "locale": doc.locale,
        "slug": doc.slug,
        "version": doc.version,
        "published_at": doc.published_at,
        "fields": fields,
    })
}

/// The key under which [`render_with_variants`] carries an entry's
/// variants to [`personalize`]; never returned.
const VARIANTS_KEY: &str = "_variants";

/// [`render`], carrying the entry's variants along for [`personalize`].
pub fn render_with_variants(
    doc: Published,
    def: &TypeDef,
    locale: &str,
    locales: &Locales,
) -> Value {
    let variants = (!doc.variants.is_empty()).then(|| doc.variants.clone());
    let mut value = render(doc, def, locale, locales);
    if let (Some(variants), Some(object)) = (variants, value.as_object_mut()) {
        object.insert(
            VARIANTS_KEY.to_owned(),
            serde_json::to_value(variants).unwrap_or_default(),
        );
    }
    value
}

/// Serves the variant of a rendered document for the caller's segments:
/// its fields replace the default ones (localized in `locale`) and
/// `variant` names its segment. Takes the carried variants out in any case.
pub fn personalize(
    value: &mut Value,
    def: &TypeDef,
    locale: &str,
    locales: &Locales,
    segments: &mut CallerSegments<'_>,
) {
    let Some(object) = value.as_object_mut() else {
        return;
    };
    let Some(carried) = object.remove(VARIANTS_KEY) else {
        return;
    };
    let variants: Vec<Variant> = serde_json::from_value(carried).unwrap_or_default();
    let Some(variant) = variants::choose(&variants, segments.get()) else {
        object.insert("variant".to_owned(), Value::Null);
        return;
    };
    let mut fields: Map<String, Value> = variant
        .data
        .iter()
        .filter(|(name, _)| def.field(name).is_some())
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    let localized: Vec<&str> = def
        .fields
        .iter()
        .filter(|field| field.localized)
        .map(|field| field.name.as_str())
        .collect();
    query::localize(&mut fields, &localized, &locales.chain(locale));
    if let Some(Value::Object(shown)) = object.get_mut("fields") {
        shown.extend(fields);
    }
    object.insert("variant".to_owned(), Value::String(variant.segment.clone()));
}

/// Marks `response` as depending on who asks when `segments` were asked
/// for: shared caches must not keep it.
fn private_if_personalized(response: Response, segments: &CallerSegments<'_>) -> Response {
    if segments.asked() {
        response
            .with_header("cache-control", "private")
            .with_header("vary", "cookie, authorization, x-visitor-id")
    } else {
        response
    }
}

/// A JSON response with its ETag and, when known, its `Last-Modified`
/// (ms since the epoch); a 304 when the client's copy is current.
pub(crate) fn cached(
    request: &Request,
    value: &Value,
    last_modified: Option<u64>,
) -> Result<Response, Error> {
    let body = serde_json::to_vec(value)?;
    let tag = conditional::etag(&body);
    let validators = Validators {
        if_none_match: request.header("if-none-match"),
        if_modified_since: request.header("if-modified-since"),
    };
    let mut response = if validators.not_modified(&tag, last_modified) {
        Response::empty(304)
    } else {
        Response::json(200, value)
    };
    response = response.with_header("etag", tag);
    if let Some(date) = last_modified.and_then(conditional::http_date) {
        response = response.with_header("last-modified", date);
    }
    Ok(response)
}

/// The locale asked for, checked against the configured ones.
pub(crate) fn locale(asked: Option<&str>, locales: &Locales) -> Result<String, Error> {
    match asked {
        None => Ok(locales.default().to_owned()),
        Some(locale) if locales.contains(locale) => Ok(locale.to_owned()),
        Some(locale) => Err(Error::new(
            400,
            "invalid_query",
            format!(
                "`locale`: `{locale}` is not one of {}",
                locales.all().join(", ")
            ),
        )),
    }
}

/// Whether the query sorts by `-published_at` alone, which the `recent/`
/// index serves.
fn is_newest_first(query: &Query) -> bool {
    matches!(query.sort.as_slice(), [key] if key.field == "published_at" && key.descending)
}

/// `GET /delivery/{type}`.
pub fn list(request: &Request, params: &Params) -> Result<Response, Error> {
    let site = identity::current().site;
    let stored = store::latest_type(&site, params.require("type")?)?;
    let query: Query = query::parse(&request.query_pairs())
        .map_err(|message| Error::new(400, "invalid_query", message))?;
    let paths = expand::parse(query.expand.as_deref())
        .map_err(|message| Error::new(400, "invalid_query", message))?;
    expand::check(&site, &stored, &paths)?;
    let locales = Locales::of_site(&site);
    let locale = locale(query.locale.as_deref(), &locales)?;
    let show = |doc| render_with_variants(doc, &stored.def, &locale, &locales);
    let page = if !query.is_filtered() && query.sort.is_empty() {
        let after = query.cursor.as_ref().map(|cursor| cursor.id.as_str());
        let (docs, more) = store::published_page(&site, &stored.key, after, query.limit)?;
        let items: Vec<Value> = docs.into_iter().map(show).collect();
        let next_cursor = match items.last() {
            Some(last) if more => Some(Cursor::of(last, &[]).encode()),
            _ => None,
        };
        query::Page { items, next_cursor }
    } else if !query.is_filtered() && is_newest_first(&query) {
        let after = query
            .cursor
            .as_ref()
            .and_then(|cursor| Some((cursor.values.first()?.as_u64()?, cursor.id.as_str())));
        let (docs, more) = store::recent_page(&site, &stored.key, after, query.limit)?;
        let items: Vec<Value> = docs.into_iter().map(show).collect();
        let next_cursor = match items.last() {
            Some(last) if more => Some(Cursor::of(last, &query.sort).encode()),
            _ => None,
        };
        query::Page { items, next_cursor }
    } else {
        planner::run(&site, &stored, &query, &locale, &locales)?
    };
    let mut items = page.items;
    let expander = Expander {
        site: &site,
        locale: &locale,
        locales: &locales,
    };
    let mut segments = CallerSegments::new(request);
    for item in &mut items {
        personalize(item, &stored.def, &locale, &locales, &mut segments);
        query::select(item, query.fields.as_deref());
        expander.apply(&stored, item, &paths)?;
    }
    // A list changes when an entry of the type is published or withdrawn,
    // and renders differently after a schema change.
    let last_modified = store::last_change(&site, &stored.key)?
        .map_or(stored.created_at, |changed| changed.max(stored.created_at));
    // Expanded entries change on their own: the ETag alone validates then.
    let response = cached(
        request,
        &json!({ "items": items, "next_cursor": page.next_cursor }),
        Some(last_modified).filter(|_| paths.is_empty() && !segments.asked()),
    )?;
    Ok(private_if_personalized(response, &segments))
}

/// `GET /delivery/{type}/{id-or-slug}`: by id, else by slug in the asked
/// locale, else in the default locale.
pub fn one(request: &Request, params: &Params) -> Result<Response, Error> {
    let site = identity::current().site;
    let stored = store::latest_type(&site, params.require("type")?)?;
    let wanted = params.require("entry")?;
    let paths = expand::parse(request.query("expand").as_deref())
        .map_err(|message| Error::new(400, "invalid_query", message))?;
    expand::check(&site, &stored, &paths)?;
    let locales = Locales::of_site(&site);
    let locale = locale(request.query("locale").as_deref(), &locales)?;
    let mut found = store::published(&site, &stored.key, wanted)?;
    for slug_locale in locales.chain(&locale) {
        if found.is_some() {
            break;
        }
        found = store::published_by_slug(&site, &stored.key, slug_locale, wanted)?;
    }
    let doc = found.ok_or_else(|| {
        Error::not_found(format!(
            "no published `{}` with the id or slug `{wanted}`",
            stored.key
        ))
    })?;
    let last_modified = doc.published_at.max(stored.created_at);
    let mut value = render_with_variants(doc, &stored.def, &locale, &locales);
    let mut segments = CallerSegments::new(request);
    personalize(&mut value, &stored.def, &locale, &locales, &mut segments);
    let fields = request.query("fields").map(|fields| {
        fields
            .split(',')
            .filter(|f| !f.is_empty())
            .map(str::to_owned)
            .collect::<Vec<_>>()
    });
    query::select(&mut value, fields.as_deref());
    let expander = Expander {
        site: &site,
        locale: &locale,
        locales: &locales,
    };
    expander.apply(&stored, &mut value, &paths)?;
    let response = cached(
        request,
        &value,
        Some(last_modified).filter(|_| paths.is_empty() && !segments.asked()),
    )?;
    Ok(private_if_personalized(response, &segments))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendering_drops_removed_fields_and_localizes() {
        let def: TypeDef = serde_json::from_value(json!({"fields": [
            {"name": "title", "type": "text", "localized": true},
            {"name": "price", "type": "number"}
        ]}))
        .unwrap();
        let doc = Published {
            id: "e_1".into(),
            kind: "article".into(),
            locale: "en".into(),
            slug: Some("hello".into()),
            version: 2,
            schema_version: 1,
            published_at: 5,
            fields: serde_json::from_value(
                json!({"title": {"en": "Hello", "fr": "Salut"}, "price": 3, "old": true}),
            )
            .unwrap(),
            locales: None,
            variants: Vec::new(),
        };
        let locales = Locales::parse("en,fr,de", "en");
        let fr = render(doc.clone(), &def, "fr", &locales);
        assert_eq!(fr["fields"], json!({"title": "Salut", "price": 3}));
        assert_eq!(fr["slug"], "hello");
        let de = render(doc, &def, "de", &locales);
        assert_eq!(de["fields"]["title"], "Hello");
    }
}
