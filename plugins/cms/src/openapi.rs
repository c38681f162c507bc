//! The OpenAPI description of the CMS, generated at run time from the
//! site's content types: `GET /openapi.json`. Every type gets its delivery
//! endpoints and its create endpoint with JSON Schemas derived from its
//! fields, so a client generator or an API explorer sees a type the moment
//! an administrator defines it, with no restart. The editorial endpoints
//! that do not depend on a type are described once.
//!
//! Pure except for [`handle`]: [`document`] turns types into the document.

use serde_json::{Map, Value, json};
use tessera_sdk::prelude::*;

use crate::delivery;
use crate::locales::Locales;
use crate::model::StoredType;
use crate::schema::{Field, Kind};
use crate::store;

/// Where the plugin's routes are served.
const BASE: &str = "/api/cms";

/// The JSON Schema of one value of `field` (one locale's value for a
/// localized field): a list of items for a repeatable field.
pub fn value_schema(field: &Field) -> Value {
    let item = item_schema(field);
    if !field.repeatable {
        return item;
    }
    let mut list = json!({"type": "array", "items": item});
    if let Value::Object(rules) = &mut list {
        let min = field.min_items.or(field.required.then_some(1));
        for (key, bound) in [("minItems", min), ("maxItems", field.max_items)] {
            if let Some(bound) = bound {
                rules.insert(key.to_owned(), json!(bound));
            }
        }
    }
    list
}

/// The JSON Schema of one item of `field`.
fn item_schema(field: &Field) -> Value {
    let mut schema = match field.kind {
        Kind::Group => json!({
            "type": "object",
            "additionalProperties": false,
            "properties": field
                .fields
                .iter()
                .map(|sub| (sub.name.clone(), value_schema(sub)))
                .collect::<Map<String, Value>>(),
            "required": field
                .fields
                .iter()
                .filter(|sub| sub.required)
                .map(|sub| sub.name.as_str())
                .collect::<Vec<_>>(),
        }),
        Kind::Text => json!({"type": "string"}),
        Kind::RichText => json!({"type": "string", "contentMediaType": "text/markdown"}),
        Kind::Number => json!({"type": "number"}),
        Kind::Boolean => json!({"type": "boolean"}),
        Kind::Datetime => json!({"type": "string", "format": "date-time"}),
        Kind::Enum => json!({"type": "string", "enum": field.values}),
        Kind::Asset => json!({
            "type": "string",
            "description": "The id of an asset on the same site; its bytes are at /api/cms/delivery/assets/{id}.",
        }),
        Kind::Reference => json!({
            "type": "string",
            "description": format!(
                "The id of a `{}` entry on the same site.",
                field.to.as_deref().unwrap_or_default()
            ),
        }),
    };
    let (low, high) = match field.kind {
        Kind::Text | Kind::RichText => ("minLength", "maxLength"),
        _ => ("minimum", "maximum"),
    };
    if let Value::Object(rules) = &mut schema {
        for (key, bound) in [(low, field.min), (high, field.max)] {
            if let Some(bound) = bound {
                rules.insert(key.to_owned(), number(bound));
            }
        }
        if let Some(pattern) = &field.pattern {
            rules.insert("pattern".to_owned(), json!(pattern));
        }
    }
    schema
}

/// A bound as an integer when it is one, so `maxLength: 80` stays valid.
fn number(bound: f64) -> Value {
    if bound.fract() == 0.0 && bound.abs() < 9e15 {
        // Exact: the value is an integer well inside i64's range.
        json!(bound as i64)
    } else {
        json!(bound)
    }
}

/// The schema of the `data` an editor writes: localized fields as an
/// object of locale → value; required fields listed.
pub fn data_schema(stored: &StoredType, locales: &Locales) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for field in &stored.def.fields {
        let value = value_schema(field);
        let schema = if field.localized {
            json!({
                "type": "object",
                "description": format!(
                    "One value per locale; `{}` (the default) is the one `required` asks for.",
                    locales.default()
                ),
                "propertyNames": {"enum": locales.all()},
                "additionalProperties": value,
            })
        } else {
            value
        };
        properties.insert(field.name.clone(), schema);
        if field.required {
            required.push(field.name.clone());
        }
    }
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": properties,
        "required": required,
    })
}

