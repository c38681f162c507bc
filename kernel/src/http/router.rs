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

use super::error::ApiError;
use super::{AppState, admin, native_route, plugin_route, request_id, system};

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
    let (route, mut response) = dispatch(&state, request, &id)
        .instrument(span.clone())
        .await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(request_id::HEADER, value);
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
        _ => None,
    };
    if let Some(response) = kernel_endpoint {
        return (path, response);
    }
    if path == "/admin" || path.starts_with("/admin/") {
        let response = admin::handle(state, request).await;
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
            let response = plugin_route::serve(state, plugin, request, plugin_path, id).await;
            return (route, response);
        }
        let native = state
            .lifecycle
            .as_ref()
            .and_then(|lifecycle| lifecycle.native().by_mount(mount));
        let Some(plugin) = native else {
            return ("unmatched".to_owned(), plugin_route::no_such_mount(mount));
        };
        let response = native_route::serve(state, plugin, request, plugin_path, id).await;
        return (route, response);
    }
    (
        "unmatched".to_owned(),
        ApiError::not_found(&path).into_response(),
    )
}
