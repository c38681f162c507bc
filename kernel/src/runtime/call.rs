//! One call into a plugin: a fresh instance from the plugin's pre-instantiated
//! component, with its memory limit and deadline, and failures turned into
//! [`CallError`]s that name what went wrong.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tessera_host_api::bindings::Adapt;
use tessera_host_api::bindings::tessera::plugin::events::Event;
use tessera_host_api::bindings::tessera::plugin::http_types::{Request, Response};
use wasmtime::component::Instance;
use wasmtime::{Store, Trap, UpdateDeadline};

use super::phase_timing::{self, CallPhases, PhaseClock};
use super::plugin::Exports;
use super::{HostState, LoadedPlugin, Runtime};

/// Grace period after a plugin's deadline for host calls (which epochs do
/// not interrupt) to finish before the call is abandoned.
const HOST_CALL_GRACE: Duration = Duration::from_secs(1);

/// Why a call into a plugin failed. The kernel and other plugins are
/// unaffected; only this call is lost.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The plugin trapped (a panic, an `unreachable`, an out-of-bounds access).
    #[error("plugin `{plugin}` crashed: {message}")]
    Trapped {
        /// Plugin id.
        plugin: String,
        /// The trap.
        message: String,
    },
    /// The plugin ran past its time limit and was stopped.
    #[error("plugin `{plugin}` exceeded its time limit of {limit_ms} ms and was stopped")]
    Timeout {
        /// Plugin id.
        plugin: String,
        /// Its `limits.timeout-ms` (or what was left of the caller's).
        limit_ms: u64,
    },
    /// The plugin tried to grow its memory past its limit.
    #[error("plugin `{plugin}` exceeded its memory limit of {limit} bytes")]
    OutOfMemory {
        /// Plugin id.
        plugin: String,
        /// Its `limits.memory`.
        limit: u64,
    },
    /// Every instance slot of the engine is busy.
    #[error("the kernel is at its limit of concurrent plugin instances; retry shortly")]
    Overloaded,
    /// The instance could not be created.
    #[error("plugin `{plugin}` could not be instantiated: {message}")]
    Instantiate {
        /// Plugin id.
        plugin: String,
        /// wasmtime's explanation.
        message: String,
    },
}

impl CallError {
    /// A short label for metrics: `trap`, `timeout`, `out_of_memory`, ...
    pub fn kind(&self) -> &'static str {
        match self {
            CallError::Trapped { .. } => "trap",
            CallError::Timeout { .. } => "timeout",
            CallError::OutOfMemory { .. } => "out_of_memory",
            CallError::Overloaded => "overloaded",
            CallError::Instantiate { .. } => "instantiate",
        }
    }
}

/// Who and what a call is for.
#[derive(Debug, Clone)]
pub struct CallContext {
    /// The HTTP request id (or a label for background work).
    pub request_id: String,
    /// How many `invoke` calls deep this call is (0 for a request).
    pub depth: u32,
    /// When the call must end: inherited from the caller, or (inside the
    /// call) the effective deadline of this call.
    pub deadline: Option<Instant>,
    /// Who the call acts for: the request's principal, passed on to
    /// `invoke`d plugins; anonymous on the default site for background
    /// work.
    pub principal: Arc<crate::identity::Principal>,
    /// The user directory, for the WIT `identity.lookup-user`.
    pub directory: Option<Arc<crate::identity::Identity>>,
}

impl CallContext {
    /// The context of an HTTP request by an anonymous caller.
    pub fn request(request_id: String) -> Self {
        Self {
            request_id,
            depth: 0,
            deadline: None,
            principal: crate::identity::Principal::background(),
            directory: None,
        }
    }

    /// The context of a request made by `principal`, with `directory` to
    /// look users up in.
    pub fn for_principal(
        request_id: String,
        principal: Arc<crate::identity::Principal>,
        directory: Option<Arc<crate::identity::Identity>>,
    ) -> Self {
        Self {
            principal,
            directory,
            ..Self::request(request_id)
        }
    }

