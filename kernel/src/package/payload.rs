//! Sanity checks on a package's payload, so a package never carries a
//! core module, an empty file or a library for the wrong kind.

use super::entry::EntryKind;
use super::error::PackageError;
use super::metadata::PackageKind;

/// The WebAssembly magic number.
const WASM_MAGIC: &[u8] = b"\0asm";
/// Version and layer of a component (a core module has `01 00 00 00`).
const COMPONENT_LAYER: &[u8] = &[0x0d, 0x00, 0x01, 0x00];
/// Version and layer of a core module.
const MODULE_LAYER: &[u8] = &[0x01, 0x00, 0x00, 0x00];

/// Check that `data`, stored as `entry`, is a plausible payload of `kind`.
pub fn check(kind: &PackageKind, entry: &str, data: &[u8]) -> Result<(), PackageError> {
    let invalid = |reason: &str| PackageError::Payload {
        entry: entry.to_owned(),
        reason: reason.to_owned(),
    };
    match kind {
        PackageKind::Wasm => {
            if !data.starts_with(WASM_MAGIC) {
                return Err(invalid(
                    "it is not WebAssembly; pack the component cargo built for wasm32-wasip2",
                ));
            }
            match data.get(4..8) {
                Some(COMPONENT_LAYER) => Ok(()),
                Some(MODULE_LAYER) => Err(invalid(
                    "it is a core WebAssembly module, not a component; build the plugin for wasm32-wasip2 (`tessera plugin build`)",
                )),
                _ => Err(invalid(
                    "it is not a WebAssembly component of a version this kernel reads",
                )),
            }
        }
        PackageKind::Native { target } => {
            let named_for_target = matches!(
                EntryKind::classify(entry),
                Ok(EntryKind::Native { target: found, .. }) if found == *target
            );
            if !named_for_target {
                return Err(invalid(&format!(
                    "a native package for {target} keeps its library at native/{target}/<library>"
                )));
            }
            if data.is_empty() {
                return Err(invalid("the library is empty"));
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_modules_and_non_wasm_are_refused_with_advice() {
        let error = check(&PackageKind::Wasm, "plugin.wasm", b"\0asm\x01\0\0\0")
            .unwrap_err()
            .to_string();
        assert!(error.contains("core WebAssembly module"), "{error}");
        let error = check(&PackageKind::Wasm, "plugin.wasm", b"\x7fELF")
            .unwrap_err()
            .to_string();
        assert!(error.contains("not WebAssembly"), "{error}");
        check(&PackageKind::Wasm, "plugin.wasm", b"\0asm\x0d\0\x01\0").unwrap();
    }
}
