//! Writing the rows of one run of a scheduled (batch) archive
//! (`CREATE ARCHIVE ... EVERY d AS SELECT`).
//!
//! A run's rows are written with the layout and schema rules of every archive (hive
//! partitions, `time` then columns sorted by name, tags dictionary-encoded, rows sorted by
//! tags then time, zstd), one file per partition and measurement, named after the run:
//! `<archive>-f<run>-<k>.parquet` where `run` is the run's scheduled time (ns). The names are
//! deterministic, so a run written again (the same scheduled time, hence the same time range)
//! overwrites its own files instead of adding rows twice; each file is one `put`, which the
//! object stores make atomic (local files are written aside and renamed). When a file of a
//! run cannot be written, the files the run already wrote are deleted, so a failed run leaves
//! nothing behind.

use std::collections::{BTreeMap, HashMap};

use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};

use crate::encode::{file_schema, record_columns, sorted_rows, write_parquet, Columns};
use crate::layout::{data_file_name, partition_dir};
use crate::sink::{split_by_partition, DerivedBatch, META_ARCHIVE, META_FLUSH};
use crate::spec::ArchiveSpec;
use crate::store::ArchiveRoot;
use crate::ArchiveError;

/// What one run wrote.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RunWritten {
    pub rows: u64,
    pub files: Vec<Path>,
    pub bytes: u64,
}

/// The columns every measurement of a batch archive has had (in this process), so a run's
/// files carry the columns of earlier runs too (null where the run has none).
pub type KnownColumns = HashMap<(String, String, String), Columns>;

/// Writes the rows of the run scheduled at `run` (ns since the epoch, not negative) under
/// `root`. On an error, the files written so far by this call are deleted (best effort) and
/// the error is returned.
pub async fn write_run(
    root: &ArchiveRoot,
    spec: &ArchiveSpec,
    run: i64,
    batches: Vec<DerivedBatch>,
    known: &mut KnownColumns,
) -> Result<RunWritten, ArchiveError> {
    let run = u64::try_from(run)
        .map_err(|_| ArchiveError::Config(format!("run time {run} is before 1970")))?;
    // (db, rp, measurement, partition start) -> batches, in a stable order.
    let mut groups: BTreeMap<(String, String, String, i64), Vec<_>> = BTreeMap::new();
    for d in batches {
        if d.batch.num_rows() == 0 {
            continue;
        }
        let key = (d.db.clone(), d.rp.clone(), d.measurement.clone());
        record_columns(known.entry(key).or_default(), &d.batch.schema());
        for (start, b) in split_by_partition(&d.batch, spec.partition) {
            groups
                .entry((d.db.clone(), d.rp.clone(), d.measurement.clone(), start))
                .or_default()
                .push(b);
        }
    }
    let mut written = RunWritten::default();
    for (k, ((db, rp, m, start), batches)) in groups.into_iter().enumerate() {
        let result = async {
            let cols = known
                .get(&(db.clone(), rp.clone(), m.clone()))
                .cloned()
                .unwrap_or_default();
            let schema = file_schema(&cols, spec.time_unit);
            let sorted = sorted_rows(&batches, &schema)?;
            let meta = vec![
                (META_ARCHIVE.to_string(), spec.name.clone()),
                (META_FLUSH.to_string(), run.to_string()),
            ];
            let bytes = write_parquet(&sorted, meta)?;
            let path = partition_dir(&root.prefix, &db, &rp, &m, start, spec.partition)
                .join(data_file_name(&spec.name, run, k));
            let len = bytes.len() as u64;
            root.store.put(&path, PutPayload::from(bytes)).await?;
            Ok::<_, ArchiveError>((path, sorted.num_rows() as u64, len))
        }
        .await;
        match result {
            Ok((path, rows, len)) => {
                written.rows += rows;
                written.bytes += len;
                written.files.push(path);
            }
            Err(e) => {
                for p in &written.files {
                    if let Err(d) = root.store.delete(p).await {
                        tracing::warn!(file = %p, error = %d, "batch archive: cannot delete a file of a failed run");
                    }
                }
                return Err(e);
            }
        }
    }
    Ok(written)
}
