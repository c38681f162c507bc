//! `tessera serve`.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};
use tessera_kernel::runtime::EngineSettings;
use tessera_kernel::serve::{ServeOptions, serve};

/// Options of `tessera serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
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

/// Run `tessera serve` until SIGINT or SIGTERM.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
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
