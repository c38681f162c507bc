//! Native plugins: shared libraries loaded into the kernel process through
//! the versioned C ABI of [`tessera_host_api::native`], for trusted
//! connectors that need a native library.
//!
//! **Trusted only.** Loading a library runs its initialisers inside the
//! kernel process before any of its functions is called, and its code then
//! runs with all of the kernel's rights: no sandbox, no memory or time
//! limit, no capability check. [`NativePlugin::load`] therefore refuses a
//! library unless the administrator enabled native plugins in the kernel's
//! configuration *and* the package it comes from is signed by a trusted key,
//! both judged by the caller and passed as a [`NativePolicy`]. Only then is
//! the library opened and its ABI version read: a library built for another
//! version is refused before any other symbol is looked up.
//!
//! **Calls** are blocking FFI calls. [`NativePlugin::handle`] and
//! [`NativePlugin::on_event`] run on the calling thread;
//! [`NativePlugin::handle_async`] and [`NativePlugin::on_event_async`] run
//! them on tokio's blocking pool, so an async worker never waits on native
//! code. A panic inside the plugin is caught by the plugin (see
//! [`export_native_plugin!`](tessera_host_api::export_native_plugin)) and
//! fails only that call, as [`NativeError::Panicked`].
//!
//! ```no_run
//! # async fn example() -> Result<(), tessera_kernel::native::NativeError> {
//! use tessera_kernel::native::{NativePlugin, NativePolicy, NativeRequest};
//!
//! let policy = NativePolicy { enabled: true, signed_by_trusted_key: true };
//! let plugin = NativePlugin::load("libnative_hello.so".as_ref(), &policy)?;
//! let response = plugin.handle_async(NativeRequest::new("GET", "/")).await?;
//! assert_eq!(response.status, 200);
//! # Ok(()) }
//! ```

use std::fmt;
use std::path::Path;
use std::sync::Arc;

mod error;
mod library;
mod registry;
mod scratch;
mod services;
mod worker;

pub use error::NativeError;
pub use registry::{LoadedNative, NativeRegistry};
pub use services::KernelServices;
pub use tessera_host_api::native::{
    LogLevel, NATIVE_ABI_VERSION, NativeEvent, NativeRequest, NativeResponse, NativeStatus,
    OLDEST_NATIVE_ABI_VERSION, PublishCode, TesseraHost,
};
pub use worker::{NativeWorker, STOP_GRACE, WorkerServices};

use library::{Library, Returned, message};

/// The target triple this kernel was built for (e.g.
/// `x86_64-unknown-linux-gnu`): a native package must name it as its
/// `target` to be installed here.
pub const HOST_TARGET: &str = env!("TESSERA_HOST_TARGET");

/// What the kernel allows for one native library: decided by the caller
/// (the lifecycle code), from the kernel configuration and the package's
/// signature.
///
/// ```
/// use tessera_kernel::native::NativePolicy;
///
/// // Native plugins enabled in kernel.toml, package signed by a trusted key:
/// let policy = NativePolicy { enabled: true, signed_by_trusted_key: true };
/// assert!(policy.check("libx.so".as_ref()).is_ok());
/// assert!(NativePolicy::default().check("libx.so".as_ref()).is_err());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NativePolicy {
    /// The administrator set `native-plugins = true` in `<data>/kernel.toml`.
    pub enabled: bool,
    /// The package holding the library has a valid signature by a key in the
    /// trust store ([`Verification::is_trusted`](crate::package::Verification::is_trusted)).
    pub signed_by_trusted_key: bool,
}

impl NativePolicy {
    /// Whether a library at `path` may be loaded: [`NativeError::Disabled`]
    /// first, then [`NativeError::Untrusted`].
    ///
    /// ```
    /// use tessera_kernel::native::{NativeError, NativePolicy};
    ///
    /// let untrusted = NativePolicy { enabled: true, signed_by_trusted_key: false };
    /// assert!(matches!(untrusted.check("libx.so".as_ref()), Err(NativeError::Untrusted { .. })));
    /// ```
    pub fn check(&self, path: &Path) -> Result<(), NativeError> {
        if !self.enabled {
            return Err(NativeError::Disabled {
                path: path.to_path_buf(),
            });
        }
        if !self.signed_by_trusted_key {
            return Err(NativeError::Untrusted {
                path: path.to_path_buf(),
            });
        }
        Ok(())
    }
}

