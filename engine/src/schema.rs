//! Measurement schemas: which columns a measurement has, whether each is a tag or a field,
//! and the type a field was first seen with.
//!
//! InfluxDB fixes a field's type the first time it is written and rejects later writes of
//! another type; weir does the same per (database, measurement), and keeps the registry on
//! disk so the rule holds across restarts.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, TimeUnit};
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

/// Name of the time column of every batch.
pub const TIME_COLUMN: &str = "time";
/// Arrow field metadata key saying whether a column is a tag or a field.
pub const COLUMN_KIND_KEY: &str = "weir.kind";

/// The type of a line-protocol field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    Float,
    Integer,
    Unsigned,
    Boolean,
    String,
}

impl FieldType {
    /// The name InfluxDB uses for the type in its error messages.
    pub fn name(self) -> &'static str {
        match self {
            FieldType::Float => "float",
            FieldType::Integer => "integer",
            FieldType::Unsigned => "unsigned",
            FieldType::Boolean => "boolean",
            FieldType::String => "string",
        }
    }

    /// The Arrow type a field of this type is stored as.
    pub fn arrow_type(self) -> DataType {
        match self {
            FieldType::Float => DataType::Float64,
            FieldType::Integer => DataType::Int64,
            FieldType::Unsigned => DataType::UInt64,
            FieldType::Boolean => DataType::Boolean,
            FieldType::String => DataType::Utf8,
        }
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a column of a measurement is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "type")]
pub enum ColumnKind {
    Tag,
    Field(FieldType),
}

impl ColumnKind {
    /// Human name for error messages: `tag` or the field type.
    pub fn describe(self) -> String {
        match self {
            ColumnKind::Tag => "tag".to_string(),
            ColumnKind::Field(t) => format!("{t} field"),
        }
    }
}

/// The Arrow type of tag columns: dictionary-encoded strings, because tag values repeat.
pub fn tag_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

/// The Arrow type of the time column.
pub fn time_type() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
}

/// The Arrow field for a column of the given kind, with its kind in the metadata.
pub fn arrow_field(name: &str, kind: ColumnKind) -> Field {
    let (data_type, kind_name) = match kind {
        ColumnKind::Tag => (tag_type(), "tag"),
        ColumnKind::Field(t) => (t.arrow_type(), "field"),
    };
    Field::new(name, data_type, true).with_metadata(HashMap::from([(
        COLUMN_KIND_KEY.to_string(),
        kind_name.to_string(),
    )]))
}

/// The Arrow field of the time column.
pub fn time_field() -> Field {
    Field::new(TIME_COLUMN, time_type(), false).with_metadata(HashMap::from([(
        COLUMN_KIND_KEY.to_string(),
        "time".to_string(),
    )]))
}

/// Why a column could not be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaConflict {
    #[error("field type conflict: field \"{column}\" on measurement \"{measurement}\" is type {new}, already exists as type {existing}")]
    FieldType {
        measurement: String,
        column: String,
        existing: FieldType,
        new: FieldType,
    },
    #[error("column conflict: \"{column}\" on measurement \"{measurement}\" is written as a {new}, already exists as a {existing}")]
    Kind {
        measurement: String,
        column: String,
        existing: String,
        new: String,
    },
    #[error("invalid key: \"time\" cannot be used as a tag or field key (measurement \"{measurement}\")")]
    TimeKey { measurement: String },
}

/// Failure to load or persist the registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("cannot read schema registry {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("schema registry {path} is corrupt: {source}")]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot write schema registry {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

type MeasurementKey = (String, String);

#[derive(Debug, Default, Serialize, Deserialize)]
struct RegistryFile {
    /// db -> measurement -> column -> kind
    databases: std::collections::BTreeMap<
        String,
        std::collections::BTreeMap<String, std::collections::BTreeMap<String, ColumnKind>>,
    >,
}

/// The per-(database, measurement) column registry, optionally persisted to a JSON file.
#[derive(Debug)]
pub struct SchemaRegistry {
    columns: RwLock<HashMap<MeasurementKey, Arc<HashMap<String, ColumnKind>>>>,
    path: Option<PathBuf>,
    persist_lock: parking_lot::Mutex<()>,
}

impl SchemaRegistry {
    /// An in-memory registry (tests, benchmarks).
    pub fn in_memory() -> Self {
        Self {
            columns: RwLock::new(HashMap::new()),
            path: None,
            persist_lock: parking_lot::Mutex::new(()),
        }
    }

