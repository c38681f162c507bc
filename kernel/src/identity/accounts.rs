//! Accounts: registration, creation by administrators, passwords, locks
//! and profiles.

use serde::Deserialize;

use super::model::{Profile, UserRecord, now};
use super::store::{user_key, username_key};
use super::{AuditEvent, Identity, IdentityError, Principal, password, secret};
use crate::storage::BatchOp;

/// What it takes to create an account.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// Login name: 1–64 letters, digits, `.`, `_`, `-` or `@`.
    pub username: String,
    /// The password, checked against the policy.
    pub password: String,
    /// Name to show; the username when absent.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Where mail goes.
    #[serde(default)]
    pub email: Option<String>,
    /// Profile attributes.
    #[serde(default)]
    pub profile: Profile,
    /// Roles to grant at once (administrators only).
    #[serde(default)]
    pub roles: Vec<String>,
}

/// A change of profile: fields present replace the stored ones.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileUpdate {
    /// New display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// New e-mail address.
    #[serde(default)]
    pub email: Option<String>,
    /// New profile (replaces the whole profile).
    #[serde(default)]
    pub profile: Option<Profile>,
}

/// Refuse a malformed username, naming the rule.
pub fn check_username(username: &str) -> Result<(), IdentityError> {
    let valid = (1..=64).contains(&username.len())
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if valid {
        Ok(())
    } else {
        Err(IdentityError::Invalid(
            "`username` must be 1–64 letters, digits, `.`, `_`, `-` or `@`".into(),
        ))
    }
}

fn check_email(email: Option<&str>) -> Result<(), IdentityError> {
    match email {
        Some(email)
            if email.len() > 254
                || email.chars().any(char::is_whitespace)
                || !email
                    .split_once('@')
                    .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.')) =>
        {
            Err(IdentityError::Invalid(format!(
                "`email` `{email}` is not an e-mail address"
            )))
        }
        _ => Ok(()),
    }
}

impl Identity {
    /// Self-registration on `site`, if the site allows it.
    pub fn register(
        &self,
        site: &str,
        mut new: NewUser,
        address: Option<&str>,
    ) -> Result<UserRecord, IdentityError> {
        let open = self.site(site)?.is_some_and(|site| site.registration);
        if !open {
            return Err(IdentityError::RegistrationClosed(site.to_owned()));
        }
        // Visitors choose no roles.
        new.roles.clear();
        let user = self.insert_user(site, new)?;
        self.audit.record_or_log(
            AuditEvent::new("user.registered", site, &user.id)
                .target(&user.username)
                .address(address),
        );
        self.publish(
            "identity.user.registered",
            serde_json::json!({ "site": site, "user_id": user.id, "username": user.username }),
        );
        Ok(user)
    }

    /// Create an account on `site` as an administrator.
    pub fn create_user(
        &self,
        actor: &Principal,
        site: &str,
        new: NewUser,
    ) -> Result<UserRecord, IdentityError> {
        for role in &new.roles {
            self.require_role(site, role)?;
        }
        let user = self.insert_user(site, new)?;
        self.audit.record_or_log(
            AuditEvent::new("user.created", site, &actor_name(actor))
                .target(&user.username)
                .detail(format!("roles: {}", user.roles.join(", "))),
        );
        self.publish(
            "identity.user.created",
            serde_json::json!({ "site": site, "user_id": user.id, "username": user.username }),
        );
        Ok(user)
    }

    fn insert_user(&self, site: &str, new: NewUser) -> Result<UserRecord, IdentityError> {
        check_username(&new.username)?;
        password::check_policy(&new.password)?;
        check_email(new.email.as_deref())?;
        let user = UserRecord {
            id: secret::record_id()?,
            site: site.to_owned(),
            display_name: new
                .display_name
                .filter(|name| !name.trim().is_empty())
                .unwrap_or_else(|| new.username.clone()),
            username: new.username,
            email: new.email,
            password_hash: password::hash(&new.password)?,
            locked: false,
            roles: new.roles,
            profile: new.profile,
            totp: None,
            created_at: now(),
            session_epoch: 0,
        };
        let name_key = username_key(site, &user.username);
        if !self.store.claim(&name_key, &user.id)? {
            return Err(IdentityError::UsernameTaken(user.username));
        }
        if let Err(error) = self.store.save_user(&user) {
            let _ = self.store.delete(&name_key);
            return Err(error);
        }
        Ok(user)
    }

    /// The user `id`, if it exists.
    pub fn user(&self, id: &str) -> Result<Option<UserRecord>, IdentityError> {
        self.store.user(id)
    }

