//! The wasmtime engine: pooling allocator, epoch interruption, and the
//! thread that advances the epoch.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use tessera_host_api::Limits;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances. Time limits are enforced with this
/// granularity, and a running guest yields to the async runtime this often.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// How much of a pooled linear memory may stay resident between instances.
const MEMORY_KEEP_RESIDENT_BYTES: usize = 4 << 20;
/// How much of a pooled table may stay resident between instances.
const TABLE_KEEP_RESIDENT_BYTES: usize = 64 << 10;

/// Sizing of the engine's instance pool.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// How many plugin instances may be alive at once across all plugins
    /// (concurrent requests, including nested `invoke` calls).
    pub max_instances: u32,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self { max_instances: 256 }
    }
}

/// Build the engine shared by every plugin.
pub fn build(settings: &EngineSettings) -> anyhow::Result<Engine> {
    let instances = settings.max_instances.max(1);
    let mut pool = PoolingAllocationConfig::default();
    // A component built by rustc for wasm32-wasip2 has a handful of core
    // instances (the program plus adapter shims) but one memory.
    pool.total_component_instances(instances)
        .total_core_instances(instances.saturating_mul(8))
        .total_memories(instances.saturating_mul(2))
        .total_tables(instances.saturating_mul(4))
        .total_stacks(instances)
        .max_memory_size(usize::try_from(Limits::MAX_MEMORY)?)
        // Between instances, reset only the pages a request dirtied (found
        // with Linux's PAGEMAP_SCAN where available) with memset, instead of
        // madvise: no TLB shootdown on release, no page fault on every stack
        // and heap page the next request touches.
        .pagemap_scan(Enabled::Auto)
        .linear_memory_keep_resident(MEMORY_KEEP_RESIDENT_BYTES)
        .table_keep_resident(TABLE_KEEP_RESIDENT_BYTES);

    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Ok(Engine::new(&config)?)
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until dropped.
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl EpochTicker {
    /// Start the ticker thread.
    pub fn start(engine: Engine) -> anyhow::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        thread::Builder::new()
            .name("tessera-epoch".into())
            .spawn(move || {
                while !stopped.load(Ordering::Relaxed) {
                    thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })?;
        Ok(Self { stop })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
