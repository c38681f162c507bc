//! The `signature` entry: an ed25519 signature over the `digests` listing
//! and the signer's public key.
//!
//! ```toml
//! algorithm = "ed25519"
//! public-key = "tessera-ed25519-public:<64 hex>"
//! signature = "<128 hex>"
//! ```
//!
//! The signed message is [`CONTEXT`] followed by the exact bytes of
//! `digests`, so a package signature can never be mistaken for a signature
//! of anything else made with the same key.

use serde::Deserialize;

use super::error::PackageError;
use super::keys::{PublicKey, SigningKey};

/// Domain separation prefix of the signed message.
pub const CONTEXT: &[u8] = b"tessera-package-signature-v1\n";

/// A parsed `signature` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageSignature {
    /// Who signed.
    pub signer: PublicKey,
    /// The 64 signature bytes.
    pub signature: [u8; 64],
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Raw {
    algorithm: String,
    public_key: String,
    signature: String,
}

impl PackageSignature {
    /// Sign a `digests` listing.
    pub fn sign(digests: &str, key: &SigningKey) -> Self {
        Self {
            signer: key.public_key(),
            signature: key.sign(&message(digests)),
        }
    }

    /// Whether the signature matches the listing.
    pub fn verifies(&self, digests: &str) -> bool {
        self.signer.verify(&message(digests), &self.signature)
    }

    /// The entry's text.
    pub fn render(&self) -> String {
        format!(
            "algorithm = \"ed25519\"\npublic-key = \"{}\"\nsignature = \"{}\"\n",
            self.signer.to_text(),
            hex::encode(self.signature)
        )
    }

    /// Parse the entry's text.
    pub fn parse(text: &str) -> Result<Self, PackageError> {
        let malformed = |message: String| PackageError::SignatureFormat { message };
        let raw: Raw = toml::from_str(text).map_err(|error| malformed(error.to_string()))?;
        if raw.algorithm != "ed25519" {
            return Err(malformed(format!(
                "algorithm `{}` is not supported; Tessera packages are signed with \"ed25519\"",
                raw.algorithm
            )));
        }
        let signer = PublicKey::from_text(&raw.public_key, "`public-key`")
            .map_err(|error| malformed(error.to_string()))?;
        let mut signature = [0u8; 64];
        hex::decode_to_slice(&raw.signature, &mut signature)
            .map_err(|_| malformed("`signature` is not 128 hexadecimal digits".into()))?;
        Ok(Self { signer, signature })
    }
}

fn message(digests: &str) -> Vec<u8> {
    let mut message = CONTEXT.to_vec();
    message.extend_from_slice(digests.as_bytes());
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_entry_round_trips_and_binds_the_listing() {
        let key = SigningKey::generate().unwrap();
        let signature = PackageSignature::sign("listing\n", &key);
        let parsed = PackageSignature::parse(&signature.render()).unwrap();
        assert_eq!(parsed, signature);
        assert!(parsed.verifies("listing\n"));
        assert!(!parsed.verifies("listing 2\n"));
    }

    #[test]
    fn unknown_algorithms_are_refused() {
        let key = SigningKey::generate().unwrap();
        let text = PackageSignature::sign("x", &key)
            .render()
            .replace("\"ed25519\"", "\"rsa\"");
        let error = PackageSignature::parse(&text).unwrap_err().to_string();
        assert!(error.contains("`rsa` is not supported"), "{error}");
    }
}
