use std::time::Duration;
use wasmtime::ResourceLimiter;

/// How often the epoch advances: a running guest yields (or, past its timeout, is stopped) at
/// every tick. Timeouts are enforced to within one tick; the check itself costs the same
/// whatever the tick, so a short tick only costs the ticker thread's wake-ups.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Caps a store's linear memories at the function's memory size and remembers whether the cap
/// was what stopped the guest, so a failure after a refused grow is reported as
/// `Runtime.OutOfMemory` rather than a generic crash.
///
/// A refused grow is not itself a trap: `memory.grow` returns -1 and the guest decides (a C guest's
/// `malloc` returns NULL). Only if the invocation then fails do we blame the cap.
pub(crate) struct MemoryCap {
    limit_bytes: usize,
    peak_bytes: usize,
    refused: bool,
}

impl MemoryCap {
    pub(crate) fn new(limit_bytes: usize) -> Self {
        Self { limit_bytes, peak_bytes: 0, refused: false }
    }

    pub(crate) fn refused(&self) -> bool {
        self.refused
    }

    pub(crate) fn peak_bytes(&self) -> usize {
        self.peak_bytes
    }
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        let within_module_max = maximum.is_none_or(|max| desired <= max);
        if desired > self.limit_bytes {
            self.refused = true;
            return Ok(false);
        }
        if within_module_max {
            self.peak_bytes = self.peak_bytes.max(desired).max(current);
        }
        Ok(within_module_max)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        // The pooling allocator refused (slot too small): that, too, is the guest running out of
        // memory it may have; let the guest see -1 like any other refused grow.
        self.refused = true;
        Ok(())
    }

    fn table_growing(&mut self, _current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(maximum.is_none_or(|max| desired <= max))
    }
}
