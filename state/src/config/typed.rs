//! A collection of one record type over the byte-level [`ConfigStore`]: JSON in, JSON out, with
//! the key and revision kept beside each record.

use super::{Collection, ConfigStore, Expect, Revision, Watch, WatchError};
use crate::lease::Fence;
use crate::StoreError;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::marker::PhantomData;
use std::sync::Arc;

/// A record as stored, with the revision that last changed it.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored<T> {
    pub key: String,
    pub value: T,
    pub revision: Revision,
}

pub struct Typed<T> {
    store: Arc<dyn ConfigStore>,
    collection: Collection,
    _records: PhantomData<fn() -> T>,
}

impl<T> Clone for Typed<T> {
    fn clone(&self) -> Self {
        Self { store: self.store.clone(), collection: self.collection, _records: PhantomData }
    }
}

impl<T: Serialize + DeserializeOwned> Typed<T> {
    pub fn new(store: Arc<dyn ConfigStore>, collection: Collection) -> Self {
        Self { store, collection, _records: PhantomData }
    }

    pub fn collection(&self) -> Collection {
        self.collection
    }

    /// Every record, and the store revision the list is current at.
    pub async fn list(&self) -> Result<(Vec<Stored<T>>, Revision), StoreError> {
        let listing = self.store.list(self.collection).await?;
        let records = listing.entries.iter().map(|e| self.decode(&e.key, &e.value).map(|value| Stored { key: e.key.clone(), value, revision: e.revision }));
        Ok((records.collect::<Result<_, _>>()?, listing.revision))
    }

    pub async fn get(&self, key: &str) -> Result<Option<Stored<T>>, StoreError> {
        match self.store.get(self.collection, key).await? {
            Some(e) => Ok(Some(Stored { value: self.decode(key, &e.value)?, key: e.key, revision: e.revision })),
            None => Ok(None),
        }
    }

    pub async fn put(&self, key: &str, value: &T, expect: Expect) -> Result<Revision, StoreError> {
        let bytes = serde_json::to_vec(value).expect("records serialise");
        self.store.put(self.collection, key, bytes.into(), expect).await
    }

    pub async fn put_fenced(&self, key: &str, value: &T, expect: Expect, fence: &Fence) -> Result<Revision, StoreError> {
        let bytes = serde_json::to_vec(value).expect("records serialise");
        self.store.put_fenced(self.collection, key, bytes.into(), expect, fence).await
    }

    pub async fn delete(&self, key: &str, expect: Expect) -> Result<Revision, StoreError> {
        self.store.delete(self.collection, key, expect).await
    }

    pub async fn watch(&self, after: Revision) -> Result<Watch, WatchError> {
        self.store.watch(self.collection, after).await
    }

    pub fn decode(&self, key: &str, bytes: &[u8]) -> Result<T, StoreError> {
        serde_json::from_slice(bytes).map_err(|source| StoreError::Corrupt { key: format!("{}/{key}", self.collection.as_str()), source })
    }
}
