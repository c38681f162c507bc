//! The HTTP front door: hyper 1 (HTTP/1.1 and HTTP/2), request ids, JSON
//! errors, kernel endpoints and routing of `/api/<mount>/...` to plugins.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::identity::Identity;
use crate::lifecycle::Lifecycle;
use crate::runtime::Runtime;

mod admin;
mod admin_events;
mod admin_identity;
mod admin_jobs;
mod admin_token;
mod auth;
mod authn;
mod console;
mod error;
mod json_body;
mod native_route;
mod plugin_route;
mod query;
mod request_id;
mod router;
mod server;
mod system;
mod views;

pub use admin_token::{TOKEN_FILE, read_or_create as read_or_create_admin_token, token_path};
pub use error::ApiError;
pub use server::{ClientAddress, Server, ShutdownSignal};

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 8 << 20;

/// What every request handler can reach.
pub struct AppState {
    /// The plugin runtime.
    pub runtime: Arc<Runtime>,
    /// Whether the kernel accepts traffic (false while starting and
    /// draining); reported by `/readyz`.
    pub ready: AtomicBool,
    /// The module lifecycle behind `/admin/plugins` (none: no admin API).
    pub lifecycle: Option<Arc<Lifecycle>>,
    /// Users, sessions, tokens, roles and sites (none: every caller is
    /// anonymous and `/auth`, `/admin` are off).
    pub identity: Option<Arc<Identity>>,
}
