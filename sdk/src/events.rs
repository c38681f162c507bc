//! Publish events on the kernel's durable event bus. Receive them by
//! implementing [`Plugin::on_event`](crate::Plugin::on_event).
//!
//! A plugin publishes only the topics listed under
//! `capabilities.events.publish` in its `plugin.toml`.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::tessera::plugin::events as wit;
pub use crate::bindings::tessera::plugin::events::{Event, PublishError};
use crate::error::Error;

/// Appends an event to the durable log; returns its id once stored.
///
/// ```no_run
/// let id = tessera_sdk::events::publish("cms.entry.published", br#"{"id":"7"}"#)?;
/// # let _ = id;
/// # Ok::<(), tessera_sdk::Error>(())
/// ```
pub fn publish(topic: &str, payload: &[u8]) -> Result<String, Error> {
    Ok(wit::publish(topic, payload)?)
}

/// [`publish`] with `payload` serialised as JSON.
///
/// ```no_run
/// tessera_sdk::events::publish_json("cms.entry.published", &serde_json::json!({ "id": "7" }))?;
/// # Ok::<(), tessera_sdk::Error>(())
/// ```
pub fn publish_json<T: Serialize + ?Sized>(topic: &str, payload: &T) -> Result<String, Error> {
    let bytes = serde_json::to_vec(payload)
        .map_err(|e| Error::internal(format!("cannot serialise the event payload: {e}")))?;
    publish(topic, &bytes)
}

impl Event {
    /// The payload parsed as JSON; a 400 `invalid_json` error when it does
    /// not parse as a `T`.
    ///
    /// ```no_run
    /// use serde::Deserialize;
    /// use tessera_sdk::Event;
    ///
    /// #[derive(Deserialize)]
    /// struct Published {
    ///     id: String,
    /// }
    ///
    /// fn on_event(event: Event) -> Result<(), String> {
    ///     let published: Published = event.json().map_err(|e| e.to_string())?;
    ///     tessera_sdk::info!("entry {} published", published.id);
    ///     Ok(())
    /// }
    /// # let _ = on_event;
    /// ```
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        Ok(serde_json::from_slice(&self.payload)?)
    }
}
