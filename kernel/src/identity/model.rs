//! The records identity keeps in storage, as JSON. Secrets appear only as
//! digests (session ids, tokens) or argon2id hashes (passwords).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Seconds since the Unix epoch, the time unit of every record.
pub type UnixTime = u64;

/// The current time in seconds since the Unix epoch.
pub fn now() -> UnixTime {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or_default()
}

/// A user account. Users belong to one site.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserRecord {
    /// Stable id.
    pub id: String,
    /// The site the account belongs to.
    pub site: String,
    /// Login name, unique per site (compared case-insensitively).
    pub username: String,
    /// Name to show.
    pub display_name: String,
    /// Where mail for the account goes (password resets), if known.
    #[serde(default)]
    pub email: Option<String>,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Locked by an administrator: no login, sessions and tokens refused.
    #[serde(default)]
    pub locked: bool,
    /// Names of the site's roles the user holds.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Attributes segmentation can use.
    #[serde(default)]
    pub profile: Profile,
    /// TOTP second factor, once enrolled.
    #[serde(default)]
    pub totp: Option<TotpEnrolment>,
    /// When the account was created.
    pub created_at: UnixTime,
    /// Bumped by a password change, reset or lock: sessions opened under
    /// an earlier epoch are no longer valid.
    #[serde(default)]
    pub session_epoch: u64,
}

/// Profile attributes of a user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// ISO 3166-1 alpha-2 country code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// BCP 47 language tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Company or organisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    /// Job role, e.g. `technical-buyer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_role: Option<String>,
    /// Anything else, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

/// A TOTP secret and whether its enrolment was confirmed with a code.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TotpEnrolment {
    /// The shared secret, base32. Needed in clear to compute codes.
    pub secret_base32: String,
    /// Whether login requires it (set once the user proved a code).
    pub confirmed: bool,
    /// The time step of the last code accepted: a code works once.
    #[serde(default)]
    pub last_step: u64,
}

/// A named set of permissions on a site.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoleRecord {
    /// Name, unique per site.
    pub name: String,
    /// The site it belongs to.
    pub site: String,
    /// What it is for.
    #[serde(default)]
    pub description: String,
    /// Permission names or patterns (`cms.*`, `*`).
    pub permissions: Vec<String>,
}

/// A browser session, stored under the digest of its cookie value.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Whose session.
    pub user_id: String,
    /// The site it was opened on.
    pub site: String,
    /// The CSRF token cookie-authenticated unsafe requests must echo.
    pub csrf_token: String,
    /// When it was opened.
    pub created_at: UnixTime,
    /// When it ends.
    pub expires_at: UnixTime,
    /// The user's session epoch when it was opened.
    #[serde(default)]
    pub epoch: u64,
}

/// An API token for machines, stored under the digest of the token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Public id, for listing and revoking.
    pub id: String,
    /// What it is for.
    pub name: String,
    /// The user it acts for; it never holds more than they do.
    pub user_id: String,
    /// The site of that user.
    pub site: String,
    /// The permissions it is limited to (names or patterns).
    pub scopes: Vec<String>,
    /// When it was created.
    pub created_at: UnixTime,
    /// When it stops working, if ever.
    #[serde(default)]
    pub expires_at: Option<UnixTime>,
    /// The digest it is stored under, so it can be revoked by id.
    pub digest: String,
}

/// A one-time password-reset token, stored under its digest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResetRecord {
    /// Whose password it resets.
    pub user_id: String,
    /// When it stops working.
    pub expires_at: UnixTime,
}

/// A site (tenant): its hosts and its account policy.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct SiteRecord {
    /// Id, used in data scoping and `/sites/<id>/...` paths.
    #[serde(default)]
    pub id: String,
    /// Name to show.
    #[serde(default)]
    pub name: String,
    /// Host names (without port) that resolve to this site.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Whether visitors may create their own accounts.
    #[serde(default)]
    pub registration: bool,
    /// The only URLs password-reset and invite links may point to.
    #[serde(default)]
    pub link_urls: Vec<String>,
}
