//! The embedded, crash-safe store for definitions and state that must survive restarts:
//! task definitions with their status, handlers, alert state.
//!
//! It is a thin typed layer over [redb](https://docs.rs/redb): every table maps a name to a
//! JSON document, and every change is one ACID transaction, so a crash leaves either the old or
//! the new definition, never half of one.

use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A table of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Tasks,
    Handlers,
    AlertState,
    Topics,
    /// Per task: what its last checkpoint covers (JSON).
    Checkpoints,
    /// Per task: the state of its last checkpoint (opaque bytes, written with `Checkpoints`).
    CheckpointData,
    /// Per batch query: the scheduled runs it has accounted for (JSON), so runs due while
    /// weir was down are reported at the next start.
    BatchRuns,
    /// User-defined functions (`CREATE FUNCTION`), by name (JSON).
    Functions,
}

impl Table {
    fn definition(self) -> TableDefinition<'static, &'static str, &'static [u8]> {
        TableDefinition::new(match self {
            Table::Tasks => "tasks",
            Table::Handlers => "handlers",
            Table::AlertState => "alert_state",
            Table::Topics => "topics",
            Table::Checkpoints => "checkpoints",
            Table::CheckpointData => "checkpoint_data",
            Table::BatchRuns => "batch_runs",
            Table::Functions => "functions",
        })
    }
}

/// Store failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the store {path}: {message}")]
    Open { path: PathBuf, message: String },
    #[error("store error: {0}")]
    Db(String),
    #[error("stored record {key:?} is unreadable: {source}")]
    Decode {
        key: String,
        source: serde_json::Error,
    },
    #[error("cannot encode record {key:?}: {source}")]
    Encode {
        key: String,
        source: serde_json::Error,
    },
}

fn db_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Db(e.to_string())
}

/// The store.
#[derive(Debug)]
pub struct Store {
    db: Database,
}

impl Store {
    /// Opens or creates the store file.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| StoreError::Open {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        }
        let db = Database::create(path).map_err(|e| StoreError::Open {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        // Create the tables up front so reads never fail on a fresh store.
        let txn = db.begin_write().map_err(db_err)?;
        for t in [
            Table::Tasks,
            Table::Handlers,
            Table::AlertState,
            Table::Topics,
            Table::Checkpoints,
            Table::CheckpointData,
            Table::BatchRuns,
            Table::Functions,
        ] {
            txn.open_table(t.definition()).map_err(db_err)?;
        }
        txn.commit().map_err(db_err)?;
        Ok(Store { db })
    }

    /// Reads one record.
    pub fn get<T: DeserializeOwned>(
        &self,
        table: Table,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let t = txn.open_table(table.definition()).map_err(db_err)?;
        match t.get(key).map_err(db_err)? {
            Some(v) => serde_json::from_slice(v.value())
                .map(Some)
                .map_err(|source| StoreError::Decode {
                    key: key.to_string(),
                    source,
                }),
            None => Ok(None),
        }
    }

    /// Reads one record stored as raw bytes (with [`Change::Put`]).
    pub fn get_bytes(&self, table: Table, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let t = txn.open_table(table.definition()).map_err(db_err)?;
        Ok(t.get(key).map_err(db_err)?.map(|v| v.value().to_vec()))
    }

    /// All records of a table, ordered by key.
    pub fn list<T: DeserializeOwned>(&self, table: Table) -> Result<Vec<(String, T)>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let t = txn.open_table(table.definition()).map_err(db_err)?;
        let mut out = Vec::new();
        for entry in t.iter().map_err(db_err)? {
            let (k, v) = entry.map_err(db_err)?;
            let key = k.value().to_string();
            let value = serde_json::from_slice(v.value()).map_err(|source| StoreError::Decode {
                key: key.clone(),
                source,
            })?;
            out.push((key, value));
        }
        Ok(out)
    }

    /// Applies several changes atomically: all of them or none.
    pub fn apply(&self, changes: &[Change<'_>]) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(db_err)?;
        for change in changes {
            match change {
                Change::Put(table, key, bytes) => {
                    let mut t = txn.open_table(table.definition()).map_err(db_err)?;
                    t.insert(*key, bytes.as_slice()).map_err(db_err)?;
                }
                Change::Delete(table, key) => {
                    let mut t = txn.open_table(table.definition()).map_err(db_err)?;
                    t.remove(*key).map_err(db_err)?;
                }
            }
        }
        txn.commit().map_err(db_err)
    }

    /// Writes one record.
    pub fn put<T: Serialize>(&self, table: Table, key: &str, value: &T) -> Result<(), StoreError> {
        self.apply(&[Change::put(table, key, value)?])
    }

    /// Deletes one record.
    pub fn delete(&self, table: Table, key: &str) -> Result<(), StoreError> {
        self.apply(&[Change::Delete(table, key)])
    }
}

/// One change of an atomic [`Store::apply`].
#[derive(Debug)]
pub enum Change<'a> {
    Put(Table, &'a str, Vec<u8>),
    Delete(Table, &'a str),
}

impl<'a> Change<'a> {
    /// A put of `value` encoded as JSON.
    pub fn put<T: Serialize>(table: Table, key: &'a str, value: &T) -> Result<Self, StoreError> {
        let bytes = serde_json::to_vec(value).map_err(|source| StoreError::Encode {
            key: key.to_string(),
            source,
        })?;
        Ok(Change::Put(table, key, bytes))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_reopen_and_changes_are_atomic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        {
            let s = Store::open(&path).unwrap();
            s.put(Table::Tasks, "a", &serde_json::json!({"v": 1}))
                .unwrap();
            s.apply(&[
                Change::put(Table::Tasks, "b", &2).unwrap(),
                Change::put(Table::Handlers, "h", &"x").unwrap(),
                Change::Delete(Table::Tasks, "a"),
            ])
            .unwrap();
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(s.get::<serde_json::Value>(Table::Tasks, "a").unwrap(), None);
        assert_eq!(s.get::<i32>(Table::Tasks, "b").unwrap(), Some(2));
        let handlers: Vec<(String, String)> = s.list(Table::Handlers).unwrap();
        assert_eq!(handlers, vec![("h".to_string(), "x".to_string())]);
    }
}
