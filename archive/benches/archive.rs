//! Archive encoding rate (sort by series then time + Parquet/zstd encoding) and size on
//! realistic data: 1,000 series (one tag) x 1,000 points every 10 s with nanosecond jitter,
//! two random-walk float fields (gauges with two decimals), rows arriving in time order as the
//! router delivers them.
//!
//! `cargo bench -p weir-archive --bench archive`; prints bytes per row once.
//! `ARCHIVE_EXPERIMENTS=1` also prints the size per column under other encodings.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use arrow::array::{ArrayRef, DictionaryArray, Float64Array, TimestampNanosecondArray};
use arrow::datatypes::{Int32Type, Schema};
use arrow::record_batch::RecordBatch;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use weir_archive::encode::{file_schema, record_columns, sorted_rows, write_parquet, Columns};
use weir_archive::TimeUnitSpec;
use weir_engine::schema::{arrow_field, time_field, ColumnKind, FieldType};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Uniform in [-1, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

fn data(series: usize, points: usize, decimals: Option<i32>) -> RecordBatch {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let n = series * points;
    let t0: i64 = 1_704_067_200_000_000_000;
    let mut times = Vec::with_capacity(n);
    let mut hosts = Vec::with_capacity(n);
    let mut a = Vec::with_capacity(n);
    let mut b = Vec::with_capacity(n);
    let mut va: Vec<f64> = (0..series).map(|_| 50.0 + 40.0 * rng.unit()).collect();
    let mut vb: Vec<f64> = (0..series).map(|_| 1000.0 + 500.0 * rng.unit()).collect();
    let names: Vec<String> = (0..series)
        .map(|i| format!("host-{i:04}.example.com"))
        .collect();
    let round = |v: f64| match decimals {
        Some(d) => (v * 10f64.powi(d)).round() / 10f64.powi(d),
        None => v,
    };
    for p in 0..points {
        for s in 0..series {
            // Every 10 s, jittered by up to +-50 ms, in ns.
            let jitter = (rng.unit() * 50_000_000.0) as i64;
            times.push(t0 + p as i64 * 10_000_000_000 + s as i64 * 1_000 + jitter);
            hosts.push(names[s].as_str());
            va[s] = (va[s] + rng.unit() * 0.5).clamp(0.0, 100.0);
            vb[s] += rng.unit() * 3.0;
            a.push(round(va[s]));
            b.push(round(vb[s]));
        }
    }
    let schema = Arc::new(Schema::new(vec![
        time_field(),
        arrow_field("host", ColumnKind::Tag),
        arrow_field("usage", ColumnKind::Field(FieldType::Float)),
        arrow_field("value", ColumnKind::Field(FieldType::Float)),
    ]));
    let hosts: DictionaryArray<Int32Type> = hosts.into_iter().collect();
    let cols: Vec<ArrayRef> = vec![
        Arc::new(TimestampNanosecondArray::from(times).with_timezone("UTC")),
        Arc::new(hosts),
        Arc::new(Float64Array::from(a)),
        Arc::new(Float64Array::from(b)),
    ];
    RecordBatch::try_new(schema, cols).unwrap()
}

fn experiments(batch: &RecordBatch) {
    use parquet::basic::{Compression, Encoding, ZstdLevel};
    use parquet::file::properties::{EnabledStatistics, WriterProperties};
    use parquet::schema::types::ColumnPath;
    let mut columns = Columns::new();
    record_columns(&mut columns, &batch.schema());
    let schema = file_schema(&columns, TimeUnitSpec::Ns);
    let sorted = sorted_rows(std::slice::from_ref(batch), &schema).unwrap();
    type Variant<'a> = (&'a str, Box<dyn Fn() -> WriterProperties + 'a>);
    let variants: Vec<Variant> = vec![
        (
            "weir (dictionary, byte-stream-split fallback)",
            Box::new(|| weir_archive::encode::writer_properties(&sorted.schema(), vec![])),
        ),
        (
            "float dict 1:zstd1",
            Box::new(|| {
                WriterProperties::builder()
                    .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).unwrap()))
                    .set_statistics_enabled(EnabledStatistics::Page)
                    .set_dictionary_page_size_limit(8 << 20)
                    .set_column_dictionary_enabled(ColumnPath::from("time"), false)
                    .set_column_encoding(ColumnPath::from("time"), Encoding::DELTA_BINARY_PACKED)
                    .build()
            }),
        ),
        (
            "float dict+bss fallback 1MB",
            Box::new(|| {
                let mut b = WriterProperties::builder()
                    .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).unwrap()))
                    .set_statistics_enabled(EnabledStatistics::Page)
                    .set_column_dictionary_enabled(ColumnPath::from("time"), false)
                    .set_column_encoding(ColumnPath::from("time"), Encoding::DELTA_BINARY_PACKED);
                for c in ["usage", "value"] {
                    b = b.set_column_encoding(ColumnPath::from(c), Encoding::BYTE_STREAM_SPLIT);
                }
                b.build()
            }),
        ),
        (
            "float dict+bss fallback 256KB",
            Box::new(|| {
                let mut b = WriterProperties::builder()
                    .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).unwrap()))
                    .set_statistics_enabled(EnabledStatistics::Page)
                    .set_column_dictionary_enabled(ColumnPath::from("time"), false)
                    .set_column_encoding(ColumnPath::from("time"), Encoding::DELTA_BINARY_PACKED);
                for c in ["usage", "value"] {
                    b = b
                        .set_column_encoding(ColumnPath::from(c), Encoding::BYTE_STREAM_SPLIT)
                        .set_column_dictionary_page_size_limit(ColumnPath::from(c), 256 << 10);
                }
                b.build()
            }),
        ),
    ];
    for (name, props) in variants {
        let t = std::time::Instant::now();
        let mut out = Vec::new();
        let mut w =
            parquet::arrow::ArrowWriter::try_new(&mut out, sorted.schema(), Some(props())).unwrap();
        w.write(&sorted).unwrap();
        let md = w.close().unwrap();
        let el = t.elapsed();
        let rg = md.row_group(0);
        let cols: Vec<String> = rg
            .columns()
            .iter()
            .map(|c| {
                format!(
                    "{}={:.2}",
                    c.column_path(),
                    c.compressed_size() as f64 / sorted.num_rows() as f64
                )
            })
            .collect();
        println!(
            "  {name}: {:.2} B/row ({}) encode {:?}",
            out.len() as f64 / sorted.num_rows() as f64,
            cols.join(" "),
            el
        );
    }
}

