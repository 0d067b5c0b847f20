//! The columnar windows (DataFusion's groups accumulators) write exactly what the row path
//! (`Acc`, which the differential suite checks against influxd) writes: the same random points,
//! split into random batches with the clock moved at random between them (windows close, late
//! points re-open them, `RESAMPLE` re-emits), with checkpoints restored across the two paths.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use datafusion::arrow::record_batch::RecordBatch;
use proptest::prelude::*;
use weir_engine::batch::RequestBuilder;
use weir_engine::clock::{ManualClock, SharedClock};
use weir_engine::line_protocol::{lines, parse_line, ParsedLine, Precision};
use weir_engine::schema::SchemaRegistry;

use super::{plan, CqPlan, CqSettings, CqState, Output};

/// One measurement per field type: a regex `FROM` puts them in the same windows.
const MEASUREMENTS: [&str; 5] = ["m_f", "m_i", "m_u", "m_b", "m_s"];

#[derive(Debug, Clone)]
struct Point {
    measurement: usize,
    host: u8,
    /// ns after 0.
    t: i64,
    /// Index into the measurement's value choices.
    v: u64,
    /// The point has the field (else another field only).
    has: bool,
}

fn value(measurement: usize, v: u64, zeros: bool) -> String {
    let floats: [f64; 8] = [0.0, -0.0, 1.5, -2.25, 1e300, -1e300, 0.1, 3.0];
    let ints = [i64::MAX, i64::MIN, 1, -1, 0, 9_007_199_254_740_993, 42, -7];
    let uints = [u64::MAX, 0, 1, u64::MAX - 1, 7, 1 << 63, 3, 9];
    let i = usize::try_from(v % 8).unwrap();
    match measurement {
        0 => {
            let mut f = floats[i];
            // min/max give 0 where InfluxDB gives the first of 0 and -0 (module doc).
            if !zeros && f == 0.0 {
                f = -0.0;
            }
            if f == f.trunc() && f.abs() < 1e15 {
                format!("{f:.1}")
            } else {
                format!("{f:e}")
            }
        }
        1 => format!("{}i", ints[i]),
        2 => format!("{}u", uints[i]),
        3 => (v % 2 == 0).to_string(),
        _ => format!("\"s{}\"", v % 3),
    }
}

fn batches(points: &[Point], splits: &[usize], zeros: bool) -> Vec<Vec<(String, RecordBatch)>> {
    let reg = SchemaRegistry::in_memory();
    let mut out = Vec::new();
    let mut from = 0;
    let mut cuts: Vec<usize> = splits.iter().map(|s| s % (points.len() + 1)).collect();
    cuts.push(points.len());
    cuts.sort_unstable();
    for to in cuts {
        let mut body = String::new();
        for p in points.get(from..to).unwrap_or_default() {
            let field = if p.has { "v" } else { "other" };
            body.push_str(&format!(
                "{},host=h{} {}={} {}\n",
                MEASUREMENTS[p.measurement],
                p.host,
                field,
                value(p.measurement, p.v, zeros),
                p.t
            ));
        }
        from = from.max(to);
        let mut b = RequestBuilder::new("db", &reg, Precision::Nanoseconds, 0, 1024);
        let mut parsed = ParsedLine::default();
        for (n, l) in lines(body.as_bytes()) {
            parse_line(l, n, &mut parsed).unwrap();
            b.add_line(n, &parsed).unwrap();
        }
        out.push(
            b.finish()
                .unwrap()
                .into_iter()
                .map(|built| (built.measurement.to_string(), built.batch))
                .collect(),
        );
    }
    out
}

fn planned(select: &str, fill: &str, resample: &str) -> Arc<CqPlan> {
    let text = format!(
        "CREATE CONTINUOUS QUERY q ON db {resample} BEGIN {select} INTO :MEASUREMENT FROM /^m_/ \
         GROUP BY time(10s), host fill({fill}) END"
    );
    let stmts = crate::parse_statements(&text).unwrap();
    Arc::new(plan(&stmts[0]).unwrap())
}

/// How one run goes: which path, and after which batches it restarts from a checkpoint taken
/// by which path.
#[derive(Debug, Clone, Copy)]
enum Path {
    Row,
    Columnar,
}

fn state(plan: &Arc<CqPlan>, clock: &SharedClock, settings: CqSettings, path: Path) -> CqState {
    let mut s = CqState::new(Arc::clone(plan), Arc::clone(clock), settings);
    if let Path::Row = path {
        s.use_row_path();
    }
    s
}

