//! Password hashing with argon2id (the OWASP-recommended default
//! parameters of the `argon2` crate) and the password policy.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use super::{IdentityError, secret};

/// Shortest password accepted.
pub const MIN_LENGTH: usize = 10;
/// Longest password accepted (hashing cost is linear in the length).
pub const MAX_LENGTH: usize = 1024;

/// Refuse passwords outside the policy, saying what is expected.
pub fn check_policy(password: &str) -> Result<(), IdentityError> {
    let length = password.chars().count();
    if length < MIN_LENGTH {
        return Err(IdentityError::Invalid(format!(
            "the password must have at least {MIN_LENGTH} characters"
        )));
    }
    if password.len() > MAX_LENGTH {
        return Err(IdentityError::Invalid(format!(
            "the password must have at most {MAX_LENGTH} bytes"
        )));
    }
    Ok(())
}

/// Hash `password` with a fresh salt; the result is a PHC string.
pub fn hash(password: &str) -> Result<String, IdentityError> {
    let salt = SaltString::encode_b64(&secret::random_bytes::<16>()?)
        .map_err(|error| IdentityError::Internal(error.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| IdentityError::Internal(error.to_string()))
}

/// Whether `password` matches the PHC string `stored`. The comparison is
/// constant-time inside the argon2 crate.
pub fn verify(password: &str, stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// A hash of a random password, verified against when the username does
/// not exist, so a login for an unknown user costs as much as a real one
/// and timing does not reveal which usernames exist.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        secret::generate("")
            .and_then(|random| hash(&random))
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_and_verify() {
        let stored = hash("correct horse battery").unwrap();
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(verify("correct horse battery", &stored));
        assert!(!verify("correct horse batterz", &stored));
        assert_ne!(stored, hash("correct horse battery").unwrap(), "salted");
    }

    #[test]
    fn a_malformed_stored_hash_never_verifies() {
        assert!(!verify("anything", "not a phc string"));
        assert!(!verify("", ""));
    }

    #[test]
    fn the_policy_names_the_rule() {
        let error = check_policy("short").unwrap_err().to_string();
        assert!(error.contains("at least 10"), "{error}");
        assert!(check_policy("long enough password").is_ok());
        assert!(check_policy(&"x".repeat(MAX_LENGTH + 1)).is_err());
    }
}
