//! Browser tests: Playwright (`playwright-core` from npm, locked in
//! `tests/browser/package-lock.json`) drives Debian's Chromium against the
//! real kernel. Needs `node` and `/usr/bin/chromium` (or `$CHROMIUM`);
//! `scripts/test` installs them. A failing step leaves a screenshot in
//! `tests/browser/screenshots/`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The browser tests' directory.
fn browser_dir() -> PathBuf {
    support::repo_root().join("tests/browser")
}

/// `npm ci` once, when `playwright-core` is not installed yet.
fn install_playwright() {
    let dir = browser_dir();
    if dir.join("node_modules/playwright-core").exists() {
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(&dir)
        .status()
        .expect("run npm (Node.js 20 or later is needed for the browser tests)");
    assert!(status.success(), "npm ci failed in {}", dir.display());
}

fn chromium() -> String {
    let path = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    assert!(
        Path::new(&path).exists(),
        "no Chromium at {path}: run scripts/test (it installs Debian's chromium) or set CHROMIUM"
    );
    path
}

/// Runs `node tests/browser/<script>` with `env`; panics with its output
/// when a step failed.
fn run_script(script: &str, env: &[(&str, &str)]) {
    install_playwright();
    let dir = browser_dir();
    let output = Command::new("node")
        .arg(dir.join(script))
        .envs(env.iter().copied())
        .env("CHROMIUM", chromium())
        .env("SHOTS", dir.join("screenshots"))
        .current_dir(&dir)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{script} failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    println!("{stdout}");
}

/// `tessera` with `args`, which must succeed.
fn tessera(args: &[&dyn AsRef<std::ffi::OsStr>]) -> String {
    let output = Command::new(support::tessera())
        .args(args)
        .current_dir(support::repo_root())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "tessera failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn the_console_signs_in_reviews_and_installs_a_signed_package() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    // A publisher's key, trusted by this kernel, signs the workflow plugin.
    let key = dir.path().join("acme.key");
    tessera(&[&"keygen", &"--out", &key]);
    tessera(&[
        &"trust",
        &"add",
        &"acme",
        &dir.path().join("acme.key.pub"),
        &"--data",
        &data,
    ]);
    let packed = tessera(&[
        &"plugin",
        &"pack",
        &support::repo_root().join("plugins/workflow"),
        &"--out",
        &dir.path(),
        &"--key",
        &key,
    ]);
    let package = packed.trim().lines().last().unwrap().trim().to_owned();
    assert!(Path::new(&package).exists(), "{packed}");

    let kernel = support::start_with_env(
        &data,
        &[("TESSERA_ADMIN_PASSWORD", support::ADMIN_PASSWORD)],
    );
    run_script(
        "console.mjs",
        &[
            ("TESSERA_URL", kernel.base.as_str()),
            ("ADMIN_PASSWORD", support::ADMIN_PASSWORD),
            ("PACKAGE", &package),
            ("SIGNER", "acme"),
        ],
    );
    let listed = kernel.admin_json("GET", "/admin/plugins/tessera.workflow", None);
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.json()["plugin"]["enabled"], true);
}

#[test]
fn the_portal_shows_each_buyer_the_dashboard_of_their_segment() {
    let data = tempfile::tempdir().unwrap();
    let root = support::repo_root();
    let kernel = support::start_with_plugins(
        data.path(),
        &[
            ("TESSERA_ADMIN_PASSWORD", support::ADMIN_PASSWORD),
            ("TESSERA_DEMO", "true"),
        ],
        &[
            root.join("plugins/cms"),
            root.join("plugins/commerce"),
            root.join("plugins/erp"),
            root.join("plugins/iot"),
            root.join("plugins/personalization"),
            root.join("examples/customer-portal"),
        ],
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let log = loop {
        let log = kernel.log();
        if log.contains("Demo: ")
            || log.contains("demo data could not")
            || std::time::Instant::now() > deadline
        {
            break log;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(log.contains("Demo: "), "the demo data did not load:\n{log}");
    run_script("portal.mjs", &[("TESSERA_URL", kernel.base.as_str())]);
}
