//! Random secrets, their digests and constant-time comparison.
//!
//! Session ids, API tokens and reset tokens are 256-bit random values; the
//! kernel stores only their SHA-256 digest, so a copy of the database
//! yields no usable credential. A fast digest is right for such high
//! entropy secrets (passwords, which are guessable, use argon2id instead).

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::IdentityError;

/// A fresh random secret: `prefix` then 64 hex digits.
pub fn generate(prefix: &str) -> Result<String, IdentityError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|error| IdentityError::Internal(error.to_string()))?;
    Ok(format!("{prefix}{}", hex::encode(bytes)))
}

/// Random bytes, for salts and TOTP secrets.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], IdentityError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|error| IdentityError::Internal(error.to_string()))?;
    Ok(bytes)
}

/// A short random id for records (users, tokens): 16 hex digits.
pub fn record_id() -> Result<String, IdentityError> {
    Ok(hex::encode(random_bytes::<8>()?))
}

/// The hex SHA-256 digest a secret is stored and looked up under.
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.trim().as_bytes()))
}

/// Compare two strings in time that does not depend on where they differ.
pub fn constant_time_eq(left: &str, right: &str) -> bool {
    left.as_bytes().ct_eq(right.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_unique_and_prefixed() {
        let first = generate("tst_").unwrap();
        let second = generate("tst_").unwrap();
        assert!(first.starts_with("tst_"));
        assert_eq!(first.len(), 4 + 64);
        assert_ne!(first, second);
    }

    #[test]
    fn digests_ignore_surrounding_whitespace_only() {
        assert_eq!(digest("abc\n"), digest("abc"));
        assert_ne!(digest("abc"), digest("abd"));
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq("same", "same"));
        assert!(!constant_time_eq("same", "sane"));
        assert!(!constant_time_eq("same", "same-but-longer"));
    }
}
