//! Kernel endpoints: health, readiness, metrics, the OpenAPI description and
//! the list of loaded plugins.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;
use serde_json::json;

use super::AppState;
use super::error::{ApiError, json_response};

/// The HTTP API description, served at `/openapi.json`.
const OPENAPI: &str = include_str!("../../../docs/openapi.json");

/// `/healthz`: the process is up.
pub fn health() -> Response<Full<Bytes>> {
    json_response(StatusCode::OK, &json!({ "status": "ok" }))
}

/// `/readyz`: plugins are loaded and the kernel is not draining.
pub fn ready(state: &AppState) -> Response<Full<Bytes>> {
    if state.ready.load(Ordering::Acquire) {
        json_response(StatusCode::OK, &json!({ "status": "ready" }))
    } else {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "the kernel is starting or shutting down",
        )
        .into_response()
    }
}

/// `/metrics`: Prometheus text format.
pub fn metrics(state: &AppState) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(state.runtime.metrics().encode())));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// `/openapi.json`.
pub fn openapi() -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(OPENAPI.as_bytes())));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// `/plugins`: the loaded plugins, their versions and mounts.
pub fn plugins(state: &AppState) -> Response<Full<Bytes>> {
    let plugins: Vec<_> = state
        .runtime
        .plugins()
        .iter()
        .map(|plugin| {
            let info = &plugin.manifest().plugin;
            json!({
                "id": info.id,
                "version": info.version.to_string(),
                "name": info.name,
                "description": info.description,
                "mount": info.mount,
                "digest": plugin.digest(),
            })
        })
        .collect();
    json_response(StatusCode::OK, &json!({ "plugins": plugins }))
}
