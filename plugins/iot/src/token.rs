//! Device tokens: 32 random bytes shown once as hex, stored as the hex
//! SHA-256 of the token, compared in constant time.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A new random token (64 hex characters), or why none could be made.
pub fn generate() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|error| format!("no randomness available: {error}"))?;
    Ok(hex::encode(bytes))
}

/// The hex SHA-256 of `token`, as stored.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Whether `token` hashes to `stored_hash`, comparing in constant time.
pub fn verify(token: &str, stored_hash: &str) -> bool {
    let computed = hash(token);
    computed.as_bytes().ct_eq(stored_hash.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_hex_and_verify_only_against_their_hash() {
        let one = generate().unwrap();
        let two = generate().unwrap();
        assert_eq!(one.len(), 64);
        assert_ne!(one, two);
        let stored = hash(&one);
        assert!(verify(&one, &stored));
        assert!(!verify(&two, &stored));
        assert!(!verify("", &stored));
        assert!(!verify(&one, ""));
    }
}