/// The schema of `fields` in a delivered entry: localized fields resolved
/// to one locale; nothing required (entries published under an older
/// schema may lack a field added since).
pub fn fields_schema(stored: &StoredType) -> Value {
    let properties: Map<String, Value> = stored
        .def
        .fields
        .iter()
        .map(|field| (field.name.clone(), value_schema(field)))
        .collect();
    json!({"type": "object", "properties": properties})
}

/// A schema name for a type key: `blog-post` → `BlogPost`.
fn schema_name(key: &str) -> String {
    key.split(['-', '_'])
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn query_parameter(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "query", "required": false,
           "description": description, "schema": {"type": "string"}})
}

fn path_parameter(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "path", "required": true,
           "description": description, "schema": {"type": "string"}})
}

fn error_response(description: &str) -> Value {
    json!({"description": description,
           "content": {"application/json": {"schema": reference("Error")}}})
}

fn json_response(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

/// The paths and schemas of one content type.
fn type_paths(
    stored: &StoredType,
    locales: &Locales,
    paths: &mut Map<String, Value>,
) -> Map<String, Value> {
    let key = &stored.key;
    let name = schema_name(key);
    let title = stored.def.name.clone().unwrap_or_else(|| key.clone());
    let entry = format!("{name}Entry");
    let locale_parameter = query_parameter(
        "locale",
        &format!(
            "One of {}; default {}.",
            locales.all().join(", "),
            locales.default()
        ),
    );
    let fields_parameter = query_parameter("fields", "Comma-separated fields to return.");
    let expand_parameter = query_parameter(
        "expand",
        "Reference and asset fields to expand: comma-separated dotted paths, at most 2 deep.",
    );
    paths.insert(
        format!("{BASE}/delivery/{key}"),
        json!({"get": {
            "tags": ["delivery"],
            "summary": format!("List published {title} entries"),
            "description": "Filters `filter[field][op]=value` (op: eq, ne, gt, gte, lt, lte, in; `field` may be a path through references such as `author.name`), groups `filter[$or][0][field][op]=value`, `filter[$and][N]...`, `filter[$not][field][op]=value`, `sort=field,-field`, keyset pagination with `cursor`; see docs/cms.md.",
            "parameters": [
                query_parameter("filter[field][op]", "A filter; several may be given."),
                query_parameter("sort", "Sort keys, `-` for descending."),
                query_parameter("limit", "Page size, 1 to 100 (default 20)."),
                query_parameter("cursor", "The previous page's `next_cursor`."),
                fields_parameter,
                expand_parameter,
                locale_parameter,
            ],
            "responses": {
                "200": json_response("A page of published entries.", json!({
                    "type": "object",
                    "properties": {
                        "items": {"type": "array", "items": reference(&entry)},
                        "next_cursor": {"type": ["string", "null"]},
                    },
                })),
                "304": {"description": "Not modified (If-None-Match)."},
                "400": error_response("An invalid query, named in the message."),
                "404": error_response("No such type."),
            },
        }}),
    );
    paths.insert(
        format!("{BASE}/delivery/{key}/{{entry}}"),
        json!({"get": {
            "tags": ["delivery"],
            "summary": format!("One published {title} entry by id or slug"),
            "parameters": [
                path_parameter("entry", "The entry's id or slug."),
                fields_parameter,
                expand_parameter,
                locale_parameter,
            ],
            "responses": {
                "200": json_response("The published entry.", reference(&entry)),
                "304": {"description": "Not modified (If-None-Match)."},
                "404": error_response("No such published entry."),
            },
        }}),
    );
    paths.insert(
        format!("{BASE}/types/{key}/entries"),
        json!({"post": {
            "tags": ["entries"],
            "summary": format!("Create a {title} draft"),
            "security": [{"session": []}, {"token": []}],
            "requestBody": {"required": true, "content": {"application/json": {"schema": {
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "slug": {"type": ["string", "null"], "pattern": "^[a-z0-9]+(-[a-z0-9]+)*$", "maxLength": 128},
                    "locale": {"type": "string", "enum": locales.all()},
                    "data": reference(&format!("{name}Data")),
                    "variants": {"type": "array", "maxItems": 10, "description": "Personalised variants: the first whose segment the reader is in replaces these fields.",
                        "items": {"type": "object", "required": ["segment", "data"], "additionalProperties": false,
                            "properties": {"segment": {"type": "string"}, "data": {"type": "object"}}}},
                },
                "required": ["data"],
            }}}},
            "responses": {
                "201": json_response("The new draft, version 1.", reference("Entry")),
                "400": error_response("Invalid data, naming the field."),
                "403": error_response("Needs `cms.entry.write`."),
                "409": error_response("Slug or unique value taken."),
            },
        }}),
    );
    let mut schemas = Map::new();
    schemas.insert(format!("{name}Data"), data_schema(stored, locales));
    schemas.insert(format!("{name}Fields"), fields_schema(stored));
    schemas.insert(
        entry,
        json!({
            "type": "object",
            "description": format!("A published {title} entry (schema version {}).", stored.version),
            "properties": {
                "id": {"type": "string"},
                "type": {"const": key},
                "locale": {"type": "string"},
                "slug": {"type": ["string", "null"]},
                "version": {"type": "integer"},
                "published_at": {"type": "integer", "description": "Milliseconds since the epoch."},
                "fields": reference(&format!("{name}Fields")),
                "variant": {"type": ["string", "null"], "description": "The segment whose variant is served, for entries with variants."},
            },
        }),
    );
    schemas
}

