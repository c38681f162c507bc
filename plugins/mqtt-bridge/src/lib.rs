//! `tessera.mqtt-bridge`: a trusted native plugin (native ABI 2) whose
//! background worker subscribes to device telemetry on an MQTT broker
//! (`tessera/{site}/devices/{device}/telemetry` by default) and publishes
//! each message as an `iot.mqtt.telemetry` event, which `tessera.iot`
//! stores like telemetry sent over HTTP. See `docs/iot.md`.
//!
//! - `GET /` answers the bridge's status: connected, connections,
//!   messages received, published and dropped, and the last error.

pub mod bridge;
pub mod message;
pub mod settings;
mod status;

use serde_json::json;
use tessera_host_api::native::{NativeRequest, NativeResponse};

/// Serve one request under the plugin's mount.
pub fn handle(request: NativeRequest) -> NativeResponse {
    match (request.method.as_str(), request.path.as_str()) {
        ("GET", "/") => NativeResponse::json(200, &status::STATUS.view()),
        (_, "/") => NativeResponse::json(
            405,
            &json!({ "error": { "code": "method_not_allowed", "message": "use GET" } }),
        )
        .with_header("allow", "GET"),
        (_, path) => NativeResponse::json(
            404,
            &json!({ "error": { "code": "not_found", "message": format!("no route for {path}") } }),
        ),
    }
}

tessera_host_api::export_native_plugin!(
    handle,
    tessera_host_api::native::guest::acknowledge_event,
    bridge::run
);
