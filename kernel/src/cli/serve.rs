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
    /// Load the customer-portal demo data (users tina and bruno, ACME's
    /// orders, printers and content) once the kernel listens; once per
    /// data directory.
    #[arg(long, env = "TESSERA_DEMO")]
    demo: bool,
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
    /// Mark session cookies `Secure` (set this when clients reach the
    /// kernel over HTTPS, e.g. behind a TLS-terminating proxy).
    #[arg(long, env = "TESSERA_SECURE_COOKIES")]
    secure_cookies: bool,
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
        secure_cookies: args.secure_cookies,
        demo: args.demo,
        engine: EngineSettings {
            max_instances: args.max_instances,
        },
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    // Register the signal handlers before anything else runs: a SIGTERM
    // that arrives while plugins load must end the process cleanly once
    // the server is up, not kill it with the default disposition.
    let shutdown = {
        let _context = runtime.enter();
        shutdown_signal().context("cannot listen for shutdown signals")?
    };
    runtime.block_on(serve(options, Box::pin(shutdown)))
}

/// Registers SIGINT (Ctrl-C) and SIGTERM handlers now; the returned future
/// resolves when either arrives, including one that arrived before it was
/// first polled.
#[cfg(unix)]
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        tracing::info!("shutdown requested");
    })
}

/// Resolves on Ctrl-C.
#[cfg(not(unix))]
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutdown requested");
    })
}
