//! Whether each of this process's storage files can be written, for metrics and status
//! endpoints. The files register themselves when opened; the invoker's metrics read this at
//! scrape time (`skiff_storage_writable{store}`, `skiff_storage_write_failures_total{store}`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// One store's condition as last seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreHealth {
    pub store: &'static str,
    pub writable: bool,
    /// Writes that failed because the file could not be written, since the process started.
    pub write_failures: u64,
}

#[derive(Default)]
pub(crate) struct Tracker {
    unwritable: AtomicBool,
    failures: AtomicU64,
}

impl Tracker {
    pub(crate) fn failed(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        self.unwritable.store(true, Ordering::Relaxed);
    }

    pub(crate) fn recovered(&self) {
        self.unwritable.store(false, Ordering::Relaxed);
    }
}

type Registered = Vec<(&'static str, Arc<Tracker>)>;

fn registry() -> &'static Mutex<Registered> {
    static STORES: OnceLock<Mutex<Registered>> = OnceLock::new();
    STORES.get_or_init(Mutex::default)
}

/// The tracker of `store`, shared by every file opened under that name.
pub(crate) fn tracker(store: &'static str) -> Arc<Tracker> {
    let mut stores = registry().lock().expect("lock");
    if let Some((_, tracker)) = stores.iter().find(|(name, _)| *name == store) {
        return tracker.clone();
    }
    let tracker = Arc::new(Tracker::default());
    stores.push((store, tracker.clone()));
    tracker
}

/// Every store opened in this process.
pub fn stores() -> Vec<StoreHealth> {
    let stores = registry().lock().expect("lock");
    stores
        .iter()
        .map(|(store, t)| StoreHealth { store, writable: !t.unwritable.load(Ordering::Relaxed), write_failures: t.failures.load(Ordering::Relaxed) })
        .collect()
}