    /// The context of kernel-initiated work (migrations, jobs, events).
    pub fn background(label: String) -> Self {
        Self::request(label)
    }

    /// The context of an `invoke` made from this call.
    pub fn nested(&self, deadline: Instant) -> Self {
        Self {
            request_id: self.request_id.clone(),
            depth: self.depth + 1,
            deadline: Some(deadline),
            principal: self.principal.clone(),
            directory: self.directory.clone(),
        }
    }
}

/// A store ready to run one call, with its deadline.
struct Prepared {
    store: Store<HostState>,
    deadline: Instant,
    limit_ms: u64,
}

/// One call of an export: a fresh store and instance of `$plugin` with its
/// limits and deadline, `$call` run with the store and instance bound to
/// the given names, and the outcome mapped to a [`CallError`] on trap,
/// timeout or exhaustion. Every export call goes through here.
macro_rules! call_export {
    ($runtime:expr, $plugin:expr, $context:expr, |$store:ident, $instance:ident| $call:expr) => {{
        let mut clock = PhaseClock::start();
        let mut phases = CallPhases::default();
        let mut prepared = $runtime.prepare_store($plugin.clone(), $context);
        phases.prepare = clock.lap();
        let deadline = prepared.deadline + HOST_CALL_GRACE;
        let outcome = tokio::time::timeout_at(deadline.into(), async {
            let $instance = instantiate(&$plugin, &mut prepared.store).await?;
            phases.instantiate = clock.lap();
            let $store = &mut prepared.store;
            $call
        })
        .await;
        phases.call = clock.lap();
        let result = $runtime.finish(&$plugin, &prepared, outcome);
        drop(prepared);
        phases.teardown = clock.lap();
        phase_timing::record(phases);
        result
    }};
}

impl Runtime {
    /// Serve `request` with a fresh instance of `plugin`.
    pub async fn call_handler(
        self: &Arc<Self>,
        plugin: Arc<LoadedPlugin>,
        request: Request,
        context: CallContext,
    ) -> Result<Response, CallError> {
        call_export!(
            self,
            plugin,
            context,
            |store, instance| match plugin.exports() {
                Exports::Latest { handler, .. } => {
                    handler
                        .load(&mut *store, &instance)?
                        .call_handle(store, &request)
                        .await
                }
                Exports::V0_1 { handler, .. } => handler
                    .load(&mut *store, &instance)?
                    .call_handle(store, &request.adapt())
                    .await
                    .map(Adapt::adapt),
            }
        )
    }

    /// Run `plugin`'s `migrate` export.
    pub(super) async fn call_migrate(
        self: &Arc<Self>,
        plugin: Arc<LoadedPlugin>,
        from_version: Option<String>,
        context: CallContext,
    ) -> Result<Result<(), String>, CallError> {
        let from_version = from_version.as_deref();
        call_export!(
            self,
            plugin,
            context,
            |store, instance| match plugin.exports() {
                Exports::Latest { lifecycle, .. } => {
                    lifecycle
                        .load(&mut *store, &instance)?
                        .call_migrate(store, from_version)
                        .await
                }
                Exports::V0_1 { lifecycle, .. } => {
                    lifecycle
                        .load(&mut *store, &instance)?
                        .call_migrate(store, from_version)
                        .await
                }
            }
        )
    }

    /// Deliver `event` to `plugin`'s `subscriber.on-event` export. The
    /// inner result is the plugin's own answer (an error asks for a
    /// redelivery).
    pub async fn call_on_event(
        self: &Arc<Self>,
        plugin: Arc<LoadedPlugin>,
        event: Event,
        context: CallContext,
    ) -> Result<Result<(), String>, CallError> {
        call_export!(
            self,
            plugin,
            context,
            |store, instance| match plugin.exports() {
                Exports::Latest { subscriber, .. } => {
                    subscriber
                        .load(&mut *store, &instance)?
                        .call_on_event(store, &event)
                        .await
                }
                Exports::V0_1 { subscriber, .. } => {
                    subscriber
                        .load(&mut *store, &instance)?
                        .call_on_event(store, &event.adapt())
                        .await
                }
            }
        )
    }

