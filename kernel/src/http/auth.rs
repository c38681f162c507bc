//! `/auth/*`: accounts, sessions, the second factor and API tokens for the
//! signed-in user.
//!
//! | method and path | does |
//! |---|---|
//! | `POST /auth/register` | create an account (when the site allows it) |
//! | `POST /auth/login` | open a session: cookie + CSRF token |
//! | `POST /auth/logout` | end the session |
//! | `GET /auth/me`, `PATCH /auth/me` | the current principal; edit one's profile |
//! | `POST /auth/password` | change one's password |
//! | `POST /auth/password-reset`, `/auth/password-reset/confirm` | reset by one-time token |
//! | `POST /auth/totp/setup`, `/confirm`, `/disable` | the TOTP second factor |
//! | `GET /auth/tokens`, `POST /auth/tokens`, `DELETE /auth/tokens/{id}` | API tokens |

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use serde::Deserialize;
use serde_json::json;

use super::authn::identity_error;
use super::error::{ApiError, json_response};
use super::json_body::read_json;
use super::views;
use crate::identity::{
    CSRF_COOKIE, Identity, IdentityError, NewUser, OpenedSession, Principal, ProfileUpdate,
    SESSION_COOKIE,
};

/// Who is asking, and from where.
pub struct Caller {
    /// The request's site.
    pub site: String,
    /// Its principal.
    pub principal: Arc<Principal>,
    /// The client address, for rate limiting and the audit log.
    pub address: Option<String>,
}

/// Run a blocking identity operation (argon2id, storage) off the async
/// threads.
pub async fn blocking<T: Send + 'static>(
    operation: impl FnOnce() -> Result<T, IdentityError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(operation).await {
        Ok(result) => result.map_err(|error| error_response(&error)),
        Err(error) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("the identity task failed: {error}"),
        )),
    }
}

