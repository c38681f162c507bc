//! `tessera:plugin/events`: publishing on the event bus.
//!
//! A topic outside the manifest's `capabilities.events.publish` is refused
//! (and logged); the `events-per-second` quota is enforced after the
//! permission checks (a refusal is `unavailable` naming the quota, the
//! WIT has no quota case for events). An accepted event is appended to the
//! durable log and the call returns its id once it is on disk.

use tessera_host_api::bindings::tessera::plugin::events::{self, PublishError};
use wasmtime::component::{HasSelf, Linker};

use super::denied::capability_denied;
use crate::runtime::HostState;

/// Largest event payload, in bytes.
pub const MAX_PAYLOAD_BYTES: usize = 1 << 20;

fn is_topic(topic: &str) -> bool {
    !topic.is_empty()
        && topic.split('.').all(|segment| {
            !segment.is_empty()
                && segment
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        })
}

impl events::Host for HostState {
    async fn publish(&mut self, topic: String, payload: Vec<u8>) -> Result<String, PublishError> {
        if !is_topic(&topic) {
            return Err(PublishError::InvalidTopic(format!(
                "`{topic}` is not a dotted topic of lower-case segments"
            )));
        }
        if !self.plugin.manifest().may_publish(&topic) {
            let message = format!(
                "plugin `{}` may not publish `{topic}`; add it to capabilities.events.publish",
                self.plugin.id()
            );
            return Err(PublishError::NotPermitted(capability_denied(
                self,
                "events.publish",
                &topic,
                message,
            )));
        }
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(PublishError::PayloadTooLarge(payload.len() as u64));
        }
        self.runtime
            .quotas()
            .check_event_publish(self.plugin.id())
            .map_err(|refusal| PublishError::Unavailable(refusal.to_string()))?;
        let Some(bus) = self.runtime.event_bus().cloned() else {
            return Err(PublishError::Unavailable(
                "this kernel runs without an event bus; the event was not stored".into(),
            ));
        };
        let source = self.plugin.id().to_owned();
        match bus.publish(&topic, &source, payload).await {
            Ok(seq) => {
                self.runtime.metrics().record_event_published(&source);
                Ok(seq.to_string())
            }
            Err(error) => Err(PublishError::Unavailable(format!(
                "the event log could not store the event: {error}"
            ))),
        }
    }
}

pub(super) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    events::add_to_linker::<HostState, HasSelf<HostState>>(linker, |state| state)
}
