//! The native-plugin C ABI, version [`NATIVE_ABI_VERSION`].
//!
//! Most plugins are WebAssembly components, sandboxed by the kernel. A
//! *native* plugin is a shared library (`.so`, `.dylib`, `.dll`) loaded into
//! the kernel process, for trusted connectors that need a native library (a
//! vendor SDK, a hardware driver, a database client with no WebAssembly
//! build). Loading it runs its code with all of the kernel's rights, so the
//! kernel loads one only when the administrator enabled native plugins and
//! the package is signed by a trusted key.
//!
//! The ABI has the same shape as the WIT world's `handler` and `subscriber`
//! exports, with bytes in and out:
//!
//! | symbol | signature | role |
//! |---|---|---|
//! | `tessera_native_abi_version` | `fn() -> u32` | [`NATIVE_ABI_VERSION`] the library was built for |
//! | `tessera_native_handle` | `fn(*const u8, usize, *mut TesseraBuffer) -> i32` | a JSON [`NativeRequest`] in, a JSON [`NativeResponse`] out |
//! | `tessera_native_on_event` | `fn(*const u8, usize, *mut TesseraBuffer) -> i32` | a JSON [`NativeEvent`] in, nothing (or an error message) out |
//! | `tessera_native_free` | `fn(TesseraBuffer)` | frees a buffer the library returned |
//! | `tessera_native_run` (ABI 2, optional) | `fn(*const TesseraHost, *const u8, usize, *mut TesseraBuffer) -> i32` | the plugin's background worker, see [`RunFn`] |
//!
//! Every function is `extern "C"` and unmangled. The return value of the two
//! calls is a [`NativeStatus`] code: `0` with the encoded answer in `out`, or
//! a nonzero code with a UTF-8 message in `out`.
//!
//! **Memory.** Input bytes belong to the kernel and are only borrowed for the
//! duration of the call. Output bytes are allocated by the plugin, written
//! to `*out` as a [`TesseraBuffer`], read (copied) by the kernel and handed
//! back to `tessera_native_free`, so that the allocator that made them frees
//! them.
//!
//! **Versioning.** The kernel reads `tessera_native_abi_version` before
//! anything else and refuses a library built for a version outside
//! [`OLDEST_NATIVE_ABI_VERSION`]..=[`NATIVE_ABI_VERSION`]. Adding an
//! optional field to the JSON records keeps the version (unknown fields are
//! ignored on both sides, missing optional ones take their default); any
//! other change to the symbols, the codes or the records bumps it.
//!
//! **Threads.** The kernel may call `tessera_native_handle` and
//! `tessera_native_on_event` from several threads at once, and from a
//! different thread each time.
//!
//! Plugin authors do not write these symbols:
//! [`export_native_plugin!`](crate::export_native_plugin)
//! generates them from two plain Rust functions, catching panics.
//!
//! ```standalone_crate
//! use tessera_host_api::native::{NativeEvent, NativeRequest, NativeResponse};
//!
//! fn handle(request: NativeRequest) -> NativeResponse {
//!     match (request.method.as_str(), request.path.as_str()) {
//!         ("GET", "/") => NativeResponse::json(200, &serde_json::json!({ "native": true })),
//!         _ => NativeResponse::text(404, "no such route"),
//!     }
//! }
//!
//! fn on_event(_event: NativeEvent) -> Result<(), String> {
//!     Ok(())
//! }
//!
//! tessera_host_api::export_native_plugin!(handle, on_event);
//! # assert_eq!(tessera_native_abi_version(), tessera_host_api::native::NATIVE_ABI_VERSION);
//! ```

mod buffer;
pub mod guest;
mod host;
mod message;
mod status;

pub use buffer::TesseraBuffer;
pub use host::{
    Host, LogFn, LogLevel, NativeConfig, PublishCode, PublishError, PublishFn, RunFn, SYMBOL_RUN,
    TesseraHost, WaitFn,
};
pub use message::{CodecError, Headers, NativeEvent, NativeRequest, NativeResponse};
pub use status::NativeStatus;

/// The version of the native ABI this crate defines. A library reports the
/// version it was built for from `tessera_native_abi_version`; the kernel
/// loads libraries reporting a version from [`OLDEST_NATIVE_ABI_VERSION`]
/// to this one.
///
/// - **1**: `handle`, `on_event` and `free`.
/// - **2**: adds the optional `tessera_native_run` ([`RunFn`]), a
///   background worker the kernel runs on a thread of its own with a
///   [`TesseraHost`] table to publish events, log, and learn when to stop.
///   A library built for 2 is refused by a kernel that only speaks 1, which
///   would silently never run its worker.
///
/// ```
/// assert_eq!(tessera_host_api::native::NATIVE_ABI_VERSION, 2);
/// ```
pub const NATIVE_ABI_VERSION: u32 = 2;

