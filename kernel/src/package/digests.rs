//! The `digests` listing: the SHA-256 of every entry, in the format
//! `sha256sum` writes and `sha256sum -c` checks:
//!
//! ```text
//! 5a1f...e9  package.toml
//! 0c3b...41  plugin.toml
//! 9d77...0a  plugin.wasm
//! ```
//!
//! One line per entry, sorted by entry name, lower-case hex, two spaces, a
//! final newline. The listing is canonical: exactly one text describes a set
//! of entries, so the signature over its bytes is a signature over the set.

use std::collections::BTreeMap;
use std::fmt;

use sha2::{Digest, Sha256};

use super::entry::EntryKind;
use super::error::PackageError;

/// A SHA-256 digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256Digest(pub [u8; 32]);

impl Sha256Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    /// Lower-case hex, 64 characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parse 64 hex digits.
    pub fn from_hex(text: &str) -> Option<Self> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        Some(Self(bytes))
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// The parsed `digests` listing: entry name to digest.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Digests {
    entries: BTreeMap<String, Sha256Digest>,
}

impl Digests {
    /// The digests of these entries.
    pub fn of<'a>(entries: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Self {
        Self {
            entries: entries
                .into_iter()
                .map(|(name, bytes)| (name.to_owned(), Sha256Digest::of(bytes)))
                .collect(),
        }
    }

    /// Entry names and digests, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Sha256Digest)> {
        self.entries
            .iter()
            .map(|(name, digest)| (name.as_str(), digest))
    }

    /// The digest listed for `name`.
    pub fn get(&self, name: &str) -> Option<&Sha256Digest> {
        self.entries.get(name)
    }

    /// The canonical text.
    pub fn render(&self) -> String {
        self.entries
            .iter()
            .map(|(name, digest)| format!("{digest}  {name}\n"))
            .collect()
    }

    /// Parse a listing, refusing anything but the canonical text.
    pub fn parse(text: &str) -> Result<Self, PackageError> {
        let malformed = |message: String| PackageError::Digests { message };
        let mut entries = BTreeMap::new();
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            let (hex, name) = line.split_once("  ").ok_or_else(|| {
                malformed(format!(
                    "line {number} is not `<sha256 hex>  <entry>` (two spaces)"
                ))
            })?;
            let digest = Sha256Digest::from_hex(hex).ok_or_else(|| {
                malformed(format!(
                    "line {number}: `{hex}` is not 64 hexadecimal digits"
                ))
            })?;
            let kind = EntryKind::classify(name).map_err(|error| {
                malformed(format!("line {number} names an invalid entry: {error}"))
            })?;
            if !kind.is_digested() {
                return Err(malformed(format!(
                    "line {number} lists `{name}`, which is never digested"
                )));
            }
            if entries.insert(name.to_owned(), digest).is_some() {
                return Err(malformed(format!("line {number} lists `{name}` again")));
            }
        }
        let digests = Self { entries };
        if digests.render() != text {
            return Err(malformed(
                "it is not in canonical form (lower-case hex, sorted by entry, one final newline)"
                    .into(),
            ));
        }
        Ok(digests)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_is_sha256sum_format_sorted_by_name() {
        let digests = Digests::of([("plugin.toml", &b"b"[..]), ("package.toml", &b"a"[..])]);
        let text = digests.render();
        assert_eq!(
            text,
            "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb  package.toml\n\
             3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d  plugin.toml\n"
        );
        assert_eq!(Digests::parse(&text).unwrap(), digests);
    }

    #[test]
    fn non_canonical_listings_are_refused() {
        let text = Digests::of([("plugin.toml", &b"b"[..]), ("package.toml", &b"a"[..])]).render();
        let mut lines: Vec<&str> = text.lines().collect();
        lines.reverse();
        let reversed = lines.join("\n") + "\n";
        let error = Digests::parse(&reversed).unwrap_err().to_string();
        assert!(error.contains("canonical"), "{error}");
        let upper = text.to_uppercase().replace("PACKAGE.TOML", "package.toml");
        assert!(Digests::parse(&upper).is_err());
        assert!(Digests::parse(text.trim_end()).is_err());
        let error = Digests::parse(&format!("{text}{}", text.lines().next().unwrap()))
            .unwrap_err()
            .to_string();
        assert!(error.contains("again"), "{error}");
        let error = Digests::parse(&format!("{}  ../etc/passwd\n", "0".repeat(64)))
            .unwrap_err()
            .to_string();
        assert!(error.contains("unsafe path"), "{error}");
    }
}
