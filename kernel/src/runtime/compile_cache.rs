//! Compiled components cached on disk, keyed by the component's SHA-256 and
//! the engine's compatibility hash (wasmtime version and settings), so a
//! restart does not recompile and an upgraded kernel never loads stale code.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// A compiled component and where it came from.
pub struct Compiled {
    /// The component, ready to link.
    pub component: Component,
    /// Hex SHA-256 of the component's bytes.
    pub digest: String,
    /// Whether it was loaded from the cache rather than compiled.
    pub from_cache: bool,
}

/// Compile `bytes`, or load the result of an earlier compilation from
/// `cache_dir`.
pub fn compile(engine: &Engine, bytes: &[u8], cache_dir: &Path) -> anyhow::Result<Compiled> {
    let digest = hex::encode(Sha256::digest(bytes));
    let path = cache_path(engine, cache_dir, &digest);
    if path.exists() {
        // SAFETY: the cache directory belongs to the kernel's data directory
        // and only ever holds artifacts this function serialized; wasmtime
        // still checks the header and the engine compatibility on load.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => {
                return Ok(Compiled {
                    component,
                    digest,
                    from_cache: true,
                });
            }
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "discarding unusable compiled component");
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    let component = Component::new(engine, bytes)?;
    if let Err(error) = store(&component, &path) {
        tracing::warn!(path = %path.display(), %error, "cannot cache compiled component");
    }
    Ok(Compiled {
        component,
        digest,
        from_cache: false,
    })
}

fn cache_path(engine: &Engine, cache_dir: &Path, digest: &str) -> PathBuf {
    let mut hasher = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    cache_dir.join(format!("{digest}-{:016x}.cwasm", hasher.finish()))
}

fn store(component: &Component, path: &Path) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let temporary = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&temporary, component.serialize()?)?;
    std::fs::rename(&temporary, path)?;
    Ok(())
}
