//! ABI 2: the kernel's services for a plugin's background worker.
//!
//! A library built for ABI 2 may export `tessera_native_run`, a
//! [`RunFn`]. The kernel calls it once on a thread of its own after the
//! plugin is activated, with a [`TesseraHost`] table and the plugin's
//! configuration as a JSON object of strings; it runs for as long as the
//! worker works (holding a connection to a broker, polling a device ...)
//! and returns when [`TesseraHost::wait`] reports that the kernel asks it
//! to stop (the plugin is disabled, upgraded, uninstalled or the kernel
//! shuts down). Through the table the worker publishes events (checked
//! against the manifest's `capabilities.events.publish` as a component's
//! are) and writes to the kernel's log.
//!
//! The table and its `context` are valid until `tessera_native_run`
//! returns, and its functions may be called from any thread of the
//! library meanwhile; none of them may be called afterwards.

use std::collections::BTreeMap;
use std::ffi::c_void;
use std::time::Duration;

use serde::Serialize;

use super::TesseraBuffer;

/// Name of the optional ABI-2 symbol running the plugin's worker: a
/// [`RunFn`].
///
/// ```
/// assert_eq!(tessera_host_api::native::SYMBOL_RUN, "tessera_native_run");
/// ```
pub const SYMBOL_RUN: &str = "tessera_native_run";

/// `tessera_native_run(host, config_ptr, config_len, out) -> status`.
///
/// # Safety
///
/// The kernel passes a `host` table valid until the call returns, a JSON
/// object of strings (the plugin's configuration) in `config_ptr` /
/// `config_len` as for a [`CallFn`](super::CallFn) input, and an `out`
/// valid for one [`TesseraBuffer`]. The library writes `*out` (an error
/// message, or nothing) before returning a
/// [`NativeStatus`](super::NativeStatus) code, and stops calling the
/// table's functions when it returns.
pub type RunFn =
    unsafe extern "C" fn(*const TesseraHost, *const u8, usize, *mut TesseraBuffer) -> i32;

/// `publish(context, topic_ptr, topic_len, payload_ptr, payload_len) ->
/// code`: append an event to the kernel's log as the plugin; the code is a
/// [`PublishCode`].
pub type PublishFn = unsafe extern "C" fn(*mut c_void, *const u8, usize, *const u8, usize) -> i32;

/// `log(context, level, message_ptr, message_len)`: a line in the
/// kernel's log, `level` a [`LogLevel`].
pub type LogFn = unsafe extern "C" fn(*mut c_void, u32, *const u8, usize);

/// `wait(context, timeout_ms) -> stop`: sleep until the kernel asks the
/// worker to stop (returns 1) or `timeout_ms` passed (returns 0); `0`
/// polls.
pub type WaitFn = unsafe extern "C" fn(*mut c_void, u64) -> u32;

/// The kernel's services for a running worker (C layout).
///
/// ```c
/// typedef struct {
///     void *context;
///     int32_t (*publish)(void *context, const uint8_t *topic, size_t topic_len,
///                        const uint8_t *payload, size_t payload_len);
///     void (*log)(void *context, uint32_t level, const uint8_t *message, size_t len);
///     uint32_t (*wait)(void *context, uint64_t timeout_ms);
/// } TesseraHost;
/// ```
#[repr(C)]
#[derive(Debug)]
pub struct TesseraHost {
    /// The kernel's own state, passed back to each function untouched.
    pub context: *mut c_void,
    /// Publish an event.
    pub publish: PublishFn,
    /// Write to the kernel's log.
    pub log: LogFn,
    /// Wait for a stop request.
    pub wait: WaitFn,
}

/// What `publish` answers.
///
/// ```
/// use tessera_host_api::native::PublishCode;
///
/// assert_eq!(PublishCode::from_code(1), PublishCode::NotPermitted);
/// assert_eq!(PublishCode::from_code(77), PublishCode::Unavailable);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum PublishCode {
    /// `0`: the event is in the log.
    Published = 0,
    /// `1`: the manifest does not list the topic under
    /// `capabilities.events.publish`.
    NotPermitted = 1,
    /// `2`: not a dotted lower-case topic, a payload above 1 MiB, or bytes
    /// that cannot be read.
    Invalid = 2,
    /// `3`: the kernel could not store it now (no event bus, the
    /// `events-per-second` quota, a storage error); later may work.
    Unavailable = 3,
}

