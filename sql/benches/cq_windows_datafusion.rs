//! The `cq_windows` workload run as DataFusion plans, to measure what executing a
//! continuous query as "a DataFusion plan over each window's data" would cost next to weir's
//! own windowed operator (`cargo bench --workspace --bench cq_windows`).
//!
//! The query is `SELECT mean(usage_idle), max(usage_user) ... GROUP BY time(1m), host` over
//! 100,000 series × 6 points in one window, fed in the router's 8,192-row batches. Four ways
//! of running it on DataFusion 55, each on one core (`target_partitions = 1`, so a mean still
//! adds its points in arrival order, as InfluxDB does):
//!
//! 1. **points, by tag**: the window's batches are kept as they arrive; at close one plan
//!    (`GROUP BY host, date_bin(...)`, host a dictionary column) runs over them.
//! 2. **points, by id**: each batch gets a `u32` series id column on arrival (the task's
//!    interning) and only the columns the query reads are kept; the plan at close groups on
//!    the id.
//! 3. **partial per batch**: each arriving batch runs a plan that reduces it to partial
//!    aggregates per (series id, window) (`sum`, `count`, `max`); at close a second plan merges
//!    them. This is the incremental form; the partials are kept per batch, so a series that is
//!    in every batch once keeps one partial row per point.
//!
//! 4. **accumulators by id**: DataFusion's own groups accumulators (`avg`, `max`) are fed each
//!    arriving batch with the series id as the group index, as DataFusion's aggregate
//!    operator feeds them after hashing the group keys, and evaluated at close: one state per
//!    series, merged on arrival.
//!
//! Every way ends as weir's close does, with the window's rows written as line protocol. The
//! numbers (ingest: the work done while the window is open; close: the work at close; memory:
//! the bytes kept per series while the window is open) are in BENCHMARKS.md. Under `cargo
//! test` a small version runs and checks the four agree with each other and with weir.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, DictionaryArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampNanosecondArray, UInt32Array,
};
use datafusion::arrow::datatypes::{
    DataType, Field, Float64Type, Int32Type, Int64Type, Schema, TimestampNanosecondType, UInt32Type,
};
use datafusion::datasource::MemTable;
use datafusion::functions_aggregate::average::avg_udaf;
use datafusion::functions_aggregate::min_max::max_udaf;
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::{AggregateUDF, EmitTo, GroupsAccumulator};
use datafusion::physical_expr::expressions::col;
use datafusion::prelude::{SessionConfig, SessionContext};
use weir_engine::clock::ManualClock;
use weir_sql::cq::{plan, CqSettings, CqState};

mod common;
use common::{batches, rss};

const BY_HOST: &str = "SELECT host, date_bin(INTERVAL '1 minute', time) AS w, \
     avg(usage_idle) AS usage_idle, max(usage_user) AS usage_user_max \
     FROM window GROUP BY host, date_bin(INTERVAL '1 minute', time)";
const BY_ID: &str = "SELECT id, date_bin(INTERVAL '1 minute', time) AS w, \
     avg(usage_idle) AS usage_idle, max(usage_user) AS usage_user_max \
     FROM window GROUP BY id, date_bin(INTERVAL '1 minute', time)";
const PARTIAL: &str = "SELECT id, date_bin(INTERVAL '1 minute', time) AS w, \
     sum(usage_idle) AS s, count(usage_idle) AS c, max(usage_user) AS m \
     FROM window GROUP BY id, date_bin(INTERVAL '1 minute', time)";
const MERGE: &str = "SELECT id, w, sum(s) / CAST(sum(c) AS DOUBLE) AS usage_idle, \
     max(m) AS usage_user_max FROM window GROUP BY id, w";

fn context() -> SessionContext {
    SessionContext::new_with_config(SessionConfig::new().with_target_partitions(1))
}

