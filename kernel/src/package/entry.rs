//! The names a package may hold and what each one is.
//!
//! | entry | what |
//! |---|---|
//! | `package.toml` | package metadata: format version and kind |
//! | `plugin.toml` | the plugin manifest |
//! | `plugin.wasm` | the component (kind `wasm`) |
//! | `native/<target>/<library>` | a native library (kind `native`) |
//! | `digests` | SHA-256 of every entry above |
//! | `signature` | optional ed25519 signature over `digests` |

use super::error::PackageError;
use super::limits;

/// The package metadata entry.
pub const METADATA: &str = "package.toml";
/// The manifest entry.
pub const MANIFEST: &str = "plugin.toml";
/// The component entry of a `wasm` package.
pub const COMPONENT: &str = "plugin.wasm";
/// The digest listing entry.
pub const DIGESTS: &str = "digests";
/// The signature entry.
pub const SIGNATURE: &str = "signature";
/// The directory holding a native package's library, as
/// `native/<target-triple>/<library>`.
pub const NATIVE_DIR: &str = "native";

/// What an entry name designates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// `package.toml`.
    Metadata,
    /// `plugin.toml`.
    Manifest,
    /// `plugin.wasm`.
    Component,
    /// `native/<target>/<library>`.
    Native {
        /// The target triple, e.g. `x86_64-unknown-linux-gnu`.
        target: String,
        /// The library's file name, e.g. `libacme_loyalty.so`.
        library: String,
    },
    /// `digests`.
    Digests,
    /// `signature`.
    Signature,
}

impl EntryKind {
    /// Classify an entry name, refusing unsafe paths and unknown entries.
    pub fn classify(name: &str) -> Result<Self, PackageError> {
        let segments: Vec<&str> = name.split('/').collect();
        if name.starts_with('/')
            || name.contains('\\')
            || name.contains('\0')
            || segments
                .iter()
                .any(|segment| segment.is_empty() || *segment == "." || *segment == "..")
        {
            return Err(PackageError::UnsafePath {
                entry: name.to_owned(),
            });
        }
        let unknown = || PackageError::UnknownEntry {
            entry: name.to_owned(),
        };
        match segments.as_slice() {
            [METADATA] => Ok(Self::Metadata),
            [MANIFEST] => Ok(Self::Manifest),
            [COMPONENT] => Ok(Self::Component),
            [DIGESTS] => Ok(Self::Digests),
            [SIGNATURE] => Ok(Self::Signature),
            [NATIVE_DIR, target, library] if is_target(target) && is_library(library) => {
                Ok(Self::Native {
                    target: (*target).to_owned(),
                    library: (*library).to_owned(),
                })
            }
            _ => Err(unknown()),
        }
    }

    /// The largest size this entry may have.
    pub fn limit(&self) -> u64 {
        match self {
            Self::Metadata => limits::MAX_METADATA,
            Self::Manifest => limits::MAX_MANIFEST,
            Self::Component | Self::Native { .. } => limits::MAX_PAYLOAD,
            Self::Digests => limits::MAX_DIGESTS,
            Self::Signature => limits::MAX_SIGNATURE,
        }
    }

    /// Whether the entry is listed in `digests` (everything but `digests`
    /// and `signature`).
    pub fn is_digested(&self) -> bool {
        !matches!(self, Self::Digests | Self::Signature)
    }
}

/// The entry name of a native library.
pub fn native_entry(target: &str, library: &str) -> String {
    format!("{NATIVE_DIR}/{target}/{library}")
}

/// Whether `text` looks like a target triple: `x86_64-unknown-linux-gnu`.
pub fn is_target(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text.contains('-')
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
        && !text.starts_with(['-', '.'])
}

/// Whether `text` is a native library file name: `lib<name>.so`,
/// `lib<name>.dylib` or `<name>.dll`.
pub fn is_library(text: &str) -> bool {
    let stem = if let Some(rest) = text.strip_prefix("lib") {
        rest.strip_suffix(".so")
            .or_else(|| rest.strip_suffix(".dylib"))
    } else {
        text.strip_suffix(".dll")
    };
    stem.is_some_and(|stem| {
        !stem.is_empty()
            && stem.len() <= 64
            && stem
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_entries_are_classified() {
        assert_eq!(
            EntryKind::classify("plugin.toml").unwrap(),
            EntryKind::Manifest
        );
        assert_eq!(
            EntryKind::classify("plugin.wasm").unwrap(),
            EntryKind::Component
        );
        assert_eq!(
            EntryKind::classify("native/x86_64-unknown-linux-gnu/libacme.so").unwrap(),
            EntryKind::Native {
                target: "x86_64-unknown-linux-gnu".into(),
                library: "libacme.so".into()
            }
        );
    }

    #[test]
    fn traversal_and_absolute_paths_are_unsafe() {
        for name in [
            "../plugin.toml",
            "/plugin.toml",
            "native/../../etc/passwd",
            "./plugin.toml",
            "native//libx.so",
            "a\\b",
            "",
        ] {
            assert!(
                matches!(
                    EntryKind::classify(name),
                    Err(PackageError::UnsafePath { .. })
                ),
                "{name}"
            );
        }
    }

    #[test]
    fn unknown_and_malformed_native_entries_are_unknown() {
        for name in [
            "README.md",
            "plugin.wasm.bak",
            "native/x86_64-unknown-linux-gnu/acme.so",
            "native/linux/libacme.so",
            "native/x86_64-unknown-linux-gnu/sub/libacme.so",
            "native/x86_64-unknown-linux-gnu",
        ] {
            assert!(
                matches!(
                    EntryKind::classify(name),
                    Err(PackageError::UnknownEntry { .. })
                ),
                "{name}"
            );
        }
    }
}
