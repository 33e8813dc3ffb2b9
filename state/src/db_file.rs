//! One redb database file that outlives the disk failing under it.
//!
//! redb refuses every transaction after an I/O error until the database is closed and opened
//! again, so a full disk used to leave a store answering errors until the server restarted.
//! Here an I/O error (or a panic inside redb) marks the file *unwritable*: callers get
//! [`StoreError::Unwritable`] at once — the API's 503 — and the next use after a backoff closes
//! and reopens the file, so the store recovers by itself once the disk takes writes again.
//! While the file is unwritable it is logged when the outage starts, at most every
//! [`LOG_EVERY`] while it lasts, and when it ends.
//!
//! Opening refuses a damaged file with [`StoreError::Damaged`], naming the file and what to do,
//! instead of redb's panic (a truncated file trips an assertion inside redb).

use crate::health::{self, Tracker};
use crate::StoreError;
use redb::{Database, DatabaseError, StorageError, WriteTransaction};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// Creates the tables a store needs; run on every open.
pub(crate) type Init = fn(&WriteTransaction) -> Result<(), redb::Error>;

/// First and longest wait between two attempts to reopen an unwritable file.
const FIRST_RETRY: Duration = Duration::from_millis(200);
const LONGEST_RETRY: Duration = Duration::from_secs(5);
/// While a file stays unwritable, it is logged at most this often.
const LOG_EVERY: Duration = Duration::from_secs(30);

pub(crate) struct DbFile {
    path: PathBuf,
    store: &'static str,
    init: Init,
    /// `None` while the file is unwritable: the failed handle has been let go, so it can be
    /// reopened once the last user drops it.
    current: RwLock<Option<Arc<Database>>>,
    /// Lock order: `outage`, then `current`.
    outage: Mutex<Option<Outage>>,
    tracker: Arc<Tracker>,
}

struct Outage {
    reason: String,
    started: Instant,
    next_attempt: Instant,
    backoff: Duration,
    logged: Instant,
}

impl DbFile {
    /// Opens (or creates) the file at start-up; a damaged one is refused with what to do.
    pub(crate) fn open(path: PathBuf, store: &'static str, init: Init) -> Result<Arc<Self>, StoreError> {
        let db = open_database(&path, init)?;
        let tracker = health::tracker(store);
        tracker.recovered();
        let current = RwLock::new(Some(Arc::new(db)));
        Ok(Arc::new(Self { path, store, init, current, outage: Mutex::new(None), tracker }))
    }

    /// Runs `f` on the database. A failure of the file itself (I/O, or redb panicking) marks the
    /// file unwritable and comes back as `Unwritable`; any other error comes back as it was.
    pub(crate) fn with<T>(&self, f: impl FnOnce(&Database) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let db = self.database()?;
        match std::panic::catch_unwind(AssertUnwindSafe(|| f(&db))) {
            Ok(Err(e)) if is_file_failure(&e) => {
                self.failed(&db, e.to_string());
                Err(self.unwritable())
            }
            Ok(result) => result,
            Err(panic) => {
                self.failed(&db, format!("redb panicked: {}", panic_message(&panic)));
                Err(self.unwritable())
            }
        }
    }

    fn database(&self) -> Result<Arc<Database>, StoreError> {
        if let Some(db) = self.current.read().expect("lock").as_ref() {
            return Ok(db.clone());
        }
        self.reopen()
    }

    /// Opens the file again if the backoff allows. One caller tries at a time; the others are
    /// answered at once rather than wait behind a reopen (which may repair the file).
    fn reopen(&self) -> Result<Arc<Database>, StoreError> {
        let Ok(mut outage) = self.outage.try_lock() else {
            return Err(self.unwritable_because("it is being reopened"));
        };
        if let Some(db) = self.current.read().expect("lock").as_ref() {
            return Ok(db.clone()); // reopened meanwhile
        }
        let Some(o) = outage.as_mut() else { return Err(self.unwritable_because("it failed")) };
        if Instant::now() < o.next_attempt {
            return Err(self.unwritable_because(&o.reason));
        }
        match open_database(&self.path, self.init) {
            Ok(db) => {
                let db = Arc::new(db);
                *self.current.write().expect("lock") = Some(db.clone());
                tracing::warn!(store = self.store, path = %self.path.display(), after = ?o.started.elapsed(), "storage is writable again");
                *outage = None;
                self.tracker.recovered();
                Ok(db)
            }
            Err(e) => {
                o.backoff = (o.backoff * 2).min(LONGEST_RETRY);
                o.next_attempt = Instant::now() + o.backoff;
                o.reason = e.to_string();
                self.log_ongoing(o);
                Err(self.unwritable_because(&o.reason))
            }
        }
    }

