//! The event bus: the durable [`EventStore`] plus one cursor per subscribing
//! plugin, delivered at least once and in order to the plugin's
//! `subscriber.on-event` export.
//!
//! - **Publishing** appends to the log and returns once the event is on
//!   disk, so an acknowledged event survives a crash.
//! - **Delivery**: a worker per subscribing plugin reads the events after
//!   its cursor whose topic matches the plugin's `subscribe` patterns, one
//!   at a time, in log order (so in order per topic). A failure (an error
//!   returned by the plugin, a trap, a timeout) is retried with
//!   exponential backoff; after [`DeliveryPolicy::max_attempts`] the event
//!   goes to the plugin's dead letters and delivery moves on.
//! - **Cursors** are written after each event is handled; after a restart
//!   or `kill -9`, delivery resumes after the last handled event, so an
//!   event whose handling was interrupted is delivered again. Plugins make
//!   handlers idempotent with the event id.
//! - A new subscription starts at the end of the log: it receives events
//!   published after it was created. A disabled plugin's cursor waits; it
//!   catches up when enabled again.
//!
//! - **Retention**: events older than the retention period are removed once
//!   every running subscriber has handled them (see [`RetentionPolicy`]).
//!
//! Keys in the kernel namespace `kernel/event-bus`: `cursor/<plugin id>`
//! (the last handled sequence number) and `dead/<plugin id>/<seq>` (a
//! [`DeadLetter`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tessera_host_api::bindings::tessera::plugin::events::Event;
use tessera_host_api::manifest::topic_matches;
use tokio::task::JoinHandle;

mod retention;

pub use retention::{Compaction, RetentionPolicy};

use super::EventStore;
use super::log::LoggedEvent;
use crate::runtime::{CallContext, LoadedPlugin, Runtime};
use crate::storage::{Namespace, Storage, StorageError};

/// Name of the kernel namespace of cursors and dead letters.
pub const BUS_NAMESPACE: &str = "kernel/event-bus";

/// Retries before an event becomes a dead letter, and their spacing.
#[derive(Debug, Clone, Copy)]
pub struct DeliveryPolicy {
    /// Attempts in all (the first delivery included).
    pub max_attempts: u32,
    /// Wait before the first retry; doubled after each.
    pub initial_backoff: Duration,
    /// Longest wait between retries.
    pub max_backoff: Duration,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(30),
        }
    }
}

impl DeliveryPolicy {
    /// The wait after failed attempt number `attempt` (from 1).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// An event a plugin failed to handle `max_attempts` times.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeadLetter {
    /// The subscribing plugin.
    pub plugin: String,
    /// The event's sequence number (its id).
    pub seq: u64,
    /// Its topic.
    pub topic: String,
    /// How many times delivery was tried.
    pub attempts: u32,
    /// The last failure.
    pub error: String,
    /// When it was given up, milliseconds since the epoch.
    pub failed_at: u64,
}

/// How one subscription is doing.
#[derive(Debug, Clone, Serialize)]
pub struct SubscriptionStatus {
    /// The subscribing plugin.
    pub plugin: String,
    /// Its `subscribe` patterns.
    pub patterns: Vec<String>,
    /// The last sequence number handled (delivered or dead-lettered).
    pub cursor: u64,
    /// Events in the log after the cursor (matching or not: an upper
    /// bound of what is left to deliver).
    pub lag: u64,
    /// Whether a worker is delivering (false while the plugin is
    /// disabled).
    pub active: bool,
    /// The failure of the event being retried, if any.
    pub retrying: Option<String>,
    /// How many dead letters it has.
    pub dead_letters: usize,
}