    /// Run `plugin`'s `job-runner.run-job` export for the job `name`. The
    /// inner result is the plugin's own answer.
    pub async fn call_run_job(
        self: &Arc<Self>,
        plugin: Arc<LoadedPlugin>,
        name: String,
        payload: Vec<u8>,
        context: CallContext,
    ) -> Result<Result<(), String>, CallError> {
        call_export!(
            self,
            plugin,
            context,
            |store, instance| match plugin.exports() {
                Exports::Latest { job_runner, .. } => {
                    job_runner
                        .load(&mut *store, &instance)?
                        .call_run_job(store, &name, &payload)
                        .await
                }
                Exports::V0_1 { job_runner, .. } => {
                    job_runner
                        .load(&mut *store, &instance)?
                        .call_run_job(store, &name, &payload)
                        .await
                }
            }
        )
    }

    fn prepare_store(
        self: &Arc<Self>,
        plugin: Arc<LoadedPlugin>,
        mut context: CallContext,
    ) -> Prepared {
        let mut limit_ms = plugin.manifest().limits.timeout_ms;
        let now = Instant::now();
        let mut deadline = now + Duration::from_millis(limit_ms);
        if let Some(inherited) = context.deadline
            && inherited < deadline
        {
            // An invoked plugin gets what is left of its caller's time.
            deadline = inherited;
            limit_ms = u64::try_from(inherited.saturating_duration_since(now).as_millis())
                .unwrap_or(u64::MAX);
        }
        // Host functions (invoke) see the deadline that applies to this call.
        context.deadline = Some(deadline);
        let mut store = Store::new(&self.engine, HostState::new(self.clone(), plugin, context));
        store.limiter(|state| &mut state.limiter);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= deadline {
                Ok(UpdateDeadline::Interrupt)
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        Prepared {
            store,
            deadline,
            limit_ms,
        }
    }

    fn finish<T>(
        &self,
        plugin: &LoadedPlugin,
        prepared: &Prepared,
        outcome: Result<wasmtime::Result<T>, tokio::time::error::Elapsed>,
    ) -> Result<T, CallError> {
        let error = match outcome {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(error)) => classify(plugin, prepared, &error),
            Err(_elapsed) => CallError::Timeout {
                plugin: plugin.id().to_owned(),
                limit_ms: prepared.limit_ms,
            },
        };
        let state = prepared.store.data();
        tracing::warn!(
            plugin = %plugin.id(),
            request_id = %state.context.request_id,
            kind = error.kind(),
            stderr = %state.stderr_text(),
            "plugin call failed: {error}"
        );
        self.metrics
            .record_plugin_failure(plugin.id(), error.kind());
        Err(error)
    }
}

/// A fresh instance of `plugin`. Only the export a call uses is looked up
/// afterwards (not all four, as the generated `Plugin` would).
async fn instantiate(
    plugin: &LoadedPlugin,
    store: &mut Store<HostState>,
) -> wasmtime::Result<Instance> {
    plugin.pre().instantiate_async(store).await
}

fn classify(plugin: &LoadedPlugin, prepared: &Prepared, error: &wasmtime::Error) -> CallError {
    let id = plugin.id().to_owned();
    if prepared.store.data().limiter.exceeded() {
        return CallError::OutOfMemory {
            plugin: id,
            limit: plugin.manifest().limits.memory,
        };
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => CallError::Timeout {
            plugin: id,
            limit_ms: prepared.limit_ms,
        },
        Some(trap) => CallError::Trapped {
            plugin: id,
            message: trap.to_string(),
        },
        None => {
            let message = format!("{error:#}");
            if message.contains("concurrent") && message.contains("limit") {
                CallError::Overloaded
            } else {
                CallError::Trapped {
                    plugin: id,
                    message: error.root_cause().to_string(),
                }
            }
        }
    }
}
