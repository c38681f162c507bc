//! The catalog API: products and categories (staff write, everybody reads
//! what is published), the filtered listing with cursor pagination over
//! the listing indexes, and search.

use serde_json::Value;
use tessera_sdk::prelude::*;

use crate::catalog::{Category, Product, ProductInput, check_texts, localised};
use crate::catalog_store::{self, index_prefix};
use crate::context::{CATALOG, now, principal, setting, slug, staff};
use crate::inventory;
use crate::listing::Filter;
use crate::money;
use crate::paging;
use crate::pricer;
use crate::rules_store;

/// `PUT /products/{id}`: creates (201) or replaces (200) a product.
pub fn put_product(request: &Request, params: &Params) -> Result<Response, Error> {
    let (site, _) = staff(CATALOG)?;
    let id = slug("product", params.require("id")?)?;
    let input: ProductInput = request.json()?;
    input.validate()?;
    for category in &input.categories {
        if catalog_store::category(&site, category)?.is_none() {
            return Err(Error::new(
                422,
                "unknown_category",
                format!("no category `{category}`: create it first"),
            ));
        }
    }
    let previous = catalog_store::product(&site, id)?;
    let at = now();
    let product = Product {
        id: id.to_owned(),
        input,
        created_at: previous.as_ref().map_or(at, |previous| previous.created_at),
        updated_at: at,
    };
    catalog_store::put_product(&site, &product, previous.as_ref())?;
    let status = if previous.is_some() { 200 } else { 201 };
    Ok(Response::json(status, &product))
}

/// `DELETE /products/{id}`.
pub fn delete_product(_: &Request, params: &Params) -> Result<Response, Error> {
    let (site, _) = staff(CATALOG)?;
    let id = params.require("id")?;
    let product = catalog_store::product(&site, id)?.ok_or_else(|| unknown_product(id))?;
    catalog_store::delete_product(&site, &product)?;
    Ok(Response::empty(204))
}

fn unknown_product(id: &str) -> Error {
    Error::new(404, "unknown_product", format!("no product `{id}`"))
}

/// How a product is shown: in a locale, with prices in a currency.
struct Render {
    site: String,
    locale: String,
    fallback: String,
    pricing: Option<(Vec<crate::pricing::PriceList>, crate::pricing::Customer)>,
    stock: bool,
}

impl Render {
    fn new(request: &Request, stock: bool) -> Result<Self, Error> {
        let principal = principal();
        let pricing = match request.query("currency") {
            Some(currency) => {
                money::currency(&currency)?;
                let user = principal.user.as_ref().map(|user| user.id.as_str());
                Some((
                    rules_store::price_lists(&principal.site)?,
                    pricer::customer(&principal.site, user, &currency)?,
                ))
            }
            None => None,
        };
        let fallback = setting("default-locale", "en");
        Ok(Self {
            site: principal.site,
            locale: request.query("locale").unwrap_or_else(|| fallback.clone()),
            fallback,
            pricing,
            stock,
        })
    }

    fn product(&self, product: &Product) -> Result<Value, Error> {
        let mut variants = Vec::new();
        for variant in &product.input.variants {
            let mut value = json!(variant);
            if let (Some((lists, customer)), Value::Object(map)) = (&self.pricing, &mut value) {
                let resolved = crate::pricing::resolve(lists, customer, 1, |list| {
                    rules_store::tiers(&self.site, list, &variant.sku)
                })?;
                map.insert(
                    "price".into(),
                    match resolved {
                        Some(resolved) => json!({
                            "amount": resolved.unit,
                            "currency": customer.currency,
                            "price_list": resolved.list,
                            "tiers": resolved.tiers,
                        }),
                        None => Value::Null,
                    },
                );
            }
            if let (true, Value::Object(map)) = (self.stock, &mut value) {
                map.insert(
                    "available".into(),
                    json!(inventory::available(&self.site, &variant.sku)?),
                );
            }
            variants.push(value);
        }
        let input = &product.input;
        Ok(json!({
            "id": product.id,
            "name": localised(&input.names, &self.locale, &self.fallback),
            "description": localised(&input.descriptions, &self.locale, &self.fallback),
            "names": input.names,
            "descriptions": input.descriptions,
            "categories": input.categories,
            "attributes": input.attributes,
            "assets": input.assets,
            "status": input.status,
            "variants": variants,
            "created_at": product.created_at,
            "updated_at": product.updated_at,
        }))
    }
}

