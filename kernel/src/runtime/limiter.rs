//! Per-call memory limit, remembering whether the plugin hit it so that the
//! failure can be reported as "out of memory" rather than a bare trap.

/// A [`wasmtime::ResourceLimiter`] enforcing one plugin's memory limit.
#[derive(Debug)]
pub struct MemoryLimiter {
    limit: usize,
    exceeded: bool,
}

/// Table elements an instance may grow to; far beyond what real plugins use.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

impl MemoryLimiter {
    /// A limiter allowing `limit` bytes of linear memory per memory.
    pub fn new(limit: u64) -> Self {
        Self {
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
            exceeded: false,
        }
    }

    /// Whether the plugin asked for more memory than allowed.
    pub fn exceeded(&self) -> bool {
        self.exceeded
    }
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.exceeded = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}
