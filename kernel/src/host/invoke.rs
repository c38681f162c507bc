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

pub(super) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    invoke::add_to_linker::<HostState, HasSelf<HostState>>(linker, |state| state)
}
