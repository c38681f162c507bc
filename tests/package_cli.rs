//! Packages through the real `tessera` binary: keygen, pack, inspect, sign,
//! trust, and what inspect says about a package someone tampered with.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::{repo_root, tessera};

/// Run `tessera ARGS` in the repository root; returns (success, stdout,
/// stderr).
fn run(args: &[&dyn AsRef<std::ffi::OsStr>]) -> (bool, String, String) {
    let output: Output = Command::new(tessera())
        .args(args.iter().map(|arg| arg.as_ref()))
        .current_dir(repo_root())
        .env_remove("TESSERA_DATA")
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("run tessera");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Run and require success; returns stdout.
fn ok(args: &[&dyn AsRef<std::ffi::OsStr>]) -> String {
    let (success, stdout, stderr) = run(args);
    assert!(
        success,
        "tessera failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    stdout
}

/// `tessera plugin pack examples/hello` (building it), into `out`.
fn pack_hello(out: &Path, key: Option<&Path>) -> PathBuf {
    let hello = repo_root().join("examples/hello");
    let stdout = match key {
        Some(key) => ok(&[&"plugin", &"pack", &hello, &"--out", &out, &"--key", &key]),
        None => ok(&[&"plugin", &"pack", &hello, &"--out", &out]),
    };
    let path = PathBuf::from(stdout.trim());
    assert_eq!(path, out.join("tessera.hello-0.1.0.tpkg"));
    path
}

/// Rewrite the package as an attacker with tar and gzip would: flip one
/// byte of the component and wrap everything up again, well-formed.
fn rewrap_with_flipped_component(package: &Path) {
    let mut archive = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(package).unwrap())
        .read_to_end(&mut archive)
        .unwrap();
    let mut builder = tar::Builder::new(Vec::new());
    for entry in tar::Archive::new(archive.as_slice()).entries().unwrap() {
        let mut entry = entry.unwrap();
        let mut header = entry.header().clone();
        let name = entry.path().unwrap().display().to_string();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        if name == "plugin.wasm" {
            let middle = data.len() / 2;
            data[middle] ^= 0x20;
        }
        header.set_cksum();
        builder.append(&header, data.as_slice()).unwrap();
    }
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(&builder.into_inner().unwrap()).unwrap();
    std::fs::write(package, encoder.finish().unwrap()).unwrap();
}

#[test]
fn keygen_pack_inspect_sign_trust_and_detect_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let key = dir.path().join("acme.key");

    let public = ok(&[&"keygen", &"--out", &key]);
    let public = public.trim();
    assert!(public.starts_with("tessera-ed25519-public:"), "{public}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("acme.key.pub"))
            .unwrap()
            .trim(),
        public
    );

    // Unsigned: the capabilities an admin reviews, and "unsigned".
    let package = pack_hello(dir.path(), None);
    let report = ok(&[&"plugin", &"inspect", &package, &"--data", &data]);
    assert!(report.contains("tessera.hello 0.1.0 \"Hello\""), "{report}");
    assert!(report.contains("mount:        /api/hello/"), "{report}");
    assert!(report.contains("storage:            yes"), "{report}");
    assert!(report.contains("outbound HTTP:      none"), "{report}");
    assert!(
        report.contains("limits:             memory 32 MiB, 2000 ms"),
        "{report}"
    );
    assert!(report.contains("  plugin.wasm ("), "{report}");
    assert!(report.contains("Verification: unsigned"), "{report}");

    // Signed by a key nobody trusts yet.
    let signed = ok(&[&"plugin", &"sign", &package, &"--key", &key]);
    assert!(signed.starts_with("Signed "), "{signed}");
    let report = ok(&[&"plugin", &"inspect", &package, &"--data", &data]);
    assert!(
        report.contains(&format!("Signature: valid, by {public}")),
        "{report}"
    );
    assert!(
        report.contains("Verification: signed by untrusted key"),
        "{report}"
    );

    // Trusted once the admin adds the publisher's key file.
    let added = ok(&[
        &"trust",
        &"add",
        &"acme",
        &dir.path().join("acme.key.pub"),
        &"--data",
        &data,
    ]);
    assert!(added.contains("as `acme`"), "{added}");
    let listed = ok(&[&"trust", &"list", &"--data", &data]);
    assert!(
        listed.starts_with("acme  ") && listed.contains(public),
        "{listed}"
    );
    let report = ok(&[&"plugin", &"inspect", &package, &"--data", &data]);
    assert!(
        report.contains("Verification: signed by trusted key") && report.contains("`acme`"),
        "{report}"
    );
    let json: serde_json::Value = serde_json::from_str(&ok(&[
        &"plugin", &"inspect", &package, &"--data", &data, &"--json",
    ]))
    .unwrap();
    assert_eq!(json["verification"], "trusted");
    assert_eq!(json["signature"]["trusted_as"], "acme");
    assert_eq!(json["plugin"]["id"], "tessera.hello");
    assert_eq!(json["capabilities"]["storage"], true);

    // One byte flipped on disk: refused, exit status nonzero.
    let flipped = dir.path().join("flipped.tpkg");
    let mut bytes = std::fs::read(&package).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&flipped, &bytes).unwrap();
    let (success, stdout, stderr) = run(&[&"plugin", &"inspect", &flipped, &"--data", &data]);
    assert!(!success, "a flipped package was accepted:\n{stdout}");
    assert!(stderr.contains("tampered with"), "{stderr}");
    assert!(stderr.contains("do not install it"), "{stderr}");

    // A well-formed archive whose component changed: named as tampering.
    rewrap_with_flipped_component(&package);
    let (success, _, stderr) = run(&[&"plugin", &"inspect", &package, &"--data", &data]);
    assert!(!success);
    assert!(
        stderr.contains("the package has been tampered with: plugin.wasm"),
        "{stderr}"
    );
}

