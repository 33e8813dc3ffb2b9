//! Durable state under the data dir: function, trigger and service configs in a redb database (one transaction per
//! change, fsync'd on commit) and code blobs in `code/<sha256>` written atomically.
//!
//! Invariant: a config is committed only after its code blob is durable, so every stored config
//! can be served after a crash; a blob without a config is garbage, collected on delete.

use crate::services::config::ServiceConfig;
use crate::{FunctionConfig, InvokerError, TriggerConfig};
use redb::{Database, ReadableTable, TableDefinition};
use std::io::Write;
use std::path::{Path, PathBuf};

type Table = TableDefinition<'static, &'static str, &'static [u8]>;
const FUNCTIONS: Table = TableDefinition::new("functions");
const TRIGGERS: Table = TableDefinition::new("triggers");
const SERVICES: Table = TableDefinition::new("services");

pub(crate) struct Store {
    db: Database,
    code_dir: PathBuf,
}

impl Store {
    pub(crate) fn open(data_dir: &Path) -> Result<Self, InvokerError> {
        let code_dir = data_dir.join("code");
        std::fs::create_dir_all(&code_dir)?;
        let db = Database::create(data_dir.join("skiff.redb"))?;
        let tx = db.begin_write()?;
        tx.open_table(FUNCTIONS)?;
        tx.open_table(TRIGGERS)?;
        tx.open_table(SERVICES)?;
        tx.commit()?;
        Ok(Self { db, code_dir })
    }

    pub(crate) fn list(&self) -> Result<Vec<FunctionConfig>, InvokerError> {
        self.all(FUNCTIONS)
    }

    pub(crate) fn put(&self, config: &FunctionConfig) -> Result<(), InvokerError> {
        self.insert(FUNCTIONS, &config.name, config)
    }

    pub(crate) fn delete(&self, name: &str) -> Result<(), InvokerError> {
        self.remove(FUNCTIONS, name)
    }

    pub(crate) fn list_triggers(&self) -> Result<Vec<TriggerConfig>, InvokerError> {
        self.all(TRIGGERS)
    }

    pub(crate) fn put_trigger(&self, trigger: &TriggerConfig) -> Result<(), InvokerError> {
        self.insert(TRIGGERS, &trigger.id, trigger)
    }

    pub(crate) fn delete_trigger(&self, id: &str) -> Result<(), InvokerError> {
        self.remove(TRIGGERS, id)
    }

    pub(crate) fn list_services(&self) -> Result<Vec<ServiceConfig>, InvokerError> {
        self.all(SERVICES)
    }

    pub(crate) fn put_service(&self, service: &ServiceConfig) -> Result<(), InvokerError> {
        self.insert(SERVICES, &service.name, service)
    }

    pub(crate) fn delete_service(&self, name: &str) -> Result<(), InvokerError> {
        self.remove(SERVICES, name)
    }

    fn all<T: serde::de::DeserializeOwned>(&self, def: Table) -> Result<Vec<T>, InvokerError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(def)?;
        let mut out = Vec::new();
        for row in table.iter()? {
            let (_, value) = row?;
            out.push(serde_json::from_slice(value.value())?);
        }
        Ok(out)
    }

    /// One record, committed (fsync'd) before returning.
    fn insert(&self, def: Table, key: &str, value: &impl serde::Serialize) -> Result<(), InvokerError> {
        let bytes = serde_json::to_vec(value)?;
        let tx = self.db.begin_write()?;
        tx.open_table(def)?.insert(key, bytes.as_slice())?;
        tx.commit()?;
        Ok(())
    }

    fn remove(&self, def: Table, key: &str) -> Result<(), InvokerError> {
        let tx = self.db.begin_write()?;
        tx.open_table(def)?.remove(key)?;
        tx.commit()?;
        Ok(())
    }

    pub(crate) fn code_path(&self, sha256: &str) -> PathBuf {
        self.code_dir.join(sha256)
    }

    /// Writes a blob durably (temp file, fsync, rename, fsync dir) unless it is already there.
    pub(crate) fn write_code(&self, sha256: &str, code: &[u8]) -> Result<(), InvokerError> {
        let path = self.code_path(sha256);
        if path.exists() {
            return Ok(());
        }
        let mut tmp = tempfile::NamedTempFile::new_in(&self.code_dir)?;
        tmp.write_all(code)?;
        tmp.as_file().sync_all()?;
        tmp.persist(&path).map_err(|e| e.error)?;
        std::fs::File::open(&self.code_dir)?.sync_all()?;
        Ok(())
    }

    pub(crate) fn read_code(&self, sha256: &str) -> Result<Vec<u8>, InvokerError> {
        Ok(std::fs::read(self.code_path(sha256))?)
    }

    /// Removes a blob no stored config refers to any more.
    pub(crate) fn collect_code(&self, sha256: &str) -> Result<(), InvokerError> {
        let referenced = self.list()?.iter().any(|f| f.code.sha256() == Some(sha256));
        if !referenced {
            match std::fs::remove_file(self.code_path(sha256)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                _ => {}
            }
        }
        Ok(())
    }
}
