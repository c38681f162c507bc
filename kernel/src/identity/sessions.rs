//! Login, logout and browser sessions.
//!
//! A session is a random 256-bit cookie value (`HttpOnly`, `SameSite=Lax`),
//! stored as its SHA-256 digest. Each session has a CSRF token, returned at
//! login and in a readable cookie; unsafe requests authenticated by the
//! session cookie must echo it in the `x-csrf-token` header.

use super::model::{SessionRecord, UserRecord, now};
use super::principal::{AuthMethod, Principal, PrincipalUser};
use super::{AuditEvent, Identity, IdentityError, password, secret, totp};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "tessera_session";
/// Name of the readable cookie carrying the CSRF token.
pub const CSRF_COOKIE: &str = "tessera_csrf";
/// Header unsafe cookie-authenticated requests carry the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A session just opened by a login.
#[derive(Debug, Clone)]
pub struct OpenedSession {
    /// The cookie value: the secret, shown only now.
    pub cookie: String,
    /// The CSRF token.
    pub csrf_token: String,
    /// When it ends, seconds since the epoch.
    pub expires_at: u64,
    /// Who signed in.
    pub user: UserRecord,
}

fn session_key(cookie: &str) -> String {
    format!("session/{}", secret::digest(cookie))
}

impl Identity {
    /// Check a username and password (and TOTP code when enrolled) on
    /// `site` and open a session. Failures are counted per account and
    /// address; past the limit, attempts are refused before any check.
    pub fn login(
        &self,
        site: &str,
        username: &str,
        password_text: &str,
        totp_code: Option<&str>,
        address: Option<&str>,
    ) -> Result<OpenedSession, IdentityError> {
        let account = format!("{site}/{}", username.to_lowercase());
        if let Err(retry_after_secs) = self.throttle.check(&account, address) {
            self.audit.record_or_log(
                AuditEvent::new("login.throttled", site, "anonymous")
                    .target(username)
                    .address(address),
            );
            return Err(IdentityError::Throttled { retry_after_secs });
        }
        let user = self.store.user_by_name(site, username)?;
        // Verify against a decoy when the user does not exist, so timing
        // does not reveal which usernames exist.
        let stored = user
            .as_ref()
            .map_or(password::decoy_hash(), |user| user.password_hash.as_str());
        let password_ok = password::verify(password_text, stored);
        let user = match user {
            Some(user) if password_ok => user,
            _ => {
                self.throttle.record_failure(&account, address);
                self.audit.record_or_log(
                    AuditEvent::new("login.failed", site, "anonymous")
                        .target(username)
                        .address(address)
                        .detail("wrong username or password"),
                );
                return Err(IdentityError::InvalidCredentials);
            }
        };
        if user.locked {
            self.audit.record_or_log(
                AuditEvent::new("login.refused", site, &user.id)
                    .target(&user.username)
                    .address(address)
                    .detail("account locked"),
            );
            return Err(IdentityError::AccountLocked);
        }
        let mut user = user;
        if let Some(enrolment) = user.totp.as_mut().filter(|totp| totp.confirmed) {
            let Some(code) = totp_code else {
                return Err(IdentityError::SecondFactorRequired);
            };
            if totp::accept(enrolment, code)? {
                self.save_user(&user)?;
            } else {
                self.throttle.record_failure(&account, address);
                self.audit.record_or_log(
                    AuditEvent::new("login.failed", site, &user.id)
                        .target(&user.username)
                        .address(address)
                        .detail("wrong second-factor code"),
                );
                return Err(IdentityError::InvalidSecondFactor);
            }
        }
        self.throttle.record_success(&account);
        let cookie = secret::generate("tss_")?;
        let created_at = now();
        let record = SessionRecord {
            user_id: user.id.clone(),
            site: site.to_owned(),
            csrf_token: secret::generate("")?,
            created_at,
            expires_at: created_at + self.settings.session_ttl.as_secs(),
            epoch: user.session_epoch,
        };
        self.store.put(&session_key(&cookie), &record)?;
        self.audit.record_or_log(
            AuditEvent::new("login.succeeded", site, &user.id)
                .target(&user.username)
                .address(address),
        );
        self.publish(
            "identity.user.signed-in",
            serde_json::json!({
                "site": site,
                "user_id": user.id,
                "username": user.username,
                "second_factor": user.totp.as_ref().is_some_and(|totp| totp.confirmed),
            }),
        );
        Ok(OpenedSession {
            cookie,
            csrf_token: record.csrf_token,
            expires_at: record.expires_at,
            user,
        })
    }

    /// End the session with this cookie value.
    pub fn logout(&self, cookie: &str) -> Result<(), IdentityError> {
        let key = session_key(cookie);
        if let Some(session) = self.store.get::<SessionRecord>(&key)? {
            self.store.delete(&key)?;
            self.audit
                .record_or_log(AuditEvent::new("logout", &session.site, &session.user_id));
        }
        Ok(())
    }

    /// The principal of a session cookie on `site`, with the session's
    /// CSRF token; none when the session is unknown, expired, of another
    /// site, or its user was locked or changed password since.
    pub fn authenticate_session(
        &self,
        site: &str,
        cookie: &str,
    ) -> Result<Option<(Principal, String)>, IdentityError> {
        let key = session_key(cookie);
        let Some(session) = self.store.get::<SessionRecord>(&key)? else {
            return Ok(None);
        };
        if session.expires_at <= now() {
            self.store.delete(&key)?;
            return Ok(None);
        }
        if session.site != site {
            return Ok(None);
        }
        let Some(user) = self.store.user(&session.user_id)? else {
            return Ok(None);
        };
        if user.locked || session.epoch != user.session_epoch {
            return Ok(None);
        }
        let principal = self.principal_for(&user, AuthMethod::Session, None)?;
        Ok(Some((principal, session.csrf_token)))
    }

    /// The principal of `user`: the union of what their roles grant,
    /// limited to `scopes` for a token.
    pub fn principal_for(
        &self,
        user: &UserRecord,
        method: AuthMethod,
        scopes: Option<Vec<String>>,
    ) -> Result<Principal, IdentityError> {
        let mut grants = Vec::new();
        for role in &user.roles {
            // A role deleted after the grant grants nothing.
            if let Some(role) = self.store.role(&user.site, role)? {
                grants.extend(role.permissions);
            }
        }
        grants.sort();
        grants.dedup();
        Ok(Principal::user(
            &user.site,
            PrincipalUser {
                id: user.id.clone(),
                username: user.username.clone(),
                display_name: user.display_name.clone(),
                roles: user.roles.clone(),
            },
            method,
            grants,
            scopes,
        ))
    }

    /// Whether `principal` holds `permission`; `Forbidden` (or
    /// `Unauthenticated` for anonymous callers) otherwise, audited.
    pub fn require(&self, principal: &Principal, permission: &str) -> Result<(), IdentityError> {
        if principal.holds(permission) {
            return Ok(());
        }
        if !principal.is_authenticated() {
            return Err(IdentityError::Unauthenticated);
        }
        self.audit.record_or_log(
            AuditEvent::new(
                "access.denied",
                &principal.site,
                &super::accounts::actor_name(principal),
            )
            .target(permission),
        );
        Err(IdentityError::Forbidden(permission.to_owned()))
    }
}
