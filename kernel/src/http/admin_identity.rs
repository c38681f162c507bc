//! `/admin/users`, `/admin/roles`, `/admin/sites`, `/admin/audit` and
//! `/admin/permissions`: identity administration.
//!
//! Each route needs its permission (`admin.users.manage`,
//! `admin.roles.manage`, `admin.sites.manage`, `admin.audit.read`). An administrator manages the site of their own
//! principal; administrators of the default site may name another with
//! `?site=<id>`.
//!
//! | method and path | does |
//! |---|---|
//! | `GET /admin/users`, `POST /admin/users` | list, create |
//! | `GET /admin/users/{id}`, `PATCH`, `DELETE` | one user; profile; delete |
//! | `POST /admin/users/{id}/lock`, `/unlock` | lock or unlock |
//! | `PUT /admin/users/{id}/roles/{role}`, `DELETE` | grant, revoke a role |
//! | `GET /admin/roles`, `PUT /admin/roles/{name}`, `DELETE` | roles |
//! | `GET /admin/permissions` | every permission the kernel and plugins define |
//! | `GET /admin/sites`, `PUT /admin/sites/{id}` | sites |
//! | `GET /admin/audit` | the audit log, newest first |

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::auth::{Caller, blocking};
use super::authn::identity_error;
use super::error::{ApiError, json_response};
use super::json_body::read_json;
use super::query::param as query_param;
use super::views;
use crate::identity::permission::{
    AUDIT_READ, KERNEL_PERMISSIONS, ROLES_MANAGE, SITES_MANAGE, USERS_MANAGE,
};
use crate::identity::{
    DEFAULT_SITE, Identity, IdentityError, NewUser, ProfileUpdate, SiteRecord, permission, secret,
};

/// Whether `path` is served here.
pub fn serves(path: &str) -> bool {
    ["users", "roles", "sites", "audit", "permissions"]
        .iter()
        .any(|area| {
            let prefix = format!("/admin/{area}");
            path == prefix || path.starts_with(&format!("{prefix}/"))
        })
}

/// `POST /admin/users`: an account with a password, or an invitation.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateUserBody {
    username: String,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    profile: crate::identity::Profile,
    #[serde(default)]
    roles: Vec<String>,
    /// Send a one-time link to choose a password instead.
    #[serde(default)]
    invite: bool,
    /// Base of the invitation link (one of the site's link URLs).
    #[serde(default)]
    link_url: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleBody {
    #[serde(default)]
    description: String,
    permissions: Vec<String>,
}

/// Serve one request.
pub async fn handle(
    state: &Arc<AppState>,
    identity: Arc<Identity>,
    request: Request<Incoming>,
    caller: Caller,
) -> Response<Full<Bytes>> {
    match route(state, identity, request, caller).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

/// The site the request acts on: the caller's, or `?site=` for
/// administrators of the default site.
fn target_site(identity: &Identity, caller: &Caller, query: &str) -> Result<String, ApiError> {
    let Some(site) = query_param(query, "site").filter(|site| *site != caller.site) else {
        return Ok(caller.site.clone());
    };
    if caller.principal.site != DEFAULT_SITE {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only administrators of the default site may act on another site",
        ));
    }
    match identity.site_exists(&site) {
        Ok(true) => Ok(site),
        Ok(false) => Err(identity_error(&IdentityError::NotFound {
            kind: "site",
            name: site,
        })),
        Err(error) => Err(identity_error(&error)),
    }
}

