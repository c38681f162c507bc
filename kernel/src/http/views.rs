//! The JSON shapes of identity records in responses: never a password
//! hash, a TOTP secret or a token digest.

use serde_json::{Value, json};

use crate::identity::{Principal, TokenRecord, UserRecord};

/// A user as the API shows it.
pub fn user(user: &UserRecord) -> Value {
    json!({
        "id": user.id,
        "site": user.site,
        "username": user.username,
        "display_name": user.display_name,
        "email": user.email,
        "locked": user.locked,
        "roles": user.roles,
        "profile": user.profile,
        "second_factor": user.totp.as_ref().is_some_and(|totp| totp.confirmed),
        "created_at": user.created_at,
    })
}

/// A token as the API shows it (without its secret or digest).
pub fn token(token: &TokenRecord) -> Value {
    json!({
        "id": token.id,
        "name": token.name,
        "user_id": token.user_id,
        "site": token.site,
        "scopes": token.scopes,
        "created_at": token.created_at,
        "expires_at": token.expires_at,
    })
}

/// A principal as `/auth/me` shows it.
pub fn principal(principal: &Principal) -> Value {
    json!({
        "site": principal.site,
        "user": principal.user,
        "authenticated_by": principal.method,
        "grants": principal.grants(),
        "scopes": principal.scopes(),
    })
}