/// The oldest native ABI version this crate's kernel still loads: a
/// library built for ABI 1 has the same three symbols and no worker.
///
/// ```
/// assert_eq!(tessera_host_api::native::OLDEST_NATIVE_ABI_VERSION, 1);
/// ```
pub const OLDEST_NATIVE_ABI_VERSION: u32 = 1;

/// Name of the symbol reporting the ABI version: an [`AbiVersionFn`].
///
/// ```
/// assert_eq!(tessera_host_api::native::SYMBOL_ABI_VERSION, "tessera_native_abi_version");
/// ```
pub const SYMBOL_ABI_VERSION: &str = "tessera_native_abi_version";

/// Name of the symbol serving HTTP requests: a [`CallFn`] taking a JSON
/// [`NativeRequest`] and answering a JSON [`NativeResponse`].
///
/// ```
/// assert_eq!(tessera_host_api::native::SYMBOL_HANDLE, "tessera_native_handle");
/// ```
pub const SYMBOL_HANDLE: &str = "tessera_native_handle";

/// Name of the symbol receiving events: a [`CallFn`] taking a JSON
/// [`NativeEvent`] and answering nothing (or an error message).
///
/// ```
/// assert_eq!(tessera_host_api::native::SYMBOL_ON_EVENT, "tessera_native_on_event");
/// ```
pub const SYMBOL_ON_EVENT: &str = "tessera_native_on_event";

/// Name of the symbol freeing a [`TesseraBuffer`] the library returned: a
/// [`FreeFn`].
///
/// ```
/// assert_eq!(tessera_host_api::native::SYMBOL_FREE, "tessera_native_free");
/// ```
pub const SYMBOL_FREE: &str = "tessera_native_free";

/// `tessera_native_abi_version`: the [`NATIVE_ABI_VERSION`] the library was
/// built for. It must not fail, block or have side effects.
///
/// ```
/// use tessera_host_api::native::{AbiVersionFn, NATIVE_ABI_VERSION};
///
/// extern "C" fn version() -> u32 {
///     NATIVE_ABI_VERSION
/// }
/// let symbol: AbiVersionFn = version;
/// // SAFETY: `version` has no preconditions.
/// assert_eq!(unsafe { symbol() }, 2);
/// ```
pub type AbiVersionFn = unsafe extern "C" fn() -> u32;

/// `tessera_native_handle` and `tessera_native_on_event`:
/// `(input_ptr, input_len, out) -> status`.
///
/// # Safety
///
/// The caller (the kernel) guarantees that `input_ptr` points to
/// `input_len` initialised bytes that stay readable and unchanged for the
/// whole call (`input_ptr` may be null only when `input_len` is 0), and
/// that `out` is valid for writing one [`TesseraBuffer`]. The callee writes
/// `*out` before returning whatever the status, never keeps `input_ptr`
/// after returning, and returns a [`NativeStatus`] code.
///
/// ```
/// use tessera_host_api::native::{CallFn, TesseraBuffer, guest};
///
/// unsafe extern "C" fn handle(ptr: *const u8, len: usize, out: *mut TesseraBuffer) -> i32 {
///     // SAFETY: our caller upholds the `CallFn` contract, which is
///     // `handle_request`'s.
///     unsafe {
///         guest::handle_request(ptr, len, out, |_request| {
///             tessera_host_api::native::NativeResponse::text(200, "hi")
///         })
///     }
/// }
/// let symbol: CallFn = handle;
/// # let _ = symbol;
/// ```
pub type CallFn = unsafe extern "C" fn(*const u8, usize, *mut TesseraBuffer) -> i32;

/// `tessera_native_free`: release a buffer the same library wrote to `out`.
///
/// # Safety
///
/// The caller passes each buffer the library returned exactly once, after
/// it last read it, unmodified. A buffer whose pointer is null is ignored.
///
/// ```
/// use tessera_host_api::native::{FreeFn, TesseraBuffer, guest};
///
/// unsafe extern "C" fn free(buffer: TesseraBuffer) {
///     // SAFETY: our caller upholds the `FreeFn` contract, which is
///     // `free_buffer`'s.
///     unsafe { guest::free_buffer(buffer) }
/// }
/// let symbol: FreeFn = free;
/// // SAFETY: the buffer was made by `from_vec` in this program.
/// unsafe { symbol(TesseraBuffer::from_vec(b"bytes".to_vec())) };
/// ```
pub type FreeFn = unsafe extern "C" fn(TesseraBuffer);

