//! What an intact package's signature says about its origin.

use std::fmt;

use super::keys::PublicKey;

/// The verdict on an intact package: who signed it and whether the kernel
/// trusts them. A package that was modified never gets this far: opening it
/// fails with [`PackageError::Tampered`](super::PackageError::Tampered).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// A valid signature by `signer`.
    Signed {
        /// The publisher's key.
        signer: PublicKey,
        /// Whether the trust store lists `signer`.
        trusted: bool,
    },
    /// No signature: only installable with an explicit development flag.
    Unsigned,
}

impl Verification {
    /// Whether the package is signed by a trusted key.
    pub fn is_trusted(&self) -> bool {
        matches!(self, Self::Signed { trusted: true, .. })
    }

    /// The signer, if signed.
    pub fn signer(&self) -> Option<&PublicKey> {
        match self {
            Self::Signed { signer, .. } => Some(signer),
            Self::Unsigned => None,
        }
    }
}

impl fmt::Display for Verification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Signed {
                signer,
                trusted: true,
            } => write!(f, "signed by trusted key {}", signer.fingerprint()),
            Self::Signed {
                signer,
                trusted: false,
            } => write!(f, "signed by untrusted key {}", signer.fingerprint()),
            Self::Unsigned => f.write_str("unsigned"),
        }
    }
}
