//! Seeding a plugin's data for a benchmark: calls straight into the
//! runtime as a staff principal holding a permission pattern.

use std::sync::Arc;

use tessera_host_api::bindings::tessera::plugin::http_types::{Method, Request as WitRequest};
use tessera_kernel::identity::{AuthMethod, Principal, PrincipalUser};
use tessera_kernel::runtime::{CallContext, Runtime};

/// `--name N` from the command line, else `default`.
pub fn count_arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.windows(2)
        .find(|pair| pair[0] == name)
        .map(|pair| pair[1].parse().expect("a number after the flag"))
        .unwrap_or(default)
}

/// A signed-in staff member holding `permissions` (patterns such as
/// `cms.*`) on the default site.
pub fn staff(permissions: &str) -> Arc<Principal> {
    Arc::new(Principal::user(
        "default",
        PrincipalUser {
            id: "u_bench".into(),
            username: "bench".into(),
            display_name: "Bench".into(),
            roles: vec!["staff".into()],
        },
        AuthMethod::Session,
        vec![permissions.to_owned()],
        None,
    ))
}

/// Calls `plugin` as `principal`; panics unless the answer is 2xx; the
/// answer's body as JSON.
pub async fn call(
    runtime: &Arc<Runtime>,
    plugin: &str,
    principal: Arc<Principal>,
    method: Method,
    path: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let loaded = runtime.by_id(plugin).unwrap();
    let request = WitRequest {
        method,
        path: path.to_owned(),
        query: String::new(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_string().into_bytes(),
        request_id: "seed".into(),
    };
    let context = CallContext::for_principal("seed".into(), principal, None);
    let response = runtime
        .call_handler(loaded, request, context)
        .await
        .unwrap();
    assert!(
        (200..300).contains(&response.status),
        "{path}: {} {}",
        response.status,
        String::from_utf8_lossy(&response.body)
    );
    serde_json::from_slice(&response.body).unwrap_or_default()
}
