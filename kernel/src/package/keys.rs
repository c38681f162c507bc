//! ed25519 publisher keys and their text forms.
//!
//! - secret key: `tessera-ed25519-secret:<64 hex digits>` (the 32-byte seed),
//!   kept in a file only its owner may read;
//! - public key: `tessera-ed25519-public:<64 hex digits>`;
//! - fingerprint: the first 16 bytes of the SHA-256 of the public key, as 32
//!   hex digits, short enough to read aloud and compare.

use std::fmt;
use std::path::{Path, PathBuf};

use ed25519_dalek::Signer;

use super::digests::Sha256Digest;
use super::fs::{read_limited, write_new_secret};

/// Prefix of a secret key's text form.
pub const SECRET_PREFIX: &str = "tessera-ed25519-secret:";
/// Prefix of a public key's text form.
pub const PUBLIC_PREFIX: &str = "tessera-ed25519-public:";
/// The largest key file read.
const MAX_KEY_FILE: u64 = 1 << 10;

/// Why a key could not be made, read or parsed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The system's random number generator failed.
    #[error("cannot generate a key: the system random number generator failed: {0}")]
    Random(String),
    /// A key file could not be read or written.
    #[error("cannot {action} key file {path}: {source}")]
    Io {
        /// `read` or `write`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The text is not a key of the expected kind.
    #[error("{what} is not a {expected}: {reason}")]
    Parse {
        /// Where the text came from (a file path or `the argument`).
        what: String,
        /// `secret key (tessera-ed25519-secret:...)` or the public form.
        expected: &'static str,
        /// What is wrong (never the key material itself).
        reason: String,
    },
}

const SECRET_EXPECTED: &str =
    "Tessera secret key (`tessera-ed25519-secret:<64 hex digits>`, made by `tessera keygen`)";
const PUBLIC_EXPECTED: &str =
    "Tessera public key (`tessera-ed25519-public:<64 hex digits>`, printed by `tessera keygen`)";

/// A publisher's secret signing key.
pub struct SigningKey(ed25519_dalek::SigningKey);

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("public", &self.public_key())
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A new key from the operating system's random number generator.
    pub fn generate() -> Result<Self, KeyError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|error| KeyError::Random(error.to_string()))?;
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        seed.fill(0);
        Ok(Self(key))
    }

    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// The text form, `tessera-ed25519-secret:<hex>`.
    pub fn to_text(&self) -> String {
        format!("{SECRET_PREFIX}{}", hex::encode(self.0.to_bytes()))
    }

    /// Parse the text form; `what` names the source in errors.
    pub fn from_text(text: &str, what: &str) -> Result<Self, KeyError> {
        let bytes = decode(text, SECRET_PREFIX, what, SECRET_EXPECTED)?;
        Ok(Self(ed25519_dalek::SigningKey::from_bytes(&bytes)))
    }

    /// Read a secret key file.
    pub fn read_file(path: &Path) -> Result<Self, KeyError> {
        let text = read_key_file(path)?;
        Self::from_text(&text, &path.display().to_string())
    }

    /// Write the key to a new file readable only by its owner (mode 0600 on
    /// Unix). An existing file is never overwritten.
    pub fn write_file(&self, path: &Path) -> Result<(), KeyError> {
        write_new_secret(path, format!("{}\n", self.to_text()).as_bytes()).map_err(|source| {
            KeyError::Io {
                action: "write",
                path: path.to_path_buf(),
                source,
            }
        })
    }

    /// Sign `message`.
    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }
}

/// A publisher's public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(ed25519_dalek::VerifyingKey);

impl PublicKey {
    /// The text form, `tessera-ed25519-public:<hex>`.
    pub fn to_text(&self) -> String {
        format!("{PUBLIC_PREFIX}{}", self.to_hex())
    }

