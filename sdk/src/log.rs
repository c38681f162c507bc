//! Write to the kernel's log, tagged with the plugin id and the current
//! request id. Messages longer than 8 KiB are truncated.
//!
//! The macros [`trace!`](crate::trace), [`debug!`](crate::debug),
//! [`info!`](crate::info), [`warn!`](crate::warn) and
//! [`error!`](crate::error) take `format!` arguments.

use crate::bindings::tessera::plugin::log as wit;
pub use crate::bindings::tessera::plugin::log::Level;

/// Writes `message` at `level`.
///
/// ```no_run
/// use tessera_sdk::log::{self, Level};
///
/// log::log(Level::Info, "cache warmed");
/// ```
pub fn log(level: Level, message: &str) {
    wit::log(level, message);
}

/// Writes `message` at [`Level::Trace`].
///
/// ```no_run
/// tessera_sdk::log::trace("entering render");
/// ```
pub fn trace(message: &str) {
    log(Level::Trace, message);
}

/// Writes `message` at [`Level::Debug`].
///
/// ```no_run
/// tessera_sdk::log::debug("cache miss");
/// ```
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// Writes `message` at [`Level::Info`].
///
/// ```no_run
/// tessera_sdk::log::info("entry published");
/// ```
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Writes `message` at [`Level::Warn`].
///
/// ```no_run
/// tessera_sdk::log::warn("slug taken, using a suffix");
/// ```
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Writes `message` at [`Level::Error`].
///
/// ```no_run
/// tessera_sdk::log::error("could not render the feed");
/// ```
pub fn error(message: &str) {
    log(Level::Error, message);
}

/// Logs a `format!`-style message at the trace level.
///
/// ```no_run
/// let key = "entry/7";
/// tessera_sdk::trace!("reading {key}");
/// ```
#[macro_export]
macro_rules! trace {
    ($($arg:tt)+) => {
        $crate::log::trace(&::std::format!($($arg)+))
    };
}

/// Logs a `format!`-style message at the debug level.
///
/// ```no_run
/// let hits = 3;
/// tessera_sdk::debug!("{hits} cache hits");
/// ```
#[macro_export]
macro_rules! debug {
    ($($arg:tt)+) => {
        $crate::log::debug(&::std::format!($($arg)+))
    };
}

/// Logs a `format!`-style message at the info level.
///
/// ```no_run
/// let id = 7;
/// tessera_sdk::info!("published entry {id}");
/// ```
#[macro_export]
macro_rules! info {
    ($($arg:tt)+) => {
        $crate::log::info(&::std::format!($($arg)+))
    };
}

/// Logs a `format!`-style message at the warn level.
///
/// ```no_run
/// let slug = "hello";
/// tessera_sdk::warn!("slug {slug} taken");
/// ```
#[macro_export]
macro_rules! warn {
    ($($arg:tt)+) => {
        $crate::log::warn(&::std::format!($($arg)+))
    };
}

/// Logs a `format!`-style message at the error level.
///
/// ```no_run
/// let status = 502;
/// tessera_sdk::error!("feed upstream answered {status}");
/// ```
#[macro_export]
macro_rules! error {
    ($($arg:tt)+) => {
        $crate::log::error(&::std::format!($($arg)+))
    };
}
