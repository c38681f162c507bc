//! `tessera plugin build|pack|sign|inspect`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use tessera_kernel::package::{self, Package, SigningKey};
use tessera_kernel::plugin_build::{self, PluginCrate};

use super::inspect::{self, InspectArgs};

/// The `tessera plugin` subcommands.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Build plugin crates into WebAssembly components.
    Build {
        /// Plugin directories, or directories of plugins.
        #[arg(value_name = "DIR", default_values = ["plugins", "examples"])]
        dirs: Vec<PathBuf>,
    },
    /// Build a plugin crate and pack it into `<id>-<version>.tpkg`.
    Pack(PackArgs),
    /// Sign a package, replacing any signature it has.
    Sign(SignArgs),
    /// Show what a package holds, what it may do and who signed it.
    Inspect(InspectArgs),
}

/// Options of `tessera plugin pack`.
#[derive(Debug, Args)]
pub struct PackArgs {
    /// The plugin directory, holding plugin.toml and Cargo.toml.
    #[arg(value_name = "DIR", default_value = ".")]
    dir: PathBuf,
    /// Directory to write the package to.
    #[arg(long, value_name = "DIR", default_value = ".")]
    out: PathBuf,
    /// Sign the package with this secret key file (see `tessera keygen`).
    #[arg(long, value_name = "SECRET_KEY_FILE")]
    key: Option<PathBuf>,
    /// Pack the component already built instead of running cargo first.
    #[arg(long)]
    no_build: bool,
}

/// Options of `tessera plugin sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// The package to sign, rewritten in place.
    #[arg(value_name = "PKG")]
    package: PathBuf,
    /// The secret key file to sign with (see `tessera keygen`).
    #[arg(long, value_name = "SECRET_KEY_FILE")]
    key: PathBuf,
}

/// Run a `tessera plugin` subcommand.
pub fn run(command: PluginCommand) -> anyhow::Result<()> {
    match command {
        PluginCommand::Build { dirs } => run_build(&dirs),
        PluginCommand::Pack(args) => run_pack(&args),
        PluginCommand::Sign(args) => run_sign(&args),
        PluginCommand::Inspect(args) => inspect::run(&args),
    }
}

fn run_build(dirs: &[PathBuf]) -> anyhow::Result<()> {
    let plugin_dirs = plugin_build::discover(dirs)?;
    if plugin_dirs.is_empty() {
        anyhow::bail!("no plugin (a directory with plugin.toml) found under the given directories");
    }
    let crates = plugin_dirs
        .iter()
        .map(|dir| PluginCrate::open(dir))
        .collect::<Result<Vec<_>, _>>()?;
    eprintln!("Building {} plugin(s)", crates.len());
    plugin_build::build(&crates)?;
    for plugin in &crates {
        println!(
            "{} {}",
            plugin.manifest.plugin.id,
            plugin.built_component()?.display()
        );
    }
    Ok(())
}

fn run_pack(args: &PackArgs) -> anyhow::Result<()> {
    // Read the key first: a wrong path should fail before a long build.
    let key = args.key.as_deref().map(read_key).transpose()?;
    let plugin = PluginCrate::open(&args.dir)
        .with_context(|| format!("{} is not a plugin crate", args.dir.display()))?;
    if !args.no_build {
        eprintln!("Building {}", plugin.manifest.plugin.id);
        plugin_build::build(std::slice::from_ref(&plugin))?;
    }
    let component = plugin.built_component()?;
    let path = package::pack(&plugin.dir, &component, &args.out, key.as_ref())
        .with_context(|| format!("cannot pack {}", plugin.dir.display()))?;
    match &key {
        Some(key) => eprintln!(
            "Packed {} {}, signed by key {}",
            plugin.manifest.plugin.id,
            plugin.manifest.plugin.version,
            key.public_key().fingerprint()
        ),
        None => eprintln!(
            "Packed {} {}, unsigned (sign it with `tessera plugin sign {} --key FILE`)",
            plugin.manifest.plugin.id,
            plugin.manifest.plugin.version,
            path.display()
        ),
    }
    println!("{}", path.display());
    Ok(())
}

fn run_sign(args: &SignArgs) -> anyhow::Result<()> {
    let key = read_key(&args.key)?;
    package::sign(&args.package, &key)
        .with_context(|| format!("cannot sign {}", args.package.display()))?;
    let package = Package::open(&args.package)
        .with_context(|| format!("cannot reopen {}", args.package.display()))?;
    println!(
        "Signed {} ({} {}) with key {}",
        args.package.display(),
        package.manifest().plugin.id,
        package.manifest().plugin.version,
        key.public_key().fingerprint()
    );
    Ok(())
}

fn read_key(path: &Path) -> anyhow::Result<SigningKey> {
    Ok(SigningKey::read_file(path)?)
}
