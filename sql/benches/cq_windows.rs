//! Continuous-query window benchmark: `SELECT mean(usage_idle), max(usage_user) ... GROUP BY
//! time(1m), host` over 100,000 series × 6 points (one 1-minute window), fed in 8,192-row
//! batches as the router delivers them. Prints the ingest rate into the CQ (points/s, one
//! core), the latency of closing the window (all 100k groups written as line protocol) and the
//! resident memory per active series while the window is open.
//!
//! `cargo bench --workspace --bench cq_windows` (release). Under `cargo test` it runs a small
//! smoke version so the bench keeps compiling and working.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::record_batch::RecordBatch;
use weir_engine::clock::ManualClock;
use weir_sql::cq::{plan, CqSettings, CqState};

mod common;
use common::{batches, rss, CQ};

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (series, points) = if full { (100_000, 6) } else { (1_000, 6) };
    for shuffled in [false, true] {
        let input = batches(series, points, shuffled);
        println!(
            "hosts arriving {}:",
            if shuffled {
                "in scrambled order"
            } else {
                "in key order"
            }
        );
        run(&input, series, full);
    }
}

/// Feeds `input` into a fresh CQ state and closes its window, five times (once under test).
fn run(input: &[(String, RecordBatch)], series: usize, full: bool) {
    let n_points: usize = input.iter().map(|(_, b)| b.num_rows()).sum();
    let stmt = weir_sql::parse_statements(CQ).unwrap().remove(0);
    let plan = Arc::new(plan(&stmt).unwrap());
    let runs = if full { 5 } else { 1 };
    for run in 0..runs {
        let wall = ManualClock::new(0);
        let mut state = CqState::new(
            Arc::clone(&plan),
            Arc::new(wall.clone()),
            CqSettings {
                lateness: 5_000_000_000,
                ..CqSettings::default()
            },
        );
        let before = rss();
        let start = Instant::now();
        for (m, b) in input {
            let r = state.ingest(m, b);
            assert_eq!(r.late, 0);
            let out = state.close();
            assert_eq!(
                out.lines, 0,
                "the window must stay open while points arrive"
            );
        }
        let ingest = start.elapsed();
        let grown = rss().saturating_sub(before);
        let (windows, groups) = state.sizes();
        // Data stops; wall time passes the window's end + lateness.
        wall.advance(120_000_000_000);
        let start = Instant::now();
        let out = state.close();
        let close = start.elapsed();
        assert_eq!(out.lines, series, "one line per host");
        assert_eq!((windows, groups), (1, series));
        println!(
            "run {run}: {n_points} points into the CQ in {:.1} ms = {:.2} M points/s (one core); \
             closing the window of {series} series: {:.1} ms, {} bytes of line protocol; \
             memory while open: {:.0} bytes per series (RSS growth)",
            ingest.as_secs_f64() * 1e3,
            n_points as f64 / ingest.as_secs_f64() / 1e6,
            close.as_secs_f64() * 1e3,
            out.body.len(),
            grown as f64 / series as f64,
        );
    }
}
