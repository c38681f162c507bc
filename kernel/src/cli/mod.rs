//! The `tessera` command line: one module per command group.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

mod admin;
mod client;
mod inspect;
mod keygen;
mod output;
mod plugin;
mod role;
mod serve;
mod trust;
mod user;

/// Tessera: an open-source digital experience platform whose capabilities are
/// sandboxed WebAssembly plugins.
#[derive(Debug, Parser)]
#[command(name = "tessera", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the kernel: load plugins and serve HTTP.
    Serve(serve::ServeArgs),
    /// Work with plugin crates and packages.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// Make a publisher key pair for signing packages.
    Keygen(keygen::KeygenArgs),
    /// Manage the publisher keys this kernel trusts.
    #[command(subcommand)]
    Trust(trust::TrustCommand),
    /// Install, upgrade, roll back, enable, disable and uninstall plugins
    /// of a running kernel.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Add, list, lock and unlock the user accounts of a running kernel,
    /// and grant or revoke their roles.
    #[command(subcommand)]
    User(user::UserCommand),
    /// Define the roles (named sets of permissions) of a running kernel's
    /// sites.
    #[command(subcommand)]
    Role(role::RoleCommand),
}

/// The data directory option shared by commands that read or change it.
#[derive(Debug, Clone, Args)]
struct DataDir {
    /// Data directory (database, compile cache, trust store, plugin
    /// configuration).
    #[arg(
        long,
        value_name = "DIR",
        env = "TESSERA_DATA",
        default_value = "./tessera-data"
    )]
    data: PathBuf,
}

/// Parse the command line and run the command.
pub fn run() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Serve(args) => serve::run(args),
        Command::Plugin(command) => plugin::run(command),
        Command::Keygen(args) => keygen::run(&args),
        Command::Trust(command) => trust::run(command),
        Command::Admin(command) => admin::run(command),
        Command::User(command) => user::run(command),
        Command::Role(command) => role::run(command),
    }
}
