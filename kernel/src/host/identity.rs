//! `tessera:plugin/identity`: the principal of the current call.
//!
//! The principal is the one the kernel authenticated for the request (a
//! session cookie or a bearer token) and is passed on through `invoke`;
//! background work (migrations, events, jobs) runs as the anonymous
//! principal of the default site. Users are looked up within the caller's
//! site only: other sites' users do not exist for a plugin.

use tessera_host_api::bindings::tessera::plugin::identity::{self, IdentityError, Principal, User};
use wasmtime::component::{HasSelf, Linker};

use crate::runtime::HostState;

impl identity::Host for HostState {
    async fn current(&mut self) -> Principal {
        let principal = &self.context.principal;
        Principal {
            site: principal.site.clone(),
            user: principal.user.as_ref().map(|user| User {
                id: user.id.clone(),
                username: user.username.clone(),
                display_name: user.display_name.clone(),
                roles: user.roles.clone(),
            }),
        }
    }

    async fn check(&mut self, permission: String, _resource: Option<String>) -> bool {
        // Grants are per site, not per resource, in this kernel: the
        // resource does not narrow or widen the answer.
        self.context.principal.holds(&permission)
    }

    async fn lookup_user(&mut self, id: String) -> Result<Option<User>, IdentityError> {
        if id.is_empty() {
            return Err(IdentityError::InvalidArgument(
                "the user id is empty".into(),
            ));
        }
        let Some(directory) = self.context.directory.clone() else {
            // Outside a request with identity (migrations, a kernel
            // without identity) there is no directory to look in.
            return Ok(None);
        };
        let site = self.context.principal.site.clone();
        let found = tokio::task::spawn_blocking(move || directory.user_of_site(&site, &id))
            .await
            .map_err(|error| IdentityError::Unavailable(error.to_string()))?
            .map_err(|error| IdentityError::Unavailable(error.to_string()))?;
        Ok(found.map(|user| User {
            id: user.id,
            username: user.username,
            display_name: user.display_name,
            roles: user.roles,
        }))
    }
}

pub(super) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    identity::add_to_linker::<HostState, HasSelf<HostState>>(linker, |state| state)
}
