//! `GET /admin/jobs`: every scheduled job with its schedule, next run,
//! last run and whether it is running. Needs `admin.plugins.manage`.

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use serde_json::json;

use super::AppState;
use super::auth::{Caller, blocking};
use super::error::{ApiError, json_response};
use crate::identity::permission::PLUGINS_MANAGE;

/// Whether `path` is served here.
pub fn serves(path: &str) -> bool {
    path == "/admin/jobs"
}

/// Serve one request.
pub async fn handle(
    state: &Arc<AppState>,
    request: Request<Incoming>,
    caller: Caller,
) -> Response<Full<Bytes>> {
    let (Some(identity), Some(scheduler)) =
        (state.identity.clone(), state.runtime.scheduler().cloned())
    else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "jobs_disabled",
            "this kernel runs without a job scheduler",
        )
        .into_response();
    };
    if request.method() != Method::GET {
        return ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "only GET is served at /admin/jobs",
        )
        .into_response();
    }
    let principal = caller.principal.clone();
    if let Err(error) = blocking(move || identity.require(&principal, PLUGINS_MANAGE)).await {
        return error.into_response();
    }
    let jobs: Vec<_> = scheduler
        .jobs()
        .into_iter()
        .map(|(job, running)| {
            json!({
                "plugin": job.plugin,
                "name": job.name,
                "timing": job.timing,
                "next_run": job.next_run,
                "runs": job.runs,
                "failures": job.failures,
                "last_run": job.last_run,
                "running": running,
            })
        })
        .collect();
    json_response(StatusCode::OK, &json!({ "jobs": jobs }))
}