/// A loaded native plugin. Cloning is cheap and shares the library, which
/// is unloaded when the last clone is dropped.
///
/// The plugin's functions may be called from several threads at once.
#[derive(Clone)]
pub struct NativePlugin {
    library: Arc<Library>,
}

impl fmt::Debug for NativePlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NativePlugin")
            .field("path", &self.library.path())
            .field("abi_version", &self.library.abi_version())
            .finish()
    }
}

impl NativePlugin {
    /// Load the library at `library_path` if `policy` allows it, refusing a
    /// library built for another native ABI version or lacking one of the
    /// ABI's symbols.
    ///
    /// Loading runs the library's initialisers in this process: this is
    /// why the policy (native plugins enabled, package signed by a trusted
    /// key) is checked before the file is even opened. A bare file name is
    /// taken relative to the working directory, never searched for in the
    /// system's library directories.
    ///
    /// ```no_run
    /// use tessera_kernel::native::{NativePlugin, NativePolicy};
    ///
    /// let policy = NativePolicy { enabled: true, signed_by_trusted_key: true };
    /// match NativePlugin::load("target/debug/libnative_hello.so".as_ref(), &policy) {
    ///     Ok(plugin) => println!("loaded {plugin:?}"),
    ///     // e.g. "... was built for native ABI 7, this kernel speaks ABI 1; ..."
    ///     Err(error) => eprintln!("{error}"),
    /// }
    /// ```
    pub fn load(library_path: &Path, policy: &NativePolicy) -> Result<Self, NativeError> {
        policy.check(library_path)?;
        // SAFETY: the policy check above established that the administrator
        // allows native plugins and that the library comes from a package
        // signed by a key they trust: its initialisers and symbols are
        // trusted to be what the native ABI says.
        let library = unsafe { Library::open(library_path) }?;
        Ok(Self {
            library: Arc::new(library),
        })
    }

    /// Load a library held in memory, such as a native package's payload:
    /// check `policy`, write `bytes` as
    /// `<scratch_dir>/<sha256 of bytes>/<file_name>` (the loader only opens
    /// files) and [`load`](Self::load) it. `file_name` must be a plain
    /// library name (`lib<name>.so`, `lib<name>.dylib` or `<name>.dll`).
    /// Files are kept: the caller owns `scratch_dir` and may clear it while
    /// no plugin is loaded.
    ///
    /// ```no_run
    /// # fn example() -> Result<(), Box<dyn std::error::Error>> {
    /// use tessera_kernel::native::{NativePlugin, NativePolicy};
    /// use tessera_kernel::package::{Package, TrustStore};
    ///
    /// let data = std::path::Path::new("tessera-data");
    /// let package = Package::open("acme.loyalty-1.0.0.tpkg".as_ref())?;
    /// let policy = NativePolicy {
    ///     enabled: true, // from <data>/kernel.toml
    ///     signed_by_trusted_key: package.verification(&TrustStore::open(data)?).is_trusted(),
    /// };
    /// let library = package.payload_entry().rsplit('/').next().unwrap_or_default();
    /// let plugin = NativePlugin::load_bytes(package.payload(), library, &policy, &data.join("native"))?;
    /// # let _ = plugin; Ok(()) }
    /// ```
    pub fn load_bytes(
        bytes: &[u8],
        file_name: &str,
        policy: &NativePolicy,
        scratch_dir: &Path,
    ) -> Result<Self, NativeError> {
        policy.check(Path::new(file_name))?;
        let path = scratch::materialise(bytes, file_name, scratch_dir)?;
        Self::load(&path, policy)
    }

