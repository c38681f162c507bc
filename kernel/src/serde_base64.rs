//! Bytes in JSON records as base64 strings: `#[serde(with = "crate::serde_base64")]`.

use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serializer};

/// Write `bytes` as a base64 string.
pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// Read bytes from a base64 string.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    let text = String::deserialize(deserializer)?;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(serde::de::Error::custom)
}
