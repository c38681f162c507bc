//! `/admin/plugins...`: the module lifecycle over HTTP, for the admin
//! console and `tessera admin`. Every route needs the admin token.
//!
//! | method and path | does |
//! |---|---|
//! | `GET /admin/plugins` | list installed plugins |
//! | `POST /admin/plugins` | install the `.tpkg` in the body |
//! | `GET /admin/plugins/{id}` | one plugin, with its quota limits and usage |
//! | `GET /admin/plugins/{id}/quota` | its quota limits and usage |
//! | `PUT /admin/plugins/{id}/quota` | replace its quota limits (JSON body), saved in `<data>/quotas.toml` |
//! | `POST /admin/plugins/{id}/upgrade` | upgrade to the `.tpkg` in the body |
//! | `POST /admin/plugins/{id}/rollback` | back to the previous version |
//! | `POST /admin/plugins/{id}/enable`, `/disable` | serve, or stop serving |
//! | `DELETE /admin/plugins/{id}` | uninstall (`?purge=true` deletes its data) |
//!
//! Install and upgrade take `?consent=true` (the administrator accepts the
//! capabilities the package asks for) and `?allow-untrusted=true` (the
//! development flag for unsigned or untrusted packages).

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde_json::json;

use super::AppState;
use super::auth::{Caller, blocking};
use super::error::{ApiError, json_response};
use crate::identity::actor_name;
use crate::identity::{AuditEvent, permission};
use crate::lifecycle::{InstallOptions, Lifecycle, LifecycleError};
use crate::package::limits::MAX_FILE;
use crate::quota::QuotaLimits;

/// Largest quota body accepted, in bytes.
const MAX_QUOTA_BODY: usize = 16 << 10;

/// Serve one `/admin/plugins...` request for `caller`, who needs
/// `admin.plugins.manage`. Every change is written to the audit log.
pub async fn handle(
    state: &Arc<AppState>,
    request: Request<Incoming>,
    caller: Caller,
) -> Response<Full<Bytes>> {
    let (Some(identity), Some(lifecycle)) = (&state.identity, &state.lifecycle) else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "admin_disabled",
            "the admin API is not enabled in this kernel",
        )
        .into_response();
    };
    let principal = caller.principal.clone();
    {
        let identity = identity.clone();
        let principal = principal.clone();
        if let Err(error) =
            blocking(move || identity.require(&principal, permission::PLUGINS_MANAGE)).await
        {
            return error.into_response();
        }
    }
    let action = audit_action(request.method(), request.uri().path());
    let response = match route(lifecycle, request).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    };
    if let Some((action, target)) = action
        && response.status().is_success()
    {
        identity.audit().record_or_log(
            AuditEvent::new(&action, &caller.site, &actor_name(&principal))
                .target(target)
                .address(caller.address.as_deref()),
        );
    }
    response
}

/// The audit action and target of a state-changing plugin request.
fn audit_action(method: &Method, path: &str) -> Option<(String, String)> {
    let segments: Vec<&str> = path
        .trim_start_matches("/admin/plugins")
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let (action, target) = match (method, segments.as_slice()) {
        (&Method::POST, []) => ("plugin.installed", "(from package)"),
        (&Method::POST, [id, "upgrade"]) => ("plugin.upgraded", *id),
        (&Method::POST, [id, "rollback"]) => ("plugin.rolled-back", *id),
        (&Method::POST, [id, "enable"]) => ("plugin.enabled", *id),
        (&Method::POST, [id, "disable"]) => ("plugin.disabled", *id),
        (&Method::DELETE, [id]) => ("plugin.uninstalled", *id),
        (&Method::PUT, [id, rest @ ..]) if !rest.is_empty() => ("plugin.settings-changed", *id),
        _ => return None,
    };
    Some((action.to_owned(), target.to_owned()))
}