async fn route(
    state: &Arc<AppState>,
    identity: Arc<Identity>,
    request: Request<Incoming>,
    caller: Caller,
) -> Result<Response<Full<Bytes>>, ApiError> {
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or_default().to_owned();
    let method = request.method().clone();
    let segments: Vec<String> = path
        .trim_start_matches("/admin/")
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let needed = match segments.first() {
        Some(&"users") => USERS_MANAGE,
        Some(&"roles") | Some(&"permissions") => ROLES_MANAGE,
        Some(&"sites") => SITES_MANAGE,
        _ => AUDIT_READ,
    };
    let principal = caller.principal.clone();
    {
        let identity = identity.clone();
        let principal = principal.clone();
        blocking(move || identity.require(&principal, needed)).await?;
    }
    let site = target_site(&identity, &caller, &query)?;
    let ok = |body: serde_json::Value| json_response(StatusCode::OK, &body);
    match (&method, segments.as_slice()) {
        (&Method::GET, ["users"]) => {
            let users = blocking(move || identity.users(&site)).await?;
            let users: Vec<_> = users.iter().map(views::user).collect();
            Ok(ok(
                json!({ "site": caller_site(&caller, &query), "users": users }),
            ))
        }
        (&Method::POST, ["users"]) => {
            let body: CreateUserBody = read_json(request).await?;
            let user = blocking(move || {
                if body.invite {
                    // Refuse before creating anything.
                    identity.link_base(&site, body.link_url.as_deref())?;
                }
                let password = match (body.password, body.invite) {
                    (Some(password), false) => password,
                    // Nobody knows this password: the invitee sets theirs.
                    (None, true) => secret::generate("")?,
                    _ => {
                        return Err(IdentityError::Invalid(
                            "give either `password` or `\"invite\": true`".into(),
                        ));
                    }
                };
                let new = NewUser {
                    username: body.username,
                    password,
                    display_name: body.display_name,
                    email: body.email,
                    profile: body.profile,
                    roles: body.roles,
                };
                let user = identity.create_user(&principal, &site, new)?;
                if body.invite {
                    identity.invite(&principal, &site, &user.id, body.link_url.as_deref())?;
                }
                Ok(user)
            })
            .await?;
            Ok(json_response(
                StatusCode::CREATED,
                &json!({ "user": views::user(&user) }),
            ))
        }
        (&Method::GET, ["users", id]) => {
            let id = (*id).to_owned();
            let user = blocking(move || {
                let user = identity.user_of_site(&site, &id)?;
                let user = user.ok_or(IdentityError::NotFound {
                    kind: "user",
                    name: id.clone(),
                })?;
                let tokens = identity.tokens_of(&user.id)?;
                Ok((user, tokens))
            })
            .await?;
            let tokens: Vec<_> = user.1.iter().map(views::token).collect();
            Ok(ok(
                json!({ "user": views::user(&user.0), "tokens": tokens }),
            ))
        }
        (&Method::PATCH, ["users", id]) => {
            let id = (*id).to_owned();
            let update: ProfileUpdate = read_json(request).await?;
            let user = blocking(move || identity.update_profile(&site, &id, update)).await?;
            Ok(ok(json!({ "user": views::user(&user) })))
        }
        (&Method::DELETE, ["users", id]) => {
            let id = (*id).to_owned();
            blocking(move || identity.delete_user(&principal, &site, &id)).await?;
            Ok(ok(json!({ "deleted": true })))
        }
        (&Method::POST, ["users", id, action @ ("lock" | "unlock")]) => {
            let id = (*id).to_owned();
            let locked = *action == "lock";
            let user =
                blocking(move || identity.set_locked(&principal, &site, &id, locked)).await?;
            Ok(ok(json!({ "user": views::user(&user) })))
        }
        (&Method::PUT, ["users", id, "roles", role]) => {
            let (id, role) = ((*id).to_owned(), (*role).to_owned());
            let user = blocking(move || identity.grant_role(&principal, &site, &id, &role)).await?;
            Ok(ok(json!({ "user": views::user(&user) })))
        }
        (&Method::DELETE, ["users", id, "roles", role]) => {
            let (id, role) = ((*id).to_owned(), (*role).to_owned());
            let user =
                blocking(move || identity.revoke_role(&principal, &site, &id, &role)).await?;
            Ok(ok(json!({ "user": views::user(&user) })))
        }
        (&Method::GET, ["roles"]) => {
            let roles = blocking(move || identity.roles(&site)).await?;
            Ok(ok(json!({ "roles": roles })))
        }
        (&Method::PUT, ["roles", name]) => {
            let name = (*name).to_owned();
            let body: RoleBody = read_json(request).await?;
            let catalog = permission_catalog(state);
            if let Some(unknown) = body
                .permissions
                .iter()
                .find(|pattern| !pattern.contains('*') && !catalog.contains_key(pattern.as_str()))
            {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "unknown_permission",
                    format!(
                        "no installed plugin and not the kernel defines permission `{unknown}`; GET /admin/permissions lists them"
                    ),
                ));
            }
            let created = blocking(move || {
                identity.put_role(
                    &principal,
                    &site,
                    &name,
                    &body.description,
                    body.permissions,
                )
            })
            .await?;
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok(json_response(status, &json!({ "created": created })))
        }
        (&Method::DELETE, ["roles", name]) => {
            let name = (*name).to_owned();
            blocking(move || identity.delete_role(&principal, &site, &name)).await?;
            Ok(ok(json!({ "deleted": true })))
        }
        (&Method::GET, ["permissions"]) => {
            let catalog: Vec<_> = permission_catalog(state)
                .into_iter()
                .map(|(name, (defined_by, description))| {
                    json!({ "name": name, "defined_by": defined_by, "description": description })
                })
                .collect();
            Ok(ok(json!({ "permissions": catalog })))
        }
        (&Method::GET, ["sites"]) => {
            let sites = blocking(move || identity.sites()).await?;
            Ok(ok(json!({ "sites": sites })))
        }
        (&Method::PUT, ["sites", id]) => {
            if principal.site != DEFAULT_SITE {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    "sites are configured by administrators of the default site",
                ));
            }
            let id = (*id).to_owned();
            let body: SiteRecord = read_json(request).await?;
            let created = blocking(move || identity.put_site(&principal, &id, body)).await?;
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok(json_response(status, &json!({ "created": created })))
        }
        (&Method::GET, ["audit"]) => {
            let limit = query_param(&query, "limit")
                .and_then(|limit| limit.parse().ok())
                .unwrap_or(100_usize)
                .min(1000);
            let before = query_param(&query, "before");
            let action = query_param(&query, "action");
            let events = blocking(move || {
                identity
                    .audit()
                    .read(limit, before.as_deref(), action.as_deref(), Some(&site))
            })
            .await?;
            Ok(ok(json!({ "events": events })))
        }
        _ => Err(ApiError::not_found(&path)),
    }
}

fn caller_site(caller: &Caller, query: &str) -> String {
    query_param(query, "site").unwrap_or_else(|| caller.site.clone())
}

/// Every permission defined by the kernel and the loaded plugins: name to
/// (who defines it, description).
fn permission_catalog(state: &AppState) -> BTreeMap<String, (String, String)> {
    let mut catalog: BTreeMap<String, (String, String)> = KERNEL_PERMISSIONS
        .iter()
        .map(|(name, description)| {
            (
                (*name).to_owned(),
                ("kernel".to_owned(), (*description).to_owned()),
            )
        })
        .collect();
    for plugin in state.runtime.plugins() {
        for name in &plugin.manifest().capabilities.permissions {
            if permission::is_well_formed(name) {
                catalog
                    .entry(name.clone())
                    .or_insert_with(|| (plugin.id().to_owned(), String::new()));
            }
        }
    }
    catalog
}