#[test]
fn packing_signed_gives_the_same_bytes_as_signing_later() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.key");
    ok(&[&"keygen", &"--out", &key]);
    let signed_at_pack = pack_hello(&dir.path().join("a"), Some(&key));
    let signed_later = pack_hello(&dir.path().join("b"), None);
    ok(&[&"plugin", &"sign", &signed_later, &"--key", &key]);
    assert_eq!(
        std::fs::read(signed_at_pack).unwrap(),
        std::fs::read(signed_later).unwrap()
    );
}

#[cfg(unix)]
#[test]
fn keygen_keeps_the_secret_private_and_never_overwrites_it() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("publisher.key");
    ok(&[&"keygen", &"--out", &key]);
    let mode = std::fs::metadata(&key).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let before = std::fs::read(&key).unwrap();
    let (success, _, stderr) = run(&[&"keygen", &"--out", &key]);
    assert!(!success);
    assert!(stderr.contains("never overwrites"), "{stderr}");
    assert_eq!(std::fs::read(&key).unwrap(), before);
}

#[test]
fn trust_refuses_secret_keys_and_forgets_removed_keys() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let key = dir.path().join("acme.key");
    let public = ok(&[&"keygen", &"--out", &key]);
    let (success, _, stderr) = run(&[&"trust", &"add", &"acme", &key, &"--data", &data]);
    assert!(!success);
    assert!(stderr.contains("it is a secret key"), "{stderr}");

    ok(&[&"trust", &"add", &"acme", &public.trim(), &"--data", &data]);
    let (success, _, stderr) = run(&[
        &"trust",
        &"add",
        &"Bad Name",
        &public.trim(),
        &"--data",
        &data,
    ]);
    assert!(!success);
    assert!(stderr.contains("is not a key name"), "{stderr}");
    let removed = ok(&[&"trust", &"remove", &"acme", &"--data", &data]);
    assert!(removed.contains("No longer trusting `acme`"), "{removed}");
    assert_eq!(ok(&[&"trust", &"list", &"--data", &data]), "");
    let (success, _, stderr) = run(&[&"trust", &"remove", &"acme", &"--data", &data]);
    assert!(!success);
    assert!(stderr.contains("no key is trusted as `acme`"), "{stderr}");
}

#[test]
fn pack_checks_the_key_before_building() {
    let dir = tempfile::tempdir().unwrap();
    let (success, _, stderr) = run(&[
        &"plugin",
        &"pack",
        &repo_root().join("examples/hello"),
        &"--out",
        &dir.path(),
        &"--key",
        &dir.path().join("missing.key"),
    ]);
    assert!(!success);
    assert!(stderr.contains("cannot read key file"), "{stderr}");
    assert!(!stderr.contains("Building"), "{stderr}");
}
