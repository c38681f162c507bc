//! Bearer API tokens for machines.
//!
//! A token is shown once at creation and stored as its SHA-256 digest. It
//! is scoped to permissions its creator holds, and at every use it holds
//! only what its scopes *and* its creator's current roles grant, so a
//! creator who loses a role takes the token's reach down with them. Tokens
//! expire, and are revoked by their creator or an administrator.

use serde::Serialize;

use super::model::{TokenRecord, now};
use super::principal::{AuthMethod, Principal};
use super::{AuditEvent, Identity, IdentityError, permission, secret};
use crate::storage::BatchOp;

/// A token just created: the secret is in here and nowhere else.
#[derive(Debug, Clone, Serialize)]
pub struct CreatedToken {
    /// The bearer secret. Shown once.
    pub token: String,
    /// The stored description.
    #[serde(flatten)]
    pub record: TokenRecord,
}

fn token_key(digest: &str) -> String {
    format!("token/{digest}")
}

fn token_id_key(id: &str) -> String {
    format!("token-id/{id}")
}

impl Identity {
    /// Create a token for the signed-in `creator`, limited to `scopes`
    /// (each must be held by the creator), expiring after `ttl_secs`.
    pub fn create_token(
        &self,
        creator: &Principal,
        name: &str,
        scopes: Vec<String>,
        ttl_secs: Option<u64>,
    ) -> Result<CreatedToken, IdentityError> {
        let Some(user) = &creator.user else {
            return Err(IdentityError::Unauthenticated);
        };
        if name.trim().is_empty() || name.len() > 128 {
            return Err(IdentityError::Invalid(
                "`name` must say what the token is for, in 1–128 bytes".into(),
            ));
        }
        if scopes.is_empty() {
            return Err(IdentityError::Invalid(
                "`scopes` must list at least one permission the token may use".into(),
            ));
        }
        for scope in &scopes {
            if !permission::is_well_formed(scope) {
                return Err(IdentityError::Invalid(format!(
                    "scope `{scope}` is not a permission name or pattern such as `cms.entry.read` or `cms.*`"
                )));
            }
            let held = permission::covered_by(scope, creator.grants())
                && creator
                    .scopes()
                    .is_none_or(|limits| permission::covered_by(scope, limits));
            if !held {
                // A token can only carry permissions its creator holds.
                return Err(IdentityError::Forbidden(scope.clone()));
            }
        }
        let token = secret::generate("tst_")?;
        let record = TokenRecord {
            id: secret::record_id()?,
            name: name.trim().to_owned(),
            user_id: user.id.clone(),
            site: creator.site.clone(),
            scopes,
            created_at: now(),
            expires_at: ttl_secs.map(|ttl| now().saturating_add(ttl)),
            digest: secret::digest(&token),
        };
        self.store_token(&record)?;
        self.audit.record_or_log(
            AuditEvent::new("token.created", &creator.site, &user.username)
                .target(&record.id)
                .detail(format!("scopes: {}", record.scopes.join(", "))),
        );
        Ok(CreatedToken { token, record })
    }

    /// Store an existing secret as a token of `user_id` (the bootstrap
    /// admin token file).
    pub(super) fn import_token(
        &self,
        user_id: &str,
        site: &str,
        name: &str,
        token: &str,
        scopes: Vec<String>,
    ) -> Result<TokenRecord, IdentityError> {
        let record = TokenRecord {
            id: secret::record_id()?,
            name: name.to_owned(),
            user_id: user_id.to_owned(),
            site: site.to_owned(),
            scopes,
            created_at: now(),
            expires_at: None,
            digest: secret::digest(token),
        };
        self.store_token(&record)?;
        Ok(record)
    }

    fn store_token(&self, record: &TokenRecord) -> Result<(), IdentityError> {
        self.store.batch(&[
            BatchOp::Set(
                token_key(&record.digest).into_bytes(),
                super::store::encode(record)?,
            ),
            BatchOp::Set(
                token_id_key(&record.id).into_bytes(),
                record.digest.clone().into_bytes(),
            ),
        ])
    }

    /// The principal of a bearer token on `site`; none when unknown,
    /// expired, of another site, or its user is locked or gone.
    pub fn authenticate_token(
        &self,
        site: &str,
        token: &str,
    ) -> Result<Option<Principal>, IdentityError> {
        // The lookup is by digest: the secret itself is never compared.
        let Some(record) = self
            .store
            .get::<TokenRecord>(&token_key(&secret::digest(token)))?
        else {
            return Ok(None);
        };
        if record.site != site || record.expires_at.is_some_and(|end| end <= now()) {
            return Ok(None);
        }
        let Some(user) = self.store.user(&record.user_id)? else {
            return Ok(None);
        };
        if user.locked {
            return Ok(None);
        }
        let method = AuthMethod::Token {
            id: record.id.clone(),
        };
        self.principal_for(&user, method, Some(record.scopes))
            .map(Some)
    }

    /// The tokens of `user_id` (without secrets).
    pub fn tokens_of(&self, user_id: &str) -> Result<Vec<TokenRecord>, IdentityError> {
        Ok(self
            .store
            .list::<TokenRecord>("token/")?
            .into_iter()
            .filter(|token| token.user_id == user_id)
            .collect())
    }

    /// The token `id`.
    pub fn token(&self, id: &str) -> Result<Option<TokenRecord>, IdentityError> {
        match self.store.get_text(&token_id_key(id))? {
            Some(digest) => self.store.get(&token_key(&digest)),
            None => Ok(None),
        }
    }

    /// Revoke token `id`. Its owner may revoke it; so may a holder of
    /// `admin.users.manage` on its site.
    pub fn revoke_token(&self, actor: &Principal, id: &str) -> Result<(), IdentityError> {
        let not_found = || IdentityError::NotFound {
            kind: "token",
            name: id.to_owned(),
        };
        let record = self.token(id)?.ok_or_else(not_found)?;
        let owner = actor.user_id() == Some(record.user_id.as_str());
        let admin = actor.site == record.site && actor.holds(permission::USERS_MANAGE);
        if !owner && !admin {
            return Err(not_found());
        }
        self.delete_token_record(&record)?;
        self.audit.record_or_log(
            AuditEvent::new(
                "token.revoked",
                &record.site,
                &super::accounts::actor_name(actor),
            )
            .target(&record.id),
        );
        Ok(())
    }

    pub(super) fn delete_token_record(&self, record: &TokenRecord) -> Result<(), IdentityError> {
        self.store.batch(&[
            BatchOp::Delete(token_key(&record.digest).into_bytes()),
            BatchOp::Delete(token_id_key(&record.id).into_bytes()),
        ])
    }
}
