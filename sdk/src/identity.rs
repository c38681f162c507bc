//! Who is calling and what they may do.
//!
//! [`Principal`] and [`User`] serialise to JSON
//! (`{"site":"default","user":null}`), so a handler can return them as they
//! are.

use crate::bindings::tessera::plugin::identity as wit;
pub use crate::bindings::tessera::plugin::identity::{IdentityError, Principal, User};
use crate::error::Error;

/// The principal of the request being handled. Outside a request (events,
/// jobs) it is the anonymous principal of the default site.
///
/// ```no_run
/// let me = tessera_sdk::identity::current();
/// match &me.user {
///     Some(user) => tessera_sdk::info!("{} on {}", user.username, me.site),
///     None => tessera_sdk::info!("anonymous on {}", me.site),
/// }
/// ```
pub fn current() -> Principal {
    wit::current()
}

/// Whether the current principal holds `permission`, optionally for one
/// `resource` (such as an entry id). Anonymous callers hold no permission.
///
/// ```no_run
/// let can_publish = tessera_sdk::identity::check("cms.entry.publish", Some("entry-7"));
/// # let _ = can_publish;
/// ```
pub fn check(permission: &str, resource: Option<&str>) -> bool {
    wit::check(permission, resource)
}

/// `Ok` when the current principal holds `permission`; otherwise a 401
/// `unauthenticated` error for anonymous callers and a 403 `forbidden` error
/// for signed-in users.
///
/// ```no_run
/// use tessera_sdk::{identity, Error, Params, Request, Response};
///
/// fn publish(_: &Request, _: &Params) -> Result<Response, Error> {
///     identity::require("cms.entry.publish")?;
///     Ok(Response::empty(204))
/// }
/// # let _ = publish;
/// ```
pub fn require(permission: &str) -> Result<(), Error> {
    require_check(permission, None)
}

/// [`require`] for one `resource`.
///
/// ```no_run
/// tessera_sdk::identity::require_for("cms.entry.edit", "entry-7")?;
/// # Ok::<(), tessera_sdk::Error>(())
/// ```
pub fn require_for(permission: &str, resource: &str) -> Result<(), Error> {
    require_check(permission, Some(resource))
}

fn require_check(permission: &str, resource: Option<&str>) -> Result<(), Error> {
    if check(permission, resource) {
        return Ok(());
    }
    if current().user.is_none() {
        return Err(Error::unauthenticated(format!(
            "sign in to use this: it requires the permission `{permission}`"
        )));
    }
    Err(Error::forbidden(match resource {
        Some(resource) => format!("missing the permission `{permission}` on `{resource}`"),
        None => format!("missing the permission `{permission}`"),
    }))
}

/// The user of the current site with this id, or `None`.
///
/// ```no_run
/// if let Some(author) = tessera_sdk::identity::lookup_user("u-42")? {
///     tessera_sdk::info!("written by {}", author.display_name);
/// }
/// # Ok::<(), tessera_sdk::Error>(())
/// ```
pub fn lookup_user(id: &str) -> Result<Option<User>, Error> {
    Ok(wit::lookup_user(id)?)
}
