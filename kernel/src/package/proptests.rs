//! Property tests: whatever bytes arrive as a manifest or a package, parsing
//! never panics and either succeeds or returns a typed error; a modified
//! package is either refused or still yields exactly what was packed; a
//! valid package round-trips.

use std::io::{Read, Write};

use flate2::Compression;
use proptest::prelude::*;
use tessera_host_api::Manifest;

use super::tests::{MANIFEST, component};
use super::*;

/// `default` cases, or `PROPTEST_CASES` when set (for long hunting runs).
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(default)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn tar(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut header = tar::Header::new_ustar();
        let bytes = name.as_bytes();
        let len = bytes.len().min(100);
        header.as_mut_bytes()[..len].copy_from_slice(&bytes[..len]);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append(&header, data.as_slice()).unwrap();
    }
    builder.into_inner().unwrap()
}

/// A signed package and what it holds.
fn signed_package() -> (Vec<u8>, SigningKey) {
    let key = SigningKey::generate().unwrap();
    let bytes = build(MANIFEST, Payload::Wasm(&component()), Some(&key)).unwrap();
    (bytes, key)
}

/// Whatever a mutated package parses as must be what was packed.
fn assert_unchanged_or_refused(result: Result<Package, PackageError>, key: &SigningKey) {
    if let Ok(package) = result {
        assert_eq!(package.manifest_text(), MANIFEST);
        assert_eq!(package.payload(), component().as_slice());
        // Stripping the signature needs more than byte flips: it would have
        // to remove a whole tar entry.
        assert_eq!(package.signer(), Some(&key.public_key()));
    }
}

fn entry_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("package.toml".to_owned()),
        Just("plugin.toml".to_owned()),
        Just("plugin.wasm".to_owned()),
        Just("digests".to_owned()),
        Just("signature".to_owned()),
        Just("native/x86_64-unknown-linux-gnu/liba.so".to_owned()),
        "[a-z./]{0,20}",
    ]
}

fn manifest_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{1,8}(\\.[a-z]{1,8}){0,3}",
        "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}(-[a-z0-9.]{1,5})?",
        "[\\^~<>=*]{0,2}[0-9]{0,2}(\\.[0-9*]{1,2}){0,2}",
        "[0-9]{0,12} ?(B|KiB|MiB|GiB|TiB|x)?",
        "\\PC{0,12}",
    ]
}

/// Manifests that are mostly well-formed, with random values where the
/// validation lives.
fn manifest_text() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(manifest_value(), 12),
        0u64..200_000,
        any::<bool>(),
    )
        .prop_map(|(values, timeout, storage)| {
            let v = |i: usize| values[i].replace(['"', '\\', '\n', '\r'], "");
            format!(
                "[plugin]\nid = \"{}\"\nversion = \"{}\"\napi = \"{}\"\nname = \"{}\"\nmount = \"{}\"\n\n\
                 [dependencies]\n\"{}\" = \"{}\"\n\n\
                 [capabilities]\nstorage = {storage}\noutbound = [\"{}\"]\npermissions = [\"{}\"]\ninvoke = [\"{}\"]\n\
                 events = {{ publish = [\"{}\"], subscribe = [\"{}\"] }}\n\n\
                 [limits]\nmemory = \"{}\"\ntimeout-ms = {timeout}\n",
                v(0), v(1), v(2), v(3), v(4), v(5), v(2), v(6), v(7), v(5), v(8), v(9), v(10),
            )
        })
}