/// Runs `sql` over `input` registered as the table `window`.
async fn run_sql(ctx: &SessionContext, input: Vec<RecordBatch>, sql: &str) -> Vec<RecordBatch> {
    let schema = input[0].schema();
    let table = MemTable::try_new(schema, vec![input]).unwrap();
    ctx.deregister_table("window").unwrap();
    ctx.register_table("window", Arc::new(table)).unwrap();
    ctx.sql(sql).await.unwrap().collect().await.unwrap()
}

/// The task's series interning, as the probe does it: a host's id is the order it was first
/// seen in (dictionary values are resolved once per batch).
#[derive(Default)]
struct Ids {
    by_host: HashMap<String, u32>,
    hosts: Vec<String>,
}

impl Ids {
    /// Writes the host of the result row `row`, whose first column is the series id.
    fn host_into(&self, b: &RecordBatch, row: usize, body: &mut String) {
        let id = b.column(0).as_primitive::<UInt32Type>().value(row);
        body.push_str(&self.hosts[id as usize]);
    }

    /// `batch` reduced to what the query reads, with the series id in front.
    fn project(&mut self, batch: &RecordBatch) -> RecordBatch {
        let host: &DictionaryArray<Int32Type> = batch
            .column_by_name("host")
            .unwrap()
            .as_dictionary::<Int32Type>();
        let values: &StringArray = host.values().as_string::<i32>();
        let value_ids: Vec<u32> = (0..values.len())
            .map(|i| {
                let h = values.value(i);
                if let Some(id) = self.by_host.get(h) {
                    *id
                } else {
                    let id = self.hosts.len() as u32;
                    self.by_host.insert(h.to_string(), id);
                    self.hosts.push(h.to_string());
                    id
                }
            })
            .collect();
        let ids: UInt32Array = host
            .keys()
            .iter()
            .map(|k| k.map(|k| value_ids[k as usize]))
            .collect();
        let schema = Schema::new(vec![
            Field::new("id", DataType::UInt32, true),
            batch.schema().field_with_name("time").unwrap().clone(),
            batch
                .schema()
                .field_with_name("usage_idle")
                .unwrap()
                .clone(),
            batch
                .schema()
                .field_with_name("usage_user")
                .unwrap()
                .clone(),
        ]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(ids),
                Arc::clone(batch.column_by_name("time").unwrap()),
                Arc::clone(batch.column_by_name("usage_idle").unwrap()),
                Arc::clone(batch.column_by_name("usage_user").unwrap()),
            ],
        )
        .unwrap()
    }
}

/// The result rows as line protocol, as weir writes them `INTO cpu_1m`; `host` writes a
/// row's host.
fn encode(out: &[RecordBatch], mut host: impl FnMut(&RecordBatch, usize, &mut String)) -> String {
    let mut body = String::new();
    for b in out {
        let w = b.column(1).as_primitive::<TimestampNanosecondType>();
        let idle: &Float64Array = b.column(2).as_primitive::<Float64Type>();
        let max: &Int64Array = b.column(3).as_primitive::<Int64Type>();
        for row in 0..b.num_rows() {
            body.push_str("cpu_1m,host=");
            host(b, row, &mut body);
            body.push(' ');
            if idle.is_valid(row) {
                let _ = write!(body, "usage_idle={}", idle.value(row));
            }
            if max.is_valid(row) {
                let _ = write!(body, ",usage_user_max={}i", max.value(row));
            }
            let _ = writeln!(body, " {}", w.value(row));
        }
    }
    body
}

/// One measurement: ingest and close times, the kept bytes per series, and the close's
/// output (sorted lines, to compare the ways).
struct Measured {
    ingest_ms: f64,
    close_ms: f64,
    kept_bytes: usize,
    rss_grown: u64,
    lines: Vec<String>,
}

impl Measured {
    fn new(
        ingest: Duration,
        close: Duration,
        kept_bytes: usize,
        rss_grown: u64,
        body: &str,
    ) -> Measured {
        Measured {
            ingest_ms: ingest.as_secs_f64() * 1e3,
            close_ms: close.as_secs_f64() * 1e3,
            kept_bytes,
            rss_grown,
            lines: sorted_lines(body),
        }
    }
}

