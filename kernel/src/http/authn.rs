//! Who is calling: the site of a request (from a `/sites/<id>/` prefix or
//! the Host header) and its principal (from a bearer token or the session
//! cookie), with the CSRF check for cookie-authenticated unsafe requests.

use std::sync::Arc;

use http::{HeaderMap, Method, StatusCode};

use super::error::ApiError;
use crate::identity::{
    CSRF_HEADER, DEFAULT_SITE, Identity, IdentityError, Principal, SESSION_COOKIE, secret,
};

/// The value of cookie `name` in `headers`.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim())
}

/// The bearer token of `Authorization: Bearer <token>`.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
}

/// Whether `method` changes state (and so needs CSRF protection).
fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The principal of a request on `site`.
///
/// - A bearer token must be valid: a wrong or expired one is a 401, never
///   a silent downgrade to anonymous.
/// - A session cookie that is unknown or expired makes an anonymous
///   caller (browsers keep stale cookies); a valid one on an unsafe method
///   needs the `x-csrf-token` header.
/// - No credentials: anonymous.
pub fn authenticate(
    identity: Option<&Identity>,
    site: &str,
    headers: &HeaderMap,
    method: &Method,
) -> Result<Arc<Principal>, ApiError> {
    let Some(identity) = identity else {
        return Ok(anonymous(site));
    };
    if let Some(token) = bearer(headers) {
        return match identity.authenticate_token(site, token) {
            Ok(Some(principal)) => Ok(Arc::new(principal)),
            Ok(None) => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the bearer token is unknown, revoked, expired or belongs to another site",
            )),
            Err(error) => Err(identity_error(&error)),
        };
    }
    if let Some(cookie) = cookie(headers, SESSION_COOKIE) {
        match identity.authenticate_session(site, cookie) {
            Ok(Some((principal, csrf))) => {
                if is_unsafe(method) {
                    let offered = headers
                        .get(CSRF_HEADER)
                        .and_then(|value| value.to_str().ok())
                        .unwrap_or_default();
                    if !secret::constant_time_eq(offered, &csrf) {
                        return Err(identity_error(&IdentityError::CsrfMismatch));
                    }
                }
                return Ok(Arc::new(principal));
            }
            Ok(None) => {}
            Err(error) => return Err(identity_error(&error)),
        }
    }
    Ok(anonymous(site))
}

fn anonymous(site: &str) -> Arc<Principal> {
    if site == DEFAULT_SITE {
        Principal::background()
    } else {
        Arc::new(Principal::anonymous(site))
    }
}

/// The JSON error of an identity failure.
pub fn identity_error(error: &IdentityError) -> ApiError {
    if matches!(
        error,
        IdentityError::Storage(_) | IdentityError::Corrupt { .. } | IdentityError::Internal(_)
    ) {
        tracing::error!(%error, "identity failed");
    }
    ApiError::new(error.status(), error.code(), error.to_string())
}

/// Split a `/sites/<id>/...` path into the site and the rest.
pub fn site_prefix(path: &str) -> Option<(&str, String)> {
    let rest = path.strip_prefix("/sites/")?;
    Some(match rest.split_once('/') {
        Some((site, tail)) => (site, format!("/{tail}")),
        None => (rest, "/".to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::COOKIE,
            "a=1; tessera_session=tss_abc; b=2".parse().unwrap(),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("tss_abc"));
        assert_eq!(cookie(&headers, "missing"), None);
    }

    #[test]
    fn site_prefixes_split() {
        assert_eq!(
            site_prefix("/sites/partners/api/x"),
            Some(("partners", "/api/x".to_owned()))
        );
        assert_eq!(
            site_prefix("/sites/partners"),
            Some(("partners", "/".to_owned()))
        );
        assert_eq!(site_prefix("/api/x"), None);
    }
}
