//! Who a request acts for, and what it may do.

use std::sync::Arc;

use serde::Serialize;

use super::permission;

/// How the caller proved who they are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum AuthMethod {
    /// Nothing: an anonymous visitor.
    Anonymous,
    /// A browser session cookie.
    Session,
    /// A bearer API token.
    Token {
        /// The token's public id.
        id: String,
    },
}

/// The signed-in user of a principal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrincipalUser {
    /// Stable user id.
    pub id: String,
    /// Login name.
    pub username: String,
    /// Name to show.
    pub display_name: String,
    /// Roles held on the site.
    pub roles: Vec<String>,
}

/// The principal of a request: its site, its user (if any) and the
/// permissions it holds there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    /// The site the request belongs to.
    pub site: String,
    /// The signed-in user; none for anonymous callers.
    pub user: Option<PrincipalUser>,
    /// How it authenticated.
    pub method: AuthMethod,
    /// Permission patterns the user's roles grant.
    grants: Vec<String>,
    /// For a token: the scopes it is limited to. A permission must be
    /// granted by the roles *and* the scopes, so a token never holds more
    /// than its creator holds now.
    scopes: Option<Vec<String>>,
}

impl Principal {
    /// An anonymous caller on `site`: no user, no permission.
    pub fn anonymous(site: &str) -> Self {
        Self {
            site: site.to_owned(),
            user: None,
            method: AuthMethod::Anonymous,
            grants: Vec::new(),
            scopes: None,
        }
    }

    /// A shared anonymous principal of the default site, for background
    /// work (events, jobs, migrations).
    pub fn background() -> Arc<Self> {
        static BACKGROUND: std::sync::OnceLock<Arc<Principal>> = std::sync::OnceLock::new();
        BACKGROUND
            .get_or_init(|| Arc::new(Self::anonymous(super::DEFAULT_SITE)))
            .clone()
    }

    /// A signed-in user with the grants of their roles; `scopes` limits a
    /// token.
    pub fn user(
        site: &str,
        user: PrincipalUser,
        method: AuthMethod,
        grants: Vec<String>,
        scopes: Option<Vec<String>>,
    ) -> Self {
        Self {
            site: site.to_owned(),
            user: Some(user),
            method,
            grants,
            scopes,
        }
    }

    /// Whether the principal holds `permission`.
    pub fn holds(&self, permission: &str) -> bool {
        permission::any_grants(&self.grants, permission)
            && self
                .scopes
                .as_ref()
                .is_none_or(|scopes| permission::any_grants(scopes, permission))
    }

    /// The id of the signed-in user.
    pub fn user_id(&self) -> Option<&str> {
        self.user.as_ref().map(|user| user.id.as_str())
    }

    /// Whether a user is signed in.
    pub fn is_authenticated(&self) -> bool {
        self.user.is_some()
    }

    /// The patterns the roles grant (before token scoping).
    pub fn grants(&self) -> &[String] {
        &self.grants
    }

    /// The scopes of a token principal.
    pub fn scopes(&self) -> Option<&[String]> {
        self.scopes.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice(grants: &[&str], scopes: Option<&[&str]>) -> Principal {
        Principal::user(
            "default",
            PrincipalUser {
                id: "1".into(),
                username: "alice".into(),
                display_name: "Alice".into(),
                roles: vec!["editor".into()],
            },
            AuthMethod::Session,
            grants.iter().map(|g| g.to_string()).collect(),
            scopes.map(|s| s.iter().map(|g| g.to_string()).collect()),
        )
    }

    #[test]
    fn anonymous_holds_nothing() {
        assert!(!Principal::anonymous("default").holds("cms.entry.read"));
    }

    #[test]
    fn roles_grant_and_scopes_limit() {
        let editor = alice(&["cms.*"], None);
        assert!(editor.holds("cms.entry.publish"));
        assert!(!editor.holds("commerce.order.read"));
        let reader = alice(&["cms.*"], Some(&["cms.entry.read"]));
        assert!(reader.holds("cms.entry.read"));
        assert!(!reader.holds("cms.entry.publish"));
        // A scope beyond what the roles grant grants nothing.
        let demoted = alice(&[], Some(&["cms.entry.read"]));
        assert!(!demoted.holds("cms.entry.read"));
    }
}
