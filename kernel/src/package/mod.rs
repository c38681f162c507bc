//! Signed plugin packages (`<id>-<version>.tpkg`), publisher keys and the
//! trust store.
//!
//! A package is one gzip-compressed tar file holding, in this order:
//!
//! | entry | content | limit |
//! |---|---|---|
//! | `package.toml` | `format = 1`, `kind = "wasm"` or `"native"` (+ `target`) | 4 KiB |
//! | `plugin.toml` | the manifest, verbatim | 64 KiB |
//! | `plugin.wasm` or `native/<target>/<library>` | the component or native library | 64 MiB |
//! | `digests` | `sha256sum` listing of the three entries above, sorted | 4 KiB |
//! | `signature` | optional: ed25519 signature over `digests`, and the signer's key | 1 KiB |
//!
//! [`Package::open`] refuses anything else (unknown, duplicate, missing or
//! oversized entries, links, unsafe paths, trailing data), checks every
//! digest and the signature, and only then parses the manifest. A package
//! modified after packing fails with [`PackageError::Tampered`] (or
//! [`PackageError::Damaged`] when the compressed stream itself is broken);
//! an intact one yields a [`Verification`] against a [`TrustStore`].
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use tessera_kernel::package::{Package, TrustStore, Verification};
//!
//! let trust = TrustStore::open("tessera-data".as_ref())?;
//! let package = Package::open("tessera.hello-0.1.0.tpkg".as_ref())?;
//! match package.verification(&trust) {
//!     Verification::Signed { trusted: true, .. } => { /* install */ }
//!     other => println!("{}: {other}", package.manifest().plugin.id),
//! }
//! # Ok(()) }
//! ```

mod archive;
mod describe;
mod digests;
pub mod entry;
mod error;
pub mod fs;
mod keys;
pub mod limits;
mod metadata;
mod open;
mod pack;
mod payload;
mod signature;
mod trust;
mod verification;

#[cfg(test)]
mod golden_tests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use describe::describe;
pub use digests::{Digests, Sha256Digest};
pub use error::{PackageError, human_size};
pub use keys::{KeyError, PUBLIC_PREFIX, PublicKey, SECRET_PREFIX, SigningKey};
pub use metadata::{FORMAT_VERSION, PackageKind};
pub use open::{EntryInfo, Package, file_name};
pub use pack::{Payload, build, pack, sign};
pub use signature::CONTEXT as SIGNATURE_CONTEXT;
pub use trust::{TrustError, TrustStore};
pub use verification::Verification;