    /// The library's path as it was loaded.
    ///
    /// ```no_run
    /// # let plugin: tessera_kernel::native::NativePlugin = todo!();
    /// println!("serving from {}", plugin.path().display());
    /// ```
    pub fn path(&self) -> &Path {
        self.library.path()
    }

    /// The native ABI version the library reported: always
    /// [`NATIVE_ABI_VERSION`] for a loaded plugin.
    ///
    /// ```no_run
    /// # let plugin: tessera_kernel::native::NativePlugin = todo!();
    /// assert_eq!(plugin.abi_version(), tessera_kernel::native::NATIVE_ABI_VERSION);
    /// ```
    pub fn abi_version(&self) -> u32 {
        self.library.abi_version()
    }

    /// Serve one request on the calling thread (`tessera_native_handle`).
    /// This blocks for as long as the plugin runs: from async code use
    /// [`handle_async`](Self::handle_async).
    ///
    /// ```no_run
    /// # let plugin: tessera_kernel::native::NativePlugin = todo!();
    /// use tessera_kernel::native::NativeRequest;
    ///
    /// let response = plugin.handle(NativeRequest::new("GET", "/"))?;
    /// println!("{}", String::from_utf8_lossy(&response.body));
    /// # Ok::<(), tessera_kernel::native::NativeError>(())
    /// ```
    pub fn handle(&self, request: NativeRequest) -> Result<NativeResponse, NativeError> {
        const WHAT: &str = "request";
        let input = request.to_bytes().map_err(|source| NativeError::Encode {
            path: self.path().to_path_buf(),
            what: WHAT,
            source,
        })?;
        let bytes = self.outcome(WHAT, self.library.call_handle(&input))?;
        NativeResponse::from_bytes(&bytes).map_err(|error| NativeError::BadOutput {
            path: self.path().to_path_buf(),
            what: WHAT,
            message: error.to_string(),
        })
    }

    /// Deliver one event on the calling thread (`tessera_native_on_event`).
    /// The plugin's `Err(message)` is [`NativeError::Failed`]; the caller
    /// retries or dead-letters as for a WebAssembly subscriber.
    ///
    /// ```no_run
    /// # let plugin: tessera_kernel::native::NativePlugin = todo!();
    /// use tessera_kernel::native::NativeEvent;
    ///
    /// plugin.on_event(NativeEvent::new("cms.entry.published", br#"{"id":7}"#.to_vec()))?;
    /// # Ok::<(), tessera_kernel::native::NativeError>(())
    /// ```
    pub fn on_event(&self, event: NativeEvent) -> Result<(), NativeError> {
        const WHAT: &str = "event";
        let input = event.to_bytes().map_err(|source| NativeError::Encode {
            path: self.path().to_path_buf(),
            what: WHAT,
            source,
        })?;
        self.outcome(WHAT, self.library.call_on_event(&input))
            .map(drop)
    }

    /// Whether the library exports a background worker
    /// (`tessera_native_run`, native ABI 2); [`NativeWorker::start`] runs
    /// it.
    pub fn has_worker(&self) -> bool {
        self.library.has_worker()
    }

    /// Run the library's worker on the calling thread until it returns:
    /// `None` when it has none. `host` (and its context) must stay valid
    /// for the whole call; [`NativeWorker`] provides one.
    pub fn run(&self, host: &TesseraHost, config: &[u8]) -> Option<Result<(), NativeError>> {
        let returned = self.library.call_run(host, config)?;
        Some(self.outcome("worker", returned).map(drop))
    }

