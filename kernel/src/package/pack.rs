//! Writing packages: [`build`] the bytes, [`pack`] a plugin directory into
//! `<id>-<version>.tpkg`, [`sign`] an existing package.
//!
//! The output is deterministic: the same manifest, payload and key give the
//! same bytes (fixed entry order, times and modes; ed25519 signatures are
//! deterministic).

use std::path::{Path, PathBuf};

use tessera_host_api::Manifest;

use super::archive;
use super::digests::Digests;
use super::entry;
use super::error::PackageError;
use super::fs::{read_limited, write_atomically};
use super::keys::SigningKey;
use super::limits;
use super::metadata::{self, PackageKind};
use super::open::{Package, file_name};
use super::payload;
use super::signature::PackageSignature;

/// What a package carries.
#[derive(Debug, Clone, Copy)]
pub enum Payload<'a> {
    /// A WebAssembly component.
    Wasm(&'a [u8]),
    /// A native library for one target triple.
    Native {
        /// The target triple, e.g. `x86_64-unknown-linux-gnu`.
        target: &'a str,
        /// The library's file name: `lib<name>.so`, `lib<name>.dylib` or
        /// `<name>.dll`.
        library: &'a str,
        /// The library's bytes.
        bytes: &'a [u8],
    },
}

/// The bytes of a package holding `manifest_text` (kept verbatim) and
/// `payload`, signed with `key` when given.
pub fn build(
    manifest_text: &str,
    payload: Payload<'_>,
    key: Option<&SigningKey>,
) -> Result<Vec<u8>, PackageError> {
    Manifest::parse(manifest_text).map_err(PackageError::Manifest)?;
    let (kind, payload_name, bytes) = match payload {
        Payload::Wasm(bytes) => (PackageKind::Wasm, entry::COMPONENT.to_owned(), bytes),
        Payload::Native {
            target,
            library,
            bytes,
        } => {
            if !entry::is_target(target) || !entry::is_library(library) {
                return Err(PackageError::Payload {
                    entry: entry::native_entry(target, library),
                    reason: "use a target triple such as x86_64-unknown-linux-gnu and a library named lib<name>.so, lib<name>.dylib or <name>.dll".into(),
                });
            }
            (
                PackageKind::Native {
                    target: target.to_owned(),
                },
                entry::native_entry(target, library),
                bytes,
            )
        }
    };
    payload::check(&kind, &payload_name, bytes)?;
    for (name, size, limit) in [
        (entry::MANIFEST, manifest_text.len(), limits::MAX_MANIFEST),
        (payload_name.as_str(), bytes.len(), limits::MAX_PAYLOAD),
    ] {
        if u64::try_from(size).unwrap_or(u64::MAX) > limit {
            return Err(PackageError::TooLarge {
                entry: format!("entry `{name}`"),
                limit,
            });
        }
    }
    let metadata = metadata::render(&kind);
    let digested: [(&str, &[u8]); 3] = [
        (entry::METADATA, metadata.as_bytes()),
        (entry::MANIFEST, manifest_text.as_bytes()),
        (payload_name.as_str(), bytes),
    ];
    let digests = Digests::of(digested).render();
    let signature = key.map(|key| PackageSignature::sign(&digests, key).render());
    let mut entries = digested.to_vec();
    entries.push((entry::DIGESTS, digests.as_bytes()));
    if let Some(signature) = &signature {
        entries.push((entry::SIGNATURE, signature.as_bytes()));
    }
    archive::write(&entries).map_err(|error| PackageError::Damaged {
        reason: format!("cannot write the archive: {error}"),
    })
}

/// Pack `plugin_dir/plugin.toml` and the component at `component` into
/// `out_dir/<id>-<version>.tpkg` (replacing it atomically), signed with
/// `key` when given. Returns the package's path.
pub fn pack(
    plugin_dir: &Path,
    component: &Path,
    out_dir: &Path,
    key: Option<&SigningKey>,
) -> Result<PathBuf, PackageError> {
    let manifest_path = plugin_dir.join(entry::MANIFEST);
    let manifest_text = read_file(&manifest_path, limits::MAX_MANIFEST)?;
    let manifest_text = String::from_utf8(manifest_text).map_err(|_| PackageError::NotUtf8 {
        entry: manifest_path.display().to_string(),
    })?;
    let manifest = Manifest::parse(&manifest_text).map_err(PackageError::Manifest)?;
    let bytes = read_file(component, limits::MAX_PAYLOAD)?;
    let package = build(&manifest_text, Payload::Wasm(&bytes), key)?;
    std::fs::create_dir_all(out_dir).map_err(|error| PackageError::io("create", out_dir, error))?;
    let path = out_dir.join(file_name(&manifest));
    write_atomically(&path, &package).map_err(|error| PackageError::io("write", &path, error))?;
    Ok(path)
}

/// Sign the package at `path` with `key`, replacing any signature it has.
/// The package must be intact; it is rewritten atomically.
pub fn sign(path: &Path, key: &SigningKey) -> Result<(), PackageError> {
    let package = Package::open(path)?;
    let payload = match package.kind() {
        PackageKind::Wasm => Payload::Wasm(package.payload()),
        PackageKind::Native { target } => Payload::Native {
            target,
            library: package
                .payload_entry()
                .rsplit('/')
                .next()
                .unwrap_or_default(),
            bytes: package.payload(),
        },
    };
    let bytes = build(package.manifest_text(), payload, Some(key))?;
    write_atomically(path, &bytes).map_err(|error| PackageError::io("write", path, error))
}

fn read_file(path: &Path, limit: u64) -> Result<Vec<u8>, PackageError> {
    read_limited(path, limit).map_err(|error| {
        if error.kind() == std::io::ErrorKind::FileTooLarge {
            PackageError::TooLarge {
                entry: path.display().to_string(),
                limit,
            }
        } else {
            PackageError::io("read", path, error)
        }
    })
}
