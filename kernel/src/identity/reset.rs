//! Password reset and invitations by a one-time token, delivered through
//! the events `identity.password.reset-requested` and
//! `identity.user.invited` so that an integration plugin can mail the
//! link. Links point only to the URLs configured for the site.

use super::model::{ResetRecord, now};
use super::{AuditEvent, Identity, IdentityError, password, secret};

/// How long an invitation link works.
const INVITE_TTL_SECS: u64 = 7 * 24 * 3600;

fn reset_key(token: &str) -> String {
    format!("reset/{}", secret::digest(token))
}

impl Identity {
    /// Start a password reset for `username` on `site`. `link_url`, when
    /// given, must be one of the site's `link-urls`; otherwise the first
    /// is used. Succeeds silently for unknown or locked users so that the
    /// answer does not reveal which accounts exist.
    pub fn request_password_reset(
        &self,
        site: &str,
        username: &str,
        link_url: Option<&str>,
        address: Option<&str>,
    ) -> Result<(), IdentityError> {
        let base = self.link_base(site, link_url)?;
        self.audit.record_or_log(
            AuditEvent::new("password.reset-requested", site, "anonymous")
                .target(username)
                .address(address),
        );
        let Some(user) = self.store.user_by_name(site, username)? else {
            return Ok(());
        };
        if user.locked {
            return Ok(());
        }
        self.issue_link(
            &user,
            &base,
            self.settings.reset_ttl.as_secs(),
            "identity.password.reset-requested",
        )
    }

    /// Invite `user_id` of `site` to choose a password: a one-time link
    /// valid for a week, published as `identity.user.invited`. The link
    /// base must be one of the site's link URLs, as for resets.
    pub fn invite(
        &self,
        actor: &super::Principal,
        site: &str,
        user_id: &str,
        link_url: Option<&str>,
    ) -> Result<(), IdentityError> {
        let base = self.link_base(site, link_url)?;
        let user = self.require_user_of_site(site, user_id)?;
        self.issue_link(&user, &base, INVITE_TTL_SECS, "identity.user.invited")?;
        self.audit.record_or_log(
            AuditEvent::new("user.invited", site, &super::actor_name(actor)).target(&user.username),
        );
        Ok(())
    }

    /// The link base for `site`: `link_url` if configured for the site,
    /// else the site's first link URL; an error when neither exists.
    pub fn link_base(&self, site: &str, link_url: Option<&str>) -> Result<String, IdentityError> {
        let site_record = self.site(site)?.unwrap_or_default();
        match link_url {
            Some(url) if site_record.link_urls.iter().any(|allowed| allowed == url) => {
                Ok(url.to_owned())
            }
            Some(url) => Err(IdentityError::Invalid(format!(
                "`link_url` `{url}` is not one of the link URLs configured for site `{site}`"
            ))),
            None => site_record.link_urls.first().cloned().ok_or_else(|| {
                IdentityError::Invalid(format!(
                    "site `{site}` has no link URL for reset and invite links; an administrator sets `link-urls` with PUT /admin/sites/{site}"
                ))
            }),
        }
    }

    /// Store a one-time token for `user` and publish the link on `topic`.
    fn issue_link(
        &self,
        user: &super::UserRecord,
        base: &str,
        ttl_secs: u64,
        topic: &str,
    ) -> Result<(), IdentityError> {
        let token = secret::generate("tsr_")?;
        let expires_at = now() + ttl_secs;
        self.store.put(
            &reset_key(&token),
            &ResetRecord {
                user_id: user.id.clone(),
                expires_at,
            },
        )?;
        let separator = if base.contains('?') { '&' } else { '?' };
        self.publish(
            topic,
            serde_json::json!({
                "site": user.site,
                "user_id": user.id,
                "username": user.username,
                "email": user.email,
                "link": format!("{base}{separator}token={token}"),
                "token": token,
                "expires_at": expires_at,
            }),
        );
        Ok(())
    }

    /// Set a new password with a reset token. The token works once; every
    /// session of the user ends.
    pub fn reset_password(&self, token: &str, new_password: &str) -> Result<(), IdentityError> {
        let key = reset_key(token);
        let record = self
            .store
            .get::<ResetRecord>(&key)?
            .ok_or(IdentityError::InvalidResetToken)?;
        if record.expires_at <= now() {
            self.store.delete(&key)?;
            return Err(IdentityError::InvalidResetToken);
        }
        password::check_policy(new_password)?;
        let mut user = self.store.require_user(&record.user_id)?;
        // Claim the token before changing anything: a second use fails.
        if !self.store.delete(&key)? {
            return Err(IdentityError::InvalidResetToken);
        }
        user.password_hash = password::hash(new_password)?;
        user.session_epoch += 1;
        self.save_user(&user)?;
        self.audit.record_or_log(
            AuditEvent::new("password.reset", &user.site, &user.id).target(&user.username),
        );
        Ok(())
    }
}
