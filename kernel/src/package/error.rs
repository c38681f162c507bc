//! Why a package could not be read, written or verified.

use std::path::PathBuf;

use tessera_host_api::ManifestError;

use super::keys::KeyError;

/// Why a package could not be read, written or verified. Every message says
/// what is wrong and what to do about it; callers add the package's path.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// A file could not be read or written.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done: `read`, `write`, ...
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The bytes are not a Tessera package at all.
    #[error(
        "not a Tessera package: {reason}; a package is a `.tpkg` file made by `tessera plugin pack`"
    )]
    NotAPackage {
        /// What was found instead.
        reason: String,
    },
    /// The compressed stream or the archive inside it is broken: the file
    /// was truncated, corrupted or modified after it was packed.
    #[error(
        "the package is damaged ({reason}): it was truncated, corrupted or tampered with after it was packed; do not install it, get a fresh copy from its publisher"
    )]
    Damaged {
        /// What the decoder found.
        reason: String,
    },
    /// An entry, or the whole unpacked archive, is larger than allowed.
    #[error("{entry} is larger than {}, the most a package may hold there", human_size(*limit))]
    TooLarge {
        /// The entry, or `the unpacked archive`.
        entry: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// An entry path is absolute, climbs out with `..` or is otherwise not a
    /// plain relative path.
    #[error(
        "entry `{entry}` has an unsafe path (absolute, `..`, `.` or empty segments); the package was not made by `tessera plugin pack`: do not install it"
    )]
    UnsafePath {
        /// The entry path, lossily decoded.
        entry: String,
    },
    /// An entry is a directory, link or device instead of a regular file.
    #[error(
        "entry `{entry}` is a {found}, but a package holds only regular files; repack the plugin with `tessera plugin pack`"
    )]
    NotAFile {
        /// The entry path.
        entry: String,
        /// What it is instead.
        found: String,
    },
    /// The same entry appears twice.
    #[error(
        "entry `{entry}` appears more than once; a package holds each entry once: do not install it"
    )]
    DuplicateEntry {
        /// The entry path.
        entry: String,
    },
    /// An entry this version of Tessera does not know.
    #[error(
        "unknown entry `{entry}`; a package holds only package.toml, plugin.toml, plugin.wasm or native/<target>/<library>, digests and signature: repack it with `tessera plugin pack`"
    )]
    UnknownEntry {
        /// The entry path.
        entry: String,
    },
    /// A required entry is missing.
    #[error("the package has no `{entry}`: {hint}")]
    MissingEntry {
        /// The entry path.
        entry: String,
        /// What to do.
        hint: String,
    },
    /// `package.toml`, the package metadata, is invalid.
    #[error("package.toml is invalid: {message}")]
    Metadata {
        /// What is wrong and what to do.
        message: String,
    },
    /// The `digests` listing is malformed.
    #[error(
        "the digests listing is malformed: {message}; repack the plugin with `tessera plugin pack`"
    )]
    Digests {
        /// What is wrong, with the line number.
        message: String,
    },
    /// The `signature` entry is malformed.
    #[error(
        "the signature entry is malformed: {message}; sign the package again with `tessera plugin sign`"
    )]
    SignatureFormat {
        /// What is wrong.
        message: String,
    },
    /// The contents do not match the digests, or the signature does not
    /// match the digests: the package was modified after it was packed or
    /// signed.
    #[error(
        "the package has been tampered with: {entry}: {reason}; do not install it, get a fresh copy from its publisher"
    )]
    Tampered {
        /// The entry whose check failed.
        entry: String,
        /// What did not match.
        reason: String,
    },
    /// An entry that must be text is not UTF-8.
    #[error("entry `{entry}` is not UTF-8 text")]
    NotUtf8 {
        /// The entry path.
        entry: String,
    },
    /// The manifest inside the package is invalid.
    #[error("the package's manifest is invalid: {0}")]
    Manifest(#[source] ManifestError),
    /// The component or native library is not what its entry says it is.
    #[error("`{entry}` is not a valid payload: {reason}")]
    Payload {
        /// The entry path.
        entry: String,
        /// What is wrong.
        reason: String,
    },
    /// A key could not be read or used.
    #[error(transparent)]
    Key(#[from] KeyError),
}

impl PackageError {
    /// Whether the error means the package was modified after it was
    /// packed: a digest or signature mismatch, or a damaged archive.
    pub fn is_tampering(&self) -> bool {
        matches!(self, Self::Tampered { .. } | Self::Damaged { .. })
    }

    pub(crate) fn io(action: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// `64 MiB`, `4 KiB` or `100 bytes`.
pub fn human_size(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 10 && bytes.is_multiple_of(1 << 10) {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} bytes")
    }
}
