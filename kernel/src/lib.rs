//! The Tessera kernel: a minimal, trusted host for sandboxed WebAssembly
//! component plugins.
//!
//! - [`runtime`]: wasmtime engine, compile cache, per-call instances with
//!   memory and time limits;
//! - [`host`]: the WIT host interfaces plugins import;
//! - [`storage`]: durable key-value storage, one namespace per plugin;
//! - [`http`]: the hyper server, routing `/api/<mount>/...` to plugins;
//! - [`plugin_build`]: building plugin crates into components;
//! - [`package`]: signed plugin packages (`.tpkg`), keys and the trust store;
//! - [`kernel_config`]: `<data>/kernel.toml`, the kernel's own settings;
//! - [`native`]: trusted native plugins loaded through the C ABI;
//! - [`quota`]: per-plugin quotas (storage bytes, rates) and usage metering;
//! - [`serve`]: `tessera serve`, tying it together.

pub mod demo;
pub mod events;
pub mod host;
pub mod http;
pub mod identity;
pub mod jobs;
pub mod kernel_config;
pub mod lifecycle;
pub mod metrics;
pub mod native;
pub mod outbound;
pub mod package;
pub mod plugin_build;
pub mod quota;
pub mod runtime;
pub mod serde_base64;
pub mod serve;
pub mod storage;
