//! The `[limits]` table and byte sizes such as `64MiB`.

use serde::{Deserialize, Deserializer};

/// Per-call resource limits of a plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Limits {
    /// Largest linear memory an instance may grow to, in bytes
    /// (`memory = "64MiB"` in TOML).
    #[serde(
        default = "Limits::default_memory",
        deserialize_with = "deserialize_byte_size"
    )]
    pub memory: u64,
    /// Wall-clock time one call may take, in milliseconds.
    #[serde(default = "Limits::default_timeout_ms")]
    pub timeout_ms: u64,
}

impl Limits {
    /// The memory limit when the manifest sets none: 64 MiB.
    pub const DEFAULT_MEMORY: u64 = 64 << 20;
    /// The time limit when the manifest sets none: 2 seconds.
    pub const DEFAULT_TIMEOUT_MS: u64 = 2_000;
    /// The largest memory limit a manifest may ask for: 1 GiB.
    pub const MAX_MEMORY: u64 = 1 << 30;
    /// The longest time limit a manifest may ask for: 60 seconds.
    pub const MAX_TIMEOUT_MS: u64 = 60_000;

    fn default_memory() -> u64 {
        Self::DEFAULT_MEMORY
    }

    fn default_timeout_ms() -> u64 {
        Self::DEFAULT_TIMEOUT_MS
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory: Self::DEFAULT_MEMORY,
            timeout_ms: Self::DEFAULT_TIMEOUT_MS,
        }
    }
}

fn deserialize_byte_size<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_byte_size(&text).map_err(serde::de::Error::custom)
}

/// Parse a size such as `64MiB`, `512 KiB`, `1GiB` or `65536` (bytes).
///
/// ```
/// assert_eq!(tessera_host_api::manifest::parse_byte_size("64MiB"), Ok(64 << 20));
/// assert!(tessera_host_api::manifest::parse_byte_size("64 apples").is_err());
/// ```
pub fn parse_byte_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (digits, unit) = trimmed.split_at(split);
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a size; write e.g. \"64MiB\""))?;
    let multiplier: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}`; use B, KiB, MiB or GiB"
            ));
        }
    };
    number
        .checked_mul(multiplier)
        .ok_or_else(|| format!("`{text}` is too large"))
}
