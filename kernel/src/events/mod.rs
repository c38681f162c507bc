//! The kernel's durable event log.
//!
//! Kernel services append events here (`identity.password.reset-requested`,
//! `identity.user.registered` ...) so that nothing is lost between the
//! moment something happens and the moment a plugin handles it. Delivery to
//! subscribing plugins is built on top of this log.

mod log;

pub use log::{EventLog, LoggedEvent, NAMESPACE};
