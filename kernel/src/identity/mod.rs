//! Identity and access control, owned by the kernel: users (per site),
//! passwords (argon2id), browser sessions with CSRF tokens, scoped API
//! tokens, a TOTP second factor, roles granting permissions, sites
//! resolved from the Host header, login rate limiting and an audit log.
//!
//! Every operation is synchronous (argon2id costs tens of milliseconds by
//! design): the HTTP layer runs them on the blocking pool. The model is
//! described for administrators in `docs/security.md`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

mod accounts;
mod audit;
mod bootstrap;
mod error;
pub mod model;
pub mod password;
pub mod permission;
mod principal;
mod reset;
mod roles;
mod second_factor;
pub mod secret;
mod sessions;
pub mod sites;
mod store;
mod throttle;
mod tokens;
pub mod totp;

pub use accounts::{NewUser, ProfileUpdate, actor_name};
pub use audit::{AuditEvent, AuditLog};
pub use bootstrap::{ADMIN_PASSWORD_ENV, ADMINISTRATOR_ROLE, Bootstrapped};
pub use error::IdentityError;
pub use model::{Profile, RoleRecord, SiteRecord, TokenRecord, UserRecord};
pub use principal::{AuthMethod, Principal, PrincipalUser};
pub use second_factor::TotpSetup;
pub use sessions::{CSRF_COOKIE, CSRF_HEADER, OpenedSession, SESSION_COOKIE};
pub use throttle::ThrottlePolicy;
pub use tokens::CreatedToken;

use crate::events::EventStore;
use crate::storage::Storage;
use store::Store;
use throttle::Throttle;

/// The site of a kernel that serves one site, and the site of requests no
/// configured host matches.
pub const DEFAULT_SITE: &str = "default";

/// Tunables of identity.
#[derive(Debug, Clone)]
pub struct IdentitySettings {
    /// How long a browser session lasts.
    pub session_ttl: Duration,
    /// How long a password-reset token lasts.
    pub reset_ttl: Duration,
    /// Mark cookies `Secure` (set when served behind HTTPS).
    pub secure_cookies: bool,
    /// Failed-login limits.
    pub throttle: ThrottlePolicy,
}

impl Default for IdentitySettings {
    fn default() -> Self {
        Self {
            session_ttl: Duration::from_secs(12 * 3600),
            reset_ttl: Duration::from_secs(3600),
            secure_cookies: false,
            throttle: ThrottlePolicy::default(),
        }
    }
}

/// The identity service.
pub struct Identity {
    store: Store,
    audit: AuditLog,
    events: Arc<dyn EventStore>,
    throttle: Throttle,
    settings: IdentitySettings,
    /// Host name (lower case, no port) to site id.
    hosts: RwLock<HashMap<String, String>>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Identity").finish_non_exhaustive()
    }
}

impl Identity {
    /// Open identity on `storage`, publishing its events to `events`.
    pub fn open(
        storage: &dyn Storage,
        events: Arc<dyn EventStore>,
        settings: IdentitySettings,
    ) -> Result<Self, IdentityError> {
        let identity = Self {
            store: Store::new(storage.namespace(store::NAMESPACE)?),
            audit: AuditLog::new(storage.namespace(audit::NAMESPACE)?),
            events,
            throttle: Throttle::new(settings.throttle),
            settings,
            hosts: RwLock::default(),
        };
        identity.reload_hosts()?;
        Ok(identity)
    }

    /// The audit log.
    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }

    /// The event log identity publishes to.
    pub fn events(&self) -> &Arc<dyn EventStore> {
        &self.events
    }

    /// The settings in force.
    pub fn settings(&self) -> &IdentitySettings {
        &self.settings
    }

    /// Publish a kernel event, logging (not failing) when the log refuses:
    /// the change it reports has happened.
    fn publish(&self, topic: &str, payload: serde_json::Value) {
        if let Err(error) = self.events.publish_json(topic, "kernel", &payload) {
            tracing::error!(%error, topic, "cannot append a kernel event");
        }
    }
}
