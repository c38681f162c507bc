//! `tessera admin`: the module lifecycle of a running kernel, through its
//! admin API (`/admin/plugins...`).

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::Value;
use tessera_kernel::lifecycle::describe_package;
use tessera_kernel::package::Package;

use super::client::{Client, Connection};

mod quota;

/// `tessera admin ...`
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Install a plugin package (.tpkg).
    Install {
        /// The package.
        package: PathBuf,
        #[command(flatten)]
        consent: ConsentArgs,
        #[command(flatten)]
        connection: Connection,
    },
    /// Upgrade an installed plugin to the package's newer version, without
    /// a restart.
    Upgrade {
        /// The package.
        package: PathBuf,
        #[command(flatten)]
        consent: ConsentArgs,
        #[command(flatten)]
        connection: Connection,
    },
    /// List installed plugins.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        connection: Connection,
    },
    /// Return a plugin to its previous version.
    Rollback {
        /// Plugin id.
        id: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Serve a disabled plugin again.
    Enable {
        /// Plugin id.
        id: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Stop serving a plugin; its data and packages are kept.
    Disable {
        /// Plugin id.
        id: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Show a plugin's quota limits and usage, or change its limits:
    /// `tessera admin quota acme.blog --storage-bytes 1048576`. Limits not
    /// named keep their value; `unlimited` removes one. Saved in the
    /// kernel's <data>/quotas.toml.
    Quota(quota::QuotaArgs),
    /// Remove a plugin. Its data is kept unless --purge.
    Uninstall {
        /// Plugin id.
        id: String,
        /// Also delete the plugin's stored data. Cannot be undone.
        #[arg(long)]
        purge: bool,
        #[command(flatten)]
        connection: Connection,
    },
}

/// Consent and trust flags of install and upgrade.
#[derive(Debug, Args)]
pub struct ConsentArgs {
    /// Grant the capabilities the package asks for without asking.
    #[arg(long, short = 'y')]
    yes: bool,
    /// Development only: accept an unsigned package, or one signed by a
    /// key this kernel does not trust. Tampered packages are always refused.
    #[arg(long)]
    allow_untrusted: bool,
}

/// Run an admin command.
pub fn run(command: AdminCommand) -> anyhow::Result<()> {
    match command {
        AdminCommand::Install {
            package,
            consent,
            connection,
        } => send_package(&connection, &package, &consent, None),
        AdminCommand::Upgrade {
            package,
            consent,
            connection,
        } => send_package(&connection, &package, &consent, Some("upgrade")),
        AdminCommand::List { json, connection } => {
            let reply = Client::new(&connection)?.call("GET", "/admin/plugins", None)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&reply)?);
            } else {
                print_list(&reply);
            }
            Ok(())
        }
        AdminCommand::Rollback { id, connection } => action(
            &connection,
            &format!("/admin/plugins/{id}/rollback"),
            "Rolled back",
        ),
        AdminCommand::Enable { id, connection } => action(
            &connection,
            &format!("/admin/plugins/{id}/enable"),
            "Enabled",
        ),
        AdminCommand::Disable { id, connection } => action(
            &connection,
            &format!("/admin/plugins/{id}/disable"),
            "Disabled",
        ),
        AdminCommand::Quota(args) => quota::run(&args),
        AdminCommand::Uninstall {
            id,
            purge,
            connection,
        } => {
            let path = format!(
                "/admin/plugins/{id}{}",
                if purge { "?purge=true" } else { "" }
            );
            Client::new(&connection)?.call("DELETE", &path, None)?;
            if purge {
                println!("Uninstalled {id} and deleted its data");
            } else {
                println!("Uninstalled {id}; its data is kept (reinstall to use it again)");
            }
            Ok(())
        }
    }
}

fn send_package(
    connection: &Connection,
    path: &Path,
    consent: &ConsentArgs,
    upgrade: Option<&str>,
) -> anyhow::Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let package = Package::from_bytes(&bytes)
        .with_context(|| format!("{} is not a valid package", path.display()))?;
    let manifest = package.manifest();
    let id = &manifest.plugin.id;
    println!(
        "{id} {} ({})",
        manifest.plugin.version, manifest.plugin.name
    );
    let capabilities = describe_package(&package);
    if capabilities.is_empty() {
        println!("Asks for no capabilities.");
    } else {
        println!("Asks for these capabilities:");
        for line in &capabilities {
            println!("  - {line}");
        }
    }
    let granted = consent.yes || capabilities.is_empty() || ask("Grant them?")?;
    if !granted {
        bail!("not installed: the capabilities were not granted");
    }
    let mut query = vec!["consent=true"];
    if consent.allow_untrusted {
        query.push("allow-untrusted=true");
    }
    let route = match upgrade {
        Some(action) => format!("/admin/plugins/{id}/{action}?{}", query.join("&")),
        None => format!("/admin/plugins?{}", query.join("&")),
    };
    let reply = Client::new(connection)?.call("POST", &route, Some(bytes))?;
    println!(
        "{} {} {} at /api/{}/ ({})",
        if upgrade.is_some() {
            "Upgraded"
        } else {
            "Installed"
        },
        text(&reply, "/plugin/id"),
        text(&reply, "/plugin/version"),
        text(&reply, "/plugin/mount"),
        text(&reply, "/plugin/verified"),
    );
    Ok(())
}

fn action(connection: &Connection, path: &str, done: &str) -> anyhow::Result<()> {
    let reply = Client::new(connection)?.call("POST", path, None)?;
    println!(
        "{done} {} (now {}, {})",
        text(&reply, "/plugin/id"),
        text(&reply, "/plugin/version"),
        state(&reply, "/plugin/enabled"),
    );
    Ok(())
}

fn print_list(reply: &Value) {
    let empty = Vec::new();
    let plugins = reply
        .get("plugins")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    if plugins.is_empty() {
        println!("No plugins installed.");
        return;
    }
    println!(
        "{:<28} {:<10} {:<9} {:<14} PREVIOUS",
        "ID", "VERSION", "STATE", "MOUNT"
    );
    for plugin in plugins {
        println!(
            "{:<28} {:<10} {:<9} {:<14} {}",
            text(plugin, "/id"),
            text(plugin, "/version"),
            state(plugin, "/enabled"),
            format!("/api/{}/", text(plugin, "/mount")),
            plugin
                .pointer("/previous")
                .and_then(Value::as_str)
                .unwrap_or("-"),
        );
    }
}

/// The string at `pointer` in `value`, or `?`.
fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("?")
}

/// `enabled` or `disabled`, from the boolean at `pointer`.
fn state(value: &Value, pointer: &str) -> &'static str {
    if value.pointer(pointer).and_then(Value::as_bool) == Some(true) {
        "enabled"
    } else {
        "disabled"
    }
}

/// Ask a yes/no question on the terminal; no terminal means no.
fn ask(question: &str) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        eprintln!("{question} (no terminal to ask on; pass --yes to grant)");
        return Ok(false);
    }
    print!("{question} [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}
