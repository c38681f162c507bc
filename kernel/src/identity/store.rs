//! The identity records in the kernel namespace `kernel/identity`.
//!
//! | key | value |
//! |---|---|
//! | `user/<id>` | [`UserRecord`] |
//! | `username/<site>/<lower-case username>` | user id |
//! | `role/<site>/<name>` | [`RoleRecord`] |
//! | `session/<sha256 of the cookie>` | [`SessionRecord`] |
//! | `token/<sha256 of the token>` | [`TokenRecord`] |
//! | `token-id/<id>` | digest of that token |
//! | `reset/<sha256 of the token>` | [`ResetRecord`] |
//! | `site/<id>` | [`SiteRecord`] |

use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::IdentityError;
use super::model::{RoleRecord, SiteRecord, UserRecord};
use crate::storage::{BatchOp, Namespace};

/// Name of the kernel namespace identity lives in.
pub const NAMESPACE: &str = "kernel/identity";

/// Typed access to the identity namespace.
#[derive(Clone)]
pub struct Store {
    namespace: Arc<dyn Namespace>,
}

impl Store {
    /// Records in `namespace`.
    pub fn new(namespace: Arc<dyn Namespace>) -> Self {
        Self { namespace }
    }

    /// The record at `key`, if any.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, IdentityError> {
        match self.namespace.get(key.as_bytes())? {
            None => Ok(None),
            Some(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|error| IdentityError::Corrupt {
                        key: key.to_owned(),
                        message: error.to_string(),
                    })
            }
        }
    }

    /// Write the record at `key`.
    pub fn put<T: Serialize>(&self, key: &str, value: &T) -> Result<(), IdentityError> {
        self.namespace.set(key.as_bytes(), &encode(value)?)?;
        Ok(())
    }

    /// Delete `key`; returns whether it existed.
    pub fn delete(&self, key: &str) -> Result<bool, IdentityError> {
        Ok(self.namespace.delete(key.as_bytes())?)
    }

    /// Apply writes atomically.
    pub fn batch(&self, operations: &[BatchOp]) -> Result<(), IdentityError> {
        Ok(self.namespace.batch(operations)?)
    }

    /// Claim `key` for `value` if nobody holds it; returns whether it was
    /// claimed.
    pub fn claim(&self, key: &str, value: &str) -> Result<bool, IdentityError> {
        Ok(self
            .namespace
            .compare_and_swap(key.as_bytes(), None, Some(value.as_bytes()))?
            .is_ok())
    }

    /// The raw string at `key`.
    pub fn get_text(&self, key: &str) -> Result<Option<String>, IdentityError> {
        Ok(self
            .namespace
            .get(key.as_bytes())?
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// Every record under `prefix`, in key order.
    pub fn list<T: DeserializeOwned>(&self, prefix: &str) -> Result<Vec<T>, IdentityError> {
        self.list_raw(prefix)?
            .into_iter()
            .map(|(key, bytes)| {
                serde_json::from_slice(&bytes).map_err(|error| IdentityError::Corrupt {
                    key,
                    message: error.to_string(),
                })
            })
            .collect()
    }

    /// Every key and raw value under `prefix`, in key order.
    pub fn list_raw(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, IdentityError> {
        const PAGE: usize = 256;
        let mut out = Vec::new();
        let mut after: Option<Vec<u8>> = None;
        loop {
            let page = self
                .namespace
                .scan(prefix.as_bytes(), after.as_deref(), PAGE)?;
            let full = page.len() == PAGE;
            after = page.last().map(|(key, _)| key.clone());
            out.extend(
                page.into_iter()
                    .map(|(key, value)| (String::from_utf8_lossy(&key).into_owned(), value)),
            );
            if !full {
                return Ok(out);
            }
        }
    }

    /// The user with `id`.
    pub fn user(&self, id: &str) -> Result<Option<UserRecord>, IdentityError> {
        self.get(&user_key(id))
    }

    /// The user with `id`, or a not-found error.
    pub fn require_user(&self, id: &str) -> Result<UserRecord, IdentityError> {
        self.user(id)?.ok_or_else(|| IdentityError::NotFound {
            kind: "user",
            name: id.to_owned(),
        })
    }

    /// The user called `username` on `site`.
    pub fn user_by_name(
        &self,
        site: &str,
        username: &str,
    ) -> Result<Option<UserRecord>, IdentityError> {
        match self.get_text(&username_key(site, username))? {
            Some(id) => self.user(&id),
            None => Ok(None),
        }
    }

    /// Save a user.
    pub fn save_user(&self, user: &UserRecord) -> Result<(), IdentityError> {
        self.put(&user_key(&user.id), user)
    }

    /// Every user of `site`, by username.
    pub fn users_of(&self, site: &str) -> Result<Vec<UserRecord>, IdentityError> {
        let mut users = Vec::new();
        for (_, id) in self.list_raw(&format!("username/{site}/"))? {
            if let Some(user) = self.user(&String::from_utf8_lossy(&id))? {
                users.push(user);
            }
        }
        Ok(users)
    }

    /// Whether any user exists at all.
    pub fn has_users(&self) -> Result<bool, IdentityError> {
        Ok(!self.namespace.scan(b"user/", None, 1)?.is_empty())
    }

    /// The role `name` of `site`.
    pub fn role(&self, site: &str, name: &str) -> Result<Option<RoleRecord>, IdentityError> {
        self.get(&role_key(site, name))
    }

    /// Every role of `site`.
    pub fn roles_of(&self, site: &str) -> Result<Vec<RoleRecord>, IdentityError> {
        self.list(&format!("role/{site}/"))
    }

    /// The site `id`.
    pub fn site(&self, id: &str) -> Result<Option<SiteRecord>, IdentityError> {
        self.get(&format!("site/{id}"))
    }

    /// Every configured site.
    pub fn sites(&self) -> Result<Vec<SiteRecord>, IdentityError> {
        self.list("site/")
    }
}

/// JSON bytes of a record.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, IdentityError> {
    serde_json::to_vec(value).map_err(|error| IdentityError::Internal(error.to_string()))
}

/// Key of a user record.
pub fn user_key(id: &str) -> String {
    format!("user/{id}")
}

/// Key of the username index entry.
pub fn username_key(site: &str, username: &str) -> String {
    format!("username/{site}/{}", username.to_lowercase())
}

/// Key of a role record.
pub fn role_key(site: &str, name: &str) -> String {
    format!("role/{site}/{name}")
}
