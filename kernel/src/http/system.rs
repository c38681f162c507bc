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

/// `/plugins`: the loaded plugins, WebAssembly and native, sorted by id,
/// with their kind, versions, mounts and (WebAssembly) the contract version
/// each was built against.
pub fn plugins(state: &AppState) -> Response<Full<Bytes>> {
    let describe = |manifest: &tessera_host_api::Manifest,
                    kind: &str,
                    digest: &str,
                    contract: Option<String>| {
        let info = &manifest.plugin;
        json!({
            "id": info.id,
            "version": info.version.to_string(),
            "name": info.name,
            "description": info.description,
            "mount": info.mount,
            "kind": kind,
            "digest": digest,
            "contract": contract,
        })
    };
    let mut plugins: Vec<(String, serde_json::Value)> = state
        .runtime
        .plugins()
        .iter()
        .map(|plugin| {
            let contract = plugin.contract().version().to_string();
            let value = describe(plugin.manifest(), "wasm", plugin.digest(), Some(contract));
            (plugin.id().to_owned(), value)
        })
        .collect();
    if let Some(lifecycle) = &state.lifecycle {
        plugins.extend(lifecycle.native().plugins().iter().map(|plugin| {
            let value = describe(plugin.manifest(), "native", plugin.digest(), None);
            (plugin.id().to_owned(), value)
        }));
    }
    plugins.sort_by(|a, b| a.0.cmp(&b.0));
    let plugins: Vec<_> = plugins.into_iter().map(|(_, value)| value).collect();
    json_response(StatusCode::OK, &json!({ "plugins": plugins }))
}
