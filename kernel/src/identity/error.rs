//! Why an identity operation failed, with the HTTP status and the stable
//! error code every kernel endpoint answers with.

use http::StatusCode;

use crate::storage::StorageError;

/// An identity failure. Messages never contain a secret.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// A request field is missing or malformed; the text names it.
    #[error("{0}")]
    Invalid(String),
    /// Username, password or second factor did not match. Deliberately
    /// vague: it does not say which.
    #[error("the username or password is wrong")]
    InvalidCredentials,
    /// The password was right but the account has a second factor.
    #[error(
        "this account has a second factor: send the current code from the authenticator app as `totp`"
    )]
    SecondFactorRequired,
    /// The second-factor code did not match.
    #[error("the second-factor code is wrong or expired")]
    InvalidSecondFactor,
    /// An administrator locked the account.
    #[error("this account is locked; ask an administrator to unlock it")]
    AccountLocked,
    /// Too many failed logins for this account or address.
    #[error("too many failed logins; try again in {retry_after_secs} seconds")]
    Throttled {
        /// Seconds until the next attempt is accepted.
        retry_after_secs: u64,
    },
    /// The caller is not signed in (or its session or token expired).
    #[error("sign in first: send the session cookie or `Authorization: Bearer <token>`")]
    Unauthenticated,
    /// The caller lacks a permission.
    #[error("permission `{0}` is required")]
    Forbidden(String),
    /// Self-registration is turned off for this site.
    #[error("registration is closed on site `{0}`; ask an administrator for an account")]
    RegistrationClosed(String),
    /// The username is taken on this site.
    #[error("username `{0}` is taken on this site")]
    UsernameTaken(String),
    /// A user, role, token or site does not exist.
    #[error("{kind} `{name}` does not exist")]
    NotFound {
        /// What was looked up: user, role, token, site.
        kind: &'static str,
        /// Its name or id.
        name: String,
    },
    /// The thing to create already exists.
    #[error("{kind} `{name}` already exists")]
    AlreadyExists {
        /// What: role, site.
        kind: &'static str,
        /// Its name.
        name: String,
    },
    /// A one-time token (password reset) is unknown, used or expired.
    #[error("the reset token is unknown, already used or expired; request a new one")]
    InvalidResetToken,
    /// Cookie-authenticated unsafe request without the CSRF token.
    #[error(
        "this request needs the `x-csrf-token` header returned at login (cookie sessions only)"
    )]
    CsrfMismatch,
    /// The storage underneath failed.
    #[error("identity storage failed: {0}")]
    Storage(#[from] StorageError),
    /// A stored record could not be read back.
    #[error("identity record `{key}` is corrupt: {message}")]
    Corrupt {
        /// The record's key.
        key: String,
        /// What failed.
        message: String,
    },
    /// Hashing or randomness failed.
    #[error("identity internals failed: {0}")]
    Internal(String),
}

impl IdentityError {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid_request",
            Self::InvalidCredentials => "invalid_credentials",
            Self::SecondFactorRequired => "second_factor_required",
            Self::InvalidSecondFactor => "invalid_second_factor",
            Self::AccountLocked => "account_locked",
            Self::Throttled { .. } => "too_many_attempts",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden(_) => "forbidden",
            Self::RegistrationClosed(_) => "registration_closed",
            Self::UsernameTaken(_) => "username_taken",
            Self::NotFound { .. } => "not_found",
            Self::AlreadyExists { .. } => "already_exists",
            Self::InvalidResetToken => "invalid_reset_token",
            Self::CsrfMismatch => "csrf_token_required",
            Self::Storage(_) | Self::Corrupt { .. } | Self::Internal(_) => "identity_unavailable",
        }
    }

    /// The HTTP status that fits.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Invalid(_) | Self::InvalidResetToken => StatusCode::BAD_REQUEST,
            Self::InvalidCredentials
            | Self::SecondFactorRequired
            | Self::InvalidSecondFactor
            | Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::AccountLocked
            | Self::Forbidden(_)
            | Self::RegistrationClosed(_)
            | Self::CsrfMismatch => StatusCode::FORBIDDEN,
            Self::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::UsernameTaken(_) | Self::AlreadyExists { .. } => StatusCode::CONFLICT,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::Storage(_) | Self::Corrupt { .. } | Self::Internal(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }
}
