//! Compaction: the small files of a partition merged into one, with one schema.
//!
//! # Never duplicates, even across a crash
//!
//! The merged file is written first (one atomic PUT) and names its inputs in its Parquet
//! key-value metadata (`weir.replaces`, a JSON list of file names in the same directory);
//! the inputs are deleted after. A crash between the two leaves both the merged file and
//! (some of) its inputs; the rule "a file named in the `weir.replaces` of a file of the same
//! directory does not exist" makes that harmless:
//! - the archive's own SQL ([`crate::query`]) applies the rule when listing files;
//! - the next compaction of the partition (the sink retries it after a restart, because the
//!   partition stays in its state file's dirty set until compaction succeeded) deletes those
//!   inputs first.
//!
//! Third-party readers (pyarrow, DuckDB, Spark) that list the directory themselves may see
//! the inputs next to the merged file during the PUT-to-delete window (milliseconds on a
//! local disk), or until the restart after a crash inside it.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStoreExt, PutPayload};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::parquet_to_arrow_schema;
use parquet::file::metadata::ParquetMetaDataReader;

use crate::encode::{file_schema, record_columns, sorted_rows, write_parquet, Columns};
use crate::layout::{compacted_file_name, parse_file_name, FileKind};
use crate::sink::{META_ARCHIVE, META_FLUSH};
use crate::spec::TimeUnitSpec;
use crate::store::ArchiveRoot;
use crate::ArchiveError;

/// Key-value metadata key listing the files a compacted file replaces.
pub const META_REPLACES: &str = "weir.replaces";

/// A Parquet file's Arrow schema and key-value metadata, from its footer (one ranged read).
pub async fn read_footer(
    root: &ArchiveRoot,
    meta: &ObjectMeta,
) -> Result<(SchemaRef, HashMap<String, String>), ArchiveError> {
    let size = meta.size;
    let bad = |what: &str| {
        ArchiveError::Schema(format!("{}: not a Parquet file ({what})", meta.location))
    };
    if size < 12 {
        return Err(bad("too short"));
    }
    let tail = root.store.get_range(&meta.location, size - 8..size).await?;
    if &tail[4..8] != b"PAR1" {
        return Err(bad("no footer magic"));
    }
    let len = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if len + 12 > size {
        return Err(bad("footer length"));
    }
    let footer = root
        .store
        .get_range(&meta.location, size - 8 - len..size - 8)
        .await?;
    let md = ParquetMetaDataReader::decode_metadata(&footer)?;
    let fm = md.file_metadata();
    let schema = parquet_to_arrow_schema(fm.schema_descr(), fm.key_value_metadata())?;
    let kv = fm
        .key_value_metadata()
        .map(|kvs| {
            kvs.iter()
                .filter_map(|kv| kv.value.clone().map(|v| (kv.key.clone(), v)))
                .collect()
        })
        .unwrap_or_default();
    Ok((Arc::new(schema), kv))
}

/// The names a file replaces, from its footer metadata.
pub fn replaced_names(kv: &HashMap<String, String>) -> Vec<String> {
    kv.get(META_REPLACES)
        .and_then(|v| serde_json::from_str(v).ok())
        .unwrap_or_default()
}

fn file_name(p: &Path) -> &str {
    p.filename().unwrap_or("")
}

/// Merges archive `archive`'s files smaller than `max_file_bytes` in partition directory
/// `dir` into one file carrying `columns` plus every column of its inputs. Returns how many
/// files were merged (0 when there was nothing to do).
pub async fn compact_partition(
    root: &ArchiveRoot,
    dir: &Path,
    archive: &str,
    columns: &Columns,
    unit: TimeUnitSpec,
    max_file_bytes: usize,
) -> Result<usize, ArchiveError> {
    let listing = root.store.list_with_delimiter(Some(dir)).await?;
    let mut files: Vec<(ObjectMeta, FileKind)> = listing
        .objects
        .into_iter()
        .filter_map(|m| parse_file_name(archive, file_name(&m.location)).map(|k| (m, k)))
        .collect();
    // Finish compactions a crash interrupted: delete inputs a merged file replaces.
    let mut replaced: Vec<String> = Vec::new();
    for (m, kind) in &files {
        if matches!(kind, FileKind::Compacted { .. }) {
            let (_, kv) = read_footer(root, m).await?;
            replaced.extend(replaced_names(&kv));
        }
    }
    if !replaced.is_empty() {
        let mut kept = Vec::new();
        for (m, kind) in files {
            if replaced.iter().any(|r| r == file_name(&m.location)) {
                delete_quietly(root, &m.location).await?;
            } else {
                kept.push((m, kind));
            }
        }
        files = kept;
    }
    let inputs: Vec<(ObjectMeta, FileKind)> = files
        .into_iter()
        .filter(|(m, _)| (m.size as usize) < max_file_bytes)
        .collect();
    if inputs.len() < 2 {
        return Ok(0);
    }
    let newest = inputs
        .iter()
        .map(|(_, k)| match k {
            FileKind::Data { flush } | FileKind::Compacted { flush } => *flush,
        })
        .max()
        .unwrap_or(0);
    let name = compacted_file_name(archive, newest);
    if inputs.iter().any(|(m, _)| file_name(&m.location) == name) {
        // Only possible if the newest input is itself this merged file: nothing new to merge.
        return Ok(0);
    }
    let mut batches: Vec<RecordBatch> = Vec::new();
    for (m, _) in &inputs {
        let bytes = root.store.get(&m.location).await?.bytes().await?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)?
            .with_batch_size(65_536)
            .build()?;
        for b in reader {
            batches.push(b?);
        }
    }
    let mut cols = columns.clone();
    for b in &batches {
        record_columns(&mut cols, &b.schema());
    }
    let schema = file_schema(&cols, unit);
    let input_names: Vec<String> = inputs
        .iter()
        .map(|(m, _)| file_name(&m.location).to_string())
        .collect();
    let meta = vec![
        (META_ARCHIVE.to_string(), archive.to_string()),
        (META_FLUSH.to_string(), newest.to_string()),
        (
            META_REPLACES.to_string(),
            serde_json::to_string(&input_names).unwrap_or_default(),
        ),
    ];
    let bytes = tokio::task::spawn_blocking(move || {
        let sorted = sorted_rows(&batches, &schema)?;
        write_parquet(&sorted, meta)
    })
    .await
    .map_err(|e| ArchiveError::State(format!("compaction encoder panicked: {e}")))??;
    let out = dir.clone().join(name);
    root.store.put(&out, PutPayload::from(bytes)).await?;
    for (m, _) in &inputs {
        delete_quietly(root, &m.location).await?;
    }
    tracing::debug!(dir = %dir, files = inputs.len(), "archive partition compacted");
    Ok(inputs.len())
}

async fn delete_quietly(root: &ArchiveRoot, path: &Path) -> Result<(), ArchiveError> {
    match root.store.delete(path).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