fn error_response(error: &IdentityError) -> ApiError {
    identity_error(error)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    username: String,
    password: String,
    #[serde(default)]
    totp: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordChange {
    current_password: String,
    new_password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetRequest {
    username: String,
    #[serde(default)]
    link_url: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetConfirm {
    token: String,
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Code {
    code: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    name: String,
    scopes: Vec<String>,
    #[serde(default)]
    expires_in_secs: Option<u64>,
}

/// Serve one `/auth/...` request.
pub async fn handle(
    identity: Arc<Identity>,
    request: Request<Incoming>,
    caller: Caller,
) -> Response<Full<Bytes>> {
    match route(identity, request, caller).await {
        Ok(response) => response,
        Err(error) => {
            let retry = (error.code == "too_many_attempts").then(|| retry_after(&error.message));
            let mut response = error.into_response();
            if let Some(Some(seconds)) = retry
                && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
            {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
    }
}

/// The seconds in a throttling message ("try again in N seconds").
fn retry_after(message: &str) -> Option<u64> {
    message
        .split_whitespace()
        .find_map(|word| word.parse::<u64>().ok())
}

fn no_content() -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

fn signed_in(caller: &Caller) -> Result<String, ApiError> {
    caller
        .principal
        .user_id()
        .map(str::to_owned)
        .ok_or_else(|| error_response(&IdentityError::Unauthenticated))
}

async fn route(
    identity: Arc<Identity>,
    request: Request<Incoming>,
    caller: Caller,
) -> Result<Response<Full<Bytes>>, ApiError> {
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    let segments: Vec<String> = path
        .trim_start_matches("/auth")
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let site = caller.site.clone();
    let address = caller.address.clone();
    match (&method, segments.as_slice()) {
        (&Method::POST, ["register"]) => {
            let new: NewUser = read_json(request).await?;
            let user = blocking(move || identity.register(&site, new, address.as_deref())).await?;
            Ok(json_response(
                StatusCode::CREATED,
                &json!({ "user": views::user(&user) }),
            ))
        }
        (&Method::POST, ["login"]) => {
            let login: Login = read_json(request).await?;
            let secure = identity.settings().secure_cookies;
            let max_age = identity.settings().session_ttl.as_secs();
            let session = blocking(move || {
                identity.login(
                    &site,
                    &login.username,
                    &login.password,
                    login.totp.as_deref(),
                    address.as_deref(),
                )
            })
            .await?;
            Ok(login_response(&session, secure, max_age))
        }
        (&Method::POST, ["logout"]) => {
            let cookie = super::authn::cookie(request.headers(), SESSION_COOKIE).map(str::to_owned);
            if let Some(cookie) = cookie {
                blocking(move || identity.logout(&cookie)).await?;
            }
            let mut response = no_content();
            for name in [SESSION_COOKIE, CSRF_COOKIE] {
                if let Ok(value) =
                    HeaderValue::from_str(&format!("{name}=; Path=/; Max-Age=0; SameSite=Lax"))
                {
                    response.headers_mut().append(header::SET_COOKIE, value);
                }
            }
            Ok(response)
        }
        (&Method::GET, ["me"]) => {
            let user_id = signed_in(&caller)?;
            let principal = caller.principal.clone();
            let user = blocking(move || identity.user(&user_id)).await?;
            let mut body = views::principal(&principal);
            if let (Some(user), Some(object)) = (user, body.as_object_mut()) {
                object.insert("user".into(), views::user(&user));
            }
            Ok(json_response(StatusCode::OK, &body))
        }
        (&Method::PATCH, ["me"]) => {
            let user_id = signed_in(&caller)?;
            let update: ProfileUpdate = read_json(request).await?;
            let user = blocking(move || identity.update_profile(&site, &user_id, update)).await?;
            Ok(json_response(
                StatusCode::OK,
                &json!({ "user": views::user(&user) }),
            ))
        }
        (&Method::POST, ["password"]) => {
            let user_id = signed_in(&caller)?;
            let change: PasswordChange = read_json(request).await?;
            blocking(move || {
                identity.change_password(&user_id, &change.current_password, &change.new_password)
            })
            .await?;
            Ok(no_content())
        }
        (&Method::POST, ["password-reset"]) => {
            let reset: ResetRequest = read_json(request).await?;
            blocking(move || {
                identity.request_password_reset(
                    &site,
                    &reset.username,
                    reset.link_url.as_deref(),
                    address.as_deref(),
                )
            })
            .await?;
            Ok(json_response(
                StatusCode::ACCEPTED,
                &json!({ "message": "if the account exists, a reset link is on its way" }),
            ))
        }
        (&Method::POST, ["password-reset", "confirm"]) => {
            let confirm: ResetConfirm = read_json(request).await?;
            blocking(move || identity.reset_password(&confirm.token, &confirm.password)).await?;
            Ok(no_content())
        }
        (&Method::POST, ["totp", "setup"]) => {
            let user_id = signed_in(&caller)?;
            let setup = blocking(move || identity.setup_totp(&user_id)).await?;
            Ok(json_response(StatusCode::OK, &json!(setup)))
        }
        (&Method::POST, ["totp", action @ ("confirm" | "disable")]) => {
            let user_id = signed_in(&caller)?;
            let code: Code = read_json(request).await?;
            let enable = *action == "confirm";
            blocking(move || {
                if enable {
                    identity.confirm_totp(&user_id, &code.code)
                } else {
                    identity.disable_totp(&user_id, &code.code)
                }
            })
            .await?;
            Ok(no_content())
        }
        (&Method::GET, ["tokens"]) => {
            let user_id = signed_in(&caller)?;
            let tokens = blocking(move || identity.tokens_of(&user_id)).await?;
            let tokens: Vec<_> = tokens.iter().map(views::token).collect();
            Ok(json_response(StatusCode::OK, &json!({ "tokens": tokens })))
        }
        (&Method::POST, ["tokens"]) => {
            signed_in(&caller)?;
            let new: NewToken = read_json(request).await?;
            let principal = caller.principal.clone();
            let created = blocking(move || {
                identity.create_token(&principal, &new.name, new.scopes, new.expires_in_secs)
            })
            .await?;
            let mut body = views::token(&created.record);
            if let Some(object) = body.as_object_mut() {
                object.insert("token".into(), json!(created.token));
            }
            Ok(json_response(StatusCode::CREATED, &body))
        }
        (&Method::DELETE, ["tokens", id]) => {
            signed_in(&caller)?;
            let id = (*id).to_owned();
            let principal = caller.principal.clone();
            blocking(move || identity.revoke_token(&principal, &id)).await?;
            Ok(no_content())
        }
        _ => Err(ApiError::not_found(&path)),
    }
}

fn login_response(session: &OpenedSession, secure: bool, max_age: u64) -> Response<Full<Bytes>> {
    let secure = if secure { "; Secure" } else { "" };
    let mut response = json_response(
        StatusCode::OK,
        &json!({
            "user": views::user(&session.user),
            "csrf_token": session.csrf_token,
            "expires_at": session.expires_at,
        }),
    );
    let cookies = [
        format!(
            "{SESSION_COOKIE}={}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}",
            session.cookie
        ),
        format!(
            "{CSRF_COOKIE}={}; Path=/; Max-Age={max_age}; SameSite=Lax{secure}",
            session.csrf_token
        ),
    ];
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_retry_after_comes_from_the_message() {
        let message = IdentityError::Throttled {
            retry_after_secs: 42,
        }
        .to_string();
        assert_eq!(retry_after(&message), Some(42));
    }
}
