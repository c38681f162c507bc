//! `/api/<mount>/...`: turn the HTTP request into the WIT `request`, run
//! the plugin, and turn its `response` (or its failure) back into HTTP.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use tessera_host_api::Manifest;
use tessera_host_api::bindings::tessera::plugin::http_types::{
    Method as WitMethod, Request as WitRequest, Response as WitResponse,
};

use super::error::ApiError;
use super::{AppState, MAX_BODY_BYTES};
use crate::identity::{AuditEvent, Principal, actor_name};
use crate::runtime::{CallContext, CallError, LoadedPlugin};

/// Headers that describe one connection and are never forwarded.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The answer for a mount no plugin serves.
pub fn no_such_mount(mount: &str) -> Response<Full<Bytes>> {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "plugin_not_found",
        format!("no plugin is mounted at `/api/{mount}`; GET /plugins lists the mounts"),
    )
    .into_response()
}

/// Serve a request with `plugin`; `path` is the part below its mount.
pub async fn serve(
    state: &Arc<AppState>,
    plugin: Arc<LoadedPlugin>,
    request: Request<Incoming>,
    path: String,
    request_id: &str,
    principal: Arc<Principal>,
) -> Response<Full<Bytes>> {
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
    let context =
        CallContext::for_principal(request_id.to_owned(), principal, state.identity.clone());
    match state
        .runtime
        .call_handler(plugin.clone(), wit_request, context)
        .await
    {
        Ok(response) => from_wit_response(response, &plugin.manifest().plugin.mount),
        Err(error) => call_error(&error, request_id).into_response(),
    }
}

/// The refusal when the first `[[routes]]` rule of `manifest` matching
/// `method` and `path` names a permission `principal` lacks; none when the
/// request may go on.
pub(super) fn check_route(
    state: &AppState,
    manifest: &Manifest,
    plugin_id: &str,
    principal: &Principal,
    method: &str,
    path: &str,
) -> Option<Response<Full<Bytes>>> {
    let permission = manifest.route_permission(method, path)?;
    if principal.holds(permission) {
        return None;
    }
    Some(route_denied(state, plugin_id, principal, permission, path))
}

/// The answer when a `[[routes]]` rule refuses: 401 for an anonymous
/// caller, 403 (audited) for a signed-in one.
fn route_denied(
    state: &AppState,
    plugin_id: &str,
    principal: &Principal,
    permission: &str,
    path: &str,
) -> Response<Full<Bytes>> {
    if !principal.is_authenticated() {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            format!("sign in first: this route needs permission `{permission}`"),
        )
        .into_response();
    }
    if let Some(identity) = &state.identity {
        identity.audit().record_or_log(
            AuditEvent::new("access.denied", &principal.site, &actor_name(principal))
                .target(permission)
                .detail(format!("route {path} of plugin {plugin_id}")),
        );
    }
    ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        format!("permission `{permission}` is required for this route"),
    )
    .into_response()
}

pub(super) async fn into_wit_request(
    request: Request<Incoming>,
    path: String,
    request_id: &str,
) -> Result<WitRequest, ApiError> {
    let (parts, body) = request.into_parts();
    let body = Limited::new(body, MAX_BODY_BYTES)
        .collect()
        .await
        .map_err(|error| {
            if error.is::<http_body_util::LengthLimitError>() {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    format!("the request body exceeds {MAX_BODY_BYTES} bytes"),
                )
            } else {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_body",
                    format!("cannot read the request body: {error}"),
                )
            }
        })?
        .to_bytes();
    let headers = parts
        .headers
        .iter()
        .filter(|(name, _)| !HOP_BY_HOP.contains(&name.as_str()))
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect();
    Ok(WitRequest {
        method: wit_method(&parts.method),
        path,
        query: parts.uri.query().unwrap_or_default().to_owned(),
        headers,
        body: body.to_vec(),
        request_id: request_id.to_owned(),
    })
}

fn wit_method(method: &http::Method) -> WitMethod {
    match *method {
        http::Method::GET => WitMethod::Get,
        http::Method::HEAD => WitMethod::Head,
        http::Method::POST => WitMethod::Post,
        http::Method::PUT => WitMethod::Put,
        http::Method::PATCH => WitMethod::Patch,
        http::Method::DELETE => WitMethod::Delete,
        http::Method::OPTIONS => WitMethod::Options,
        ref other => WitMethod::Other(other.as_str().to_owned()),
    }
}

pub(super) fn from_wit_response(response: WitResponse, mount: &str) -> Response<Full<Bytes>> {
    let Ok(status) = StatusCode::from_u16(response.status) else {
        return ApiError::new(
            StatusCode::BAD_GATEWAY,
            "plugin_bad_response",
            format!(
                "the plugin at `/api/{mount}` answered with invalid status {}",
                response.status
            ),
        )
        .into_response();
    };
    let mut http_response = Response::new(Full::new(Bytes::from(response.body)));
    *http_response.status_mut() = status;
    let headers = http_response.headers_mut();
    for (name, value) in response.headers {
        match (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            (Ok(name), Ok(value)) if !HOP_BY_HOP.contains(&name.as_str()) => {
                headers.append(name, value);
            }
            _ => {
                tracing::warn!(mount, header = %name, "dropping an invalid header from a plugin response")
            }
        }
    }
    http_response
}

/// The HTTP error for a failed plugin call. Details stay in the log; the
/// client gets the kind of failure and the request id to quote.
fn call_error(error: &CallError, request_id: &str) -> ApiError {
    let (status, code) = match error {
        CallError::Trapped { .. } | CallError::Instantiate { .. } => {
            (StatusCode::INTERNAL_SERVER_ERROR, "plugin_failed")
        }
        CallError::Timeout { .. } => (StatusCode::GATEWAY_TIMEOUT, "plugin_timeout"),
        CallError::OutOfMemory { .. } => {
            (StatusCode::INTERNAL_SERVER_ERROR, "plugin_out_of_memory")
        }
        CallError::Overloaded => (StatusCode::SERVICE_UNAVAILABLE, "overloaded"),
    };
    ApiError::new(status, code, format!("{error} (request id {request_id})"))
}
