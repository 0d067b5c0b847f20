//! weir's Parquet archive: router batches into hive-partitioned Parquet files through
//! `object_store` (local directories and S3-compatible stores), compaction of small files,
//! and DataFusion SQL over the result.
//!
//! - [`ArchiveSpec`] / [`ArchiveSink`]: one `CREATE ARCHIVE`; exactly-once across crashes
//!   (see [`sink`]).
//! - [`compact`]: merging a partition's small files without ever exposing duplicates to
//!   the archive's own SQL.
//! - [`ArchiveQuery`]: `SELECT ... FROM db.rp.measurement` over a root, with partition
//!   pruning on `time`, and the JSON / CSV / Arrow IPC renderings of results.
//!
//! Layout: `<root>/<db>/<rp>/<measurement>/date=YYYY-MM-DD[/hour=HH]/<archive>-f<flush>-<k>.parquet`
//! (compacted: `<archive>-c<flush>.parquet`). Schema: `time` Timestamp(ns or us, UTC), then
//! every column the measurement has had, sorted by name; tags `Dictionary(Int32, Utf8)`,
//! fields typed; rows sorted by tags then time; zstd; page statistics.

pub mod batch;
pub mod compact;
pub mod encode;
pub mod layout;
pub mod query;
pub mod sink;
pub mod spec;
pub mod store;

/// The Arrow crate the archive's types come from (results, batches), so callers need no
/// Arrow dependency of their own to read a [`QueryResult`].
pub use arrow;
pub use query::{ArchiveQuery, QueryResult, Scope};
pub use sink::{ArchiveSink, ArchiveStats, Derive, DerivedBatch};
pub use spec::{ArchiveSpec, Partition, StoreConfig, TimeUnitSpec};
pub use store::ArchiveRoot;

/// Archive failures.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("archive configuration: {0}")]
    Config(String),
    #[error("archive state: {0}")]
    State(String),
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("{0}")]
    Query(#[from] datafusion::error::DataFusionError),
    #[error("schema: {0}")]
    Schema(String),
    #[error("the archive is stopped")]
    Stopped,
}
