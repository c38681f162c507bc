//! `/api/<mount>/...` for a native plugin: the same request, response and
//! error mapping as for a WebAssembly plugin ([`plugin_route`](super::plugin_route)),
//! with the call made through the native ABI on the blocking pool.

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use tessera_host_api::bindings::tessera::plugin::http_types::{
    Method as WitMethod, Request as WitRequest, Response as WitResponse,
};

use super::AppState;
use super::error::ApiError;
use super::plugin_route::{check_route, from_wit_response, into_wit_request};
use crate::identity::Principal;
use crate::native::{LoadedNative, NativeError, NativeRequest};

/// Serve a request with the native `plugin`; `path` is the part below its
/// mount.
pub async fn serve(
    state: &Arc<AppState>,
    plugin: Arc<LoadedNative>,
    request: Request<Incoming>,
    path: String,
    request_id: &str,
    principal: Arc<Principal>,
) -> Response<Full<Bytes>> {
    // The native ABI carries no principal, but the manifest's route rules
    // are enforced all the same.
    let method = request.method().as_str();
    if let Some(refusal) = check_route(
        state,
        plugin.manifest(),
        plugin.id(),
        &principal,
        method,
        &path,
    ) {
        return refusal;
    }
    let wit_request = match into_wit_request(request, path, request_id).await {
        Ok(wit_request) => wit_request,
        Err(error) => return error.into_response(),
    };
    match plugin
        .plugin()
        .handle_async(native_request(wit_request))
        .await
    {
        Ok(response) => from_wit_response(
            WitResponse {
                status: response.status,
                headers: response.headers,
                body: response.body,
            },
            &plugin.manifest().plugin.mount,
        ),
        Err(error) => {
            let kind = failure_kind(&error);
            tracing::error!(plugin = %plugin.id(), kind, %error, "native plugin call failed");
            state
                .runtime
                .metrics()
                .record_plugin_failure(plugin.id(), kind);
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "plugin_failed",
                format!(
                    "native plugin `{}` failed ({kind}); the kernel log has the details (request id {request_id})",
                    plugin.id()
                ),
            )
            .into_response()
        }
    }
}

/// The WIT request as the native ABI's record.
fn native_request(request: WitRequest) -> NativeRequest {
    let method = match request.method {
        WitMethod::Get => "GET".to_owned(),
        WitMethod::Head => "HEAD".to_owned(),
        WitMethod::Post => "POST".to_owned(),
        WitMethod::Put => "PUT".to_owned(),
        WitMethod::Patch => "PATCH".to_owned(),
        WitMethod::Delete => "DELETE".to_owned(),
        WitMethod::Options => "OPTIONS".to_owned(),
        WitMethod::Other(other) => other,
    };
    NativeRequest {
        method,
        path: request.path,
        query: request.query,
        headers: request.headers,
        body: request.body,
        request_id: request.request_id,
    }
}

/// A short label for the failure, for the client and for
/// `tessera_plugin_failures_total`.
fn failure_kind(error: &NativeError) -> &'static str {
    match error {
        NativeError::Panicked { .. } => "panic",
        NativeError::Failed { .. } => "failed",
        NativeError::BadInput { .. } => "bad_input",
        NativeError::BadOutput { .. } => "bad_output",
        NativeError::UnknownStatus { .. } => "unknown_status",
        NativeError::Abandoned { .. } => "abandoned",
        _ => "native",
    }
}
