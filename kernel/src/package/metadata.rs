//! `package.toml`: the package's format version and kind.
//!
//! ```toml
//! format = 1
//! kind = "wasm"            # or "native"
//! target = "x86_64-unknown-linux-gnu"   # native only
//! ```

use serde::Deserialize;

use super::entry;
use super::error::PackageError;

/// The package format this kernel writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// What a package carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PackageKind {
    /// A WebAssembly component, `plugin.wasm`.
    Wasm,
    /// A native library for one target, `native/<target>/<library>`.
    Native {
        /// The target triple, e.g. `x86_64-unknown-linux-gnu`.
        target: String,
    },
}

impl PackageKind {
    /// `wasm` or `native`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Wasm => "wasm",
            Self::Native { .. } => "native",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    format: u32,
    kind: String,
    target: Option<String>,
}

/// The canonical text of `package.toml` for a kind.
pub fn render(kind: &PackageKind) -> String {
    match kind {
        PackageKind::Wasm => format!("format = {FORMAT_VERSION}\nkind = \"wasm\"\n"),
        PackageKind::Native { target } => {
            format!("format = {FORMAT_VERSION}\nkind = \"native\"\ntarget = \"{target}\"\n")
        }
    }
}

/// Parse `package.toml`.
pub fn parse(text: &str) -> Result<PackageKind, PackageError> {
    let invalid = |message: String| PackageError::Metadata { message };
    let raw: Raw = toml::from_str(text).map_err(|error| invalid(error.to_string()))?;
    if raw.format != FORMAT_VERSION {
        return Err(invalid(format!(
            "format {} is not supported by this Tessera, which reads format {FORMAT_VERSION}; upgrade Tessera or ask the publisher for a format {FORMAT_VERSION} package",
            raw.format
        )));
    }
    match (raw.kind.as_str(), raw.target) {
        ("wasm", None) => Ok(PackageKind::Wasm),
        ("wasm", Some(_)) => Err(invalid(
            "`target` is only allowed when kind = \"native\"".into(),
        )),
        ("native", Some(target)) if entry::is_target(&target) => Ok(PackageKind::Native { target }),
        ("native", Some(target)) => Err(invalid(format!(
            "`{target}` is not a target triple such as \"x86_64-unknown-linux-gnu\""
        ))),
        ("native", None) => Err(invalid(
            "kind = \"native\" needs `target`, the target triple of the library".into(),
        )),
        (other, _) => Err(invalid(format!(
            "kind `{other}` is unknown; use \"wasm\" or \"native\""
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_metadata_parses_back() {
        for kind in [
            PackageKind::Wasm,
            PackageKind::Native {
                target: "aarch64-apple-darwin".into(),
            },
        ] {
            assert_eq!(parse(&render(&kind)).unwrap(), kind);
        }
    }

    #[test]
    fn newer_formats_and_unknown_kinds_are_refused_with_advice() {
        let error = parse("format = 2\nkind = \"wasm\"\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("upgrade Tessera"), "{error}");
        let error = parse("format = 1\nkind = \"jar\"\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("\"wasm\" or \"native\""), "{error}");
        let error = parse("format = 1\nkind = \"native\"\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("needs `target`"), "{error}");
    }
}