fn encode(batches: &[RecordBatch], columns: &Columns) -> usize {
    let schema = file_schema(columns, TimeUnitSpec::Ns);
    let sorted = sorted_rows(batches, &schema).unwrap();
    write_parquet(&sorted, vec![]).unwrap().len()
}

fn bench(c: &mut Criterion) {
    let (series, points) = (1_000, 1_000);
    let rows = (series * points) as u64;
    let mut g = c.benchmark_group("archive");
    g.sample_size(10);
    g.throughput(Throughput::Elements(rows));
    for (label, decimals) in [("2dp", Some(2)), ("full-precision", None)] {
        let batch = data(series, points, decimals);
        // As delivered: router batches of 8,192 rows.
        let batches: Vec<RecordBatch> = (0..batch.num_rows())
            .step_by(8192)
            .map(|o| batch.slice(o, 8192.min(batch.num_rows() - o)))
            .collect();
        let mut columns = Columns::new();
        record_columns(&mut columns, &batch.schema());
        let bytes = encode(&batches, &columns);
        println!(
            "archive/{label}: {rows} rows, {bytes} bytes, {:.2} bytes/row (2 float fields + 1 tag, ns time with jitter)",
            bytes as f64 / rows as f64
        );
        if std::env::var("ARCHIVE_EXPERIMENTS").is_ok() {
            experiments(&batch);
        }
        g.bench_function(format!("sort+encode 1M rows {label}"), |b| {
            b.iter(|| encode(&batches, &columns))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