/// Why a replay failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// No such dead letter.
    #[error("plugin `{plugin}` has no dead letter for event {seq}")]
    NotFound {
        /// The plugin.
        plugin: String,
        /// The event.
        seq: u64,
    },
    /// The plugin is not running.
    #[error("plugin `{0}` is not enabled; enable it before replaying")]
    NotRunning(String),
    /// The plugin failed again; the dead letter stays.
    #[error("plugin `{plugin}` failed again on event {seq}: {error}")]
    FailedAgain {
        /// The plugin.
        plugin: String,
        /// The event.
        seq: u64,
        /// The failure.
        error: String,
    },
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The bus.
pub struct EventBus {
    log: Arc<dyn EventStore>,
    state: Arc<dyn Namespace>,
    storage: Arc<dyn Storage>,
    runtime: Arc<Runtime>,
    policy: DeliveryPolicy,
    workers: Mutex<HashMap<String, JoinHandle<()>>>,
    retrying: Mutex<HashMap<String, String>>,
    supervisor: Mutex<Option<JoinHandle<()>>>,
    retention: Mutex<RetentionPolicy>,
    compactor: Mutex<Option<JoinHandle<()>>>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}

fn cursor_key(plugin: &str) -> String {
    format!("cursor/{plugin}")
}

fn dead_key(plugin: &str, seq: u64) -> String {
    format!("dead/{plugin}/{seq:020}")
}

/// The WIT event of a logged one.
pub fn wit_event(event: &LoggedEvent) -> Event {
    Event {
        id: event.seq.to_string(),
        topic: event.topic.clone(),
        payload: event.payload.clone(),
        source: event.source.clone(),
        published_at: event.published_at,
    }
}

impl EventBus {
    /// A bus over `log`, keeping its state in `storage`, delivering
    /// through `runtime`.
    pub fn new(
        log: Arc<dyn EventStore>,
        storage: Arc<dyn Storage>,
        runtime: Arc<Runtime>,
        policy: DeliveryPolicy,
    ) -> Result<Arc<Self>, StorageError> {
        Ok(Arc::new(Self {
            state: storage.namespace(BUS_NAMESPACE)?,
            log,
            storage,
            runtime,
            policy,
            workers: Mutex::default(),
            retrying: Mutex::default(),
            supervisor: Mutex::default(),
            retention: Mutex::default(),
            compactor: Mutex::default(),
        }))
    }

    /// The log underneath.
    pub fn log(&self) -> &Arc<dyn EventStore> {
        &self.log
    }

    /// Append an event and wait until it is on disk; returns its sequence
    /// number (the event id).
    pub async fn publish(
        &self,
        topic: &str,
        source: &str,
        payload: Vec<u8>,
    ) -> Result<u64, StorageError> {
        let seq = self.log.publish(topic, source, payload)?;
        self.storage.durable().await?;
        Ok(seq)
    }

