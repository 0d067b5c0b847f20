//! End to end: the real ingest pipeline (write-ahead log, batcher, router) feeding an archive
//! in a temp dir; files, schema, crash recovery, compaction and SQL checked.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs::File;

use arrow::array::Array;
use arrow::datatypes::{DataType, TimeUnit};
use common::*;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::reader::FileReader;
use parquet::file::serialized_reader::SerializedFileReader;
use weir_archive::sink::CrashPoint;

type SortKey = (Option<String>, Option<String>, Option<String>, i64);

fn lines(m: &str, from: usize, to: usize) -> String {
    let mut s = String::new();
    for i in from..to {
        let host = ["web-2", "web-1", "db-1"][i % 3];
        let t = T0 + (i as i64) * 1_000_000_007; // ~1s apart, crosses hour 0 -> 1 at i=3600
        s.push_str(&format!(
            "{m},host={host},region=eu usage={}.5,count={}i {t}\n",
            i % 100,
            i
        ));
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_have_the_spec_layout_schema_and_order() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("archive");
    let node = start(dir.path(), spec("raw", &root), 1).await;
    node.write(lines("cpu", 3590, 3610)).await;
    node.write("cpu,host=web-1,zone=a aaa=true,zzz=\"s\" 1704070800500000000\n")
        .await;
    node.flush().await.unwrap();
    node.stop().await;

    let files = parquet_files(&root);
    let rel: Vec<String> = files
        .iter()
        .map(|p| {
            p.strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(rel.len(), 2, "{rel:?}");
    assert!(
        rel[0].starts_with("telegraf/autogen/cpu/date=2024-01-01/hour=00/raw-f"),
        "{rel:?}"
    );
    assert!(
        rel[1].starts_with("telegraf/autogen/cpu/date=2024-01-01/hour=01/raw-f"),
        "{rel:?}"
    );

    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&files[1]).unwrap()).unwrap();
    let schema = std::sync::Arc::clone(reader.schema());
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    // time first, then tags and fields together sorted by name; every column the measurement
    // has had (the hour-0 file, written in the same roll, has them too).
    assert_eq!(
        names,
        ["time", "aaa", "count", "host", "region", "usage", "zone", "zzz"]
    );
    assert_eq!(
        schema.field(0).data_type(),
        &DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
    );
    assert!(matches!(
        schema.field_with_name("host").unwrap().data_type(),
        DataType::Dictionary(_, _)
    ));
    assert_eq!(
        schema.field_with_name("count").unwrap().data_type(),
        &DataType::Int64
    );
    assert_eq!(
        schema.field_with_name("aaa").unwrap().data_type(),
        &DataType::Boolean
    );
    let schema0 = std::sync::Arc::clone(
        ParquetRecordBatchReaderBuilder::try_new(File::open(&files[0]).unwrap())
            .unwrap()
            .schema(),
    );
    assert_eq!(schema0.fields().len(), 8);

    let batches: Vec<_> = reader.build().unwrap().collect::<Result<_, _>>().unwrap();
    let b = arrow::compute::concat_batches(&schema, &batches).unwrap();
    let hosts = arrow::compute::cast(b.column_by_name("host").unwrap(), &DataType::Utf8).unwrap();
    let hosts = hosts
        .as_any()
        .downcast_ref::<arrow::array::StringArray>()
        .unwrap();
    let regions =
        arrow::compute::cast(b.column_by_name("region").unwrap(), &DataType::Utf8).unwrap();
    let regions = regions
        .as_any()
        .downcast_ref::<arrow::array::StringArray>()
        .unwrap();
    let zones = arrow::compute::cast(b.column_by_name("zone").unwrap(), &DataType::Utf8).unwrap();
    let zones = zones
        .as_any()
        .downcast_ref::<arrow::array::StringArray>()
        .unwrap();
    let times = b
        .column(0)
        .as_any()
        .downcast_ref::<arrow::array::TimestampNanosecondArray>()
        .unwrap();
    // Nulls sort first: None < Some.
    let keys: Vec<SortKey> = (0..b.num_rows())
        .map(|i| {
            let s = |a: &arrow::array::StringArray| a.is_valid(i).then(|| a.value(i).to_string());
            (s(hosts), s(regions), s(zones), times.value(i))
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "rows are sorted by tags then time");
    assert_eq!(b.num_rows(), 11);

    let meta = SerializedFileReader::new(File::open(&files[1]).unwrap()).unwrap();
    let rg = meta.metadata().row_group(0);
    for c in rg.columns() {
        assert!(
            matches!(c.compression(), parquet::basic::Compression::ZSTD(_)),
            "{:?}",
            c.compression()
        );
        assert!(
            c.statistics().is_some(),
            "statistics on {}",
            c.column_path()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_grows_across_files_and_never_loses_columns() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("archive");
    let node = start(dir.path(), spec("raw", &root), 1).await;
    node.write(format!("mem,host=a used=1i {T0}\n")).await;
    node.flush().await.unwrap();
    node.write(format!("mem,host=a,dc=x used=2i,free=3.5 {}\n", T0 + 1))
        .await;
    node.flush().await.unwrap();
    node.stop().await;
    // Restart: the archive remembers the columns.
    let node = start(dir.path(), spec("raw", &root), 1).await;
    node.write(format!("mem,host=b used=4i {}\n", T0 + 2)).await;
    node.flush().await.unwrap();
    node.stop().await;

    let files = parquet_files(&root);
    assert_eq!(files.len(), 3);
    let cols = |p: &std::path::Path| -> Vec<String> {
        let r = ParquetRecordBatchReaderBuilder::try_new(File::open(p).unwrap()).unwrap();
        r.schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    };
    assert_eq!(cols(&files[0]), ["time", "host", "used"]);
    assert_eq!(cols(&files[1]), ["time", "dc", "free", "host", "used"]);
    assert_eq!(cols(&files[2]), ["time", "dc", "free", "host", "used"]);

    let r = query(
        &root,
        "SELECT host, dc, used, free FROM telegraf.autogen.mem ORDER BY time",
    )
    .await;
    assert_eq!(
        r["rows"],
        serde_json::json!([
            ["a", null, 1, null],
            ["a", "x", 2, 3.5],
            ["b", null, 4, null]
        ])
    );
    assert_eq!(
        r["columns"][2],
        serde_json::json!({"name": "used", "type": "int64"})
    );
}

async fn count_rows(root: &std::path::Path, m: &str) -> (i64, i64) {
    let r = query(
        root,
        &format!("SELECT count(*), count(DISTINCT time) FROM telegraf.autogen.{m}"),
    )
    .await;
    (
        r["rows"][0][0].as_i64().unwrap(),
        r["rows"][0][1].as_i64().unwrap(),
    )
}

async fn crash_and_recover(point: Option<CrashPoint>, batch_rows: usize) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("archive");
    let node = start(dir.path(), spec("raw", &root), batch_rows).await;
    node.write(lines("cpu", 0, 500)).await;
    node.flush().await.unwrap();
    node.stop().await;

    // Dies inside its next roll (or, without a crash point, with everything still buffered).
    let mut s = spec("raw", &root);
    s.crash_at = point;
    let node = start(dir.path(), s, batch_rows).await;
    for k in 0..8 {
        node.write(lines("cpu", 3500 + k * 25, 3525 + k * 25)).await;
    }
    if point.is_some() {
        assert!(node.flush().await.is_err());
    }
    node.crash().await;

    let node = start(dir.path(), spec("raw", &root), batch_rows).await;
    node.write(lines("cpu", 4000, 4100)).await;
    node.flush().await.unwrap();
    node.stop().await;
    assert_eq!(
        count_rows(&root, "cpu").await,
        (800, 800),
        "crash point {point:?}"
    );
    // And once more after a clean restart: nothing replays twice.
    let node = start(dir.path(), spec("raw", &root), batch_rows).await;
    node.flush().await.unwrap();
    node.stop().await;
    assert_eq!(
        count_rows(&root, "cpu").await,
        (800, 800),
        "crash point {point:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_after_a_crash_with_rows_buffered() {
    crash_and_recover(None, 1).await;
    crash_and_recover(None, 64).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_after_a_crash_before_the_put() {
    crash_and_recover(Some(CrashPoint::BeforePut), 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_after_a_crash_between_puts() {
    crash_and_recover(Some(CrashPoint::AfterFirstPut), 1).await;
    crash_and_recover(Some(CrashPoint::AfterFirstPut), 64).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_after_a_crash_before_the_commit() {
    crash_and_recover(Some(CrashPoint::BeforeCommit), 64).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_merges_a_partition_into_one_file_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("archive");
    let node = start(dir.path(), spec("raw", &root), 1).await;
    for k in 0..5 {
        node.write(lines("cpu", k * 10, k * 10 + 10)).await;
        if k == 3 {
            node.write(format!("cpu,host=new extra=\"late column\" {}\n", T0 + 5))
                .await;
        }
        node.flush().await.unwrap();
    }
    assert_eq!(parquet_files(&root).len(), 5);
    assert_eq!(node.archive().compact(true).await.unwrap(), 1);
    let files = parquet_files(&root);
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("raw-c"));
    let r = ParquetRecordBatchReaderBuilder::try_new(File::open(&files[0]).unwrap()).unwrap();
    let names: Vec<String> = r
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, ["time", "count", "extra", "host", "region", "usage"]);
    // New rows in the partition, compacted again with the merged file.
    node.write(lines("cpu", 50, 60)).await;
    node.flush().await.unwrap();
    assert_eq!(node.archive().compact(true).await.unwrap(), 1);
    assert_eq!(parquet_files(&root).len(), 1);
    node.stop().await;
    assert_eq!(count_rows(&root, "cpu").await, (61, 61));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_inside_compaction_never_shows_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("archive");
    let node = start(dir.path(), spec("raw", &root), 1).await;
    for k in 0..3 {
        node.write(lines("cpu", k * 10, k * 10 + 10)).await;
        node.flush().await.unwrap();
    }
    let before = parquet_files(&root);
    let saved: Vec<(std::path::PathBuf, Vec<u8>)> = before
        .iter()
        .map(|p| (p.clone(), std::fs::read(p).unwrap()))
        .collect();
    assert_eq!(node.archive().compact(true).await.unwrap(), 1);
    // Put the inputs back: as if the process died after writing the merged file.
    for (p, bytes) in &saved {
        std::fs::write(p, bytes).unwrap();
    }
    assert_eq!(parquet_files(&root).len(), 4);
    assert_eq!(
        count_rows(&root, "cpu").await,
        (30, 30),
        "the archive's SQL skips replaced files"
    );
    // The next compaction of the partition finishes the job.
    node.write(lines("cpu", 30, 31)).await;
    node.flush().await.unwrap();
    node.archive().compact(true).await.unwrap();
    assert_eq!(parquet_files(&root).len(), 1);
    node.stop().await;
    assert_eq!(count_rows(&root, "cpu").await, (31, 31));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_prunes_partitions_on_time() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("archive");
    let node = start(dir.path(), spec("raw", &root), 1).await;
    node.write(lines("cpu", 0, 10)).await;
    node.write(lines("cpu", 3600, 3610)).await;
    node.write(lines("cpu", 7300, 7310)).await;
    node.flush().await.unwrap();
    node.stop().await;
    // Make the hour-00 partition unreadable: a query that prunes it must not notice.
    let h0: Vec<_> = parquet_files(&root)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("hour=00"))
        .collect();
    assert_eq!(h0.len(), 1);
    let r = query(
        &root,
        "SELECT count(*) AS n, min(time) AS first FROM telegraf.autogen.cpu \
         WHERE time >= '2024-01-01T01:00:00Z' AND time < TIMESTAMP '2024-01-01T02:00:00Z'",
    )
    .await;
    assert_eq!(r["rows"][0][0], 10);
    assert_eq!(r["rows"][0][1], "2024-01-01T01:00:00.000025200Z");
    assert_eq!(r["columns"][1]["type"], "timestamp");
    let q = weir_archive::ArchiveQuery::new(
        weir_archive::ArchiveRoot::open(root.to_str().unwrap(), &Default::default()).unwrap(),
    );
    let plan = |sql: &'static str| {
        let q = &q;
        async move {
            let r = q.sql(&format!("EXPLAIN {sql}")).await.unwrap();
            arrow::util::pretty::pretty_format_batches(&r.batches)
                .unwrap()
                .to_string()
        }
    };
    let p = plan("SELECT * FROM telegraf.autogen.cpu WHERE time >= '2024-01-01T01:00:00Z' AND time < '2024-01-01T02:00:00Z'").await;
    assert!(
        p.contains("hour=01") && !p.contains("hour=00") && !p.contains("hour=02"),
        "{p}"
    );
    let p = plan("SELECT * FROM telegraf.autogen.cpu WHERE time > now() - interval '1 hour'").await;
    assert!(!p.contains("hour="), "{p}");
    let p = plan(
        "SELECT * FROM telegraf.autogen.cpu WHERE host = 'a' OR time < '2024-01-01T00:30:00Z'",
    )
    .await;
    assert!(
        p.contains("hour=00") && p.contains("hour=02"),
        "no pruning through OR with a non-time term: {p}"
    );
    let r = query(
        &root,
        "SELECT count(*) FROM telegraf.autogen.cpu WHERE time > now() - interval '1 hour'",
    )
    .await;
    assert_eq!(r["rows"][0][0], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_unit_us_truncates_and_reads_back_as_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("archive");
    let mut s = spec("us", &root);
    s.time_unit = weir_archive::TimeUnitSpec::Us;
    s.partition = weir_archive::Partition::Day;
    let node = start(dir.path(), s, 1).await;
    node.write(format!("cpu,host=a v=1 {}\n", T0 + 1_999)).await;
    node.flush().await.unwrap();
    node.stop().await;
    let files = parquet_files(&root);
    assert!(
        files[0]
            .to_string_lossy()
            .contains("cpu/date=2024-01-01/us-f"),
        "{files:?}"
    );
    let r = ParquetRecordBatchReaderBuilder::try_new(File::open(&files[0]).unwrap()).unwrap();
    assert_eq!(
        r.schema().field(0).data_type(),
        &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
    );
    let j = query(&root, "SELECT time, v FROM telegraf.autogen.cpu").await;
    assert_eq!(
        j["rows"],
        serde_json::json!([["2024-01-01T00:00:00.000001000Z", 1.0]])
    );
}
