//! Write [Tessera](https://example.invalid/tessera) plugins in Rust.
//!
//! A plugin is a WebAssembly component targeting the `tessera:plugin` world.
//! This crate binds that world and wraps it: implement [`Plugin`] (a
//! [`Router`] of handlers, plus optional hooks), export it with
//! [`export_plugin!`], and build the crate as a `cdylib` for
//! `wasm32-wasip2`.
//!
//! ```no_run
//! use serde_json::json;
//! use tessera_sdk::{Plugin, Response, Router, config, storage};
//!
//! struct Hello;
//!
//! impl Plugin for Hello {
//!     fn router() -> Router {
//!         Router::new()
//!             .get("/greet/:name", |_, params| {
//!                 let greeting = config::get_or("greeting", "Hello");
//!                 let name = params.require("name")?;
//!                 Ok(Response::ok_json(&json!({ "message": format!("{greeting}, {name}!") })))
//!             })
//!             .post("/counter", |_, _| {
//!                 let value = storage::update_json("counter", |n: Option<u64>| n.unwrap_or(0) + 1)?;
//!                 Ok(Response::ok_json(&json!({ "value": value })))
//!             })
//!     }
//! }
//!
//! tessera_sdk::export_plugin!(Hello);
//! # fn main() {}
//! ```
//!
//! With its `plugin.toml` next to `Cargo.toml`:
//!
//! ```toml
//! [plugin]
//! id = "acme.hello"
//! version = "0.1.0"
//! api = "^0.2"
//! mount = "hello"
//!
//! [capabilities]
//! storage = true
//!
//! [config]
//! greeting = "Hello"
//! ```
//!
//! `GET /api/hello/greet/ada` then answers `{"message":"Hello, ada!"}`.
//!
//! # What is where
//!
//! - HTTP: [`Request`] helpers (`json`, `text`, `header`, `query`),
//!   [`Response`] constructors (`json`, `ok_json`, `text`, `empty`), and
//!   [`Error`], which becomes `{"error":{"code":...,"message":...}}`.
//! - [`Router`]: `:name` parameters, a final `*rest` wildcard, 404 and 405
//!   answers.
//! - [`storage`]: bytes, JSON, paged scans and [`storage::update_json`].
//! - [`config`], [`identity`], [`events`], [`invoke`], [`jobs`], [`log`]
//!   (and the [`info!`] family of macros).
//! - [`bindings`]: the raw generated bindings, for what the SDK does not wrap
//!   (outbound HTTP).
//!
//! Every call runs in a fresh instance, so state lives in storage, never in
//! statics. Functions that call the kernel only work inside the component; a
//! [`Router`] whose handlers do not call the kernel can be tested natively
//! with [`Router::handle`].
#![deny(missing_docs)]

#[allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
pub mod bindings;
pub mod config;
mod error;
pub mod events;
mod http;
pub mod identity;
pub mod invoke;
pub mod jobs;
pub mod log;
pub mod outbound;
mod percent;
mod plugin;
mod router;
pub mod storage;

pub use error::Error;
pub use events::Event;
pub use http::{Headers, Method, Request, Response};
pub use identity::{Principal, User};
pub use plugin::Plugin;
pub use router::{Handler, Params, Router};

/// Everything a typical plugin names, in one import.
///
/// ```no_run
/// use tessera_sdk::prelude::*;
///
/// struct Ping;
///
/// impl Plugin for Ping {
///     fn router() -> Router {
///         Router::new().get("/", |_, _| Ok(Response::ok_json(&json!({ "pong": true }))))
///     }
/// }
///
/// export_plugin!(Ping);
/// # fn main() {}
/// ```
pub mod prelude {
    pub use crate::{
        Error, Event, Method, Params, Plugin, Request, Response, Router, config, events,
        export_plugin, identity, invoke, jobs, log, outbound, storage,
    };
    pub use serde_json::json;
}

/// Items the macros expand to; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::plugin::Export;
}