/// Export a native plugin: generates the four `extern "C"` symbols of the
/// [native ABI](crate::native) from a request handler and, optionally, an event
/// handler.
///
/// - `handle`: `Fn(NativeRequest) -> NativeResponse`, the native
///   counterpart of the WIT `handler.handle`.
/// - `on_event`: `Fn(NativeEvent) -> Result<(), String>`, the counterpart of
///   `subscriber.on-event`; without it every event is acknowledged.
/// - `run` (optional, ABI 2): `FnOnce(Host<'_>, NativeConfig) -> Result<(),
///   String>`, the plugin's background worker (see [`RunFn`](crate::native::RunFn)):
///   it returns when `host.wait(..)` or `host.stopping()` says to stop.
///
/// Both may be called from several threads at once. A panic in either is
/// caught and reported to the kernel as
/// [`NativeStatus::Panic`](crate::native::NativeStatus::Panic) with its
/// message, so it fails that one call; a request the library cannot decode
/// is reported as
/// [`NativeStatus::BadInput`](crate::native::NativeStatus::BadInput). Build
/// the crate as a `cdylib` with unwinding panics (the default): with
/// `panic = "abort"` a panic ends the kernel process.
///
/// ```standalone_crate
/// use tessera_host_api::native::{NativeRequest, NativeResponse};
///
/// fn handle(request: NativeRequest) -> NativeResponse {
///     NativeResponse::text(200, &format!("you asked for {}", request.path))
/// }
///
/// tessera_host_api::export_native_plugin!(handle);
/// # assert_eq!(tessera_native_abi_version(), 2);
/// ```
#[macro_export]
macro_rules! export_native_plugin {
    ($handle:expr) => {
        $crate::export_native_plugin!($handle, $crate::native::guest::acknowledge_event);
    };
    ($handle:expr, $on_event:expr, $run:expr $(,)?) => {
        $crate::export_native_plugin!($handle, $on_event);

        /// Run the plugin's background worker until the kernel asks it to
        /// stop (native ABI 2).
        ///
        /// # Safety
        ///
        /// The contract of `tessera_host_api::native::RunFn`.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn tessera_native_run(
            host: *const $crate::native::TesseraHost,
            config_ptr: *const u8,
            config_len: usize,
            out: *mut $crate::native::TesseraBuffer,
        ) -> i32 {
            // SAFETY: the kernel upholds the `RunFn` contract, which is
            // exactly `run_worker`'s.
            unsafe { $crate::native::guest::run_worker(host, config_ptr, config_len, out, $run) }
        }
    };
    ($handle:expr, $on_event:expr $(,)?) => {
        /// The native ABI version this library was built for.
        #[unsafe(no_mangle)]
        pub extern "C" fn tessera_native_abi_version() -> u32 {
            $crate::native::NATIVE_ABI_VERSION
        }

        /// Serve one HTTP request: JSON `NativeRequest` in, JSON
        /// `NativeResponse` out.
        ///
        /// # Safety
        ///
        /// The contract of `tessera_host_api::native::CallFn`.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn tessera_native_handle(
            request_ptr: *const u8,
            request_len: usize,
            out: *mut $crate::native::TesseraBuffer,
        ) -> i32 {
            // SAFETY: the kernel upholds the `CallFn` contract, which is
            // exactly `handle_request`'s.
            unsafe { $crate::native::guest::handle_request(request_ptr, request_len, out, $handle) }
        }

        /// Receive one event: JSON `NativeEvent` in, nothing (or an error
        /// message) out.
        ///
        /// # Safety
        ///
        /// The contract of `tessera_host_api::native::CallFn`.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn tessera_native_on_event(
            event_ptr: *const u8,
            event_len: usize,
            out: *mut $crate::native::TesseraBuffer,
        ) -> i32 {
            // SAFETY: the kernel upholds the `CallFn` contract, which is
            // exactly `deliver_event`'s.
            unsafe { $crate::native::guest::deliver_event(event_ptr, event_len, out, $on_event) }
        }

        /// Free a buffer this library returned.
        ///
        /// # Safety
        ///
        /// The contract of `tessera_host_api::native::FreeFn`.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn tessera_native_free(buffer: $crate::native::TesseraBuffer) {
            // SAFETY: the kernel upholds the `FreeFn` contract, which is
            // exactly `free_buffer`'s.
            unsafe { $crate::native::guest::free_buffer(buffer) }
        }
    };
}