/// A TOML string literal holding `text`, however odd.
fn quoted(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

/// Manifests the parser must accept: valid values everywhere, arbitrary
/// Unicode in the free-text fields.
fn valid_manifest_text() -> impl Strategy<Value = String> {
    let dotted = "[a-z][a-z0-9-]{0,6}(\\.[a-z0-9][a-z0-9-]{0,6}){1,3}";
    (
        (dotted, (0u64..50, 0u64..50, 0u64..50), "[a-z0-9][a-z0-9-]{0,10}"),
        ("\\PC*[^\\s]\\PC*", "\\PC{0,40}"),
        (any::<bool>(), proptest::collection::vec(dotted, 0..3)),
        (1u64..=1024, 1u64..=60_000),
        proptest::collection::btree_map("[a-z][a-z0-9_-]{0,8}", "\\PC{0,20}", 0..4),
    )
        .prop_map(
            |((id, (major, minor, patch), mount), (name, description), (storage, topics), (memory, timeout), config)| {
                let list = |items: &[String]| {
                    items.iter().map(|item| quoted(item)).collect::<Vec<_>>().join(", ")
                };
                let config: String = config
                    .iter()
                    .map(|(key, value)| format!("{key} = {}\n", quoted(value)))
                    .collect();
                format!(
                    "[plugin]\nid = \"{id}\"\nversion = \"{major}.{minor}.{patch}\"\napi = \"^0.1\"\n\
                     name = {}\ndescription = {}\nmount = \"{mount}\"\n\n\
                     [capabilities]\nstorage = {storage}\npermissions = [{}]\n\
                     events = {{ publish = [{}], subscribe = [{}] }}\n\n\
                     [limits]\nmemory = \"{memory}MiB\"\ntimeout-ms = {timeout}\n\n[config]\n{config}",
                    quoted(&name),
                    quoted(&description),
                    list(&topics),
                    list(&topics),
                    list(&topics),
                )
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(2000)))]

    #[test]
    fn valid_manifests_parse(text in valid_manifest_text()) {
        let manifest = Manifest::parse(&text);
        prop_assert!(manifest.is_ok(), "{:?}\n{}", manifest.err(), text);
    }

    #[test]
    fn valid_packages_of_valid_manifests_round_trip(
        text in valid_manifest_text(),
        tail in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut wasm = b"\0asm\x0d\0\x01\0".to_vec();
        wasm.extend(tail);
        let bytes = build(&text, Payload::Wasm(&wasm), None).unwrap();
        let package = Package::from_bytes(&bytes).unwrap();
        prop_assert_eq!(package.manifest_text(), text.as_str());
        prop_assert_eq!(package.payload(), wasm.as_slice());
        prop_assert_eq!(package.payload_sha256(), Sha256Digest::of(&wasm));
    }

    #[test]
    fn arbitrary_bytes_are_refused_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        prop_assert!(Package::from_bytes(&bytes).is_err());
    }

    #[test]
    fn gzipped_arbitrary_bytes_are_refused_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        prop_assert!(Package::from_bytes(&gzip(&bytes)).is_err());
    }

    #[test]
    fn arbitrary_archives_never_panic(
        entries in proptest::collection::vec(
            (entry_name(), proptest::collection::vec(any::<u8>(), 0..256)),
            0..7,
        )
    ) {
        let _ = Package::from_bytes(&gzip(&tar(&entries)));
    }

    #[test]
    fn arbitrary_text_never_panics_the_manifest_parser(text in "\\PC{0,400}") {
        let _ = Manifest::parse(&text);
    }

    #[test]
    fn near_valid_manifests_parse_or_explain(text in manifest_text()) {
        if let Err(error) = Manifest::parse(&text) {
            prop_assert!(!error.to_string().is_empty());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(500)))]

    #[test]
    fn flipped_bytes_are_refused_or_change_nothing(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4)
    ) {
        let (mut bytes, key) = signed_package();
        for (index, mask) in flips {
            let at = index.index(bytes.len());
            bytes[at] ^= mask;
        }
        assert_unchanged_or_refused(Package::from_bytes(&bytes), &key);
    }

    #[test]
    fn rewrapped_edits_of_the_archive_are_refused_or_change_nothing(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4)
    ) {
        let (bytes, key) = signed_package();
        let mut archive = gunzip(&bytes);
        for (index, mask) in flips {
            let at = index.index(archive.len());
            archive[at] ^= mask;
        }
        assert_unchanged_or_refused(Package::from_bytes(&gzip(&archive)), &key);
    }

    #[test]
    fn truncated_packages_are_refused(cut in any::<prop::sample::Index>()) {
        let (bytes, _) = signed_package();
        let at = cut.index(bytes.len());
        prop_assert!(Package::from_bytes(&bytes[..at]).is_err());
    }

    #[test]
    fn valid_packages_round_trip(
        text in manifest_text(),
        tail in proptest::collection::vec(any::<u8>(), 0..512),
        signed in any::<bool>(),
    ) {
        let mut wasm = b"\0asm\x0d\0\x01\0".to_vec();
        wasm.extend(tail);
        let key = SigningKey::generate().unwrap();
        let key = signed.then_some(&key);
        let built = build(&text, Payload::Wasm(&wasm), key);
        // Exactly the manifests the parser accepts can be packed.
        prop_assert_eq!(built.is_ok(), Manifest::parse(&text).is_ok());
        if let Ok(bytes) = built {
            let package = Package::from_bytes(&bytes).unwrap();
            prop_assert_eq!(package.manifest_text(), text.as_str());
            prop_assert_eq!(package.payload(), wasm.as_slice());
            let signer = key.map(SigningKey::public_key);
            prop_assert_eq!(package.signer(), signer.as_ref());
        }
    }
}

#[test]
fn deeply_nested_manifest_is_refused_without_overflowing_the_stack() {
    for depth in [1_000, 30_000] {
        let arrays = format!(
            "[plugin]\nid = {}{}\n",
            "[".repeat(depth),
            "]".repeat(depth)
        );
        let error = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || Manifest::parse(&arrays).is_err())
            .unwrap()
            .join();
        assert_eq!(error.ok(), Some(true), "depth {depth}");
        let tables = format!(
            "[plugin]\nid = {}{}\n",
            "{a=".repeat(depth),
            "}".repeat(depth)
        );
        let error = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || Manifest::parse(&tables).is_err())
            .unwrap()
            .join();
        assert_eq!(error.ok(), Some(true), "depth {depth}");
    }
}
