//! Roles: named sets of permissions per site, granted to users.

use super::accounts::actor_name;
use super::model::{RoleRecord, UserRecord};
use super::store::role_key;
use super::{AuditEvent, Identity, IdentityError, Principal, permission};

impl Identity {
    /// Every role of `site`.
    pub fn roles(&self, site: &str) -> Result<Vec<RoleRecord>, IdentityError> {
        self.store.roles_of(site)
    }

    /// The role `name` of `site`.
    pub fn role(&self, site: &str, name: &str) -> Result<Option<RoleRecord>, IdentityError> {
        self.store.role(site, name)
    }

    pub(super) fn require_role(&self, site: &str, name: &str) -> Result<RoleRecord, IdentityError> {
        self.store
            .role(site, name)?
            .ok_or_else(|| IdentityError::NotFound {
                kind: "role",
                name: name.to_owned(),
            })
    }

    /// Create or replace role `name` on `site`. Returns whether it was
    /// created.
    pub fn put_role(
        &self,
        actor: &Principal,
        site: &str,
        name: &str,
        description: &str,
        permissions: Vec<String>,
    ) -> Result<bool, IdentityError> {
        let valid_name = (1..=64).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !valid_name {
            return Err(IdentityError::Invalid(
                "a role name is 1–64 lower-case letters, digits, `-` or `_`".into(),
            ));
        }
        if let Some(bad) = permissions
            .iter()
            .find(|pattern| !permission::is_well_formed(pattern))
        {
            return Err(IdentityError::Invalid(format!(
                "`{bad}` is not a permission name or pattern such as `cms.entry.publish` or `cms.*`"
            )));
        }
        let created = self.store.role(site, name)?.is_none();
        let role = RoleRecord {
            name: name.to_owned(),
            site: site.to_owned(),
            description: description.to_owned(),
            permissions,
        };
        self.store.put(&role_key(site, name), &role)?;
        self.audit.record_or_log(
            AuditEvent::new(
                if created {
                    "role.created"
                } else {
                    "role.updated"
                },
                site,
                &actor_name(actor),
            )
            .target(name)
            .detail(format!("permissions: {}", role.permissions.join(", "))),
        );
        Ok(created)
    }

    /// Delete role `name` of `site`. Users keep the name in their list but
    /// it grants nothing.
    pub fn delete_role(
        &self,
        actor: &Principal,
        site: &str,
        name: &str,
    ) -> Result<(), IdentityError> {
        self.require_role(site, name)?;
        self.store.delete(&role_key(site, name))?;
        self.audit
            .record_or_log(AuditEvent::new("role.deleted", site, &actor_name(actor)).target(name));
        Ok(())
    }

    /// Grant role `role` of `site` to user `user_id` of the same site.
    pub fn grant_role(
        &self,
        actor: &Principal,
        site: &str,
        user_id: &str,
        role: &str,
    ) -> Result<UserRecord, IdentityError> {
        self.require_role(site, role)?;
        let mut user = self.require_user_of_site(site, user_id)?;
        if !user.roles.iter().any(|held| held == role) {
            user.roles.push(role.to_owned());
            user.roles.sort();
            self.save_user(&user)?;
        }
        self.audit.record_or_log(
            AuditEvent::new("role.granted", site, &actor_name(actor))
                .target(&user.username)
                .detail(format!("role: {role}")),
        );
        Ok(user)
    }

    /// Take role `role` away from user `user_id` of `site`.
    pub fn revoke_role(
        &self,
        actor: &Principal,
        site: &str,
        user_id: &str,
        role: &str,
    ) -> Result<UserRecord, IdentityError> {
        let mut user = self.require_user_of_site(site, user_id)?;
        let before = user.roles.len();
        user.roles.retain(|held| held != role);
        if user.roles.len() == before {
            return Err(IdentityError::NotFound {
                kind: "grant of role",
                name: role.to_owned(),
            });
        }
        self.save_user(&user)?;
        self.audit.record_or_log(
            AuditEvent::new("role.revoked", site, &actor_name(actor))
                .target(&user.username)
                .detail(format!("role: {role}")),
        );
        Ok(user)
    }
}
