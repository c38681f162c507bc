//! The [`Plugin`] trait and the [`export_plugin!`](crate::export_plugin)
//! macro that connects it to the kernel.

use std::marker::PhantomData;

use crate::bindings::exports::tessera::plugin::{handler, job_runner, lifecycle, subscriber};
use crate::events::Event;
use crate::http::{Request, Response};
use crate::router::Router;

/// A Tessera plugin. Only [`Plugin::router`] is required; the other hooks
/// have defaults. Export the implementation with
/// [`export_plugin!`](crate::export_plugin).
///
/// Every call runs in a fresh instance: nothing a call leaves in memory is
/// seen by the next one, so keep state in [`storage`](crate::storage).
///
/// ```no_run
/// use tessera_sdk::{Event, Plugin, Response, Router};
///
/// struct Notes;
///
/// impl Plugin for Notes {
///     fn router() -> Router {
///         Router::new().get("/", |_, _| Ok(Response::text(200, "notes")))
///     }
///
///     fn on_event(event: Event) -> Result<(), String> {
///         tessera_sdk::info!("got {} ({})", event.topic, event.id);
///         Ok(())
///     }
/// }
///
/// tessera_sdk::export_plugin!(Notes);
/// # fn main() {}
/// ```
pub trait Plugin {
    /// The routes this plugin serves under `/api/<mount>/`. Called once per
    /// request.
    ///
    /// ```no_run
    /// use tessera_sdk::{Plugin, Response, Router};
    ///
    /// struct Ping;
    ///
    /// impl Plugin for Ping {
    ///     fn router() -> Router {
    ///         Router::new().get("/ping", |_, _| Ok(Response::text(200, "pong")))
    ///     }
    /// }
    /// ```
    fn router() -> Router;

    /// Prepares the plugin's data before it serves requests: called on first
    /// installation (`from_version` is `None`) and on upgrade (the previous
    /// version). An `Err` aborts the installation or upgrade. The default
    /// does nothing.
    ///
    /// ```no_run
    /// use tessera_sdk::{storage, Plugin, Router};
    ///
    /// struct Blog;
    ///
    /// impl Plugin for Blog {
    ///     fn router() -> Router {
    ///         Router::new()
    ///     }
    ///
    ///     fn migrate(from_version: Option<String>) -> Result<(), String> {
    ///         if from_version.is_none() {
    ///             storage::set_json("schema", &1).map_err(|e| e.to_string())?;
    ///         }
    ///         Ok(())
    ///     }
    /// }
    /// ```
    fn migrate(from_version: Option<String>) -> Result<(), String> {
        let _ = from_version;
        Ok(())
    }

    /// Handles one event of a topic the manifest subscribes to. Delivery is
    /// at least once: an `Err` is retried with backoff, so treat an event id
    /// seen before as done. The default fails: the plugin handles no events.
    ///
    /// ```no_run
    /// use tessera_sdk::{storage, Event, Plugin, Router};
    ///
    /// struct Audit;
    ///
    /// impl Plugin for Audit {
    ///     fn router() -> Router {
    ///         Router::new()
    ///     }
    ///
    ///     fn on_event(event: Event) -> Result<(), String> {
    ///         // Keyed by the event id, so a redelivery overwrites itself.
    ///         storage::set(&format!("seen/{}", event.id), &event.payload).map_err(|e| e.to_string())
    ///     }
    /// }
    /// ```
    fn on_event(event: Event) -> Result<(), String> {
        Err(format!(
            "this plugin handles no events (got {} on topic {})",
            event.id, event.topic
        ))
    }

    /// Runs the scheduled job called `name` with the payload given when it
    /// was scheduled. The default fails: the plugin has no jobs.
    ///
    /// ```no_run
    /// use tessera_sdk::{Plugin, Router};
    ///
    /// struct Cleaner;
    ///
    /// impl Plugin for Cleaner {
    ///     fn router() -> Router {
    ///         Router::new()
    ///     }
    ///
    ///     fn run_job(name: String, _payload: Vec<u8>) -> Result<(), String> {
    ///         match name.as_str() {
    ///             "purge-drafts" => Ok(()),
    ///             other => Err(format!("no job {other}")),
    ///         }
    ///     }
    /// }
    /// ```
    fn run_job(name: String, payload: Vec<u8>) -> Result<(), String> {
        let _ = payload;
        Err(format!("this plugin has no jobs (asked to run {name})"))
    }
}

/// The type [`export_plugin!`](crate::export_plugin) exports: implements
/// the generated export traits by forwarding to `P`'s [`Plugin`] methods.
#[doc(hidden)]
pub struct Export<P>(PhantomData<P>);

impl<P: Plugin> handler::Guest for Export<P> {
    fn handle(request: Request) -> Response {
        match P::router().dispatch(&request) {
            Ok(response) => response,
            Err(error) => {
                if error.status >= 500 {
                    crate::log::error(&format!(
                        "{} {} failed: {error}",
                        request.method, request.path
                    ));
                }
                error.into_response()
            }
        }
    }
}

impl<P: Plugin> lifecycle::Guest for Export<P> {
    fn migrate(from_version: Option<String>) -> Result<(), String> {
        P::migrate(from_version)
    }
}

impl<P: Plugin> subscriber::Guest for Export<P> {
    fn on_event(event: Event) -> Result<(), String> {
        P::on_event(event)
    }
}

impl<P: Plugin> job_runner::Guest for Export<P> {
    fn run_job(name: String, payload: Vec<u8>) -> Result<(), String> {
        P::run_job(name, payload)
    }
}

/// Exports a [`Plugin`] implementation as the component's `handler`,
/// `lifecycle`, `subscriber` and `job-runner`. Invoke it once per plugin
/// crate (a `cdylib` built for `wasm32-wasip2`).
///
/// ```no_run
/// use tessera_sdk::{Plugin, Response, Router};
///
/// struct Hello;
///
/// impl Plugin for Hello {
///     fn router() -> Router {
///         Router::new().get("/", |_, _| Ok(Response::text(200, "hello")))
///     }
/// }
///
/// tessera_sdk::export_plugin!(Hello);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        #[doc(hidden)]
        type __TesseraPluginExport = $crate::__private::Export<$plugin>;
        $crate::bindings::export!(__TesseraPluginExport with_types_in $crate::bindings);
    };
}
