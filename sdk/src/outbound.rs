//! HTTP calls from the plugin to external services, only to the origins
//! listed under `capabilities.outbound` in `plugin.toml` (literally, or as
//! `{{ key }}`: the origins an administrator configures under `key`).
//!
//! The kernel sends the request with a time limit (the asked one, at most
//! 60 s and never past the plugin's own deadline), reads at most 8 MiB of
//! response, and follows no redirect. Failures map to [`Error`]s:
//! `not-permitted` → 403 `not_permitted`, `invalid-url` → 500
//! `invalid_url`, `timeout` → 504 `timeout`, anything else → 502
//! `bad_gateway` with the kernel's reason.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::tessera::plugin::outbound as wit;
pub use crate::bindings::tessera::plugin::outbound::{
    OutboundError, OutboundRequest, OutboundResponse,
};
use crate::error::Error;
use crate::http::Method;

/// Sends `request`; any answer, whatever its status, is `Ok`.
///
/// ```no_run
/// use tessera_sdk::Method;
/// use tessera_sdk::outbound::{self, OutboundRequest};
///
/// let response = outbound::send(&OutboundRequest {
///     method: Method::Get,
///     url: "https://erp.example.com/orders?since=42".into(),
///     headers: vec![("authorization".into(), "Bearer t0ken".into())],
///     body: Vec::new(),
///     timeout_ms: Some(5_000),
/// })?;
/// println!("{}", response.status);
/// # Ok::<(), tessera_sdk::Error>(())
/// ```
pub fn send(request: &OutboundRequest) -> Result<OutboundResponse, Error> {
    Ok(wit::send(request)?)
}

/// A request to `url` with `method` and no headers, body or time limit;
/// add them with struct update syntax.
///
/// ```
/// use tessera_sdk::Method;
/// use tessera_sdk::outbound::request;
///
/// let get = request(Method::Get, "https://erp.example.com/orders");
/// assert!(get.body.is_empty() && get.headers.is_empty());
/// ```
pub fn request(method: Method, url: &str) -> OutboundRequest {
    OutboundRequest {
        method,
        url: url.to_owned(),
        headers: Vec::new(),
        body: Vec::new(),
        timeout_ms: None,
    }
}

/// `POST url` with `body` as JSON and extra `headers`.
///
/// ```no_run
/// let response = tessera_sdk::outbound::post_json(
///     "https://hooks.example.com/in",
///     &serde_json::json!({ "hello": "world" }),
///     &[("x-signature", "abc")],
/// )?;
/// assert!(response.status < 500);
/// # Ok::<(), tessera_sdk::Error>(())
/// ```
pub fn post_json<T: Serialize + ?Sized>(
    url: &str,
    body: &T,
    headers: &[(&str, &str)],
) -> Result<OutboundResponse, Error> {
    let body = serde_json::to_vec(body)
        .map_err(|error| Error::internal(format!("cannot serialise the body: {error}")))?;
    let mut all = vec![("content-type".to_owned(), "application/json".to_owned())];
    all.extend(
        headers
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned())),
    );
    send(&OutboundRequest {
        headers: all,
        body,
        ..request(Method::Post, url)
    })
}

/// `GET url` with `headers`, parsing a 2xx JSON answer as a `T`; another
/// status is a 502 `upstream_status` naming it.
///
/// ```no_run
/// #[derive(serde::Deserialize)]
/// struct Page {
///     orders: Vec<serde_json::Value>,
/// }
///
/// let page: Page = tessera_sdk::outbound::get_json("https://erp.example.com/orders", &[])?;
/// # let _ = page.orders;
/// # Ok::<(), tessera_sdk::Error>(())
/// ```
pub fn get_json<T: DeserializeOwned>(url: &str, headers: &[(&str, &str)]) -> Result<T, Error> {
    let response = send(&OutboundRequest {
        headers: headers
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .chain([("accept".to_owned(), "application/json".to_owned())])
            .collect(),
        ..request(Method::Get, url)
    })?;
    if !(200..300).contains(&response.status) {
        return Err(Error::new(
            502,
            "upstream_status",
            format!("GET {url} answered {}", response.status),
        ));
    }
    serde_json::from_slice(&response.body).map_err(|error| {
        Error::new(
            502,
            "upstream_invalid",
            format!("GET {url} did not answer the expected JSON: {error}"),
        )
    })
}
