//! Contract versions side by side, end to end: a plugin built against the
//! released `tessera:plugin@0.1.0` (`tests/fixtures/contract-v0-1`, plain
//! wit-bindgen over `wit/released/0.1.0/`) is served by the current kernel
//! beside plugins built against 0.2.0, installs through the admin API, and
//! sees a quota refusal as the 0.1 `limit-exceeded`; a component built
//! against an unsupported major, or a manifest range no served version
//! satisfies, is refused at install and at load naming both versions.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::sync::Arc;

use support::{Kernel, Reply, repo_root};
use tessera_host_api::Manifest;
use tessera_host_api::contract::Contract;
use tessera_kernel::metrics::Metrics;
use tessera_kernel::package::{self, Payload, SigningKey, TrustStore};
use tessera_kernel::runtime::{EngineSettings, LoadError, PluginSource, Runtime};
use tessera_kernel::storage::SledStorage;

const V01: &str = "tessera.test.contract-v0-1";

/// The component of the 0.1 fixture.
fn v01_component() -> Vec<u8> {
    let path = repo_root().join("target/plugins/wasm32-wasip2/release/fixture_contract_v0_1.wasm");
    std::fs::read(&path).unwrap_or_else(|error| panic!("read {}: {error}", path.display()))
}

/// `bytes` with every `from` replaced by `to` (same length, so a component
/// stays well formed: its names are length-prefixed).
fn replace_all(bytes: &[u8], from: &[u8], to: &[u8]) -> (Vec<u8>, usize) {
    assert_eq!(from.len(), to.len());
    let mut out = bytes.to_vec();
    let mut count = 0;
    let mut at = 0;
    while let Some(found) = out[at..].windows(from.len()).position(|w| w == from) {
        let start = at + found;
        out[start..start + to.len()].copy_from_slice(to);
        count += 1;
        at = start + from.len();
    }
    (out, count)
}

fn manifest(id: &str, mount: &str, api: &str) -> String {
    format!(
        "[plugin]\nid = \"{id}\"\nversion = \"1.0.0\"\napi = \"{api}\"\nname = \"{id}\"\nmount = \"{mount}\"\n[capabilities]\nstorage = true\n"
    )
}

fn assert_refused(reply: &Reply, mentions: &[&str]) {
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert_eq!(reply.error_code(), "incompatible_api", "{}", reply.body);
    let message = reply.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    for needle in mentions {
        assert!(
            message.contains(needle),
            "`{message}` does not mention `{needle}`"
        );
    }
}

#[test]
fn a_plugin_built_against_0_1_is_served_beside_0_2_plugins() {
    let data = tempfile::tempdir().unwrap();
    let kernel = Kernel::start(data.path());

    // config, identity and log through the 0.1 imports.
    let about = kernel.get("/api/v01/about");
    assert_eq!(about.status, 200, "{}", about.body);
    let about = about.json();
    assert_eq!(about["contract"], "0.1.0");
    assert_eq!(about["greeting"], "built against 0.1.0");
    assert_eq!(about["site"], "default");

    // storage through the 0.1 imports.
    let written = kernel.put("/api/v01/write/colour", "teal");
    assert_eq!(written.status, 204, "{}", written.body);
    let read = kernel.get("/api/v01/read/colour");
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.json()["value"], "teal");
    let absent = kernel.get("/api/v01/read/nothing");
    assert!(absent.json()["value"].is_null(), "{}", absent.body);

    // A 0.2 plugin in the same kernel, with its own storage.
    let hello = kernel.post("/api/hello/counter", "");
    assert_eq!(hello.status, 200, "{}", hello.body);
    let snoop = kernel.put("/api/snoop/write/colour", "red");
    assert_eq!(snoop.status, 204, "{}", snoop.body);
    assert_eq!(kernel.get("/api/v01/read/colour").json()["value"], "teal");

    // `/plugins` says which contract each was built against.
    let plugins = kernel.get("/plugins").json();
    let contract_of = |id: &str| {
        plugins["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .find(|plugin| plugin["id"] == id)
            .unwrap_or_else(|| panic!("{id} is loaded"))["contract"]
            .clone()
    };
    assert_eq!(contract_of(V01), "0.1.0");
    assert_eq!(contract_of("tessera.hello"), "0.2.0");

    let log = kernel.log_when(|log| log.contains("contract 0.1 fixture: about"));
    assert!(log.contains("contract 0.1 fixture: about"), "{log}");
    assert!(log.contains("contract=0.1.0"), "{log}");
}

#[test]
fn a_quota_refusal_reaches_a_0_1_plugin_as_limit_exceeded() {
    let data = tempfile::tempdir().unwrap();
    std::fs::write(
        data.path().join("quotas.toml"),
        format!("[\"{V01}\"]\nstorage-bytes = 64\n"),
    )
    .unwrap();
    let kernel = Kernel::start(data.path());

    let value = "x".repeat(20);
    for key in ["a", "b", "c"] {
        let reply = kernel.put(&format!("/api/v01/write/{key}"), &value);
        assert_eq!(reply.status, 204, "write {key}: {}", reply.body);
    }
    let refused = kernel.put("/api/v01/write/d", &value);
    assert_eq!(refused.status, 507, "{}", refused.body);
    let refused = refused.json();
    assert_eq!(refused["storage_error"], "limit-exceeded", "{refused}");
    let message = refused["message"].as_str().unwrap();
    for expected in [V01, "storage-bytes = 64", "nothing was written"] {
        assert!(
            message.contains(expected),
            "{expected:?} not in {message:?}"
        );
    }
    assert!(
        kernel.get("/api/v01/read/d").json()["value"].is_null(),
        "the refused write wrote nothing"
    );
}

