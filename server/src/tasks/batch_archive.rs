//! The sink of a batch archive (`CREATE ARCHIVE ... EVERY d AS SELECT ...`): each run's
//! result rows, line protocol as for every batch query, are typed as ingest types them and
//! written to the archive root by [`weir_archive::batch::write_run`], one file per partition
//! and measurement named after the run's time range. Writing a run of the same range again
//! overwrites its files; a run whose write fails leaves none.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde_json::Value;
use weir_archive::batch::{write_run, KnownColumns};
use weir_archive::{ArchiveRoot, ArchiveSpec};
use weir_engine::schema::SchemaRegistry;

use super::archive_query::lines_to_batches;

/// Where a batch archive's runs are written.
#[derive(Debug)]
pub struct BatchArchiveOut {
    spec: ArchiveSpec,
    root: ArchiveRoot,
    /// Database and retention policy the rows are filed under.
    db: String,
    rp: String,
    registry: SchemaRegistry,
    known: tokio::sync::Mutex<KnownColumns>,
    rows_written: AtomicU64,
    files_written: AtomicU64,
    bytes_written: AtomicU64,
    last_files: parking_lot::Mutex<Vec<String>>,
}

impl BatchArchiveOut {
    pub fn new(spec: ArchiveSpec, root: ArchiveRoot, db: String, rp: String) -> BatchArchiveOut {
        BatchArchiveOut {
            spec,
            root,
            db,
            rp,
            registry: SchemaRegistry::in_memory(),
            known: tokio::sync::Mutex::new(KnownColumns::new()),
            rows_written: AtomicU64::new(0),
            files_written: AtomicU64::new(0),
            bytes_written: AtomicU64::new(0),
            last_files: parking_lot::Mutex::new(Vec::new()),
        }
    }

    /// Writes the rows of the run whose key is `key` (its range, or its scheduled time); the
    /// number of rows written.
    pub async fn write(&self, key: u64, body: &[u8]) -> Result<u64, String> {
        let batches = lines_to_batches(&self.db, &self.rp, &self.registry, body)?;
        let mut known = self.known.lock().await;
        let w = write_run(&self.root, &self.spec, key, batches, &mut known)
            .await
            .map_err(|e| {
                format!(
                    "cannot write the run to archive {} at {}: {e} (nothing of this run is left in the archive)",
                    self.spec.name, self.root.url
                )
            })?;
        self.rows_written.fetch_add(w.rows, Relaxed);
        self.files_written.fetch_add(w.files.len() as u64, Relaxed);
        self.bytes_written.fetch_add(w.bytes, Relaxed);
        *self.last_files.lock() = w.files.iter().map(ToString::to_string).collect();
        Ok(w.rows)
    }

    pub fn describe(&self) -> String {
        format!(
            "writes the rows to archive {} ({}.{}.<measurement> under {}, partitioned by {:?}, time unit {:?}; one file per partition and measurement per run, named after the run's time range, so a run of the same range replaces its files)",
            self.spec.name, self.db, self.rp, self.root.url, self.spec.partition, self.spec.time_unit
        )
    }

    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "rows_written": self.rows_written.load(Relaxed),
            "files_written": self.files_written.load(Relaxed),
            "bytes_written": self.bytes_written.load(Relaxed),
            "last_run_files": *self.last_files.lock(),
        })
    }
}
