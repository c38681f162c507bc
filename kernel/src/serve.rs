//! `tessera serve`: open storage, load plugins, serve HTTP until a signal,
//! drain, close storage.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;

use crate::events::{DeliveryPolicy, EventBus, EventLog, EventStore};
use crate::http::{AppState, Server, ShutdownSignal, read_or_create_admin_token, token_path};
use crate::identity::{ADMIN_PASSWORD_ENV, Identity, IdentitySettings};
use crate::jobs::Scheduler;
use crate::lifecycle::{Lifecycle, LifecycleError, StarterPlugin, install_starter_profile};
use crate::metrics::Metrics;
use crate::plugin_build::{self, PluginCrate};
use crate::runtime::{EngineSettings, Runtime};
use crate::storage::{SledStorage, Storage};

/// Everything `tessera serve` can be told.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Data directory: database, compile cache, configuration.
    pub data: PathBuf,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Directories holding plugin crates (or one plugin each).
    pub plugin_roots: Vec<PathBuf>,
    /// Build plugin crates before loading them.
    pub build: bool,
    /// Where compiled components are cached (default: `<data>/cache`).
    pub cache_dir: Option<PathBuf>,
    /// How long to wait for in-flight requests on shutdown.
    pub drain_timeout: Duration,
    /// Engine pool sizing.
    pub engine: EngineSettings,
    /// Load the demo data (`examples/customer-portal/demo.json`) once the
    /// kernel listens, unless this data directory has it already.
    pub demo: bool,
    /// Mark session cookies `Secure` (clients use HTTPS).
    pub secure_cookies: bool,
}

/// Run the kernel until `shutdown` resolves.
pub async fn serve(options: ServeOptions, shutdown: ShutdownSignal) -> anyhow::Result<()> {
    std::fs::create_dir_all(&options.data)
        .with_context(|| format!("cannot create data directory {}", options.data.display()))?;
    let db_dir = options.data.join("db");
    let storage: Arc<dyn Storage> = Arc::new(SledStorage::open(&db_dir).with_context(|| {
        format!(
            "cannot open the database in {}; is another tessera using this data directory?",
            db_dir.display()
        )
    })?);
    let metrics = Arc::new(Metrics::new());
    let cache_dir = options
        .cache_dir
        .clone()
        .unwrap_or_else(|| options.data.join("cache"));
    let runtime = Arc::new(Runtime::new(
        &options.engine,
        storage.clone(),
        metrics,
        cache_dir,
    )?);
    runtime.quotas().load_data_dir(&options.data)?;
    let events: Arc<dyn EventStore> = Arc::new(
        EventLog::open(storage.namespace(crate::events::NAMESPACE)?)
            .context("cannot open the kernel event log")?,
    );
    let bus = EventBus::new(
        events.clone(),
        storage.clone(),
        runtime.clone(),
        DeliveryPolicy::default(),
    )
    .context("cannot open the event bus")?;
    runtime.set_event_bus(bus.clone());
    let scheduler = Scheduler::open(storage.as_ref(), runtime.clone())
        .context("cannot open the job scheduler")?;
    runtime.set_scheduler(scheduler.clone());
    {
        let bus = bus.clone();
        runtime.metrics().export_event_lag(Box::new(move || {
            bus.subscriptions()
                .map(|subscriptions| {
                    subscriptions
                        .into_iter()
                        .map(|subscription| (subscription.plugin, subscription.lag))
                        .collect()
                })
                .unwrap_or_default()
        }));
    }

    let demo_script = if options.demo {
        let script = crate::demo::shipped()?;
        crate::demo::write_config(&options.data, &script)?;
        Some(script)
    } else {
        None
    };
    let lifecycle = Arc::new(Lifecycle::new(runtime.clone(), &options.data)?);
    if lifecycle.state().starter_installed()? {
        report_loaded(&runtime, lifecycle.load_installed().await);
    } else {
        install_starter(&lifecycle, &options).await?;
    }
    let identity = open_identity(storage.as_ref(), events, &options)?;
    bus.start();
    bus.start_compaction(lifecycle.config().events.into());
    scheduler.start();

    let state = Arc::new(AppState {
        runtime: runtime.clone(),
        ready: AtomicBool::new(false),
        lifecycle: Some(lifecycle),
        identity: Some(identity),
    });
    let server = Server::bind(options.listen, state.clone(), options.drain_timeout)
        .await
        .with_context(|| format!("cannot listen on {}", options.listen))?;
    let address = server.local_addr()?;
    state.ready.store(true, Ordering::Release);
    println!("Tessera listening on http://{address}");
    let _ = std::io::stdout().flush();
    if let Some(script) = demo_script {
        let data = options.data.clone();
        tokio::task::spawn_blocking(move || load_demo(&data, address, &script));
    }
    server.run(shutdown).await;
    // Native workers publish events: stop them before the bus and storage.
    if let Some(lifecycle) = &state.lifecycle {
        lifecycle.native().stop_workers();
    }
    bus.stop();
    scheduler.stop();
    storage.close().context("closing the database")?;
    tracing::info!("stopped");
    Ok(())
}

fn open_crates(dirs: &[PathBuf]) -> Vec<PluginCrate> {
    dirs.iter()
        .filter_map(|dir| match PluginCrate::open(dir) {
            Ok(plugin) => Some(plugin),
            Err(error) => {
                tracing::error!(dir = %dir.display(), %error, "skipping plugin");
                eprintln!("Skipping {}: {error}", dir.display());
                None
            }
        })
        .collect()
}