async fn route(
    lifecycle: &Lifecycle,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, ApiError> {
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or_default().to_owned();
    let rest = path
        .strip_prefix("/admin/plugins")
        .ok_or_else(|| ApiError::not_found(&path))?;
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let method = request.method().clone();
    match (&method, segments.as_slice()) {
        (&Method::GET, []) => {
            let plugins = lifecycle.list().map_err(lifecycle_error)?;
            Ok(json_response(
                StatusCode::OK,
                &json!({ "plugins": plugins }),
            ))
        }
        (&Method::POST, []) => {
            let body = read_package(request).await?;
            let status = lifecycle
                .install(&body, install_options(&query))
                .await
                .map_err(lifecycle_error)?;
            Ok(json_response(
                StatusCode::CREATED,
                &json!({ "plugin": status }),
            ))
        }
        (&Method::POST, ["inspect"]) => {
            let body = read_package(request).await?;
            let description = lifecycle.inspect(&body).map_err(lifecycle_error)?;
            Ok(json_response(StatusCode::OK, &description))
        }
        (&Method::GET, [id]) => {
            let status = lifecycle.get(id).map_err(lifecycle_error)?;
            Ok(json_response(StatusCode::OK, &json!({ "plugin": status })))
        }
        (&Method::DELETE, [id]) => {
            let purge = flag(&query, "purge");
            lifecycle
                .uninstall(id, purge)
                .await
                .map_err(lifecycle_error)?;
            Ok(json_response(
                StatusCode::OK,
                &json!({ "uninstalled": id, "data_deleted": purge }),
            ))
        }
        (&Method::GET, [id, "quota"]) => {
            let quota = lifecycle.quota(id).map_err(lifecycle_error)?;
            Ok(json_response(
                StatusCode::OK,
                &json!({ "id": id, "quota": quota }),
            ))
        }
        (&Method::PUT, [id, "quota"]) => {
            let id = (*id).to_owned();
            let limits = read_limits(request).await?;
            let quota = lifecycle
                .set_quota(&id, limits)
                .await
                .map_err(lifecycle_error)?;
            Ok(json_response(
                StatusCode::OK,
                &json!({ "id": id, "quota": quota }),
            ))
        }
        (&Method::POST, [id, "upgrade"]) => {
            let id = (*id).to_owned();
            let body = read_package(request).await?;
            let offered = crate::package::Package::from_bytes(&body)
                .map_err(|error| lifecycle_error(error.into()))?;
            if offered.manifest().plugin.id != id {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "wrong_plugin",
                    format!(
                        "the package is for `{}`, not `{id}`",
                        offered.manifest().plugin.id
                    ),
                ));
            }
            let status = lifecycle
                .upgrade(&body, install_options(&query))
                .await
                .map_err(lifecycle_error)?;
            Ok(json_response(StatusCode::OK, &json!({ "plugin": status })))
        }
        (&Method::POST, [id, action]) => {
            let outcome = match *action {
                "rollback" => lifecycle.rollback(id).await,
                "enable" => lifecycle.enable(id).await,
                "disable" => lifecycle.disable(id).await,
                _ => return Err(ApiError::not_found(&path)),
            };
            let status = outcome.map_err(lifecycle_error)?;
            Ok(json_response(StatusCode::OK, &json!({ "plugin": status })))
        }
        _ => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("{method} is not allowed on {path}"),
        )),
    }
}

fn install_options(query: &str) -> InstallOptions {
    InstallOptions {
        allow_untrusted: flag(query, "allow-untrusted"),
        consent: flag(query, "consent"),
    }
}

/// Whether `name=true` (or a bare `name`) is in the query string.
fn flag(query: &str, name: &str) -> bool {
    query.split('&').any(|pair| {
        pair == name
            || pair
                .strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('='))
                == Some("true")
    })
}

async fn read_package(request: Request<Incoming>) -> Result<Vec<u8>, ApiError> {
    let limit = usize::try_from(MAX_FILE).unwrap_or(usize::MAX);
    let body = Limited::new(request.into_body(), limit)
        .collect()
        .await
        .map_err(|error| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "package_too_large",
                format!("cannot read the package (at most {limit} bytes): {error}"),
            )
        })?
        .to_bytes();
    if body.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_package",
            "send the .tpkg file as the request body",
        ));
    }
    Ok(body.to_vec())
}

/// The quota limits in a JSON body: an object with any of the keys
/// `storage-bytes`, `storage-ops-per-second`, `events-per-second`,
/// `outbound-per-minute` (a number, or `null` for unlimited).
async fn read_limits(request: Request<Incoming>) -> Result<QuotaLimits, ApiError> {
    let bad = |message: String| ApiError::new(StatusCode::BAD_REQUEST, "bad_quota", message);
    let body = Limited::new(request.into_body(), MAX_QUOTA_BODY)
        .collect()
        .await
        .map_err(|error| bad(format!("cannot read the quota limits: {error}")))?
        .to_bytes();
    serde_json::from_slice(&body).map_err(|error| {
        bad(format!(
            "the body must be a JSON object of quota limits, e.g. {{\"storage-bytes\": 1048576, \"outbound-per-minute\": 60}}, with the keys storage-bytes, storage-ops-per-second, events-per-second, outbound-per-minute (null or absent: unlimited): {error}"
        ))
    })
}

fn lifecycle_error(error: LifecycleError) -> ApiError {
    if !matches!(error.status(), StatusCode::INTERNAL_SERVER_ERROR) {
        tracing::warn!(code = error.code(), "admin request refused: {error}");
    } else {
        tracing::error!(code = error.code(), "admin request failed: {error}");
    }
    ApiError::new(error.status(), error.code(), error.to_string())
}