    /// The user `id` if it belongs to `site`: users of other sites do not
    /// exist for the caller.
    pub fn user_of_site(&self, site: &str, id: &str) -> Result<Option<UserRecord>, IdentityError> {
        Ok(self.store.user(id)?.filter(|user| user.site == site))
    }

    /// The user called `username` on `site`.
    pub fn user_by_name(
        &self,
        site: &str,
        username: &str,
    ) -> Result<Option<UserRecord>, IdentityError> {
        self.store.user_by_name(site, username)
    }

    /// Every user of `site`.
    pub fn users(&self, site: &str) -> Result<Vec<UserRecord>, IdentityError> {
        self.store.users_of(site)
    }

    /// Change one's own password; every session opened before ends.
    pub fn change_password(
        &self,
        user_id: &str,
        current: &str,
        new: &str,
    ) -> Result<(), IdentityError> {
        let mut user = self.store.require_user(user_id)?;
        if !password::verify(current, &user.password_hash) {
            self.audit.record_or_log(
                AuditEvent::new("password.change-failed", &user.site, &user.id)
                    .target(&user.username),
            );
            return Err(IdentityError::InvalidCredentials);
        }
        password::check_policy(new)?;
        user.password_hash = password::hash(new)?;
        user.session_epoch += 1;
        self.store.save_user(&user)?;
        self.audit.record_or_log(
            AuditEvent::new("password.changed", &user.site, &user.id).target(&user.username),
        );
        Ok(())
    }

    /// Lock or unlock an account. A lock ends its sessions and suspends
    /// its tokens.
    pub fn set_locked(
        &self,
        actor: &Principal,
        site: &str,
        user_id: &str,
        locked: bool,
    ) -> Result<UserRecord, IdentityError> {
        let mut user = self.require_user_of_site(site, user_id)?;
        user.locked = locked;
        if locked {
            user.session_epoch += 1;
        }
        self.store.save_user(&user)?;
        let action = if locked {
            "user.locked"
        } else {
            "user.unlocked"
        };
        self.audit.record_or_log(
            AuditEvent::new(action, site, &actor_name(actor)).target(&user.username),
        );
        Ok(user)
    }

    /// Update the display name, e-mail or profile of a user of `site`.
    pub fn update_profile(
        &self,
        site: &str,
        user_id: &str,
        update: ProfileUpdate,
    ) -> Result<UserRecord, IdentityError> {
        let mut user = self.require_user_of_site(site, user_id)?;
        check_email(update.email.as_deref())?;
        if let Some(name) = update.display_name.filter(|name| !name.trim().is_empty()) {
            user.display_name = name;
        }
        if update.email.is_some() {
            user.email = update.email;
        }
        if let Some(profile) = update.profile {
            user.profile = profile;
        }
        self.store.save_user(&user)?;
        Ok(user)
    }

    /// Delete a user of `site` with their index entry.
    pub fn delete_user(
        &self,
        actor: &Principal,
        site: &str,
        user_id: &str,
    ) -> Result<(), IdentityError> {
        let user = self.require_user_of_site(site, user_id)?;
        self.store.batch(&[
            BatchOp::Delete(user_key(&user.id).into_bytes()),
            BatchOp::Delete(username_key(site, &user.username).into_bytes()),
        ])?;
        for token in self.tokens_of(&user.id)? {
            let _ = self.delete_token_record(&token);
        }
        self.audit.record_or_log(
            AuditEvent::new("user.deleted", site, &actor_name(actor)).target(&user.username),
        );
        Ok(())
    }

    pub(super) fn require_user_of_site(
        &self,
        site: &str,
        user_id: &str,
    ) -> Result<UserRecord, IdentityError> {
        self.user_of_site(site, user_id)?
            .ok_or_else(|| IdentityError::NotFound {
                kind: "user",
                name: user_id.to_owned(),
            })
    }

    /// Write a user record (used by role grants and TOTP enrolment).
    pub(super) fn save_user(&self, user: &UserRecord) -> Result<(), IdentityError> {
        self.store.save_user(user)
    }
}

/// How an actor appears in the audit log.
pub fn actor_name(actor: &Principal) -> String {
    match &actor.user {
        Some(user) => user.username.clone(),
        None => "anonymous".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_the_rule() {
        for good in ["alice", "a.b_c-d@example.com", "X1"] {
            assert!(check_username(good).is_ok(), "{good}");
        }
        for bad in ["", "has space", "colon:name", &"x".repeat(65), "ünï"] {
            assert!(check_username(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn emails_are_checked_loosely() {
        assert!(check_email(Some("a@example.com")).is_ok());
        assert!(check_email(None).is_ok());
        assert!(check_email(Some("nope")).is_err());
        assert!(check_email(Some("a@b")).is_err());
    }
}
