//! The first start: on an empty identity store, create the default site,
//! the `administrator` role (every permission) and the `admin` user, whose
//! password comes from `TESSERA_ADMIN_PASSWORD` or is generated and shown
//! once. The admin token file becomes an API token of that user.

use super::accounts::NewUser;
use super::model::SiteRecord;
use super::{AuditEvent, DEFAULT_SITE, Identity, IdentityError, Principal, secret};

/// Environment variable with the first administrator's password.
pub const ADMIN_PASSWORD_ENV: &str = "TESSERA_ADMIN_PASSWORD";
/// The role holding every permission.
pub const ADMINISTRATOR_ROLE: &str = "administrator";
/// Username of the first administrator.
pub const ADMIN_USERNAME: &str = "admin";

/// What the first start created.
#[derive(Debug, Clone)]
pub struct Bootstrapped {
    /// The administrator's username.
    pub username: String,
    /// The generated password, when none was given: show it once.
    pub generated_password: Option<String>,
}

impl Identity {
    /// Bootstrap an empty store; `None` when users exist already.
    /// `admin_token` (the content of `<data>/admin-token`) becomes an API
    /// token of the administrator with every permission.
    pub fn bootstrap(
        &self,
        admin_password: Option<String>,
        admin_token: &str,
    ) -> Result<Option<Bootstrapped>, IdentityError> {
        if self.store.has_users()? {
            return Ok(None);
        }
        let system = Principal::anonymous(DEFAULT_SITE);
        if self.site(DEFAULT_SITE)?.is_none() {
            self.put_site(
                &system,
                DEFAULT_SITE,
                SiteRecord {
                    name: "Default site".into(),
                    registration: true,
                    ..SiteRecord::default()
                },
            )?;
        }
        self.put_role(
            &system,
            DEFAULT_SITE,
            ADMINISTRATOR_ROLE,
            "every permission of the kernel and of every plugin",
            vec!["*".into()],
        )?;
        let (password, generated_password) = match admin_password.filter(|p| !p.is_empty()) {
            Some(password) => (password, None),
            None => {
                let password = secret::generate("")?.chars().take(24).collect::<String>();
                (password.clone(), Some(password))
            }
        };
        let user = self.create_user(
            &system,
            DEFAULT_SITE,
            NewUser {
                username: ADMIN_USERNAME.into(),
                password,
                display_name: Some("Administrator".into()),
                roles: vec![ADMINISTRATOR_ROLE.into()],
                ..NewUser::default()
            },
        )?;
        self.import_token(
            &user.id,
            DEFAULT_SITE,
            "admin-token file",
            admin_token,
            vec!["*".into()],
        )?;
        self.audit.record_or_log(
            AuditEvent::new("kernel.bootstrapped", DEFAULT_SITE, "kernel").target(ADMIN_USERNAME),
        );
        Ok(Some(Bootstrapped {
            username: user.username,
            generated_password,
        }))
    }
}
