//! Packages written to and read from real files: round trips, signatures,
//! trust, and every way of tampering with a package that we can think of.

use std::path::{Path, PathBuf};

use super::archive::{self, RawEntry};
use super::*;

pub(super) const MANIFEST: &str = "[plugin]\nid = \"acme.loyalty\"\nversion = \"1.2.3\"\napi = \"^0.1\"\nname = \"Loyalty\"\nmount = \"loyalty\"\n\n[capabilities]\nstorage = true\nevents = { publish = [\"loyalty.*\"] }\n";

pub(super) fn component() -> Vec<u8> {
    let mut bytes = b"\0asm\x0d\0\x01\0".to_vec();
    bytes.extend((0..2000u32).map(|i| (i % 251) as u8));
    bytes
}

/// A plugin directory and a component file on disk.
fn plugin_on_disk(root: &Path) -> (PathBuf, PathBuf) {
    let dir = root.join("loyalty");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("plugin.toml"), MANIFEST).unwrap();
    let wasm = root.join("loyalty.wasm");
    std::fs::write(&wasm, component()).unwrap();
    (dir, wasm)
}

/// Rewrite the package at `path` through `change`, as an attacker with a
/// tar tool would: a well-formed archive with different contents.
fn rewrite(path: &Path, change: impl FnOnce(&mut Vec<RawEntry>)) {
    let mut entries = archive::read(&std::fs::read(path).unwrap()).unwrap();
    change(&mut entries);
    let list: Vec<(&str, &[u8])> = entries
        .iter()
        .map(|entry| (entry.name.as_str(), entry.data.as_slice()))
        .collect();
    std::fs::write(path, archive::write(&list).unwrap()).unwrap();
}

fn entry_mut<'a>(entries: &'a mut [RawEntry], name: &str) -> &'a mut RawEntry {
    entries.iter_mut().find(|entry| entry.name == name).unwrap()
}

fn open_error(path: &Path) -> PackageError {
    Package::open(path).unwrap_err()
}

#[test]
fn unsigned_package_round_trips_from_disk() {
    let root = tempfile::tempdir().unwrap();
    let (dir, wasm) = plugin_on_disk(root.path());
    let path = pack(&dir, &wasm, &root.path().join("out"), None).unwrap();
    assert_eq!(path.file_name().unwrap(), "acme.loyalty-1.2.3.tpkg");

    let package = Package::open(&path).unwrap();
    assert_eq!(package.manifest().plugin.id, "acme.loyalty");
    assert_eq!(package.manifest_text(), MANIFEST);
    assert_eq!(package.kind(), &PackageKind::Wasm);
    assert_eq!(package.component(), Some(component().as_slice()));
    assert_eq!(package.payload_sha256(), Sha256Digest::of(&component()));
    assert_eq!(package.file_name(), "acme.loyalty-1.2.3.tpkg");
    let names: Vec<&str> = package.entries().iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["package.toml", "plugin.toml", "plugin.wasm"]);
    let trust = TrustStore::open(root.path()).unwrap();
    assert_eq!(package.verification(&trust), Verification::Unsigned);
}

#[test]
fn same_inputs_give_the_same_bytes() {
    let root = tempfile::tempdir().unwrap();
    let (dir, wasm) = plugin_on_disk(root.path());
    let key = SigningKey::generate().unwrap();
    let first = std::fs::read(pack(&dir, &wasm, &root.path().join("a"), Some(&key)).unwrap());
    let second = std::fs::read(pack(&dir, &wasm, &root.path().join("b"), Some(&key)).unwrap());
    assert_eq!(first.unwrap(), second.unwrap());
}

#[test]
fn signed_package_is_trusted_once_its_key_is() {
    let root = tempfile::tempdir().unwrap();
    let (dir, wasm) = plugin_on_disk(root.path());
    let key = SigningKey::generate().unwrap();
    let path = pack(&dir, &wasm, root.path(), Some(&key)).unwrap();
    let package = Package::open(&path).unwrap();
    assert_eq!(package.signer(), Some(&key.public_key()));

    let data = root.path().join("data");
    let mut trust = TrustStore::open(&data).unwrap();
    assert_eq!(
        package.verification(&trust),
        Verification::Signed {
            signer: key.public_key(),
            trusted: false
        }
    );
    trust.add("acme", key.public_key()).unwrap();
    let trust = TrustStore::open(&data).unwrap();
    assert!(package.verification(&trust).is_trusted());
}

