//! Size limits on every entry of a package, checked before anything is
//! read into memory.

/// Largest `package.toml` (package metadata).
pub const MAX_METADATA: u64 = 4 << 10;
/// Largest `plugin.toml` (the manifest).
pub const MAX_MANIFEST: u64 = 64 << 10;
/// Largest component (`plugin.wasm`) or native library.
pub const MAX_PAYLOAD: u64 = 64 << 20;
/// Largest `digests` listing.
pub const MAX_DIGESTS: u64 = 4 << 10;
/// Largest `signature` entry.
pub const MAX_SIGNATURE: u64 = 1 << 10;
/// Largest unpacked archive: every entry at its limit plus tar headers.
pub const MAX_UNPACKED: u64 = MAX_PAYLOAD + (1 << 20);
/// Largest `.tpkg` file on disk. An incompressible payload grows by a few
/// bytes per 64 KiB in gzip, well within the margin.
pub const MAX_FILE: u64 = MAX_UNPACKED + (1 << 20);
