//! TOTP second factor (RFC 6238: SHA-1, 6 digits, 30-second steps, one
//! step of clock skew), the setting every authenticator app supports.

use totp_rs::{Algorithm, Secret, TOTP};

use super::model::TotpEnrolment;
use super::{IdentityError, secret};

/// Issuer name shown in authenticator apps.
const ISSUER: &str = "Tessera";

/// Seconds per code.
const STEP_SECS: u64 = 30;

/// A fresh 160-bit secret, base32.
pub fn new_secret() -> Result<String, IdentityError> {
    match Secret::Raw(secret::random_bytes::<20>()?.to_vec()).to_encoded() {
        Secret::Encoded(text) => Ok(text),
        Secret::Raw(_) => Err(IdentityError::Internal(
            "cannot encode the TOTP secret".into(),
        )),
    }
}

fn totp(secret_base32: &str, account: &str) -> Result<TOTP, IdentityError> {
    let bytes = Secret::Encoded(secret_base32.to_owned())
        .to_bytes()
        .map_err(|error| IdentityError::Internal(format!("stored TOTP secret: {error:?}")))?;
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        STEP_SECS,
        bytes,
        Some(ISSUER.to_owned()),
        account.to_owned(),
    )
    .map_err(|error| IdentityError::Internal(format!("TOTP: {error:?}")))
}

/// The `otpauth://` URL an authenticator app scans (as a QR code) or
/// imports.
pub fn provisioning_url(secret_base32: &str, account: &str) -> Result<String, IdentityError> {
    Ok(totp(secret_base32, account)?.get_url())
}

/// The time step (30-second window since the epoch) whose code `code` is,
/// among the current step and one before or after; none when it matches
/// none of them. Callers refuse a step already used, so a code works once.
pub fn verify_step(secret_base32: &str, code: &str) -> Result<Option<u64>, IdentityError> {
    let code = code.trim();
    if code.len() != 6 || !code.chars().all(|c| c.is_ascii_digit()) {
        return Ok(None);
    }
    // The account name does not enter the code.
    let totp = totp(secret_base32, "user")?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|error| IdentityError::Internal(error.to_string()))?
        .as_secs();
    let current = now / STEP_SECS;
    for step in [current.saturating_sub(1), current, current + 1] {
        let expected = totp.generate(step * STEP_SECS);
        if super::secret::constant_time_eq(&expected, code) {
            return Ok(Some(step));
        }
    }
    Ok(None)
}

/// Accept `code` for `enrolment` if it is valid now and newer than the
/// last code accepted (a code works once, even within its window);
/// records its step.
pub fn accept(enrolment: &mut TotpEnrolment, code: &str) -> Result<bool, IdentityError> {
    match verify_step(&enrolment.secret_base32, code)? {
        Some(step) if step > enrolment.last_step => {
            enrolment.last_step = step;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Whether `code` is valid now (or one step before or after).
pub fn verify(secret_base32: &str, code: &str) -> Result<bool, IdentityError> {
    Ok(verify_step(secret_base32, code)?.is_some())
}

/// The current time step.
pub fn current_step() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs() / STEP_SECS)
        .unwrap_or_default()
}

/// The code of time step `step`; used by tests and tooling that act as an
/// authenticator.
pub fn code_for_step(secret_base32: &str, step: u64) -> Result<String, IdentityError> {
    Ok(totp(secret_base32, "user")?.generate(step * STEP_SECS))
}

/// The code valid now; used by tests and by `tessera` tooling that acts
/// as an authenticator.
pub fn current_code(secret_base32: &str) -> Result<String, IdentityError> {
    totp(secret_base32, "user")?
        .generate_current()
        .map_err(|error| IdentityError::Internal(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_code_verifies_and_others_do_not() {
        let secret = new_secret().unwrap();
        let code = current_code(&secret).unwrap();
        assert!(verify(&secret, &code).unwrap());
        let wrong = format!(
            "{:06}",
            (code.parse::<u32>().unwrap() + 500_000) % 1_000_000
        );
        assert!(!verify(&secret, &wrong).unwrap());
        assert!(!verify(&secret, "12345").unwrap());
        assert!(!verify(&secret, "abcdef").unwrap());
        let step = verify_step(&secret, &code).unwrap().unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(step.abs_diff(now / 30) <= 1);
    }

    #[test]
    fn the_provisioning_url_names_issuer_and_account() {
        let secret = new_secret().unwrap();
        let url = provisioning_url(&secret, "alice").unwrap();
        assert!(url.starts_with("otpauth://totp/Tessera:alice?"), "{url}");
        assert!(url.contains(&format!("secret={secret}")), "{url}");
    }
}