/// The editorial endpoints that do not depend on a type.
fn editorial_paths() -> Map<String, Value> {
    let id = path_parameter("id", "The entry's id.");
    let entry_response = |description: &str| json_response(description, reference("Entry"));
    let secured = json!([{"session": []}, {"token": []}]);
    let mut paths = Map::new();
    let mut add = |path: &str, value: Value| {
        paths.insert(format!("{BASE}{path}"), value);
    };
    add(
        "/types",
        json!({"get": {"tags": ["types"], "summary": "The latest version of every type", "security": secured,
        "responses": {"200": {"description": "`{\"types\": [...]}`"}}}}),
    );
    add(
        "/types/{key}",
        json!({"put": {"tags": ["types"], "summary": "Define or change a type (a new schema version); needs `cms.type.manage`", "security": secured,
        "parameters": [path_parameter("key", "The type key.")],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object"}}}},
        "responses": {"200": {"description": "The next version."}, "201": {"description": "Version 1."}, "400": error_response("An invalid type, naming the field.")}},
        "get": {"tags": ["types"], "summary": "The latest version of a type", "security": secured,
        "parameters": [path_parameter("key", "The type key.")],
        "responses": {"200": {"description": "The type."}, "404": error_response("No such type.")}}}),
    );
    add(
        "/entries/{id}",
        json!({
        "get": {"tags": ["entries"], "summary": "An entry and its draft", "security": secured, "parameters": [id],
            "responses": {"200": entry_response("The entry."), "404": error_response("No such entry.")}},
        "put": {"tags": ["entries"], "summary": "Save a new draft version; with `?locale=fr`, plain values of localized fields replace only that locale's; needs `cms.entry.write`", "security": secured,
            "parameters": [id, query_parameter("locale", "Save only this locale's values of localized fields.")],
            "responses": {"200": entry_response("The entry."), "400": error_response("Invalid data."), "409": error_response("A conflict.")}},
        "delete": {"tags": ["entries"], "summary": "Delete an entry; needs `cms.entry.delete`", "security": secured, "parameters": [id],
            "responses": {"204": {"description": "Deleted."}}}}),
    );
    add(
        "/entries/{id}/versions",
        json!({"get": {"tags": ["entries"], "summary": "The versions of an entry", "security": secured, "parameters": [id],
        "responses": {"200": {"description": "Oldest first."}}}}),
    );
    add(
        "/entries/{id}/versions/{from}/diff/{to}",
        json!({"get": {"tags": ["entries"], "summary": "What changed between two versions", "security": secured,
        "parameters": [id, {"name": "from", "in": "path", "required": true, "schema": {"type": "integer"}},
                       {"name": "to", "in": "path", "required": true, "schema": {"type": "integer"}}],
        "responses": {"200": {"description": "`{\"differences\": [{\"path\", \"change\", \"from\", \"to\"}]}`"},
                      "404": error_response("No such entry or version.")}}}),
    );
    add(
        "/entries/{id}/versions/{version}/restore",
        json!({"post": {"tags": ["entries"], "summary": "Save an old version as the new draft", "security": secured,
        "parameters": [id, {"name": "version", "in": "path", "required": true, "schema": {"type": "integer"}}],
        "responses": {"200": entry_response("The entry.")}}}),
    );
    for action in ["publish", "unpublish"] {
        add(
            &format!("/entries/{{id}}/{action}"),
            json!({"post": {"tags": ["publishing"],
            "summary": format!("{action} the entry (or, with a body `{{\"locales\": [...]}}`, only those locales); needs `cms.entry.publish`"), "security": secured, "parameters": [id],
            "requestBody": {"required": false, "content": {"application/json": {"schema": {"type": "object", "properties": {"locales": {"type": "array", "items": {"type": "string"}}}}}}},
            "responses": {"200": entry_response("The entry."), "409": error_response("Not published (unpublish).")}}}),
        );
    }
    add(
        "/entries/{id}/schedule",
        json!({
        "put": {"tags": ["publishing"], "summary": "Schedule a publish and/or unpublish; needs `cms.entry.publish`", "security": secured, "parameters": [id],
            "requestBody": {"required": true, "content": {"application/json": {"schema": reference("ScheduleRequest")}}},
            "responses": {"200": json_response("The schedule.", reference("Schedule")), "400": error_response("Invalid times.")}},
        "get": {"tags": ["publishing"], "summary": "The entry's schedule", "security": secured, "parameters": [id],
            "responses": {"200": json_response("The schedule.", reference("Schedule")), "404": error_response("Not scheduled.")}},
        "delete": {"tags": ["publishing"], "summary": "Cancel the schedule", "security": secured, "parameters": [id],
            "responses": {"204": {"description": "Cancelled."}, "404": error_response("Not scheduled.")}}}),
    );
    add(
        "/schedules",
        json!({"get": {"tags": ["publishing"], "summary": "Every schedule of the site", "security": secured,
        "responses": {"200": {"description": "`{\"schedules\": [...]}`"}}}}),
    );
    let release_body = json!({"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["title"],
        "properties": {"title": {"type": "string"}, "items": {"type": "array", "maxItems": 100, "items": {"type": "object", "required": ["entry"],
            "properties": {"entry": {"type": "string"}, "action": {"type": "string", "enum": ["publish", "unpublish"]}, "version": {"type": "integer"}}}}}}}}});
    add(
        "/locales",
        json!({
        "get": {"tags": ["locales"], "summary": "The site's locales, fallback chains and re-index progress; needs `cms.entry.read`", "security": secured,
            "responses": {"200": {"description": "`{\"default\", \"locales\": [{\"code\", \"fallback\"}], \"chains\", \"reindex\"}`"}}},
        "put": {"tags": ["locales"], "summary": "Set the site's locales and fallback chains; needs `cms.type.manage`", "security": secured,
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["default", "locales"],
                "properties": {"default": {"type": "string"}, "locales": {"type": "array", "items": {"type": "object", "required": ["code"],
                    "properties": {"code": {"type": "string"}, "fallback": {"type": "array", "items": {"type": "string"}}}}}}}}}},
            "responses": {"200": {"description": "The settings, as GET returns them."}, "400": error_response("Invalid locales.")}}}),
    );
    add(
        "/delivery/locales",
        json!({"get": {"tags": ["delivery"], "summary": "The site's locales and their fallback chains",
        "responses": {"200": {"description": "`{\"default\", \"locales\", \"chains\"}`"}}}}),
    );
    add(
        "/releases",
        json!({
        "post": {"tags": ["publishing"], "summary": "Create a release (entries to publish or unpublish together); needs `cms.entry.publish`", "security": secured,
            "requestBody": release_body.clone(),
            "responses": {"201": {"description": "The release."}, "400": error_response("Invalid release.")}},
        "get": {"tags": ["publishing"], "summary": "Every release of the site, newest first", "security": secured,
            "responses": {"200": {"description": "`{\"items\": [...]}`"}}}}),
    );
    add(
        "/releases/{id}",
        json!({
        "get": {"tags": ["publishing"], "summary": "One release", "security": secured, "parameters": [id],
            "responses": {"200": {"description": "The release."}, "404": error_response("No such release.")}},
        "put": {"tags": ["publishing"], "summary": "Change an open release", "security": secured, "parameters": [id],
            "requestBody": release_body,
            "responses": {"200": {"description": "The release."}, "409": error_response("Already published.")}},
        "delete": {"tags": ["publishing"], "summary": "Forget a release (what it published stays)", "security": secured, "parameters": [id],
            "responses": {"204": {"description": "Deleted."}}}}),
    );
    add(
        "/releases/{id}/publish",
        json!({"post": {"tags": ["publishing"], "summary": "Publish every item of the release in one atomic write, or none", "security": secured, "parameters": [id],
        "responses": {"200": {"description": "The published release."}, "409": error_response("`release_blocked` naming every item that cannot be published (nothing changed), or `release_published`.")}}}),
    );
    add(
        "/search",
        json!({"get": {"tags": ["delivery"], "summary": "Full-text search over published entries",
        "parameters": [query_parameter("q", "The words, all required."), query_parameter("type", "Only this type."),
                       query_parameter("locale", "The locale to search."), query_parameter("limit", "1 to 50.")],
        "responses": {"200": {"description": "`{\"query\", \"locale\", \"items\": [...]}` by relevance."}, "400": error_response("An invalid query.")}}}),
    );
    let asset_id = path_parameter("id", "The asset's id.");
    add(
        "/assets",
        json!({
        "post": {"tags": ["assets"], "summary": "Upload a file (the raw body, typed by Content-Type); needs `cms.asset.write`", "security": secured,
            "parameters": [query_parameter("filename", "The file name."), query_parameter("title", "A title."),
                           query_parameter("alt", "Alternative text."), query_parameter("tags", "Comma-separated tags.")],
            "requestBody": {"required": true, "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}},
            "responses": {"201": {"description": "The asset record."}, "400": error_response("An invalid upload."),
                          "413": error_response("Larger than `max-asset-bytes`.")}},
        "get": {"tags": ["assets"], "summary": "List assets", "security": secured,
            "parameters": [query_parameter("limit", "1 to 100."), query_parameter("cursor", "The previous page's `next_cursor`.")],
            "responses": {"200": {"description": "`{\"items\": [...], \"next_cursor\"}`"}}}}),
    );
    add(
        "/assets/{id}",
        json!({
        "get": {"tags": ["assets"], "summary": "An asset's record", "security": secured, "parameters": [asset_id],
            "responses": {"200": {"description": "The record."}, "404": error_response("No such asset.")}},
        "put": {"tags": ["assets"], "summary": "Change an asset's metadata; needs `cms.asset.write`", "security": secured, "parameters": [asset_id],
            "responses": {"200": {"description": "The record."}}},
        "delete": {"tags": ["assets"], "summary": "Delete an asset no entry uses; needs `cms.asset.write`", "security": secured, "parameters": [asset_id],
            "responses": {"204": {"description": "Deleted."}, "409": error_response("Entries use it (`asset_in_use`).")}}}),
    );
    add(
        "/assets/{id}/usage",
        json!({"get": {"tags": ["assets"], "summary": "The entries that use an asset", "security": secured,
        "parameters": [asset_id], "responses": {"200": {"description": "`{\"id\", \"entries\": [...]}`"}}}}),
    );
    add(
        "/assets/search",
        json!({"get": {"tags": ["assets"], "summary": "Search asset metadata", "security": secured,
        "parameters": [query_parameter("q", "The words, all required."), query_parameter("limit", "1 to 50.")],
        "responses": {"200": {"description": "Matching assets by score."}}}}),
    );
    add(
        "/delivery/assets/{id}",
        json!({"get": {"tags": ["delivery"], "summary": "An asset's bytes, a byte range, or an image rendition",
        "parameters": [asset_id, query_parameter("w", "Rendition width."), query_parameter("h", "Rendition height."),
                       query_parameter("fit", "contain or cover."), query_parameter("format", "png, jpeg or webp."),
                       {"name": "Range", "in": "header", "required": false, "schema": {"type": "string"}}],
        "responses": {"200": {"description": "The bytes."}, "206": {"description": "A byte range."},
                      "304": {"description": "Not modified."}, "416": {"description": "Range not satisfiable."},
                      "422": error_response("An image that cannot be rendered.")}}}),
    );
    add(
        "/openapi.json",
        json!({"get": {"tags": ["delivery"], "summary": "This document, generated from the site's content types",
        "responses": {"200": {"description": "OpenAPI 3.1."}}}}),
    );
    paths
}