    /// Start delivering: a supervisor keeps one worker per enabled
    /// subscribing plugin. Call once.
    pub fn start(self: &Arc<Self>) {
        self.reconcile();
        let bus = self.clone();
        let handle = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_millis(500));
            loop {
                ticker.tick().await;
                bus.reconcile();
            }
        });
        *lock(&self.supervisor) = Some(handle);
    }

    /// Stop every worker (on shutdown, before storage closes). An event
    /// being handled is delivered again after the restart.
    pub fn stop(&self) {
        if let Some(handle) = lock(&self.supervisor).take() {
            handle.abort();
        }
        if let Some(handle) = lock(&self.compactor).take() {
            handle.abort();
        }
        for (_, handle) in lock(&self.workers).drain() {
            handle.abort();
        }
    }

    /// Spawn workers for subscribing plugins that have none.
    fn reconcile(self: &Arc<Self>) {
        let mut workers = lock(&self.workers);
        workers.retain(|_, handle| !handle.is_finished());
        for plugin in self.runtime.plugins() {
            if plugin.manifest().capabilities.events.subscribe.is_empty()
                || workers.contains_key(plugin.id())
            {
                continue;
            }
            let id = plugin.id().to_owned();
            if let Err(error) = self.ensure_cursor(&id) {
                tracing::error!(plugin = %id, %error, "cannot start event delivery");
                continue;
            }
            let bus = self.clone();
            let worker_id = id.clone();
            workers.insert(
                id,
                tokio::spawn(async move { bus.run_worker(worker_id).await }),
            );
        }
    }

    /// A new subscription starts at the end of the log.
    fn ensure_cursor(&self, plugin: &str) -> Result<u64, StorageError> {
        if let Some(cursor) = self.cursor(plugin)? {
            return Ok(cursor);
        }
        let end = self.log.last_seq();
        self.set_cursor(plugin, end)?;
        Ok(end)
    }

    fn cursor(&self, plugin: &str) -> Result<Option<u64>, StorageError> {
        Ok(self
            .state
            .get(cursor_key(plugin).as_bytes())?
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|text| text.parse().ok()))
    }

    fn set_cursor(&self, plugin: &str, seq: u64) -> Result<(), StorageError> {
        self.state
            .set(cursor_key(plugin).as_bytes(), seq.to_string().as_bytes())
    }

    async fn run_worker(self: Arc<Self>, id: String) {
        let mut wake = self.log.watch();
        loop {
            // The current version of the plugin: an upgrade takes over at
            // the next event; a disabled or removed plugin stops here.
            let Some(plugin) = self.runtime.by_id(&id) else {
                return;
            };
            let patterns = plugin.manifest().capabilities.events.subscribe.clone();
            if patterns.is_empty() {
                return;
            }
            let step = self.deliver_next(&plugin, &patterns).await;
            match step {
                Ok(true) => {}
                Ok(false) => {
                    // Nothing to do: wait for an event, or look again in a
                    // while (the plugin may have changed).
                    let _ = tokio::time::timeout(Duration::from_secs(1), wake.changed()).await;
                }
                Err(error) => {
                    tracing::error!(plugin = %id, %error, "event delivery failed to read its state");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// Handle the next batch; false when there was nothing to deliver.
    async fn deliver_next(
        &self,
        plugin: &Arc<LoadedPlugin>,
        patterns: &[String],
    ) -> Result<bool, StorageError> {
        let id = plugin.id();
        let cursor = self.ensure_cursor(id)?;
        let wanted = |topic: &str| patterns.iter().any(|pattern| topic_matches(pattern, topic));
        let (events, scanned) = self.log.read_matching(cursor, 32, &wanted)?;
        for event in &events {
            self.deliver_with_retries(plugin, event).await?;
            self.set_cursor(id, event.seq)?;
        }
        if scanned > cursor {
            self.set_cursor(id, scanned)?;
        }
        Ok(!events.is_empty())
    }

    async fn deliver_with_retries(
        &self,
        plugin: &Arc<LoadedPlugin>,
        event: &LoggedEvent,
    ) -> Result<(), StorageError> {
        let id = plugin.id();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let error = match self.deliver_once(plugin, event).await {
                Ok(()) => {
                    lock(&self.retrying).remove(id);
                    self.runtime
                        .metrics()
                        .record_event_delivery(id, "delivered");
                    return Ok(());
                }
                Err(error) => error,
            };
            self.runtime.metrics().record_event_delivery(id, "failed");
            tracing::warn!(plugin = %id, seq = event.seq, topic = %event.topic, attempt, %error, "event delivery failed");
            if attempt >= self.policy.max_attempts {
                lock(&self.retrying).remove(id);
                let dead = DeadLetter {
                    plugin: id.to_owned(),
                    seq: event.seq,
                    topic: event.topic.clone(),
                    attempts: attempt,
                    error,
                    failed_at: now_ms(),
                };
                let bytes = serde_json::to_vec(&dead)
                    .map_err(|error| StorageError::Backend(error.to_string()))?;
                self.state.set(dead_key(id, event.seq).as_bytes(), &bytes)?;
                self.runtime
                    .metrics()
                    .record_event_delivery(id, "dead_lettered");
                tracing::error!(plugin = %id, seq = event.seq, topic = %event.topic, "event moved to the dead letters");
                return Ok(());
            }
            lock(&self.retrying).insert(id.to_owned(), error);
            tokio::time::sleep(self.policy.backoff(attempt)).await;
        }
    }

    async fn deliver_once(
        &self,
        plugin: &Arc<LoadedPlugin>,
        event: &LoggedEvent,
    ) -> Result<(), String> {
        let context = CallContext::background(format!("event-{}", event.seq));
        match self
            .runtime
            .call_on_event(plugin.clone(), wit_event(event), context)
            .await
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(message),
            Err(error) => Err(error.to_string()),
        }
    }

    /// Every subscription of a loaded plugin, with its cursor and lag.
    pub fn subscriptions(&self) -> Result<Vec<SubscriptionStatus>, StorageError> {
        let last = self.log.last_seq();
        let workers = lock(&self.workers);
        let retrying = lock(&self.retrying);
        let mut out = Vec::new();
        for plugin in self.runtime.plugins() {
            let patterns = plugin.manifest().capabilities.events.subscribe.clone();
            if patterns.is_empty() {
                continue;
            }
            let id = plugin.id();
            let cursor = self.cursor(id)?.unwrap_or(last);
            out.push(SubscriptionStatus {
                plugin: id.to_owned(),
                patterns,
                cursor,
                lag: last.saturating_sub(cursor),
                active: workers.get(id).is_some_and(|handle| !handle.is_finished()),
                retrying: retrying.get(id).cloned(),
                dead_letters: self
                    .state
                    .scan(format!("dead/{id}/").as_bytes(), None, 10_000)?
                    .len(),
            });
        }
        Ok(out)
    }

    /// Dead letters, of one plugin or all, oldest first.
    pub fn dead_letters(&self, plugin: Option<&str>) -> Result<Vec<DeadLetter>, StorageError> {
        let prefix = match plugin {
            Some(plugin) => format!("dead/{plugin}/"),
            None => "dead/".to_owned(),
        };
        self.state
            .scan(prefix.as_bytes(), None, 10_000)?
            .into_iter()
            .map(|(_, bytes)| {
                serde_json::from_slice(&bytes)
                    .map_err(|error| StorageError::Backend(error.to_string()))
            })
            .collect()
    }

    /// Deliver a dead letter again, once, now. On success it is removed;
    /// on failure it stays, with the new error.
    pub async fn replay(&self, plugin_id: &str, seq: u64) -> Result<(), ReplayError> {
        let key = dead_key(plugin_id, seq);
        let not_found = || ReplayError::NotFound {
            plugin: plugin_id.to_owned(),
            seq,
        };
        let Some(bytes) = self.state.get(key.as_bytes())? else {
            return Err(not_found());
        };
        let mut dead: DeadLetter = serde_json::from_slice(&bytes)
            .map_err(|error| StorageError::Backend(error.to_string()))?;
        let event = self.log.get(seq)?.ok_or_else(not_found)?;
        let plugin = self
            .runtime
            .by_id(plugin_id)
            .ok_or_else(|| ReplayError::NotRunning(plugin_id.to_owned()))?;
        match self.deliver_once(&plugin, &event).await {
            Ok(()) => {
                self.state.delete(key.as_bytes())?;
                self.runtime
                    .metrics()
                    .record_event_delivery(plugin_id, "delivered");
                tracing::info!(plugin = %plugin_id, seq, "dead letter replayed");
                Ok(())
            }
            Err(error) => {
                dead.attempts += 1;
                dead.error.clone_from(&error);
                dead.failed_at = now_ms();
                let bytes = serde_json::to_vec(&dead)
                    .map_err(|error| StorageError::Backend(error.to_string()))?;
                self.state.set(key.as_bytes(), &bytes)?;
                Err(ReplayError::FailedAgain {
                    plugin: plugin_id.to_owned(),
                    seq,
                    error,
                })
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let policy = DeliveryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
        };
        assert_eq!(policy.backoff(1), Duration::from_millis(100));
        assert_eq!(policy.backoff(2), Duration::from_millis(200));
        assert_eq!(policy.backoff(4), Duration::from_millis(800));
        assert_eq!(policy.backoff(5), Duration::from_secs(1));
        assert_eq!(policy.backoff(40), Duration::from_secs(1));
    }
}