#[test]
fn install_serves_0_1_and_refuses_an_unsupported_contract_naming_both_versions() {
    let data = tempfile::tempdir().unwrap();
    let kernel = Kernel::start(data.path());
    let key = SigningKey::generate().unwrap();
    TrustStore::open(data.path())
        .unwrap()
        .add("acme", key.public_key())
        .unwrap();
    let install = |manifest: &str, component: &[u8]| {
        let package = package::build(manifest, Payload::Wasm(component), Some(&key)).unwrap();
        kernel.admin("POST", "/admin/plugins?consent=true", Some(&package))
    };

    // A 0.1 component installs and serves.
    let installed = install(&manifest("acme.old", "old", "^0.1"), &v01_component());
    assert_eq!(installed.status, 201, "{}", installed.body);
    assert_eq!(kernel.put("/api/old/write/k", "v").status, 204);
    assert_eq!(kernel.get("/api/old/read/k").json()["value"], "v");

    // The same component claiming tessera:plugin@1.0.0 in its names.
    let (major, renamed) = replace_all(&v01_component(), b"@0.1.0", b"@1.0.0");
    assert!(renamed >= 4, "renamed {renamed} names");
    let refused = install(&manifest("acme.major", "major", "^0.1"), &major);
    assert_refused(
        &refused,
        &["acme.major", "tessera:plugin@1.0.0", "0.1.0, 0.2.0"],
    );
    // A newer minor than this kernel knows is refused the same way.
    let (minor, _) = replace_all(&v01_component(), b"@0.1.0", b"@0.9.0");
    let refused = install(&manifest("acme.minor", "minor", "^0.1"), &minor);
    assert_refused(&refused, &["tessera:plugin@0.9.0", "0.1.0, 0.2.0"]);

    // A manifest range no served version satisfies.
    let refused = install(&manifest("acme.range", "range", "^1.0"), &v01_component());
    assert_refused(&refused, &["^1.0", "0.1.0, 0.2.0"]);

    let listed = kernel.admin("GET", "/admin/plugins", None);
    for refused in ["acme.major", "acme.minor", "acme.range"] {
        assert!(!listed.body.contains(refused), "{}", listed.body);
    }
}

#[test]
fn loading_detects_the_contract_of_each_component_and_refuses_unsupported_ones() {
    support::build_plugins();
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(SledStorage::open(&dir.path().join("db")).unwrap());
    let runtime = Runtime::new(
        &EngineSettings::default(),
        storage,
        Arc::new(Metrics::new()),
        dir.path().join("cache"),
    )
    .unwrap();
    let source = |api: &str, component: Vec<u8>| PluginSource {
        manifest: Manifest::parse(&manifest("acme.load", "load", api)).unwrap(),
        component,
        config_overrides: Default::default(),
    };

    let old = runtime.prepare(&source("^0.1", v01_component())).unwrap();
    assert_eq!(old.contract(), Contract::V0_1);
    let hello =
        std::fs::read(repo_root().join("target/plugins/wasm32-wasip2/release/hello.wasm")).unwrap();
    let latest = runtime.prepare(&source("^0.2", hello)).unwrap();
    assert_eq!(latest.contract(), Contract::LATEST);

    let (major, _) = replace_all(&v01_component(), b"@0.1.0", b"@1.0.0");
    match runtime.prepare(&source("^0.1", major)).err() {
        Some(LoadError::UnsupportedContract { id, built, served }) => {
            assert_eq!((id.as_str(), built.as_str()), ("acme.load", "1.0.0"));
            assert_eq!(served, "0.1.0, 0.2.0");
        }
        other => panic!("expected UnsupportedContract, got {other:?}"),
    }
    match runtime.prepare(&source("^1.0", v01_component())).err() {
        Some(error @ LoadError::IncompatibleContract { .. }) => {
            let message = error.to_string();
            assert!(
                message.contains("^1.0") && message.contains("0.1.0, 0.2.0"),
                "{message}"
            );
        }
        other => panic!("expected IncompatibleContract, got {other:?}"),
    }
    // A component naming two versions does not fit the world.
    let (mixed, renamed) = replace_all(
        &v01_component(),
        b"tessera:plugin/log@0.1.0",
        b"tessera:plugin/log@0.2.0",
    );
    assert!(renamed >= 1);
    match runtime.prepare(&source("^0.1", mixed)).err() {
        Some(error @ LoadError::Link { .. }) => {
            assert!(error.to_string().contains("two versions"), "{error}");
        }
        other => panic!("expected Link, got {other:?}"),
    }
}
