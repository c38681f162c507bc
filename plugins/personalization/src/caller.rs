//! Who a request is about: the site, the signed-in user or the anonymous
//! visitor (the `x-visitor-id` header, else the `tessera_vid` cookie, else
//! `visitor_id` in the body), and a fresh visitor id when there is none.

use tessera_sdk::prelude::*;
use tessera_sdk::{Principal, User};

use crate::ids::{Person, fnv1a, is_visitor_id};

/// The header carrying an anonymous visitor's id.
pub const VISITOR_HEADER: &str = "x-visitor-id";
/// The cookie carrying an anonymous visitor's id.
pub const VISITOR_COOKIE: &str = "tessera_vid";

/// The caller of a request.
pub struct Caller {
    /// The site.
    pub site: String,
    /// The signed-in user.
    pub user: Option<User>,
    /// The visitor id the request carries, if any (checked).
    pub visitor: Option<String>,
}

impl Caller {
    /// The caller of `request`; `body_visitor` is a `visitor_id` the body
    /// named. 400 `invalid_visitor_id` for a malformed id.
    pub fn of(request: &Request, body_visitor: Option<&str>) -> Result<Caller, Error> {
        let Principal { site, user } = identity::current();
        let visitor = visitor_id(request).or_else(|| body_visitor.map(str::to_owned));
        if let Some(id) = &visitor
            && !is_visitor_id(id)
        {
            return Err(Error::new(
                400,
                "invalid_visitor_id",
                "a visitor id is 8 to 64 letters, digits, `-` or `_` (a UUID)",
            ));
        }
        Ok(Caller {
            site,
            user,
            visitor,
        })
    }

    /// The person the caller is: the user when signed in, else the visitor.
    pub fn person(&self) -> Option<Person> {
        match (&self.user, &self.visitor) {
            (Some(user), _) => Some(Person::User(user.id.clone())),
            (None, Some(visitor)) => Some(Person::Visitor(visitor.clone())),
            (None, None) => None,
        }
    }
}

/// The visitor id of `request`: the header, else the cookie.
pub fn visitor_id(request: &Request) -> Option<String> {
    if let Some(id) = request.header(VISITOR_HEADER) {
        return Some(id.trim().to_owned()).filter(|id| !id.is_empty());
    }
    request
        .header("cookie")?
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == VISITOR_COOKIE)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|id| !id.is_empty())
}

/// A new visitor id: 32 hex digits from the request id (unique per
/// request) and the time. Not a secret: it only groups a browser's
/// anonymous activity.
pub fn new_visitor_id(request_id: &str, now: u64) -> String {
    let high = fnv1a(format!("{request_id}/{now}").as_bytes());
    let low = fnv1a(format!("{now}/{request_id}/{high}").as_bytes());
    format!("{high:016x}{low:016x}")
}

/// The `Set-Cookie` value that keeps `visitor` for a year.
pub fn visitor_cookie(visitor: &str) -> String {
    format!("{VISITOR_COOKIE}={visitor}; Path=/; Max-Age=31536000; SameSite=Lax")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_wins_over_the_cookie() {
        let both = Request::new(Method::Get, "/")
            .with_header("cookie", "a=1; tessera_vid=from-cookie-1")
            .with_header("x-visitor-id", "from-header-1");
        assert_eq!(visitor_id(&both).as_deref(), Some("from-header-1"));
        let cookie =
            Request::new(Method::Get, "/").with_header("cookie", "a=1; tessera_vid=abcdefgh12");
        assert_eq!(visitor_id(&cookie).as_deref(), Some("abcdefgh12"));
        assert_eq!(visitor_id(&Request::new(Method::Get, "/")), None);
    }

    #[test]
    fn new_ids_are_valid_and_differ() {
        let a = new_visitor_id("req-1", 5);
        let b = new_visitor_id("req-2", 5);
        assert!(is_visitor_id(&a));
        assert_ne!(a, b);
        assert!(visitor_cookie(&a).starts_with("tessera_vid="));
    }
}