#[test]
fn signing_an_existing_package_equals_packing_it_signed() {
    let root = tempfile::tempdir().unwrap();
    let (dir, wasm) = plugin_on_disk(root.path());
    let (first, second) = (
        SigningKey::generate().unwrap(),
        SigningKey::generate().unwrap(),
    );
    let unsigned = pack(&dir, &wasm, &root.path().join("unsigned"), None).unwrap();
    sign(&unsigned, &first).unwrap();
    sign(&unsigned, &second).unwrap();
    assert_eq!(
        Package::open(&unsigned).unwrap().signer(),
        Some(&second.public_key()),
        "a new signature replaces the old one"
    );
    let signed = pack(&dir, &wasm, &root.path().join("signed"), Some(&second)).unwrap();
    assert_eq!(
        std::fs::read(&unsigned).unwrap(),
        std::fs::read(&signed).unwrap()
    );
}

#[test]
fn a_changed_component_is_tampering_named_by_entry() {
    let root = tempfile::tempdir().unwrap();
    let (dir, wasm) = plugin_on_disk(root.path());
    let path = pack(&dir, &wasm, root.path(), None).unwrap();
    rewrite(&path, |entries| {
        entry_mut(entries, "plugin.wasm").data[100] ^= 1;
    });
    let error = open_error(&path);
    assert!(
        matches!(&error, PackageError::Tampered { entry, .. } if entry == "plugin.wasm"),
        "{error}"
    );
    assert!(error.is_tampering());
    assert!(error.to_string().contains("do not install it"), "{error}");
}

#[test]
fn a_widened_manifest_is_tampering_even_unsigned() {
    let root = tempfile::tempdir().unwrap();
    let (dir, wasm) = plugin_on_disk(root.path());
    let path = pack(&dir, &wasm, root.path(), None).unwrap();
    rewrite(&path, |entries| {
        let manifest = entry_mut(entries, "plugin.toml");
        manifest.data = MANIFEST
            .replace(
                "storage = true",
                "storage = true\noutbound = [\"https://evil.example\"]",
            )
            .into_bytes();
    });
    assert!(matches!(
        open_error(&path),
        PackageError::Tampered { entry, .. } if entry == "plugin.toml"
    ));
}

#[test]
fn recomputed_digests_do_not_fool_the_signature() {
    let root = tempfile::tempdir().unwrap();
    let (dir, wasm) = plugin_on_disk(root.path());
    let key = SigningKey::generate().unwrap();
    let path = pack(&dir, &wasm, root.path(), Some(&key)).unwrap();
    rewrite(&path, |entries| {
        entry_mut(entries, "plugin.wasm").data.push(0);
        let digested: Vec<(&str, &[u8])> = entries
            .iter()
            .filter(|entry| entry.kind.is_digested())
            .map(|entry| (entry.name.as_str(), entry.data.as_slice()))
            .collect();
        let digests = Digests::of(digested).render();
        entry_mut(entries, "digests").data = digests.into_bytes();
    });
    let error = open_error(&path);
    assert!(
        matches!(&error, PackageError::Tampered { entry, .. } if entry == "signature"),
        "{error}"
    );
}

#[test]
fn a_signature_by_another_key_does_not_verify() {
    let root = tempfile::tempdir().unwrap();
    let (dir, wasm) = plugin_on_disk(root.path());
    let (real, forger) = (
        SigningKey::generate().unwrap(),
        SigningKey::generate().unwrap(),
    );
    let path = pack(&dir, &wasm, root.path(), Some(&real)).unwrap();
    rewrite(&path, |entries| {
        let signature = entry_mut(entries, "signature");
        let text = String::from_utf8(signature.data.clone()).unwrap();
        signature.data = text
            .replace(&real.public_key().to_text(), &forger.public_key().to_text())
            .into_bytes();
    });
    assert!(matches!(
        open_error(&path),
        PackageError::Tampered { entry, .. } if entry == "signature"
    ));
}

