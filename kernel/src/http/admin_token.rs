//! The administrator's bearer token. Until identity lands (users, roles,
//! sessions), `/admin/*` is reached with one token, created on first start
//! in `<data>/admin-token` (mode 0600) and known to the kernel only as its
//! SHA-256 digest.

use std::path::{Path, PathBuf};

use http::HeaderMap;
use sha2::{Digest, Sha256};

/// File name of the token in the data directory.
pub const TOKEN_FILE: &str = "admin-token";

/// Checks `Authorization: Bearer <token>` against the admin token.
pub struct AdminAuth {
    digest: [u8; 32],
}

impl AdminAuth {
    /// Read `<data>/admin-token`, creating it with a fresh random token if
    /// missing.
    pub fn open_or_create(data: &Path) -> std::io::Result<Self> {
        let path = token_path(data);
        if !path.exists() {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes)
                .map_err(|error| std::io::Error::other(error.to_string()))?;
            let token = format!("tsa_{}\n", hex::encode(bytes));
            crate::package::fs::write_new_secret(&path, token.as_bytes())?;
        }
        let token = std::fs::read_to_string(&path)?;
        Ok(Self {
            digest: Sha256::digest(token.trim().as_bytes()).into(),
        })
    }

    /// Whether `headers` carry the admin token.
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        let Some(token) = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
        else {
            return false;
        };
        // Digests are compared, never the token itself: timing reveals
        // nothing about the token.
        let offered: [u8; 32] = Sha256::digest(token.trim().as_bytes()).into();
        offered == self.digest
    }
}

/// Where the admin token of `data` lives.
pub fn token_path(data: &Path) -> PathBuf {
    data.join(TOKEN_FILE)
}