    /// The 32 key bytes as 64 hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0.as_bytes())
    }

    /// The first 16 bytes of the SHA-256 of the key, as 32 hex digits.
    pub fn fingerprint(&self) -> String {
        let digest = Sha256Digest::of(self.0.as_bytes());
        hex::encode(digest.0.get(..16).unwrap_or_default())
    }

    /// Parse the text form; `what` names the source in errors.
    pub fn from_text(text: &str, what: &str) -> Result<Self, KeyError> {
        let bytes = decode(text, PUBLIC_PREFIX, what, PUBLIC_EXPECTED)?;
        ed25519_dalek::VerifyingKey::from_bytes(&bytes)
            .map(Self)
            .map_err(|_| KeyError::Parse {
                what: what.to_owned(),
                expected: PUBLIC_EXPECTED,
                reason: "the bytes are not a point on the ed25519 curve".into(),
            })
    }

    /// Read a public key file.
    pub fn read_file(path: &Path) -> Result<Self, KeyError> {
        let text = read_key_file(path)?;
        Self::from_text(&text, &path.display().to_string())
    }

    /// Whether `signature` is this key's signature of `message`. Strict
    /// verification: weak keys and malleable signatures are refused.
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let signature = ed25519_dalek::Signature::from_bytes(signature);
        self.0.verify_strict(message, &signature).is_ok()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

fn decode(
    text: &str,
    prefix: &str,
    what: &str,
    expected: &'static str,
) -> Result<[u8; 32], KeyError> {
    let error = |reason: &str| KeyError::Parse {
        what: what.to_owned(),
        expected,
        reason: reason.to_owned(),
    };
    let text = text.trim();
    let hex = text.strip_prefix(prefix).ok_or_else(|| {
        if text.starts_with(SECRET_PREFIX) {
            error("it is a secret key; never share it, pass its public key instead")
        } else if text.starts_with(PUBLIC_PREFIX) {
            error("it is a public key, which cannot sign")
        } else {
            error(&format!("it does not start with `{prefix}`"))
        }
    })?;
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(hex, &mut bytes)
        .map_err(|_| error("the key is not 64 hexadecimal digits"))?;
    Ok(bytes)
}

fn read_key_file(path: &Path) -> Result<String, KeyError> {
    let bytes = read_limited(path, MAX_KEY_FILE).map_err(|source| KeyError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    })?;
    String::from_utf8(bytes).map_err(|_| KeyError::Parse {
        what: path.display().to_string(),
        expected: "key file",
        reason: "it is not text".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_text_and_files() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::generate().unwrap();
        let path = dir.path().join("publisher.key");
        key.write_file(&path).unwrap();
        let read = SigningKey::read_file(&path).unwrap();
        assert_eq!(read.public_key(), key.public_key());
        let public = PublicKey::from_text(&key.public_key().to_text(), "text").unwrap();
        assert_eq!(public, key.public_key());
        assert_eq!(public.fingerprint().len(), 32);
        assert!(!format!("{key:?}").contains(&hex::encode(key.0.to_bytes())));
    }

    #[cfg(unix)]
    #[test]
    fn secret_key_file_is_private_and_never_overwritten() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("publisher.key");
        SigningKey::generate().unwrap().write_file(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let before = std::fs::read(&path).unwrap();
        assert!(SigningKey::generate().unwrap().write_file(&path).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }

    #[test]
    fn mixing_up_public_and_secret_keys_is_explained() {
        let key = SigningKey::generate().unwrap();
        let error = PublicKey::from_text(&key.to_text(), "the argument")
            .unwrap_err()
            .to_string();
        assert!(error.contains("it is a secret key"), "{error}");
        assert!(!error.contains(&key.to_text()), "{error}");
        let error = SigningKey::from_text(&key.public_key().to_text(), "k.pub")
            .unwrap_err()
            .to_string();
        assert!(error.contains("cannot sign"), "{error}");
        assert!(PublicKey::from_text("tessera-ed25519-public:zz", "x").is_err());
    }

    #[test]
    fn signatures_verify_only_for_the_signed_message_and_key() {
        let key = SigningKey::generate().unwrap();
        let other = SigningKey::generate().unwrap();
        let signature = key.sign(b"message");
        assert!(key.public_key().verify(b"message", &signature));
        assert!(!key.public_key().verify(b"messagE", &signature));
        assert!(!other.public_key().verify(b"message", &signature));
    }
}
