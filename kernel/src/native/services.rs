//! [`KernelServices`]: what a native worker's [`TesseraHost`](tessera_host_api::native::TesseraHost)
//! table reaches in the kernel: the event bus (with the same checks as a
//! component's `events.publish`) and the kernel's log.

use std::sync::Arc;

use tessera_host_api::Manifest;
use tessera_host_api::native::{LogLevel, PublishCode};

use super::worker::WorkerServices;
use crate::runtime::Runtime;

/// Largest event payload, as for a component's `events.publish`.
const MAX_PAYLOAD_BYTES: usize = 1 << 20;

/// The kernel's services for the worker of the native plugin `manifest`
/// describes.
pub struct KernelServices {
    manifest: Manifest,
    runtime: Arc<Runtime>,
    handle: tokio::runtime::Handle,
}

impl KernelServices {
    /// Services for the plugin of `manifest`, publishing through
    /// `runtime`'s event bus; `handle` runs the waits for durability.
    pub fn new(manifest: Manifest, runtime: Arc<Runtime>, handle: tokio::runtime::Handle) -> Self {
        Self {
            manifest,
            runtime,
            handle,
        }
    }

    fn id(&self) -> &str {
        &self.manifest.plugin.id
    }
}

/// A dotted topic of lower-case segments, as `events.publish` requires.
fn is_topic(topic: &str) -> bool {
    !topic.is_empty()
        && topic.split('.').all(|segment| {
            !segment.is_empty()
                && segment
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        })
}

impl WorkerServices for KernelServices {
    fn publish(&self, topic: &str, payload: Vec<u8>) -> PublishCode {
        let id = self.id();
        if !is_topic(topic) || payload.len() > MAX_PAYLOAD_BYTES {
            tracing::warn!(plugin = %id, topic, bytes = payload.len(), "native worker: refused an event that is not a dotted lower-case topic or is above 1 MiB");
            return PublishCode::Invalid;
        }
        if !self.manifest.may_publish(topic) {
            tracing::warn!(plugin = %id, topic, "native worker: plugin may not publish `{topic}`; add it to capabilities.events.publish");
            return PublishCode::NotPermitted;
        }
        if let Err(refusal) = self.runtime.quotas().check_event_publish(id) {
            tracing::warn!(plugin = %id, topic, %refusal, "native worker: event refused by quota");
            return PublishCode::Unavailable;
        }
        let Some(bus) = self.runtime.event_bus().cloned() else {
            tracing::warn!(plugin = %id, topic, "native worker: this kernel runs without an event bus");
            return PublishCode::Unavailable;
        };
        // Workers run on their own threads, outside tokio: wait for the
        // event to be on disk as a component's publish does. Called from
        // inside a runtime (a library that nests one), it is appended and
        // made durable by the next flush.
        let stored = if tokio::runtime::Handle::try_current().is_ok() {
            bus.log().publish(topic, id, payload)
        } else {
            self.handle.block_on(bus.publish(topic, id, payload))
        };
        match stored {
            Ok(_) => {
                self.runtime.metrics().record_event_published(id);
                PublishCode::Published
            }
            Err(error) => {
                tracing::error!(plugin = %id, topic, %error, "native worker: the event log could not store the event");
                PublishCode::Unavailable
            }
        }
    }

    fn log(&self, level: LogLevel, message: &str) {
        let id = self.id();
        match level {
            LogLevel::Trace => tracing::trace!(plugin = %id, "{message}"),
            LogLevel::Debug => tracing::debug!(plugin = %id, "{message}"),
            LogLevel::Info => tracing::info!(plugin = %id, "{message}"),
            LogLevel::Warn => tracing::warn!(plugin = %id, "{message}"),
            LogLevel::Error => tracing::error!(plugin = %id, "{message}"),
        }
    }
}
