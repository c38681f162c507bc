//! The wording of package errors, reviewed like code: each broken package
//! below has its message in `tests/ui/package/<case>.err`. Run with
//! `TESSERA_BLESS=1` to rewrite the files after changing a message, and
//! review the diff.

use std::io::Write;
use std::path::PathBuf;

use super::archive::{self, RawEntry};
use super::entry::EntryKind;
use super::tests::{MANIFEST, component};
use super::*;

/// A fixed key, so messages naming fingerprints stay the same.
fn key(byte: char) -> SigningKey {
    SigningKey::from_text(
        &format!("{SECRET_PREFIX}{}", byte.to_string().repeat(64)),
        "test",
    )
    .unwrap()
}

fn signed() -> Vec<u8> {
    build(MANIFEST, Payload::Wasm(&component()), Some(&key('1'))).unwrap()
}

/// Unpack, change, pack again (as a tar tool would).
fn edited(change: impl FnOnce(&mut Vec<RawEntry>)) -> Vec<u8> {
    let mut entries = archive::read(&signed()).unwrap();
    change(&mut entries);
    let list: Vec<(&str, &[u8])> = entries
        .iter()
        .map(|entry| (entry.name.as_str(), entry.data.as_slice()))
        .collect();
    archive::write(&list).unwrap()
}

/// Like [`edited`], then recompute `digests` and drop the signature, as a
/// careless repackager would.
fn redigested(change: impl FnOnce(&mut Vec<RawEntry>)) -> Vec<u8> {
    edited(|entries| {
        change(entries);
        entries.retain(|entry| entry.kind != EntryKind::Signature);
        let digested: Vec<(&str, &[u8])> = entries
            .iter()
            .filter(|entry| entry.kind.is_digested())
            .map(|entry| (entry.name.as_str(), entry.data.as_slice()))
            .collect();
        let digests = Digests::of(digested).render();
        entry(entries, "digests").data = digests.into_bytes();
    })
}

fn entry<'a>(entries: &'a mut [RawEntry], name: &str) -> &'a mut RawEntry {
    entries.iter_mut().find(|entry| entry.name == name).unwrap()
}

fn raw(name: &str, data: &[u8]) -> RawEntry {
    RawEntry {
        name: name.into(),
        kind: EntryKind::classify(name).unwrap_or(EntryKind::Metadata),
        data: data.to_vec(),
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// A tar archive with one entry whose header is written by hand.
fn tar_entry(name: &str, entry_type: tar::EntryType, data: &[u8]) -> Vec<u8> {
    let mut header = tar::Header::new_ustar();
    header.as_mut_bytes()[..name.len()].copy_from_slice(name.as_bytes());
    header.set_entry_type(entry_type);
    header.set_mode(0o644);
    header.set_size(data.len() as u64);
    header.set_cksum();
    let mut builder = tar::Builder::new(Vec::new());
    builder.append(&header, data).unwrap();
    builder.into_inner().unwrap()
}

fn cases() -> Vec<(&'static str, Vec<u8>)> {
    let mut flipped = signed();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 1;
    let full = signed();
    vec![
        ("not_gzip", b"[plugin]\nid = \"x\"\n".to_vec()),
        ("gzip_without_tar", gzip(b"hello")),
        ("flipped_byte", flipped),
        ("truncated", full[..full.len() / 2].to_vec()),
        ("trailing_data", [full.as_slice(), b"appended"].concat()),
        (
            "unknown_entry",
            edited(|entries| entries.push(raw("README.md", b"hi"))),
        ),
        (
            "path_traversal",
            gzip(&tar_entry(
                "../../etc/cron.d/x",
                tar::EntryType::Regular,
                b"x",
            )),
        ),
        (
            "symlink",
            gzip(&tar_entry("plugin.wasm", tar::EntryType::Symlink, b"")),
        ),
        (
            "duplicate_entry",
            edited(|entries| entries.push(raw("plugin.toml", MANIFEST.as_bytes()))),
        ),
        (
            "oversized_manifest",
            edited(|entries| {
                entry(entries, "plugin.toml").data =
                    vec![b'#'; (limits::MAX_MANIFEST + 1) as usize];
            }),
        ),
        (
            "missing_digests",
            edited(|entries| entries.retain(|entry| entry.name != "digests")),
        ),
        (
            "changed_component",
            edited(|entries| entry(entries, "plugin.wasm").data[9] ^= 1),
        ),
        (
            "widened_manifest",
            edited(|entries| {
                entry(entries, "plugin.toml").data = MANIFEST
                    .replace(
                        "storage = true",
                        "storage = true\noutbound = [\"https://evil.example\"]",
                    )
                    .into_bytes();
            }),
        ),
        (
            "removed_component",
            edited(|entries| entries.retain(|entry| entry.name != "plugin.wasm")),
        ),
        (
            "unlisted_native_library",
            edited(|entries| {
                entries.push(raw("native/x86_64-unknown-linux-gnu/libx.so", b"\x7fELF"));
            }),
        ),
        (
            "forged_signature",
            edited(|entries| {
                let signature = entry(entries, "signature");
                let text = String::from_utf8(signature.data.clone()).unwrap();
                signature.data = text
                    .replace(
                        &key('1').public_key().to_text(),
                        &key('2').public_key().to_text(),
                    )
                    .into_bytes();
            }),
        ),
        (
            "noncanonical_digests",
            edited(|entries| {
                let digests = entry(entries, "digests");
                digests.data = String::from_utf8(digests.data.clone())
                    .unwrap()
                    .to_uppercase()
                    .replace("PACKAGE.TOML", "package.toml")
                    .replace("PLUGIN.TOML", "plugin.toml")
                    .replace("PLUGIN.WASM", "plugin.wasm")
                    .into_bytes();
            }),
        ),
        (
            "newer_format",
            redigested(|entries| {
                entry(entries, "package.toml").data = b"format = 2\nkind = \"wasm\"\n".to_vec();
            }),
        ),
        (
            "core_module",
            redigested(|entries| {
                entry(entries, "plugin.wasm").data = b"\0asm\x01\0\0\0".to_vec();
            }),
        ),
        (
            "invalid_manifest",
            redigested(|entries| {
                entry(entries, "plugin.toml").data = MANIFEST
                    .replace("acme.loyalty", "Acme Loyalty")
                    .into_bytes();
            }),
        ),
    ]
}

#[test]
fn package_error_messages_match_their_golden_files() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/ui/package");
    let bless = std::env::var_os("TESSERA_BLESS").is_some();
    let mut mismatches = Vec::new();
    for (name, bytes) in cases() {
        let message = match Package::from_bytes(&bytes) {
            Ok(_) => "accepted\n".to_owned(),
            Err(error) => format!("{error}\n"),
        };
        let path = dir.join(format!("{name}.err"));
        if bless {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &message).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_default();
        if expected != message {
            mismatches.push(format!(
                "{}:\n  expected: {}  actual:   {}",
                path.display(),
                expected,
                message
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "messages changed (TESSERA_BLESS=1 rewrites the files):\n{}",
        mismatches.join("\n")
    );
}