fn common_schemas() -> Map<String, Value> {
    let time = json!({"oneOf": [
        {"type": "string", "format": "date-time"},
        {"type": "integer", "description": "Milliseconds since the epoch."},
        {"type": "null"}]});
    let mut schemas = Map::new();
    schemas.insert("Error".into(), json!({"type": "object", "properties": {"error": {"type": "object",
        "properties": {"code": {"type": "string"}, "message": {"type": "string"}}, "required": ["code", "message"]}}}));
    schemas.insert("Entry".into(), json!({"type": "object", "description": "An entry with its draft `data` (see docs/cms.md).",
        "properties": {"id": {"type": "string"}, "type": {"type": "string"}, "locale": {"type": "string"},
            "slug": {"type": ["string", "null"]}, "version": {"type": "integer"}, "schema_version": {"type": "integer"},
            "data": {"type": "object"}, "published_version": {"type": ["integer", "null"]},
            "published_at": {"type": ["integer", "null"]}}}));
    schemas.insert(
        "ScheduleRequest".into(),
        json!({"type": "object", "additionalProperties": false,
        "properties": {"publish_at": time, "unpublish_at": time}}),
    );
    schemas.insert(
        "Schedule".into(),
        json!({"type": "object", "properties": {"id": {"type": "string"},
        "publish_at": {"type": ["integer", "null"]}, "unpublish_at": {"type": ["integer", "null"]},
        "scheduled_by": {"type": "string"}, "scheduled_at": {"type": "integer"}}}),
    );
    schemas
}