/// First start of a data directory: build the plugin crates under the
/// plugin roots and install them as signed packages (the starter profile).
async fn install_starter(lifecycle: &Lifecycle, options: &ServeOptions) -> anyhow::Result<()> {
    let plugin_dirs = plugin_build::discover(&options.plugin_roots)?;
    let crates = open_crates(&plugin_dirs);
    if options.build && !crates.is_empty() {
        println!("Building {} plugin(s)", crates.len());
        let to_build = crates.clone();
        tokio::task::spawn_blocking(move || plugin_build::build(&to_build))
            .await?
            .context("building plugins failed; fix the error above or start with --no-build")?;
    }
    let mut starters = Vec::new();
    for plugin in &crates {
        let read = || -> anyhow::Result<StarterPlugin> {
            let path = plugin.built_component()?;
            let component = std::fs::read(&path)
                .with_context(|| format!("cannot read component {}", path.display()))?;
            let manifest_path = plugin.dir.join("plugin.toml");
            let manifest_text = std::fs::read_to_string(&manifest_path)
                .with_context(|| format!("cannot read {}", manifest_path.display()))?;
            Ok(StarterPlugin {
                manifest: plugin.manifest.clone(),
                manifest_text,
                component,
            })
        };
        match read() {
            Ok(starter) => starters.push(starter),
            Err(error) => {
                let id = &plugin.manifest.plugin.id;
                tracing::error!(plugin = %id, error = format!("{error:#}"), "plugin not installed");
                eprintln!("Plugin {id} not installed: {error:#}");
            }
        }
    }
    let outcomes = install_starter_profile(lifecycle, &options.data, starters).await?;
    for (id, outcome) in outcomes {
        match (outcome, lifecycle.get(&id)) {
            (Ok(()), Ok(status)) => println!(
                "Installed {id} {} at /api/{}/ (starter profile)",
                status.version, status.mount
            ),
            (Ok(()), Err(error)) | (Err(error), _) => {
                tracing::error!(plugin = %id, %error, "plugin not installed");
                eprintln!("Plugin {id} not installed: {error}");
            }
        }
    }
    Ok(())
}

/// Print what `load_installed` did.
fn report_loaded(runtime: &Runtime, outcomes: Vec<(String, Result<(), LifecycleError>)>) {
    for (id, outcome) in outcomes {
        match outcome {
            Ok(()) => {
                if let Some(plugin) = runtime.by_id(&id) {
                    let info = &plugin.manifest().plugin;
                    println!("Loaded {id} {} at /api/{}/", info.version, info.mount);
                }
            }
            Err(error) => {
                tracing::error!(plugin = %id, %error, "plugin not loaded");
                eprintln!("Plugin {id} not loaded: {error}");
            }
        }
    }
}

/// Administrator overrides from `<data>/config/<plugin id>.toml`, a table of
/// string values.
pub fn config_overrides(data: &Path, id: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let path = data.join("config").join(format!("{id}.toml"));
    if !path.exists() {
        return Ok(BTreeMap::new());
    }
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text)
        .with_context(|| format!("{}: expected a table of string values", path.display()))
}

/// Loads the demo data and prints where to look; a failure is printed with
/// the step that failed, and the kernel keeps serving.
fn load_demo(data: &std::path::Path, address: SocketAddr, script: &crate::demo::script::Script) {
    let outcome = read_or_create_admin_token(data)
        .map_err(anyhow::Error::from)
        .and_then(|token| crate::demo::load(data, address, &token, script));
    match outcome {
        Ok(loaded) => {
            println!("Demo: {}", loaded.description);
            for (user, password) in &loaded.users {
                println!("  demo user {user} / {password}");
            }
            for note in &loaded.notes {
                println!("  {note}");
            }
        }
        Err(error) => eprintln!("The demo data could not be loaded: {error:#}"),
    }
    let _ = std::io::stdout().flush();
}

/// Open identity and, on the first start, create the administrator: the
/// password comes from `TESSERA_ADMIN_PASSWORD` or is generated and printed
/// once; `<data>/admin-token` becomes the administrator's API token.
fn open_identity(
    storage: &dyn Storage,
    events: Arc<dyn EventStore>,
    options: &ServeOptions,
) -> anyhow::Result<Arc<Identity>> {
    let settings = IdentitySettings {
        secure_cookies: options.secure_cookies,
        ..IdentitySettings::default()
    };
    let identity =
        Identity::open(storage, events, settings).context("cannot open identity storage")?;
    let token = read_or_create_admin_token(&options.data).with_context(|| {
        format!(
            "cannot create the admin token in {}",
            token_path(&options.data).display()
        )
    })?;
    let password = std::env::var(ADMIN_PASSWORD_ENV).ok();
    if let Some(created) = identity
        .bootstrap(password, &token)
        .context("cannot create the first administrator")?
    {
        match created.generated_password {
            Some(password) => println!(
                "Created administrator `{}` with password: {password}\n  (shown once; set {ADMIN_PASSWORD_ENV} on the first start to choose it)",
                created.username
            ),
            None => println!(
                "Created administrator `{}` with the password from {ADMIN_PASSWORD_ENV}",
                created.username
            ),
        }
        println!(
            "The admin API token is in {}",
            token_path(&options.data).display()
        );
    }
    Ok(Arc::new(identity))
}