impl PublishCode {
    /// The code for `code`; unknown codes count as `Unavailable`.
    pub fn from_code(code: i32) -> Self {
        match code {
            0 => Self::Published,
            1 => Self::NotPermitted,
            2 => Self::Invalid,
            _ => Self::Unavailable,
        }
    }
}

/// Levels of `log`.
///
/// ```
/// assert_eq!(tessera_host_api::native::LogLevel::from_code(3), tessera_host_api::native::LogLevel::Warn);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum LogLevel {
    /// `0`
    Trace = 0,
    /// `1`
    Debug = 1,
    /// `2`
    Info = 2,
    /// `3`
    Warn = 3,
    /// `4` (and anything above)
    Error = 4,
}

impl LogLevel {
    /// The level for `code`; codes above 4 are `Error`.
    pub fn from_code(code: u32) -> Self {
        match code {
            0 => Self::Trace,
            1 => Self::Debug,
            2 => Self::Info,
            3 => Self::Warn,
            _ => Self::Error,
        }
    }
}

/// Why an event was not published.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// The kernel refused it ([`PublishCode`] other than `Published`); the
    /// kernel's log says why.
    #[error("the kernel refused to publish on `{topic}`: {code:?} (its log says why)")]
    Refused {
        /// The topic.
        topic: String,
        /// What the kernel answered.
        code: PublishCode,
    },
    /// The payload could not be encoded as JSON.
    #[error("cannot encode the payload for `{topic}`: {message}")]
    Encode {
        /// The topic.
        topic: String,
        /// The encoder's message.
        message: String,
    },
}

/// The plugin's side of a [`TesseraHost`]: what a worker function
/// receives. It may be shared with other threads of the library while the
/// worker runs (the kernel's functions are thread-safe).
#[derive(Debug, Clone, Copy)]
pub struct Host<'a> {
    raw: &'a TesseraHost,
}

// SAFETY: the ABI makes every function of the table callable from any
// thread while `tessera_native_run` runs, which bounds the borrow `'a`.
unsafe impl Send for Host<'_> {}
// SAFETY: as above.
unsafe impl Sync for Host<'_> {}

impl<'a> Host<'a> {
    /// Wrap the table the kernel passed.
    ///
    /// # Safety
    ///
    /// `raw` must be the table of a running `tessera_native_run` call (or
    /// one upholding the same contract for `'a`).
    pub unsafe fn from_raw(raw: &'a TesseraHost) -> Self {
        Self { raw }
    }

    /// Publish `payload` on `topic` as this plugin.
    pub fn publish(&self, topic: &str, payload: &[u8]) -> Result<(), PublishError> {
        // SAFETY: the table is valid for `'a` (see `from_raw`); the slices
        // are readable for the call.
        let code = unsafe {
            (self.raw.publish)(
                self.raw.context,
                topic.as_ptr(),
                topic.len(),
                payload.as_ptr(),
                payload.len(),
            )
        };
        match PublishCode::from_code(code) {
            PublishCode::Published => Ok(()),
            code => Err(PublishError::Refused {
                topic: topic.to_owned(),
                code,
            }),
        }
    }

    /// Publish `payload` as JSON on `topic`.
    pub fn publish_json<T: Serialize + ?Sized>(
        &self,
        topic: &str,
        payload: &T,
    ) -> Result<(), PublishError> {
        let bytes = serde_json::to_vec(payload).map_err(|error| PublishError::Encode {
            topic: topic.to_owned(),
            message: error.to_string(),
        })?;
        self.publish(topic, &bytes)
    }

    /// Write `message` to the kernel's log at `level`, tagged with the
    /// plugin's id.
    pub fn log(&self, level: LogLevel, message: &str) {
        // SAFETY: as in `publish`.
        unsafe {
            (self.raw.log)(
                self.raw.context,
                level as u32,
                message.as_ptr(),
                message.len(),
            )
        }
    }

    /// Sleep up to `timeout`, waking early when the kernel asks the worker
    /// to stop; `true` means stop now.
    pub fn wait(&self, timeout: Duration) -> bool {
        let millis = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        // SAFETY: as in `publish`.
        unsafe { (self.raw.wait)(self.raw.context, millis) != 0 }
    }

    /// Whether the kernel asked the worker to stop.
    pub fn stopping(&self) -> bool {
        self.wait(Duration::ZERO)
    }
}

/// The configuration a worker receives: the manifest's `[config]` with the
/// administrator's `<data>/config/<id>.toml` on top.
pub type NativeConfig = BTreeMap<String, String>;