fn sorted_lines(body: &str) -> Vec<String> {
    let mut lines: Vec<String> = body.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

async fn points_by_host(input: &[(String, RecordBatch)]) -> Measured {
    let ctx = context();
    let before = rss();
    let start = Instant::now();
    let kept: Vec<RecordBatch> = input.iter().map(|(_, b)| b.clone()).collect();
    let ingest = start.elapsed();
    let kept_bytes = kept.iter().map(RecordBatch::get_array_memory_size).sum();
    let rss_grown = rss().saturating_sub(before);
    let start = Instant::now();
    let out = run_sql(&ctx, kept, BY_HOST).await;
    let body = encode(&out, |b, row, body| {
        let host = b.column(0).as_dictionary::<Int32Type>();
        let values = host.values().as_string::<i32>();
        body.push_str(values.value(host.keys().value(row) as usize));
    });
    let close = start.elapsed();
    Measured::new(ingest, close, kept_bytes, rss_grown, &body)
}

async fn points_by_id(input: &[(String, RecordBatch)]) -> Measured {
    let ctx = context();
    let mut ids = Ids::default();
    let before = rss();
    let start = Instant::now();
    let kept: Vec<RecordBatch> = input.iter().map(|(_, b)| ids.project(b)).collect();
    let ingest = start.elapsed();
    let kept_bytes = kept.iter().map(RecordBatch::get_array_memory_size).sum();
    let rss_grown = rss().saturating_sub(before);
    let start = Instant::now();
    let out = run_sql(&ctx, kept, BY_ID).await;
    let body = encode(&out, |b, row, body| ids.host_into(b, row, body));
    let close = start.elapsed();
    Measured::new(ingest, close, kept_bytes, rss_grown, &body)
}

async fn partial_per_batch(input: &[(String, RecordBatch)]) -> Measured {
    let ctx = context();
    let mut ids = Ids::default();
    let before = rss();
    let start = Instant::now();
    let mut kept = Vec::new();
    for (_, b) in input {
        let projected = ids.project(b);
        kept.extend(run_sql(&ctx, vec![projected], PARTIAL).await);
    }
    let ingest = start.elapsed();
    let kept_bytes = kept.iter().map(RecordBatch::get_array_memory_size).sum();
    let rss_grown = rss().saturating_sub(before);
    let start = Instant::now();
    let out = run_sql(&ctx, kept, MERGE).await;
    let body = encode(&out, |b, row, body| ids.host_into(b, row, body));
    let close = start.elapsed();
    Measured::new(ingest, close, kept_bytes, rss_grown, &body)
}

/// What weir's own operator writes for the window (the reference the four ways must equal).
fn weir_lines(input: &[(String, RecordBatch)]) -> Vec<String> {
    let stmt = weir_sql::parse_statements(common::CQ).unwrap().remove(0);
    let wall = ManualClock::new(0);
    let mut state = CqState::new(
        Arc::new(plan(&stmt).unwrap()),
        Arc::new(wall.clone()),
        CqSettings::default(),
    );
    for (m, b) in input {
        state.ingest(m, b);
    }
    wall.advance(120_000_000_000);
    let out = state.close();
    sorted_lines(std::str::from_utf8(&out.body).unwrap())
}

/// A DataFusion groups accumulator of `udaf` over `column`, as its aggregate operator makes
/// one.
fn groups_accumulator(
    udaf: &AggregateUDF,
    schema: &Schema,
    column: &str,
    returns: DataType,
) -> Box<dyn GroupsAccumulator> {
    let exprs = [col(column, schema).unwrap()];
    let fields = [Arc::new(schema.field_with_name(column).unwrap().clone())];
    let args = AccumulatorArgs {
        return_field: Arc::new(Field::new(udaf.name(), returns, true)),
        schema,
        ignore_nulls: false,
        order_bys: &[],
        is_reversed: false,
        name: udaf.name(),
        is_distinct: false,
        exprs: &exprs,
        expr_fields: &fields,
    };
    udaf.create_groups_accumulator(args).unwrap()
}

/// DataFusion's own accumulators, fed each batch as it arrives with the series id as the
/// group index (what its aggregate operator does after hashing the group keys), evaluated at
/// close: partial aggregates per batch merged into one state per series.
fn accumulators_by_id(input: &[(String, RecordBatch)]) -> Measured {
    let mut ids = Ids::default();
    let schema = ids.project(&input[0].1).schema();
    let mut ids = Ids::default();
    let mut mean = groups_accumulator(&avg_udaf(), &schema, "usage_idle", DataType::Float64);
    let mut max = groups_accumulator(&max_udaf(), &schema, "usage_user", DataType::Int64);
    let before = rss();
    let start = Instant::now();
    let mut groups: Vec<usize> = Vec::new();
    for (_, b) in input {
        let projected = ids.project(b);
        let id = projected.column(0).as_primitive::<UInt32Type>();
        groups.clear();
        groups.extend(id.values().iter().map(|i| *i as usize));
        let n = ids.hosts.len();
        mean.update_batch(&[Arc::clone(projected.column(2))], &groups, None, n)
            .unwrap();
        max.update_batch(&[Arc::clone(projected.column(3))], &groups, None, n)
            .unwrap();
    }
    let ingest = start.elapsed();
    let kept_bytes = mean.size() + max.size();
    let rss_grown = rss().saturating_sub(before);
    let start = Instant::now();
    let n = ids.hosts.len();
    let window = TimestampNanosecondArray::from(vec![common::T0; n]);
    let out = RecordBatch::try_from_iter([
        (
            "id",
            Arc::new(UInt32Array::from_iter_values(0..n as u32)) as ArrayRef,
        ),
        ("w", Arc::new(window) as ArrayRef),
        ("usage_idle", mean.evaluate(EmitTo::All).unwrap()),
        ("usage_user_max", max.evaluate(EmitTo::All).unwrap()),
    ])
    .unwrap();
    let body = encode(&[out], |b, row, body| ids.host_into(b, row, body));
    let close = start.elapsed();
    Measured::new(ingest, close, kept_bytes, rss_grown, &body)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (series, points) = if full { (100_000, 6) } else { (1_000, 6) };
    let runs = if full { 5 } else { 1 };
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let input = batches(series, points, false);
    let n_points: usize = input.iter().map(|(_, b)| b.num_rows()).sum();
    println!("{series} series x {points} points ({n_points} points) in one window, one core:");
    for run in 0..runs {
        let ways = [
            ("points, by tag", rt.block_on(points_by_host(&input))),
            ("points, by id", rt.block_on(points_by_id(&input))),
            ("partial per batch", rt.block_on(partial_per_batch(&input))),
            ("accumulators by id", accumulators_by_id(&input)),
        ];
        if run == 0 {
            assert_eq!(
                ways[0].1.lines,
                weir_lines(&input),
                "DataFusion agrees with weir"
            );
        }
        for (name, m) in &ways {
            assert_eq!(m.lines.len(), series, "{name}: one line per host");
            assert_eq!(m.lines, ways[0].1.lines, "{name} agrees with the first way");
            println!(
                "run {run}: {name:<18} ingest {:7.1} ms ({:6.2} M points/s); close {:6.1} ms; \
                 kept {:5.0} B/series (RSS growth {:5.0} B/series)",
                m.ingest_ms,
                n_points as f64 / (m.ingest_ms / 1e3).max(1e-9) / 1e6,
                m.close_ms,
                m.kept_bytes as f64 / series as f64,
                m.rss_grown as f64 / series as f64,
            );
        }
    }
}
