//! Dispatch of one request: kernel endpoints, or a plugin by mount. Adds the
//! request id, logs one line and records metrics.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use tracing::Instrument;

use crate::identity::DEFAULT_SITE;

use super::auth::Caller;
use super::error::ApiError;
use super::server::ClientAddress;
use super::{
    AppState, admin, admin_events, admin_identity, admin_jobs, auth, authn, console, native_route,
    plugin_route, request_id, system,
};

/// Serve one request. Never fails: errors become JSON responses.
pub async fn handle(
    state: Arc<AppState>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let started = Instant::now();
    let id = request_id::for_request(request.headers());
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let span = tracing::info_span!("request", request_id = %id);
    let may_leave_body_unread = has_http1_body(&request);
    let (route, mut response) = dispatch(&state, request, &id)
        .instrument(span.clone())
        .await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(request_id::HEADER, value);
    }
    if may_leave_body_unread && !response.status().is_success() {
        // A refusal (a permission or token check, a missing mount) may come
        // before the body was read; hyper then cannot reuse the connection,
        // so say so rather than let the client send its next request into
        // a closing socket.
        response
            .headers_mut()
            .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    }
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    state
        .runtime
        .metrics()
        .record_request(&route, method.as_str(), status, elapsed);
    span.in_scope(|| {
        tracing::info!(
            %method,
            %path,
            status,
            route,
            duration_us = elapsed.as_micros() as u64,
            "request"
        );
    });
    Ok(response)
}

/// Whether `request` is HTTP/1 and carries a body (HTTP/2 streams end on
/// their own and forbid the `Connection` header).
fn has_http1_body(request: &Request<Incoming>) -> bool {
    let http1 = matches!(
        request.version(),
        http::Version::HTTP_10 | http::Version::HTTP_11
    );
    let headers = request.headers();
    let sized = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok())
        .is_some_and(|length| length > 0);
    http1 && (sized || headers.contains_key(http::header::TRANSFER_ENCODING))
}

/// The route label (for metrics) and the response.
async fn dispatch(
    state: &Arc<AppState>,
    request: Request<Incoming>,
    id: &str,
) -> (String, Response<Full<Bytes>>) {
    let path = request.uri().path().to_owned();
    let kernel_endpoint = match (request.method(), path.as_str()) {
        (&Method::GET, "/healthz") => Some(system::health()),
        (&Method::GET, "/readyz") => Some(system::ready(state)),
        (&Method::GET, "/metrics") => Some(system::metrics(state)),
        (&Method::GET, "/openapi.json") => Some(system::openapi()),
        (&Method::GET, "/plugins") => Some(system::plugins(state)),
        (&Method::GET, console_path) if console::serves(console_path) => {
            Some(console::file(console_path))
        }
        _ => None,
    };
    if let Some(response) = kernel_endpoint {
        return (path, response);
    }
    // The site: a `/sites/<id>/` prefix (stripped here), else the Host.
    let (site, request, path) = match resolve_site(state, request, &path) {
        Ok(resolved) => resolved,
        Err(error) => return ("unmatched".to_owned(), error.into_response()),
    };
    let principal = match authn::authenticate(
        state.identity.as_deref(),
        &site,
        request.headers(),
        request.method(),
    ) {
        Ok(principal) => principal,
        Err(error) => return ("/auth".to_owned(), error.into_response()),
    };
    let caller = || Caller {
        site: site.clone(),
        principal: principal.clone(),
        address: request
            .extensions()
            .get::<ClientAddress>()
            .map(|address| address.0.to_string()),
    };
    if path == "/auth" || path.starts_with("/auth/") {
        let Some(identity) = state.identity.clone() else {
            return (
                "unmatched".to_owned(),
                ApiError::not_found(&path).into_response(),
            );
        };
        let caller = caller();
        return (
            "/auth".to_owned(),
            auth::handle(identity, request, caller).await,
        );
    }
    if admin_jobs::serves(&path) {
        let caller = caller();
        let response = admin_jobs::handle(state, request, caller).await;
        return ("/admin".to_owned(), response);
    }
    if admin_events::serves(&path) {
        let caller = caller();
        let response = admin_events::handle(state, request, caller).await;
        return ("/admin".to_owned(), response);
    }
    if admin_identity::serves(&path) {
        let Some(identity) = state.identity.clone() else {
            return (
                "unmatched".to_owned(),
                ApiError::not_found(&path).into_response(),
            );
        };
        let caller = caller();
        let response = admin_identity::handle(state, identity, request, caller).await;
        return ("/admin".to_owned(), response);
    }
    if path == "/admin" || path.starts_with("/admin/") {
        let caller = caller();
        let response = admin::handle(state, request, caller).await;
        return ("/admin".to_owned(), response);
    }
    if let Some(rest) = path.strip_prefix("/api/") {
        let (mount, plugin_path) = match rest.find('/') {
            Some(slash) => rest.split_at(slash),
            None => (rest, "/"),
        };
        let route = format!("/api/{mount}");
        let plugin_path = plugin_path.to_owned();
        if let Some(plugin) = state.runtime.by_mount(mount) {
            let response =
                plugin_route::serve(state, plugin, request, plugin_path, id, principal).await;
            return (route, response);
        }
        let native = state
            .lifecycle
            .as_ref()
            .and_then(|lifecycle| lifecycle.native().by_mount(mount));
        let Some(plugin) = native else {
            return ("unmatched".to_owned(), plugin_route::no_such_mount(mount));
        };
        let response =
            native_route::serve(state, plugin, request, plugin_path, id, principal).await;
        return (route, response);
    }
    (
        "unmatched".to_owned(),
        ApiError::not_found(&path).into_response(),
    )
}

/// The request's site and the request with any `/sites/<id>` prefix
/// removed from its URI.
fn resolve_site(
    state: &AppState,
    request: Request<Incoming>,
    path: &str,
) -> Result<(String, Request<Incoming>, String), ApiError> {
    let Some(identity) = state.identity.as_deref() else {
        return Ok((DEFAULT_SITE.to_owned(), request, path.to_owned()));
    };
    let Some((site, rest)) = authn::site_prefix(path) else {
        let host = request
            .headers()
            .get(http::header::HOST)
            .and_then(|value| value.to_str().ok())
            .or_else(|| request.uri().host());
        return Ok((identity.resolve_site(host), request, path.to_owned()));
    };
    let site = site.to_owned();
    match identity.site_exists(&site) {
        Ok(true) => {}
        Ok(false) => {
            return Err(ApiError::new(
                http::StatusCode::NOT_FOUND,
                "site_not_found",
                format!("no site `{site}` is configured; GET /admin/sites lists them"),
            ));
        }
        Err(error) => return Err(authn::identity_error(&error)),
    }
    let (mut parts, body) = request.into_parts();
    let path_and_query = match parts.uri.query() {
        Some(query) => format!("{rest}?{query}"),
        None => rest.clone(),
    };
    parts.uri = path_and_query.parse().map_err(|_| {
        ApiError::new(
            http::StatusCode::BAD_REQUEST,
            "bad_path",
            "the path after the site prefix is not a valid URI path",
        )
    })?;
    Ok((site, Request::from_parts(parts, body), rest))
}