    /// [`handle`](Self::handle) on tokio's blocking thread pool.
    ///
    /// Native code cannot be interrupted: a call that never returns keeps
    /// its blocking thread, and dropping this future does not stop it.
    ///
    /// ```no_run
    /// # async fn example(plugin: tessera_kernel::native::NativePlugin) -> Result<(), tessera_kernel::native::NativeError> {
    /// use tessera_kernel::native::NativeRequest;
    ///
    /// let response = plugin.handle_async(NativeRequest::new("GET", "/greet/ada")).await?;
    /// # let _ = response; Ok(()) }
    /// ```
    pub async fn handle_async(
        &self,
        request: NativeRequest,
    ) -> Result<NativeResponse, NativeError> {
        let plugin = self.clone();
        tokio::task::spawn_blocking(move || plugin.handle(request))
            .await
            .map_err(|error| self.abandoned("request", error))?
    }

    /// [`on_event`](Self::on_event) on tokio's blocking thread pool.
    ///
    /// ```no_run
    /// # async fn example(plugin: tessera_kernel::native::NativePlugin) -> Result<(), tessera_kernel::native::NativeError> {
    /// use tessera_kernel::native::NativeEvent;
    ///
    /// plugin.on_event_async(NativeEvent::new("iot.reading", b"{}".to_vec())).await?;
    /// # Ok(()) }
    /// ```
    pub async fn on_event_async(&self, event: NativeEvent) -> Result<(), NativeError> {
        let plugin = self.clone();
        tokio::task::spawn_blocking(move || plugin.on_event(event))
            .await
            .map_err(|error| self.abandoned("event", error))?
    }

    /// The bytes of a successful call, or the error its status says.
    fn outcome(
        &self,
        what: &'static str,
        returned: Result<Returned, String>,
    ) -> Result<Vec<u8>, NativeError> {
        let path = self.path().to_path_buf();
        let Returned { code, bytes } = returned.map_err(|message| NativeError::BadOutput {
            path: path.clone(),
            what,
            message,
        })?;
        match NativeStatus::from_code(code) {
            Some(NativeStatus::Ok) => Ok(bytes),
            Some(NativeStatus::Error) => Err(NativeError::Failed {
                path,
                what,
                message: message(&bytes),
            }),
            Some(NativeStatus::Panic) => Err(NativeError::Panicked {
                path,
                what,
                message: message(&bytes),
            }),
            Some(NativeStatus::BadInput) => Err(NativeError::BadInput {
                path,
                what,
                message: message(&bytes),
            }),
            None => Err(NativeError::UnknownStatus {
                path,
                what,
                code,
                message: message(&bytes),
            }),
        }
    }

    fn abandoned(&self, what: &'static str, error: tokio::task::JoinError) -> NativeError {
        NativeError::Abandoned {
            path: self.path().to_path_buf(),
            what,
            message: error.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disabled_is_reported_before_untrusted_and_before_any_file_is_touched() {
        let missing = Path::new("/nonexistent/libnothing.so");
        let error = NativePlugin::load(missing, &NativePolicy::default()).unwrap_err();
        assert!(matches!(error, NativeError::Disabled { .. }), "{error}");
        assert!(
            error
                .to_string()
                .contains("set `native-plugins = true` in <data>/kernel.toml"),
            "{error}"
        );
        let untrusted = NativePolicy {
            enabled: true,
            signed_by_trusted_key: false,
        };
        let error = NativePlugin::load(missing, &untrusted).unwrap_err();
        assert!(matches!(error, NativeError::Untrusted { .. }), "{error}");
        let scratch = tempfile::tempdir().unwrap();
        let error = NativePlugin::load_bytes(b"\x7fELF", "libx.so", &untrusted, scratch.path())
            .unwrap_err();
        assert!(matches!(error, NativeError::Untrusted { .. }), "{error}");
        assert_eq!(std::fs::read_dir(scratch.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_file_that_is_not_a_library_is_an_open_error_naming_it() {
        let scratch = tempfile::tempdir().unwrap();
        let allowed = NativePolicy {
            enabled: true,
            signed_by_trusted_key: true,
        };
        let error =
            NativePlugin::load_bytes(b"not a library", "libjunk.so", &allowed, scratch.path())
                .unwrap_err();
        assert!(matches!(error, NativeError::Open { .. }), "{error}");
        assert!(error.to_string().contains("libjunk.so"), "{error}");
    }
}
