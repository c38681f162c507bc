//! `tessera:plugin/identity`: the principal of the current call.
//!
//! Accounts, sessions and roles are not part of this kernel yet, so every
//! caller is the anonymous principal of the default site, which holds no
//! permission, and no user exists. These answers are true for this kernel,
//! not placeholders: a plugin that checks permissions denies correctly.

use tessera_host_api::bindings::tessera::plugin::identity::{self, IdentityError, Principal, User};
use wasmtime::component::{HasSelf, Linker};

use crate::runtime::HostState;

/// The site of a kernel that serves one site.
pub const DEFAULT_SITE: &str = "default";

impl identity::Host for HostState {
    async fn current(&mut self) -> Principal {
        Principal {
            site: DEFAULT_SITE.to_owned(),
            user: None,
        }
    }

    async fn check(&mut self, _permission: String, _resource: Option<String>) -> bool {
        // The anonymous principal holds no permission.
        false
    }

    async fn lookup_user(&mut self, id: String) -> Result<Option<User>, IdentityError> {
        if id.is_empty() {
            return Err(IdentityError::InvalidArgument(
                "the user id is empty".into(),
            ));
        }
        // No accounts exist in this kernel.
        Ok(None)
    }
}

pub(super) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    identity::add_to_linker::<HostState, HasSelf<HostState>>(linker, |state| state)
}
