//! `tessera plugin inspect`: what a package holds, what the plugin may do
//! and who signed it, for an administrator to review before installing.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use serde_json::json;
use tessera_kernel::package::{Package, TrustStore, Verification, describe, human_size};

use super::{DataDir, output};

/// Options of `tessera plugin inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The package file (`<id>-<version>.tpkg`).
    #[arg(value_name = "PKG")]
    package: PathBuf,
    /// Whose trust store decides whether the signer is trusted.
    #[command(flatten)]
    data: DataDir,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Run `tessera plugin inspect`. A package that was tampered with is an
/// error (nonzero exit status).
pub fn run(args: &InspectArgs) -> anyhow::Result<()> {
    let package = Package::open(&args.package)
        .with_context(|| format!("cannot open package {}", args.package.display()))?;
    let trust = TrustStore::open(&args.data.data)?;
    let verification = package.verification(&trust);
    let trusted_as = verification
        .signer()
        .and_then(|signer| trust.name_of(signer))
        .map(str::to_owned);
    if args.json {
        let value = to_json(
            &args.package,
            &package,
            &verification,
            trusted_as.as_deref(),
        );
        output::println(&serde_json::to_string_pretty(&value)?)
    } else {
        output::print(&to_text(
            &package,
            &verification,
            trusted_as.as_deref(),
            &trust,
        ))
    }
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

fn to_text(
    package: &Package,
    verification: &Verification,
    trusted_as: Option<&str>,
    trust: &TrustStore,
) -> String {
    let manifest = package.manifest();
    let plugin = &manifest.plugin;
    let capabilities = &manifest.capabilities;
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    line(format!(
        "{} {} \"{}\" ({} package)",
        plugin.id,
        plugin.version,
        plugin.name,
        package.kind().name()
    ));
    if !plugin.description.is_empty() {
        line(format!("  {}", plugin.description));
    }
    line(format!("  contract:     tessera:plugin {}", plugin.api));
    line(format!("  mount:        /api/{}/", plugin.mount));
    let dependencies: Vec<String> = manifest
        .dependencies
        .iter()
        .map(|(id, range)| format!("{id} {range}"))
        .collect();
    line(format!("  dependencies: {}", list(&dependencies)));
    if !manifest.optional_dependencies.is_empty() {
        let optional: Vec<String> = manifest
            .optional_dependencies
            .iter()
            .map(|(id, range)| format!("{id} {range}"))
            .collect();
        line(format!("  optional:     {}", list(&optional)));
    }
    line(String::new());
    line("Capabilities (what the plugin may do once installed):".to_owned());
    line(format!(
        "  storage:            {}",
        if capabilities.storage {
            "yes, its own namespace"
        } else {
            "no"
        }
    ));
    line(format!(
        "  events publish:     {}",
        list(&capabilities.events.publish)
    ));
    line(format!(
        "  events subscribe:   {}",
        list(&capabilities.events.subscribe)
    ));
    line(format!(
        "  outbound HTTP:      {}",
        list(&capabilities.outbound)
    ));
    line(format!(
        "  permissions:        {}",
        list(&capabilities.permissions)
    ));
    line(format!(
        "  invoke:             {}",
        list(&capabilities.invoke)
    ));
    line(format!(
        "  limits:             memory {}, {} ms per call",
        human_size(manifest.limits.memory),
        manifest.limits.timeout_ms
    ));
    line(String::new());
    line("Contents (SHA-256, all verified):".to_owned());
    for entry in package.entries() {
        line(format!(
            "  {}  {} ({})",
            entry.sha256,
            entry.name,
            human_size(entry.size)
        ));
    }
    line(String::new());
    match verification {
        Verification::Unsigned => {
            line("Signature: none".to_owned());
            line(
                "Verification: unsigned (installable only with the explicit development flag)"
                    .to_owned(),
            );
        }
        Verification::Signed { signer, trusted } => {
            line(format!("Signature: valid, by {signer}"));
            line(format!("  fingerprint: {}", signer.fingerprint()));
            match (trusted, trusted_as) {
                (true, Some(name)) => line(format!(
                    "Verification: signed by trusted key {} (`{name}` in {})",
                    signer.fingerprint(),
                    trust.dir().display()
                )),
                _ => {
                    line(format!(
                        "Verification: signed by untrusted key {} (not in {})",
                        signer.fingerprint(),
                        trust.dir().display()
                    ));
                    line(format!(
                        "  to trust this publisher, after checking the key with them: tessera trust add <name> {signer}"
                    ));
                }
            }
        }
    }
    out
}

fn to_json(
    path: &std::path::Path,
    package: &Package,
    verification: &Verification,
    trusted_as: Option<&str>,
) -> serde_json::Value {
    let mut value = describe(package, verification, trusted_as);
    if let Some(object) = value.as_object_mut() {
        object.insert("file".to_owned(), json!(path.display().to_string()));
    }
    value
}
