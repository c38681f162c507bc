//! `tessera.portal`: the customer-portal starter. It serves one page (HTML,
//! script and style compiled in) at `/api/portal/`; the page signs the
//! buyer in and composes the dashboard in the browser from the headless
//! APIs of the other plugins: the experience `portal` of the
//! personalisation plugin chooses the blocks per segment, the CMS serves
//! the welcome text (its variant per segment), commerce the orders,
//! invoices and re-orders, the ERP connector the ERP's invoices, IoT the
//! company's devices. See `docs/portal.md`.

use tessera_sdk::prelude::*;

const PAGE: &str = include_str!("../assets/index.html");
const SCRIPT: &str = include_str!("../assets/portal.js");
const STYLE: &str = include_str!("../assets/portal.css");

/// The plugin.
pub struct Portal;

fn file(body: &str, content_type: &str) -> Response {
    Response {
        status: 200,
        headers: vec![("content-type".to_owned(), content_type.to_owned())],
        body: body.as_bytes().to_vec(),
    }
    .with_header(
            "content-security-policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'",
        )
        .with_header("x-content-type-options", "nosniff")
        .with_header("cache-control", "no-cache")
}

fn page(_: &Request, _: &Params) -> Result<Response, Error> {
    Ok(file(PAGE, "text/html; charset=utf-8"))
}

fn script(_: &Request, _: &Params) -> Result<Response, Error> {
    Ok(file(SCRIPT, "text/javascript; charset=utf-8"))
}

fn style(_: &Request, _: &Params) -> Result<Response, Error> {
    Ok(file(STYLE, "text/css; charset=utf-8"))
}

impl Plugin for Portal {
    fn router() -> Router {
        Router::new()
            .get("/", page)
            .get("/portal.js", script)
            .get("/portal.css", style)
    }
}

export_plugin!(Portal);
