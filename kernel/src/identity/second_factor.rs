//! Enrolling and removing the TOTP second factor of one's own account.

use super::model::TotpEnrolment;
use super::{AuditEvent, Identity, IdentityError, totp};

/// What an authenticator app needs to enrol.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TotpSetup {
    /// The shared secret, base32.
    pub secret: String,
    /// The `otpauth://` URL (for a QR code).
    pub otpauth_url: String,
}

impl Identity {
    /// Start enrolment: a new secret, not required at login until
    /// confirmed with [`Identity::confirm_totp`].
    pub fn setup_totp(&self, user_id: &str) -> Result<TotpSetup, IdentityError> {
        let mut user = self.store.require_user(user_id)?;
        if user.totp.as_ref().is_some_and(|totp| totp.confirmed) {
            return Err(IdentityError::Invalid(
                "a second factor is already enabled; disable it first".into(),
            ));
        }
        let secret = totp::new_secret()?;
        let otpauth_url = totp::provisioning_url(&secret, &user.username)?;
        user.totp = Some(TotpEnrolment {
            secret_base32: secret.clone(),
            confirmed: false,
            last_step: 0,
        });
        self.save_user(&user)?;
        Ok(TotpSetup {
            secret,
            otpauth_url,
        })
    }

    /// Confirm enrolment with a current code; from now on login needs it.
    pub fn confirm_totp(&self, user_id: &str, code: &str) -> Result<(), IdentityError> {
        let mut user = self.store.require_user(user_id)?;
        let Some(enrolment) = user.totp.as_mut() else {
            return Err(IdentityError::Invalid(
                "start with POST /auth/totp/setup".into(),
            ));
        };
        if !totp::accept(enrolment, code)? {
            return Err(IdentityError::InvalidSecondFactor);
        }
        enrolment.confirmed = true;
        self.save_user(&user)?;
        self.audit.record_or_log(
            AuditEvent::new("totp.enabled", &user.site, &user.id).target(&user.username),
        );
        Ok(())
    }

    /// Remove the second factor, proving possession with a current code.
    pub fn disable_totp(&self, user_id: &str, code: &str) -> Result<(), IdentityError> {
        let mut user = self.store.require_user(user_id)?;
        let Some(enrolment) = user.totp.as_mut() else {
            return Ok(());
        };
        if enrolment.confirmed && !totp::accept(enrolment, code)? {
            return Err(IdentityError::InvalidSecondFactor);
        }
        user.totp = None;
        self.save_user(&user)?;
        self.audit.record_or_log(
            AuditEvent::new("totp.disabled", &user.site, &user.id).target(&user.username),
        );
        Ok(())
    }
}
