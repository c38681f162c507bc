//! The unsafe part: opening a library, resolving the ABI's symbols and
//! calling them with the buffer discipline of the ABI.

use std::path::{Path, PathBuf};

use tessera_host_api::native::{
    AbiVersionFn, CallFn, FreeFn, NATIVE_ABI_VERSION, OLDEST_NATIVE_ABI_VERSION, RunFn,
    SYMBOL_ABI_VERSION, SYMBOL_FREE, SYMBOL_HANDLE, SYMBOL_ON_EVENT, SYMBOL_RUN, TesseraBuffer,
    TesseraHost,
};

use super::NativeError;

/// The most of a plugin's error message kept in a [`NativeError`].
const MAX_MESSAGE: usize = 16 * 1024;

/// A loaded library whose symbols match this kernel's ABI version.
pub(super) struct Library {
    path: PathBuf,
    abi_version: u32,
    handle: CallFn,
    on_event: CallFn,
    free: FreeFn,
    /// `tessera_native_run`, which only ABI 2 libraries may export.
    run: Option<RunFn>,
    // The function pointers above point into this library: it is only
    // unloaded when this struct is dropped, after which they are gone too.
    _library: libloading::Library,
}

/// What a call returned: its status code and a copy of the bytes it wrote
/// to `out` (already handed back to the plugin's `tessera_native_free`).
pub(super) struct Returned {
    pub code: i32,
    pub bytes: Vec<u8>,
}

impl Library {
    /// Load `path`, check its ABI version, resolve the other symbols.
    ///
    /// # Safety
    ///
    /// Loading runs the library's initialisers in this process, and later
    /// calls trust its symbols to have the ABI's signatures and honour its
    /// contract: the caller has established that the library is trusted.
    pub(super) unsafe fn open(path: &Path) -> Result<Self, NativeError> {
        let path = explicit_path(path);
        // SAFETY: the caller vouches for the library (see above).
        let library = unsafe { load(&path) }.map_err(|source| NativeError::Open {
            path: path.clone(),
            source,
        })?;
        let missing = |symbol: &'static str| {
            let path = path.clone();
            move |source| NativeError::MissingSymbol {
                path,
                symbol,
                source,
            }
        };
        // SAFETY: every native ABI version defines
        // `tessera_native_abi_version` as an `AbiVersionFn`; the pointer is
        // copied out while `library` is alive and stored beside it.
        let abi_version_fn: AbiVersionFn =
            *unsafe { library.get::<AbiVersionFn>(SYMBOL_ABI_VERSION.as_bytes()) }
                .map_err(missing(SYMBOL_ABI_VERSION))?;
        // SAFETY: the version function has no preconditions.
        let abi_version = unsafe { abi_version_fn() };
        if !(OLDEST_NATIVE_ABI_VERSION..=NATIVE_ABI_VERSION).contains(&abi_version) {
            return Err(NativeError::AbiMismatch {
                path,
                found: abi_version,
                expected: NATIVE_ABI_VERSION,
                oldest: OLDEST_NATIVE_ABI_VERSION,
            });
        }
        // SAFETY: the library reports this kernel's ABI version, whose
        // symbols have these types; the pointers are stored with `library`.
        let handle: CallFn = *unsafe { library.get::<CallFn>(SYMBOL_HANDLE.as_bytes()) }
            .map_err(missing(SYMBOL_HANDLE))?;
        // SAFETY: as above.
        let on_event: CallFn = *unsafe { library.get::<CallFn>(SYMBOL_ON_EVENT.as_bytes()) }
            .map_err(missing(SYMBOL_ON_EVENT))?;
        // SAFETY: as above.
        let free: FreeFn = *unsafe { library.get::<FreeFn>(SYMBOL_FREE.as_bytes()) }
            .map_err(missing(SYMBOL_FREE))?;
        // ABI 2 adds the optional worker; an ABI 1 library's symbol of
        // that name (if any) is not ours to call.
        let run: Option<RunFn> = if abi_version >= 2 {
            // SAFETY: ABI 2 defines `tessera_native_run` as a `RunFn`; the
            // pointer is stored with `library`.
            unsafe { library.get::<RunFn>(SYMBOL_RUN.as_bytes()) }
                .ok()
                .map(|symbol| *symbol)
        } else {
            None
        };
        Ok(Self {
            path,
            abi_version,
            handle,
            on_event,
            free,
            run,
            _library: library,
        })
    }

    /// The library's path as loaded.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// The ABI version it reported.
    pub(super) fn abi_version(&self) -> u32 {
        self.abi_version
    }

    /// Call `tessera_native_handle` with `input`.
    pub(super) fn call_handle(&self, input: &[u8]) -> Result<Returned, String> {
        self.call(self.handle, input)
    }

    /// Call `tessera_native_on_event` with `input`.
    pub(super) fn call_on_event(&self, input: &[u8]) -> Result<Returned, String> {
        self.call(self.on_event, input)
    }

    /// Whether the library exports a worker (`tessera_native_run`).
    pub(super) fn has_worker(&self) -> bool {
        self.run.is_some()
    }

    /// Call `tessera_native_run` with `host` and the configuration `config`
    /// (a JSON object); `None` when the library has no worker. Blocks for
    /// as long as the worker runs.
    pub(super) fn call_run(
        &self,
        host: &TesseraHost,
        config: &[u8],
    ) -> Option<Result<Returned, String>> {
        let run = self.run?;
        let mut out = ReturnedBuffer {
            buffer: TesseraBuffer::empty(),
            free: self.free,
        };
        // SAFETY: `run` was resolved under ABI 2 from this library, loaded
        // while `self` lives. The `RunFn` contract holds: `host` is valid
        // (its context included) until the call returns, `config` is
        // readable and unchanged during the call, `out.buffer` is a valid
        // `TesseraBuffer` to write.
        let code = unsafe { run(host, config.as_ptr(), config.len(), &mut out.buffer) };
        // SAFETY: as in `call`.
        Some(match unsafe { out.buffer.as_bytes() } {
            Some(bytes) => Ok(Returned {
                code,
                bytes: bytes.to_vec(),
            }),
            None => {
                let leaked = std::mem::take(&mut out.buffer);
                Err(format!(
                    "its output buffer is impossible (pointer {:p}, length {}) after returning status {code}",
                    leaked.ptr, leaked.len
                ))
            }
        })
    }

    /// Call `function`, copy what it wrote to `out`, free it with the
    /// plugin's `tessera_native_free`. `Err` says why the output buffer
    /// could not be read.
    fn call(&self, function: CallFn, input: &[u8]) -> Result<Returned, String> {
        let mut out = ReturnedBuffer {
            buffer: TesseraBuffer::empty(),
            free: self.free,
        };
        // SAFETY: `function` was resolved from this library under the ABI
        // version this kernel speaks (and the library is loaded while
        // `self` lives). The `CallFn` contract holds: `input` is readable
        // and unchanged for `input.len()` bytes during the call, and
        // `out.buffer` is a valid, initialised `TesseraBuffer` to write.
        let code = unsafe { function(input.as_ptr(), input.len(), &mut out.buffer) };
        // SAFETY: per the ABI, a plugin's buffer holds `len` initialised
        // bytes until it is passed to `tessera_native_free`, which happens
        // only when `out` drops, after this copy.
        match unsafe { out.buffer.as_bytes() } {
            Some(bytes) => Ok(Returned {
                code,
                bytes: bytes.to_vec(),
            }),
            None => {
                // A buffer that cannot describe bytes is not handed back to
                // the plugin's allocator: leaking it is the safe choice.
                let leaked = std::mem::take(&mut out.buffer);
                Err(format!(
                    "its output buffer is impossible (pointer {:p}, length {}) after returning status {code}",
                    leaked.ptr, leaked.len
                ))
            }
        }
    }
}