    /// Opens (or creates) the registry persisted at `path`.
    pub fn open(path: &Path) -> Result<Self, RegistryError> {
        let mut columns = HashMap::new();
        match std::fs::read(path) {
            Ok(bytes) => {
                let file: RegistryFile =
                    serde_json::from_slice(&bytes).map_err(|source| RegistryError::Corrupt {
                        path: path.to_path_buf(),
                        source,
                    })?;
                for (db, measurements) in file.databases {
                    for (m, cols) in measurements {
                        columns.insert((db.clone(), m), Arc::new(cols.into_iter().collect()));
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(RegistryError::Read {
                    path: path.to_path_buf(),
                    source,
                })
            }
        }
        Ok(Self {
            columns: RwLock::new(columns),
            path: Some(path.to_path_buf()),
            persist_lock: parking_lot::Mutex::new(()),
        })
    }

    /// The kind registered for a column, if any.
    pub fn lookup(&self, db: &str, measurement: &str, column: &str) -> Option<ColumnKind> {
        let guard = self.columns.read();
        guard
            .get(&(db.to_string(), measurement.to_string()))
            .and_then(|cols| cols.get(column).copied())
    }

    /// All columns of a measurement.
    pub fn columns(&self, db: &str, measurement: &str) -> Option<Arc<HashMap<String, ColumnKind>>> {
        self.columns
            .read()
            .get(&(db.to_string(), measurement.to_string()))
            .map(Arc::clone)
    }

    /// Checks `column` against the registry, registering it when new. Returns whether the
    /// registry changed (the caller persists before acknowledging the write).
    pub fn check_or_register(
        &self,
        db: &str,
        measurement: &str,
        column: &str,
        kind: ColumnKind,
    ) -> Result<bool, SchemaConflict> {
        if column == TIME_COLUMN {
            return Err(SchemaConflict::TimeKey {
                measurement: measurement.to_string(),
            });
        }
        if let Some(existing) = self.lookup(db, measurement, column) {
            return compare(measurement, column, existing, kind).map(|()| false);
        }
        let mut guard = self.columns.write();
        let entry = guard
            .entry((db.to_string(), measurement.to_string()))
            .or_insert_with(|| Arc::new(HashMap::new()));
        if let Some(existing) = entry.get(column).copied() {
            return compare(measurement, column, existing, kind).map(|()| false);
        }
        Arc::make_mut(entry).insert(column.to_string(), kind);
        Ok(true)
    }

    /// Writes the registry to disk (atomically: temp file, fsync, rename).
    pub fn persist(&self) -> Result<(), RegistryError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let _serialize = self.persist_lock.lock();
        let mut file = RegistryFile::default();
        for ((db, m), cols) in self.columns.read().iter() {
            file.databases.entry(db.clone()).or_default().insert(
                m.clone(),
                cols.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            );
        }
        let write_err = |source| RegistryError::Write {
            path: path.clone(),
            source,
        };
        let bytes =
            serde_json::to_vec_pretty(&file).map_err(|e| write_err(std::io::Error::other(e)))?;
        crate::wal::fsio::write_atomic(path, &bytes).map_err(write_err)
    }
}

fn compare(
    measurement: &str,
    column: &str,
    existing: ColumnKind,
    new: ColumnKind,
) -> Result<(), SchemaConflict> {
    match (existing, new) {
        (a, b) if a == b => Ok(()),
        (ColumnKind::Field(existing), ColumnKind::Field(new)) => Err(SchemaConflict::FieldType {
            measurement: measurement.to_string(),
            column: column.to_string(),
            existing,
            new,
        }),
        (existing, new) => Err(SchemaConflict::Kind {
            measurement: measurement.to_string(),
            column: column.to_string(),
            existing: existing.describe(),
            new: new.describe(),
        }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn first_type_wins_and_conflicts_name_both_types() {
        let r = SchemaRegistry::in_memory();
        assert!(r
            .check_or_register("db", "cpu", "v", ColumnKind::Field(FieldType::Float))
            .unwrap());
        assert!(!r
            .check_or_register("db", "cpu", "v", ColumnKind::Field(FieldType::Float))
            .unwrap());
        let err = r
            .check_or_register("db", "cpu", "v", ColumnKind::Field(FieldType::Integer))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "field type conflict: field \"v\" on measurement \"cpu\" is type integer, already exists as type float"
        );
        // Other measurements and databases are independent.
        assert!(r
            .check_or_register("db", "mem", "v", ColumnKind::Field(FieldType::Integer))
            .unwrap());
        assert!(r
            .check_or_register("db2", "cpu", "v", ColumnKind::Field(FieldType::Integer))
            .unwrap());
    }

    #[test]
    fn tag_and_field_cannot_share_a_name() {
        let r = SchemaRegistry::in_memory();
        r.check_or_register("db", "cpu", "host", ColumnKind::Tag)
            .unwrap();
        let err = r
            .check_or_register("db", "cpu", "host", ColumnKind::Field(FieldType::String))
            .unwrap_err();
        assert!(err.to_string().contains("already exists as a tag"), "{err}");
        assert!(r
            .check_or_register("db", "cpu", "time", ColumnKind::Tag)
            .is_err());
    }

    #[test]
    fn registry_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("schema.json");
        let r = SchemaRegistry::open(&path).unwrap();
        r.check_or_register("db", "cpu", "v", ColumnKind::Field(FieldType::Boolean))
            .unwrap();
        r.persist().unwrap();
        let r2 = SchemaRegistry::open(&path).unwrap();
        assert_eq!(
            r2.lookup("db", "cpu", "v"),
            Some(ColumnKind::Field(FieldType::Boolean))
        );
    }
}
