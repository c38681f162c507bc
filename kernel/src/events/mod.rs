//! Events: the kernel's durable log and the bus that delivers it.
//!
//! Kernel services and plugins append events to the [`EventStore`]
//! (by default the sled-backed [`EventLog`])
//! (`identity.password.reset-requested`, `cms.entry.published` ...); the
//! [`EventBus`] delivers them at least once, in order, to every plugin
//! that subscribed to their topics, with retries and dead letters.
//! `docs/events.md` lists the kernel's events and their payloads.

mod bus;
mod log;
mod store;

pub use bus::{
    BUS_NAMESPACE, Compaction, DeadLetter, DeliveryPolicy, EventBus, ReplayError, RetentionPolicy,
    SubscriptionStatus, wit_event,
};
pub use log::{EventLog, LoggedEvent, NAMESPACE};
pub use store::EventStore;