/// A buffer a plugin wrote, handed back to its `tessera_native_free` when
/// dropped (unless it is null).
struct ReturnedBuffer {
    buffer: TesseraBuffer,
    free: FreeFn,
}

impl Drop for ReturnedBuffer {
    fn drop(&mut self) {
        let buffer = std::mem::take(&mut self.buffer);
        if !buffer.ptr.is_null() {
            // SAFETY: the buffer is exactly what the plugin wrote to `out`,
            // unchanged, and is passed back once: `take` left null behind.
            unsafe { (self.free)(buffer) };
        }
    }
}

/// Text of a plugin's message, at most [`MAX_MESSAGE`] bytes of it.
pub(super) fn message(bytes: &[u8]) -> String {
    match bytes.get(..MAX_MESSAGE) {
        Some(kept) if bytes.len() > MAX_MESSAGE => format!(
            "{}... ({} bytes in all)",
            String::from_utf8_lossy(kept),
            bytes.len()
        ),
        _ => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// A path the loader takes as a file, never as a name to search for in the
/// system's library directories: `libx.so` becomes `./libx.so`.
fn explicit_path(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => path.to_path_buf(),
        _ => Path::new(".").join(path),
    }
}

/// Open the library, resolving every symbol now (`RTLD_NOW`) so that a
/// native dependency that cannot be found is a load error rather than an
/// abort on the first call, and keeping its symbols out of the global
/// namespace (`RTLD_LOCAL`).
///
/// # Safety
///
/// As [`Library::open`]: runs the library's initialisers.
#[cfg(unix)]
unsafe fn load(path: &Path) -> Result<libloading::Library, libloading::Error> {
    use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW};
    // SAFETY: forwarded from this function's contract.
    unsafe { Library::open(Some(path), RTLD_NOW | RTLD_LOCAL) }.map(Into::into)
}

/// Open the library (Windows resolves imports at load time anyway).
///
/// # Safety
///
/// As [`Library::open`]: runs the library's initialisers.
#[cfg(not(unix))]
unsafe fn load(path: &Path) -> Result<libloading::Library, libloading::Error> {
    // SAFETY: forwarded from this function's contract.
    unsafe { libloading::Library::new(path) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_file_names_are_not_searched_for() {
        assert_eq!(explicit_path(Path::new("libx.so")), Path::new("./libx.so"));
        assert_eq!(
            explicit_path(Path::new("/a/libx.so")),
            Path::new("/a/libx.so")
        );
        assert_eq!(
            explicit_path(Path::new("a/libx.so")),
            Path::new("a/libx.so")
        );
    }

    #[test]
    fn long_messages_are_cut() {
        assert_eq!(message(b"short"), "short");
        let long = vec![b'x'; MAX_MESSAGE + 10];
        let cut = message(&long);
        assert!(cut.ends_with(&format!("... ({} bytes in all)", MAX_MESSAGE + 10)));
    }
}
