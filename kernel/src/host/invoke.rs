//! `tessera:plugin/invoke`: call another plugin's handler in-process, only
//! towards plugins the caller's manifest lists under `capabilities.invoke`.
//!
//! The callee runs in its own store with its own limits, on its own task,
//! within what is left of the caller's deadline.

use std::time::{Duration, Instant};

use tessera_host_api::bindings::tessera::plugin::http_types::{Request, Response};
use tessera_host_api::bindings::tessera::plugin::invoke::{self, InvokeError};
use wasmtime::component::{HasSelf, Linker};

use super::denied::capability_denied;
use super::http_types::method_name;
use crate::runtime::{HostState, MAX_INVOKE_DEPTH};

impl invoke::Host for HostState {
    async fn call(
        &mut self,
        plugin: String,
        mut request: Request,
    ) -> Result<Response, InvokeError> {
        if !self.plugin.manifest().may_invoke(&plugin) {
            let message = format!(
                "plugin `{}` may not invoke `{plugin}`; list it in capabilities.invoke and [dependencies]",
                self.plugin.id()
            );
            return Err(InvokeError::NotPermitted(capability_denied(
                self, "invoke", &plugin, message,
            )));
        }
        if self.context.depth + 1 > MAX_INVOKE_DEPTH {
            return Err(InvokeError::TooDeep(MAX_INVOKE_DEPTH));
        }
        let Some(callee) = self.runtime.by_id(&plugin) else {
            return Err(InvokeError::NotFound(format!(
                "no plugin `{plugin}` is loaded"
            )));
        };
        // The callee's `[[routes]]` rules hold for invoked requests too: the
        // caller's principal is checked as if it had called over HTTP.
        if let Some(permission) = callee
            .manifest()
            .route_permission(method_name(&request.method), &request.path)
            && !self.context.principal.holds(permission)
        {
            return Ok(route_refusal(
                self.context.principal.is_authenticated(),
                permission,
            ));
        }
        let deadline = self.context.deadline.unwrap_or_else(|| {
            Instant::now() + Duration::from_millis(self.plugin.manifest().limits.timeout_ms)
        });
        let context = self.context.nested(deadline);
        request.request_id = context.request_id.clone();
        let runtime = self.runtime.clone();
        let outcome =
            tokio::spawn(async move { runtime.call_handler(callee, request, context).await }).await;
        match outcome {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(error)) => Err(InvokeError::Failed(error.to_string())),
            Err(join_error) => Err(InvokeError::Failed(format!(
                "the call was lost: {join_error}"
            ))),
        }
    }
}

/// The answer the HTTP path gives when a route rule refuses: 401 for an
/// anonymous principal, 403 otherwise.
fn route_refusal(authenticated: bool, permission: &str) -> Response {
    let (status, code, message) = if authenticated {
        (
            403,
            "forbidden",
            format!("permission `{permission}` is required for this route"),
        )
    } else {
        (
            401,
            "unauthenticated",
            format!("sign in first: this route needs permission `{permission}`"),
        )
    };
    let body = serde_json::json!({ "error": { "code": code, "message": message } });
    Response {
        status,
        headers: vec![("content-type".to_owned(), "application/json".to_owned())],
        body: body.to_string().into_bytes(),
    }
}

pub(super) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    invoke::add_to_linker::<HostState, HasSelf<HostState>>(linker, |state| state)
}