/// The whole document for `types` (the latest version of each).
pub fn document(types: &[StoredType], locales: &Locales) -> Value {
    let mut paths = editorial_paths();
    let mut schemas = common_schemas();
    for stored in types {
        schemas.extend(type_paths(stored, locales, &mut paths));
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Tessera CMS",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Generated from this site's content types. Delivery endpoints are public; the others need a session (with the CSRF header for unsafe methods) or a bearer token with the permission named. See docs/cms.md.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "tessera_session"},
                "token": {"type": "http", "scheme": "bearer"},
            },
        },
    })
}

/// `GET /openapi.json`: the document for the caller's site, with an ETag.
pub fn handle(request: &Request, _: &Params) -> Result<Response, Error> {
    let site = identity::current().site;
    let types = store::list_types(&site)?;
    let last_modified = types.iter().map(|stored| stored.created_at).max();
    delivery::cached(
        request,
        &document(&types, &Locales::of_site(&site)),
        last_modified,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn article() -> StoredType {
        serde_json::from_value(json!({
            "key": "blog-post", "version": 3, "created_at": 1, "created_by": "admin",
            "name": "Blog post",
            "fields": [
                {"name": "title", "type": "text", "required": true, "max": 80, "localized": true},
                {"name": "price", "type": "number", "min": 0.5},
                {"name": "tone", "type": "enum", "values": ["calm", "loud"]},
                {"name": "author", "type": "reference", "to": "author"}
            ]
        }))
        .unwrap()
    }

    #[test]
    fn each_type_gets_its_endpoints_and_schemas() {
        let locales = Locales::parse("en,fr", "en");
        let document = document(&[article()], &locales);
        let paths = document["paths"].as_object().unwrap();
        for path in [
            "/api/cms/delivery/blog-post",
            "/api/cms/delivery/blog-post/{entry}",
            "/api/cms/types/blog-post/entries",
            "/api/cms/entries/{id}/schedule",
        ] {
            assert!(paths.contains_key(path), "{path}");
        }
        let schemas = &document["components"]["schemas"];
        let data = &schemas["BlogPostData"];
        assert_eq!(data["required"], json!(["title"]));
        assert_eq!(
            data["properties"]["title"]["additionalProperties"],
            json!({"type": "string", "maxLength": 80})
        );
        assert_eq!(
            data["properties"]["title"]["propertyNames"]["enum"],
            json!(["en", "fr"])
        );
        let fields = &schemas["BlogPostFields"]["properties"];
        assert_eq!(fields["title"], json!({"type": "string", "maxLength": 80}));
        assert_eq!(fields["price"], json!({"type": "number", "minimum": 0.5}));
        assert_eq!(fields["tone"]["enum"], json!(["calm", "loud"]));
        assert!(
            fields["author"]["description"]
                .as_str()
                .unwrap()
                .contains("`author`")
        );
        assert_eq!(
            schemas["BlogPostEntry"]["properties"]["fields"]["$ref"],
            "#/components/schemas/BlogPostFields"
        );
    }

    #[test]
    fn schema_names_are_pascal_case() {
        assert_eq!(schema_name("blog-post"), "BlogPost");
        assert_eq!(schema_name("faq_item"), "FaqItem");
        assert_eq!(schema_name("a"), "A");
    }
}