fn run(
    plan: &Arc<CqPlan>,
    input: &[Vec<(String, RecordBatch)>],
    advances: &[i64],
    restarts: &[(usize, bool)],
    path: Path,
) -> (Output, u64) {
    let settings = CqSettings {
        lateness: 2_000_000_000,
        series_ttl: 30_000_000_000,
        provisional: false,
    };
    let wall = ManualClock::new(0);
    let clock: SharedClock = Arc::new(wall.clone());
    let mut st = state(plan, &clock, settings, path);
    let mut out = Output::default();
    let mut late = 0;
    for (i, batch) in input.iter().enumerate() {
        for (m, b) in batch {
            let r = st.ingest(m, b);
            assert_eq!(r.error, None);
            late += r.late;
        }
        wall.advance(advances.get(i).copied().unwrap_or(0));
        out.append(st.close());
        // A restart: the checkpoint goes into a state of this path or of the other one.
        if let Some((_, other)) = restarts.iter().find(|(at, _)| *at == i) {
            let bytes = st.checkpoint().unwrap();
            let next = match (path, *other) {
                (Path::Row, true) | (Path::Columnar, false) => Path::Columnar,
                _ => Path::Row,
            };
            st = state(plan, &clock, settings, next);
            st.restore(&bytes).unwrap();
        }
    }
    wall.advance(400 * 86_400_000_000_000);
    out.append(st.close());
    (out, late)
}

fn point() -> impl Strategy<Value = Point> {
    (
        0..5usize,
        0..3u8,
        0..60_000_000_000i64,
        any::<u64>(),
        prop::bool::weighted(0.9),
    )
        .prop_map(|(measurement, host, t, v, has)| Point {
            measurement,
            host,
            t,
            v,
            has,
        })
}

const SELECTS: [&str; 4] = [
    "SELECT count(v) AS c, sum(v) AS s, mean(v) AS m",
    "SELECT min(v) AS lo, max(v) AS hi, count(v) AS c",
    "SELECT spread(v) AS sp, count(v) AS c",
    "SELECT mean(v) AS m, sum(v) / count(v) AS ratio, max(v) - min(v) AS range",
];
const FILLS: [&str; 5] = ["none", "null", "0", "previous", "linear"];
const RESAMPLES: [&str; 3] = ["", "RESAMPLE EVERY 5s", "RESAMPLE EVERY 5s FOR 30s"];

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn columnar_windows_write_what_the_row_path_writes(
        points in prop::collection::vec(point(), 1..120),
        splits in prop::collection::vec(any::<usize>(), 0..6),
        advances in prop::collection::vec(0..20_000_000_000i64, 0..7),
        restarts in prop::collection::vec((0..7usize, any::<bool>()), 0..3),
        select in 0..SELECTS.len(),
        fill in 0..FILLS.len(),
        resample in 0..RESAMPLES.len(),
    ) {
        // min()/max() of floats: without +0 (see `value`); spread() holds both.
        let zeros = select == 0 || select == 2;
        let input = batches(&points, &splits, zeros);
        // weir refuses RESAMPLE with fill(previous) / fill(linear).
        let resample = if fill >= 3 { 0 } else { resample };
        let plan = planned(SELECTS[select], FILLS[fill], RESAMPLES[resample]);
        let (row, row_late) = run(&plan, &input, &advances, &[], Path::Row);
        let (col, col_late) = run(&plan, &input, &advances, &[], Path::Columnar);
        prop_assert_eq!(row_late, col_late);
        // Without restarts, the same bytes.
        prop_assert_eq!(
            String::from_utf8_lossy(&col.body),
            String::from_utf8_lossy(&row.body)
        );
        prop_assert_eq!(col.lines, row.lines);
        // Restarts, within a path and across the two, change nothing either. The clock resumes
        // at the last event time after a restart (downtime closes no window), so these runs
        // move the wall clock only at the end.
        let (still, _) = run(&plan, &input, &[], &[], Path::Row);
        let want = String::from_utf8_lossy(&still.body);
        let (row_restarted, _) = run(&plan, &input, &[], &restarts, Path::Row);
        prop_assert_eq!(String::from_utf8_lossy(&row_restarted.body), want.clone(), "row path restarts");
        let (restarted, _) = run(&plan, &input, &[], &restarts, Path::Columnar);
        prop_assert_eq!(String::from_utf8_lossy(&restarted.body), want, "columnar restarts");
    }
}

/// The query of the windows benchmark is held columnar, and a wildcard or a function
/// DataFusion does not compute as InfluxDB stays on the row path.
#[test]
fn which_queries_are_columnar() {
    let columnar = |select: &str| {
        let plan = planned(select, "none", "");
        let super::plan::Kind::Windowed(w) = &plan.kind else {
            panic!("not windowed")
        };
        super::columnar::columnar_fns(w).is_some()
    };
    assert!(columnar("SELECT mean(v), max(v)"));
    assert!(columnar("SELECT count(v), sum(v), min(v)"));
    assert!(columnar("SELECT spread(v), mean(v)"));
    assert!(columnar("SELECT derivative(mean(v), 1s)"));
    assert!(!columnar("SELECT mean(*)"));
    assert!(!columnar("SELECT mean(v), median(v)"));
    assert!(!columnar("SELECT top(v, 2)"));
    assert!(!columnar("SELECT integral(v)"));
}
