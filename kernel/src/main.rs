//! The `tessera` command.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use tessera_kernel::plugin_build::{self, PluginCrate};
use tessera_kernel::runtime::EngineSettings;
use tessera_kernel::serve::{ServeOptions, serve};

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
    Serve(ServeArgs),
    /// Work with plugin crates.
    #[command(subcommand)]
    Plugin(PluginCommand),
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Data directory (database, compile cache, plugin configuration).
    #[arg(long, env = "TESSERA_DATA", default_value = "./tessera-data")]
    data: PathBuf,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "TESSERA_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Directory of plugin crates to load (repeatable).
    #[arg(long = "plugins", value_name = "DIR", default_values = ["plugins", "examples"])]
    plugin_roots: Vec<PathBuf>,
    /// Load already-built components instead of building the plugin crates.
    #[arg(long)]
    no_build: bool,
    /// Compiled-component cache (default: <DATA>/cache).
    #[arg(long, value_name = "DIR")]
    cache: Option<PathBuf>,
    /// Seconds to let in-flight requests finish on shutdown.
    #[arg(long, default_value_t = 30)]
    drain_timeout: u64,
    /// Most plugin instances alive at once (concurrent requests).
    #[arg(long, default_value_t = EngineSettings::default().max_instances)]
    max_instances: u32,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// Build plugin crates into WebAssembly components.
    Build {
        /// Plugin directories, or directories of plugins.
        #[arg(value_name = "DIR", default_values = ["plugins", "examples"])]
        dirs: Vec<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => run_serve(args),
        Command::Plugin(PluginCommand::Build { dirs }) => run_build(&dirs),
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,cranelift=warn,wasmtime=warn")
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn run_serve(args: ServeArgs) -> anyhow::Result<()> {
    init_logging(args.log_format);
    let options = ServeOptions {
        data: args.data,
        listen: args.listen,
        plugin_roots: args.plugin_roots,
        build: !args.no_build,
        cache_dir: args.cache,
        drain_timeout: Duration::from_secs(args.drain_timeout),
        engine: EngineSettings {
            max_instances: args.max_instances,
        },
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(options, Box::pin(shutdown_signal())))
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(error) => {
                    tracing::warn!(%error, "cannot listen for SIGTERM");
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutdown requested");
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