#[test]
fn stripping_the_signature_leaves_an_unsigned_package() {
    let root = tempfile::tempdir().unwrap();
    let (dir, wasm) = plugin_on_disk(root.path());
    let key = SigningKey::generate().unwrap();
    let path = pack(&dir, &wasm, root.path(), Some(&key)).unwrap();
    rewrite(&path, |entries| {
        entries.retain(|entry| entry.name != "signature")
    });
    let trust = TrustStore::open(root.path()).unwrap();
    assert_eq!(
        Package::open(&path).unwrap().verification(&trust),
        Verification::Unsigned
    );
}

#[test]
fn added_removed_and_unlisted_entries_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let (dir, wasm) = plugin_on_disk(root.path());
    let path = pack(&dir, &wasm, root.path(), None).unwrap();
    let pristine = std::fs::read(&path).unwrap();

    rewrite(&path, |entries| {
        entries.retain(|entry| entry.name != "plugin.wasm")
    });
    assert!(matches!(
        open_error(&path),
        PackageError::Tampered { entry, reason } if entry == "plugin.wasm" && reason.contains("missing")
    ));

    std::fs::write(&path, &pristine).unwrap();
    rewrite(&path, |entries| {
        entries.retain(|entry| entry.name != "digests")
    });
    assert!(matches!(
        open_error(&path),
        PackageError::MissingEntry { entry, .. } if entry == "digests"
    ));

    std::fs::write(&path, &pristine).unwrap();
    rewrite(&path, |entries| {
        entries.push(RawEntry {
            name: "native/x86_64-unknown-linux-gnu/libevil.so".into(),
            kind: entry::EntryKind::classify("native/x86_64-unknown-linux-gnu/libevil.so").unwrap(),
            data: b"\x7fELF".to_vec(),
        });
    });
    assert!(matches!(
        open_error(&path),
        PackageError::Tampered { entry, reason } if entry.contains("libevil") && reason.contains("not listed")
    ));
}

#[test]
fn native_packages_carry_their_target_and_library() {
    let key = SigningKey::generate().unwrap();
    let bytes = build(
        MANIFEST,
        Payload::Native {
            target: "x86_64-unknown-linux-gnu",
            library: "libacme_loyalty.so",
            bytes: b"\x7fELF native",
        },
        Some(&key),
    )
    .unwrap();
    let root = tempfile::tempdir().unwrap();
    let path = root.path().join("native.tpkg");
    std::fs::write(&path, &bytes).unwrap();
    sign(&path, &key).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    let package = Package::open(&path).unwrap();
    assert_eq!(
        package.kind(),
        &PackageKind::Native {
            target: "x86_64-unknown-linux-gnu".into()
        }
    );
    assert_eq!(
        package.payload_entry(),
        "native/x86_64-unknown-linux-gnu/libacme_loyalty.so"
    );
    assert_eq!(package.payload(), b"\x7fELF native");
    assert_eq!(package.component(), None);
}

#[test]
fn packing_refuses_bad_inputs_with_advice() {
    let root = tempfile::tempdir().unwrap();
    let (dir, wasm) = plugin_on_disk(root.path());
    std::fs::write(&wasm, b"\0asm\x01\0\0\0").unwrap();
    let error = pack(&dir, &wasm, root.path(), None)
        .unwrap_err()
        .to_string();
    assert!(error.contains("core WebAssembly module"), "{error}");
    std::fs::write(dir.join("plugin.toml"), "[plugin]\nid = 3\n").unwrap();
    let error = pack(&dir, &wasm, root.path(), None)
        .unwrap_err()
        .to_string();
    assert!(error.contains("plugin.toml"), "{error}");
    let error = pack(&root.path().join("nowhere"), &wasm, root.path(), None)
        .unwrap_err()
        .to_string();
    assert!(error.contains("cannot read"), "{error}");
}

#[test]
fn a_file_that_is_not_a_package_says_so() {
    let root = tempfile::tempdir().unwrap();
    let path = root.path().join("x.tpkg");
    std::fs::write(&path, "[plugin]\n").unwrap();
    let error = open_error(&path).to_string();
    assert!(error.contains("not a Tessera package"), "{error}");
    assert!(error.contains("tessera plugin pack"), "{error}");
    let error = open_error(&root.path().join("missing.tpkg")).to_string();
    assert!(error.contains("cannot read"), "{error}");
}
