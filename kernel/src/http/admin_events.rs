//! `/admin/events...`: the event log, subscriptions and dead letters.
//!
//! | method and path | needs | does |
//! |---|---|---|
//! | `GET /admin/events?topic=&after=&limit=` | `admin.events.read` | events in log order (`topic` is a prefix) |
//! | `GET /admin/events/topics` | `admin.events.read` | every topic with its count and newest event |
//! | `GET /admin/events/subscriptions` | `admin.events.read` | each subscribing plugin's cursor, lag and state |
//! | `GET /admin/events/dead-letters?plugin=` | `admin.events.read` | events a plugin failed to handle |
//! | `POST /admin/events/dead-letters/{plugin}/{seq}/replay` | `admin.events.manage` | deliver one again |
//! | `GET /admin/events/retention` | `admin.events.read` | the retention policy in force |
//! | `POST /admin/events/compact` | `admin.events.manage` | remove expired events now |

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use serde_json::json;

use super::AppState;
use super::auth::{Caller, blocking};
use super::error::{ApiError, json_response};
use super::query::param as query_param;
use crate::events::{EventBus, ReplayError};
use crate::identity::permission::{EVENTS_MANAGE, EVENTS_READ};
use crate::identity::{AuditEvent, IdentityError, actor_name};

/// Whether `path` is served here.
pub fn serves(path: &str) -> bool {
    path == "/admin/events" || path.starts_with("/admin/events/")
}

fn storage_error(error: &dyn std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "event_log_unavailable",
        format!("the event log cannot be read: {error}"),
    )
}

/// Serve one request.
pub async fn handle(
    state: &Arc<AppState>,
    request: Request<Incoming>,
    caller: Caller,
) -> Response<Full<Bytes>> {
    match route(state, request, caller).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn route(
    state: &Arc<AppState>,
    request: Request<Incoming>,
    caller: Caller,
) -> Result<Response<Full<Bytes>>, ApiError> {
    let (Some(identity), Some(bus)) = (state.identity.clone(), state.runtime.event_bus().cloned())
    else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "events_disabled",
            "this kernel runs without an event bus",
        ));
    };
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or_default().to_owned();
    let method = request.method().clone();
    let segments: Vec<String> = path
        .trim_start_matches("/admin/events")
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let needed = if method == Method::POST {
        EVENTS_MANAGE
    } else {
        EVENTS_READ
    };
    let principal = caller.principal.clone();
    {
        let identity = identity.clone();
        let principal = principal.clone();
        blocking(move || identity.require(&principal, needed)).await?;
    }
    let ok = |body: serde_json::Value| json_response(StatusCode::OK, &body);
    match (&method, segments.as_slice()) {
        (&Method::GET, []) => {
            let after = query_param(&query, "after")
                .and_then(|after| after.parse().ok())
                .unwrap_or(0);
            let limit = query_param(&query, "limit")
                .and_then(|limit| limit.parse().ok())
                .unwrap_or(100_usize)
                .min(1000);
            let topic = query_param(&query, "topic");
            let events = read(&bus, move |bus| {
                bus.log().read(topic.as_deref(), after, limit)
            })
            .await?;
            let events: Vec<_> = events.iter().map(|event| event.view()).collect();
            Ok(ok(
                json!({ "events": events, "last_seq": bus.log().last_seq() }),
            ))
        }
        (&Method::GET, ["topics"]) => {
            let events = read(&bus, |bus| bus.log().read(None, 0, usize::MAX)).await?;
            let mut topics: BTreeMap<String, (u64, u64)> = BTreeMap::new();
            for event in events {
                let entry = topics.entry(event.topic).or_default();
                entry.0 += 1;
                entry.1 = event.seq;
            }
            let topics: Vec<_> = topics
                .into_iter()
                .map(|(topic, (count, last))| json!({ "topic": topic, "count": count, "last_seq": last }))
                .collect();
            Ok(ok(json!({ "topics": topics })))
        }
        (&Method::GET, ["subscriptions"]) => {
            let subscriptions = read(&bus, |bus| bus.subscriptions()).await?;
            Ok(ok(
                json!({ "subscriptions": subscriptions, "last_seq": bus.log().last_seq() }),
            ))
        }
        (&Method::GET, ["dead-letters"]) => {
            let plugin = query_param(&query, "plugin");
            let dead = read(&bus, move |bus| bus.dead_letters(plugin.as_deref())).await?;
            Ok(ok(json!({ "dead_letters": dead })))
        }
        (&Method::GET, ["retention"]) => {
            let policy = bus.retention();
            Ok(ok(json!({
                "retention_seconds": policy.keep_for.as_secs(),
                "compact_every_seconds": policy.compact_every.as_secs(),
                "oldest_seq": read(&bus, |bus| bus.log().read(None, 0, 1)).await?.first().map(|event| event.seq),
                "last_seq": bus.log().last_seq(),
            })))
        }
        (&Method::POST, ["compact"]) => {
            let compaction = read(&bus, |bus| bus.compact()).await?;
            identity.audit().record_or_log(
                AuditEvent::new("event.log.compacted", &caller.site, &actor_name(&principal))
                    .target("kernel/events")
                    .detail(format!(
                        "{} removed, handled through {}",
                        compaction.removed, compaction.handled_through
                    )),
            );
            Ok(ok(json!({ "compaction": compaction })))
        }
        (&Method::POST, ["dead-letters", plugin, seq, "replay"]) => {
            let seq: u64 = seq.parse().map_err(|_| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    format!("`{seq}` is not an event sequence number"),
                )
            })?;
            let plugin = (*plugin).to_owned();
            let outcome = bus.replay(&plugin, seq).await;
            identity.audit().record_or_log(
                AuditEvent::new("event.replayed", &caller.site, &actor_name(&principal))
                    .target(format!("{plugin}#{seq}"))
                    .detail(match &outcome {
                        Ok(()) => "delivered".to_owned(),
                        Err(error) => error.to_string(),
                    }),
            );
            match outcome {
                Ok(()) => Ok(ok(
                    json!({ "replayed": true, "plugin": plugin, "seq": seq }),
                )),
                Err(error @ ReplayError::NotFound { .. }) => Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    error.to_string(),
                )),
                Err(error @ ReplayError::NotRunning(_)) => Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "plugin_not_running",
                    error.to_string(),
                )),
                Err(error @ ReplayError::FailedAgain { .. }) => Err(ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "replay_failed",
                    error.to_string(),
                )),
                Err(ReplayError::Storage(error)) => Err(storage_error(&error)),
            }
        }
        _ => Err(ApiError::not_found(&path)),
    }
}

/// Run a read of the bus on the blocking pool.
async fn read<T: Send + 'static>(
    bus: &Arc<EventBus>,
    operation: impl FnOnce(&EventBus) -> Result<T, crate::storage::StorageError> + Send + 'static,
) -> Result<T, ApiError> {
    let bus = bus.clone();
    blocking(move || operation(&bus).map_err(IdentityError::from)).await
}