/// `GET /products/{id}?locale=&currency=`: a published product (staff see
/// drafts too), with prices for the caller in `currency` and the units
/// available per variant.
pub fn get_product(request: &Request, params: &Params) -> Result<Response, Error> {
    let render = Render::new(request, true)?;
    let id = params.require("id")?;
    let product = catalog_store::product(&render.site, id)?
        .filter(|product| product.published() || identity::check(CATALOG, None))
        .ok_or_else(|| unknown_product(id))?;
    Ok(Response::ok_json(&render.product(&product)?))
}

/// `GET /products?category=&q=&attribute.{name}=&status=all&cursor=&limit=&locale=&currency=`:
/// published products in id order, a page at a time, read from the
/// narrowest index (search word, category, all published); `status=all`
/// (staff) includes drafts.
pub fn list_products(request: &Request, _: &Params) -> Result<Response, Error> {
    let render = Render::new(request, false)?;
    let drafts = request.query("status").as_deref() == Some("all");
    if drafts {
        staff(CATALOG)?;
    }
    let words: Vec<String> = request
        .query("q")
        .map(|q| crate::catalog::words(&q).into_iter().collect())
        .unwrap_or_default();
    if request.query("q").is_some() && words.is_empty() {
        return Err(Error::new(
            400,
            "invalid_query",
            "`q` needs a word of at least two letters or digits",
        ));
    }
    let category = request.query("category");
    if let Some(category) = &category {
        slug("category", category)?;
    }
    let attributes = request
        .query_pairs()
        .into_iter()
        .filter_map(|(key, value)| {
            key.strip_prefix("attribute.")
                .map(|name| (name.to_owned(), value))
        })
        .collect();
    let filter = Filter {
        category,
        words,
        attributes,
        drafts,
    };
    let index = filter.index();
    let limit = paging::limit(request.query("limit"))?;
    let prefix = index_prefix(&render.site, &index);
    let page = paging::page(&prefix, request.query("cursor").as_deref(), limit, |id| {
        match catalog_store::product(&render.site, id)? {
            Some(product) if filter.matches(&product) => render.product(&product).map(Some),
            _ => Ok(None),
        }
    })?;
    Ok(Response::ok_json(
        &json!({"products": page.items, "next_cursor": page.next}),
    ))
}

/// `PUT /categories/{id}` `{"names": {...}, "parent": "..."}`.
pub fn put_category(request: &Request, params: &Params) -> Result<Response, Error> {
    let (site, _) = staff(CATALOG)?;
    let id = slug("category", params.require("id")?)?;
    let mut category: Category = request.json()?;
    category.id = id.to_owned();
    check_texts("names", &category.names, true, 200)?;
    if let Some(parent) = &category.parent
        && (parent == id || catalog_store::category(&site, parent)?.is_none())
    {
        return Err(Error::new(
            422,
            "unknown_category",
            format!("`parent`: no category `{parent}`"),
        ));
    }
    let existed = catalog_store::category(&site, id)?.is_some();
    catalog_store::put_category(&site, &category)?;
    Ok(Response::json(if existed { 200 } else { 201 }, &category))
}

/// `GET /categories`.
pub fn list_categories(_: &Request, _: &Params) -> Result<Response, Error> {
    let site = principal().site;
    Ok(Response::ok_json(
        &json!({"categories": catalog_store::categories(&site)?}),
    ))
}
