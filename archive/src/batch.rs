//! Writing the rows of one run of a scheduled (batch) archive
//! (`CREATE ARCHIVE ... EVERY d AS SELECT`).
//!
//! A run's rows are written with the layout and schema rules of every archive (hive
//! partitions, `time` then columns sorted by name, tags dictionary-encoded, rows sorted by
//! tags then time, zstd), one file per partition and measurement, named after the run:
//! `<archive>-f<key>-0000.parquet` where `key` identifies the run's time range (see
//! [`run_key`]). The names are deterministic, so a run of the same range written again (a
//! retried run, a fixed range run on every schedule tick, a restart) overwrites its own files
//! instead of adding rows twice; each file is one `put`, which the
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

/// The key of a run reading `[lo, hi]` (ns, inclusive): FNV-1a of both ends, stable across
/// processes and versions, so the same range always names the same files.
pub fn run_key(lo: i64, hi: i64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in lo.to_le_bytes().into_iter().chain(hi.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Writes the rows of the run `run` (its [`run_key`]) under `root`. On an error, the files
/// written so far by this call are deleted (best effort) and the error is returned.
pub async fn write_run(
    root: &ArchiveRoot,
    spec: &ArchiveSpec,
    run: u64,
    batches: Vec<DerivedBatch>,
    known: &mut KnownColumns,
) -> Result<RunWritten, ArchiveError> {
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
    // One file per group, each in its own directory: its name depends on the run only.
    for ((db, rp, m, start), batches) in groups {
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
                .join(data_file_name(&spec.name, run, 0));
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::spec::{Partition, StoreConfig};
    use arrow::array::{Float64Array, TimestampNanosecondArray};
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use arrow::record_batch::RecordBatch;
    use std::sync::Arc;

    fn batch(times: &[i64], values: &[f64]) -> DerivedBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new(
                "time",
                DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
                false,
            ),
            Field::new("v", DataType::Float64, true),
        ]));
        let b = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(TimestampNanosecondArray::from(times.to_vec()).with_timezone("UTC")),
                Arc::new(Float64Array::from(values.to_vec())),
            ],
        )
        .unwrap();
        DerivedBatch {
            db: "db".into(),
            rp: "autogen".into(),
            measurement: "m".into(),
            batch: b,
        }
    }

    fn files(dir: &std::path::Path) -> Vec<String> {
        let mut out = Vec::new();
        for e in walk(dir) {
            out.push(e.strip_prefix(dir).unwrap().display().to_string());
        }
        out.sort();
        out
    }

    fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
        out
    }

    #[test]
    fn run_keys_are_stable_and_distinct() {
        assert_eq!(run_key(1, 2), run_key(1, 2));
        assert_ne!(run_key(1, 2), run_key(2, 1));
        assert_ne!(run_key(0, i64::MAX), run_key(0, i64::MAX - 1));
    }

    #[tokio::test]
    async fn a_run_writes_one_file_per_partition_and_the_same_run_overwrites_them() {
        let dir = tempfile::tempdir().unwrap();
        let root =
            ArchiveRoot::open(dir.path().to_str().unwrap(), &StoreConfig::default()).unwrap();
        let mut spec = ArchiveSpec::new("b", "db", dir.path().to_str().unwrap());
        spec.partition = Partition::Hour;
        let h = 3_600_000_000_000;
        let mut known = KnownColumns::new();
        let rows = vec![batch(&[10, h + 5, 20], &[1.0, 2.0, 3.0])];
        let w = write_run(&root, &spec, 7, rows.clone(), &mut known)
            .await
            .unwrap();
        assert_eq!(w.rows, 3);
        assert_eq!(w.files.len(), 2);
        let first = files(dir.path());
        assert_eq!(first.len(), 2, "{first:?}");
        assert!(
            first[0].starts_with("db/autogen/m/date=1970-01-01/hour=00/b-f"),
            "{first:?}"
        );
        // The same run again: the same files, not more.
        write_run(&root, &spec, 7, rows.clone(), &mut known)
            .await
            .unwrap();
        assert_eq!(files(dir.path()), first);
        // Another run: its own files.
        write_run(&root, &spec, 8, rows, &mut known).await.unwrap();
        assert_eq!(files(dir.path()).len(), 4);
    }
}
