//! [`NativeError`]: why a native plugin was refused or a call into it failed.

use std::path::PathBuf;

/// Why a native plugin was not loaded, or why a call into it failed. Each
/// message names the library and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum NativeError {
    /// The administrator has not enabled native plugins.
    #[error(
        "cannot load native plugin {path}: native plugins are disabled; set `native-plugins = true` in <data>/kernel.toml to allow trusted native plugins"
    )]
    Disabled {
        /// The library.
        path: PathBuf,
    },
    /// The package holding the library is unsigned or signed by a key the
    /// trust store does not list.
    #[error(
        "refusing native plugin {path}: it is not signed by a trusted key, and a native library runs inside the kernel process with all of its rights; install it from a package signed by a key you trust (`tessera trust add`)"
    )]
    Untrusted {
        /// The library.
        path: PathBuf,
    },
    /// The library's file name is not a plain library name.
    #[error(
        "native library file name `{name}` is not a plain library name such as libacme_loyalty.so, libacme_loyalty.dylib or acme_loyalty.dll"
    )]
    FileName {
        /// The name given.
        name: String,
    },
    /// The library could not be written to the scratch directory.
    #[error("cannot write native library {path}: {source}")]
    Scratch {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The dynamic loader refused the library (missing file, wrong
    /// architecture, a native dependency it cannot find).
    #[error("cannot load native library {path}: {source}")]
    Open {
        /// The library.
        path: PathBuf,
        /// The loader's account.
        source: libloading::Error,
    },
    /// The library lacks one of the ABI's symbols.
    #[error(
        "{path} is not a Tessera native plugin: it does not export `{symbol}`; build it with `tessera_host_api::export_native_plugin!`"
    )]
    MissingSymbol {
        /// The library.
        path: PathBuf,
        /// The missing symbol.
        symbol: &'static str,
        /// The loader's account.
        source: libloading::Error,
    },
    /// The library was built for another version of the native ABI.
    #[error(
        "native plugin {path} was built for native ABI {found}, this kernel speaks ABI {expected} (and still loads libraries built for ABI {oldest} to {expected}); rebuild it against a tessera-host-api whose NATIVE_ABI_VERSION is {expected}"
    )]
    AbiMismatch {
        /// The library.
        path: PathBuf,
        /// The version the library reports.
        found: u32,
        /// The version this kernel speaks.
        expected: u32,
        /// The oldest version this kernel still loads.
        oldest: u32,
    },
    /// The kernel could not encode what it meant to send.
    #[error("cannot encode the {what} for native plugin {path}: {source}")]
    Encode {
        /// The library.
        path: PathBuf,
        /// `request` or `event`.
        what: &'static str,
        /// The encoding error.
        source: tessera_host_api::native::CodecError,
    },
    /// The plugin could not decode the request or event the kernel sent
    /// (status `BadInput`): the plugin and kernel disagree on the records.
    #[error("native plugin {path} could not decode the {what} the kernel sent: {message}")]
    BadInput {
        /// The library.
        path: PathBuf,
        /// `request` or `event`.
        what: &'static str,
        /// The plugin's message.
        message: String,
    },
    /// The plugin failed the call on purpose (status `Error`), e.g. an event
    /// handler's `Err`.
    #[error("native plugin {path} failed the {what}: {message}")]
    Failed {
        /// The library.
        path: PathBuf,
        /// `request` or `event`.
        what: &'static str,
        /// The plugin's message.
        message: String,
    },
    /// The plugin panicked; the panic was caught inside the plugin and
    /// failed only this call.
    #[error("native plugin {path} panicked handling the {what}: {message}")]
    Panicked {
        /// The library.
        path: PathBuf,
        /// `request` or `event`.
        what: &'static str,
        /// The panic message.
        message: String,
    },
    /// The plugin's answer cannot be read or decoded.
    #[error("native plugin {path} answered the {what} with something that is not valid: {message}")]
    BadOutput {
        /// The library.
        path: PathBuf,
        /// `request` or `event`.
        what: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The plugin returned a status code this ABI version does not define.
    #[error("native plugin {path} returned unknown status {code} for the {what}: {message}")]
    UnknownStatus {
        /// The library.
        path: PathBuf,
        /// `request` or `event`.
        what: &'static str,
        /// The code returned.
        code: i32,
        /// What it wrote to `out`, as text.
        message: String,
    },
    /// The blocking task running the call did not complete (the runtime is
    /// shutting down).
    #[error("native plugin {path}: the {what} was abandoned: {message}")]
    Abandoned {
        /// The library.
        path: PathBuf,
        /// `request` or `event`.
        what: &'static str,
        /// Why.
        message: String,
    },
}