    /// Lets go of the failed handle `db` and starts (or extends) the outage.
    fn failed(&self, db: &Arc<Database>, reason: String) {
        self.tracker.failed();
        let mut outage = self.outage.lock().expect("lock");
        let mut current = self.current.write().expect("lock");
        if current.as_ref().is_some_and(|c| Arc::ptr_eq(c, db)) {
            *current = None;
        }
        drop(current);
        match outage.as_mut() {
            Some(o) => {
                o.reason = reason;
                self.log_ongoing(o);
            }
            None => {
                tracing::error!(store = self.store, path = %self.path.display(), "storage cannot be written, refusing writes until it can: {reason}");
                let now = Instant::now();
                *outage = Some(Outage { reason, started: now, next_attempt: now + FIRST_RETRY, backoff: FIRST_RETRY, logged: now });
            }
        }
    }

    fn log_ongoing(&self, o: &mut Outage) {
        if o.logged.elapsed() >= LOG_EVERY {
            o.logged = Instant::now();
            tracing::warn!(store = self.store, path = %self.path.display(), since = ?o.started.elapsed(), "storage still cannot be written: {}", o.reason);
        }
    }

    fn unwritable(&self) -> StoreError {
        match self.outage.try_lock() {
            Ok(outage) => self.unwritable_because(outage.as_ref().map_or("it failed", |o| o.reason.as_str())),
            Err(_) => self.unwritable_because("it is being reopened"),
        }
    }

    fn unwritable_because(&self, reason: &str) -> StoreError {
        StoreError::Unwritable { store: self.store, path: self.path.clone(), reason: reason.to_string() }
    }
}

/// Errors that mean the file, not the request, failed: redb needs a reopen after them.
fn is_file_failure(e: &StoreError) -> bool {
    matches!(e, StoreError::Database { source: redb::Error::Io(_) | redb::Error::PreviousIo, .. })
}

fn open_database(path: &Path, init: Init) -> Result<Database, StoreError> {
    let damaged = |reason: String| StoreError::Damaged { path: path.to_path_buf(), reason };
    let db = match quietly(|| Database::create(path)) {
        Ok(Ok(db)) => db,
        Ok(Err(DatabaseError::Storage(StorageError::Corrupted(reason)))) => return Err(damaged(reason)),
        Ok(Err(DatabaseError::Storage(StorageError::Io(e)))) if matches!(e.kind(), std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::InvalidData) => {
            return Err(damaged(format!("it is not a readable database: {e}")))
        }
        Ok(Err(e)) => return Err(StoreError::db(format!("opening {}", path.display()))(e)),
        Err(panic) => return Err(damaged(panic_message(&panic))),
    };
    let what = || format!("creating the tables of {}", path.display());
    let tx = db.begin_write().map_err(StoreError::db(what()))?;
    init(&tx).map_err(StoreError::db(what()))?;
    tx.commit().map_err(StoreError::db(what()))?;
    Ok(db)
}

thread_local! {
    /// Set while this thread runs something whose panic is caught and reported as an error.
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f`, catching a panic without printing it: the caller turns it into an error that says
/// what to do. A hook installed once, around the usual one, stays silent only for the thread
/// inside `quietly`; panics anywhere else are reported as ever.
fn quietly<T>(f: impl FnOnce() -> T) -> std::thread::Result<T> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let usual = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.get() {
                usual(info);
            }
        }));
    });
    QUIET.set(true);
    let result = std::panic::catch_unwind(AssertUnwindSafe(f));
    QUIET.set(false);
    result
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::TableDefinition;

    const T: TableDefinition<&str, &[u8]> = TableDefinition::new("t");

    fn init(tx: &WriteTransaction) -> Result<(), redb::Error> {
        tx.open_table(T)?;
        Ok(())
    }

    fn fill(path: &Path) {
        let file = DbFile::open(path.to_path_buf(), "test", init).unwrap();
        for i in 0..100 {
            file.with(|db| {
                let tx = db.begin_write().map_err(StoreError::db("w"))?;
                tx.open_table(T).map_err(StoreError::db("w"))?.insert(format!("k{i}").as_str(), [7u8; 2000].as_slice()).map_err(StoreError::db("w"))?;
                tx.commit().map_err(StoreError::db("w"))
            })
            .unwrap();
        }
    }

    #[test]
    fn a_truncated_file_is_refused_with_its_name_and_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.redb");
        fill(&path);
        let len = std::fs::metadata(&path).unwrap().len();
        for cut in [len / 2, 4096, 100] {
            std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(cut).unwrap();
            let refused = DbFile::open(path.clone(), "test", init).err().expect("a damaged file is refused");
            let message = refused.to_string();
            assert!(matches!(refused, StoreError::Damaged { .. }), "cut at {cut}: {message}");
            assert!(message.contains("x.redb") && message.contains("move it aside"), "{message}");
        }
    }

    #[test]
    fn a_flipped_header_is_refused_the_same_way() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.redb");
        fill(&path);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[0] ^= 0xff;
        std::fs::write(&path, bytes).unwrap();
        let refused = DbFile::open(path.clone(), "test", init).err().expect("a damaged file is refused");
        assert!(matches!(refused, StoreError::Damaged { .. }), "{refused}");
    }
}
