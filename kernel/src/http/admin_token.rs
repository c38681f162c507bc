//! `<data>/admin-token`: the bearer token `tessera admin` uses by default.
//!
//! Created on first start (mode 0600) and registered with identity as an
//! API token of the bootstrap administrator holding every permission, so
//! it is audited and revocable like any token (`DELETE /auth/tokens/{id}`).

use std::path::{Path, PathBuf};

/// File name of the token in the data directory.
pub const TOKEN_FILE: &str = "admin-token";

/// The token in `<data>/admin-token`, creating the file with a fresh
/// random token when missing.
pub fn read_or_create(data: &Path) -> std::io::Result<String> {
    let path = token_path(data);
    if !path.exists() {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|error| std::io::Error::other(error.to_string()))?;
        let token = format!("tsa_{}\n", hex::encode(bytes));
        crate::package::fs::write_new_secret(&path, token.as_bytes())?;
    }
    Ok(std::fs::read_to_string(&path)?.trim().to_owned())
}

/// Where the admin token of `data` lives.
pub fn token_path(data: &Path) -> PathBuf {
    data.join(TOKEN_FILE)
}
