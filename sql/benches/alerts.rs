//! Alert evaluation benchmark: the SPEC §3.3 `cpu_idle` alert (WARN/CRIT conditions, ID and
//! MESSAGE templates, STATE CHANGES ONLY) over the result rows of 100,000 series for 10
//! windows, each series changing level now and then. Prints rows evaluated per second (one
//! core), events published, and the memory per alert ID (RSS growth while the states are
//! created).
//!
//! `cargo bench --workspace --bench alerts` (release). Under `cargo test` it runs a small smoke
//! version so the bench keeps compiling and working.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use weir_sql::alert::{AlertRules, AlertStates, Row};
use weir_sql::eval::Value;
use weir_sql::Statement;

const ALERT: &str = "CREATE ALERT cpu_idle ON telegraf
BEGIN SELECT mean(usage_idle) AS idle FROM cpu GROUP BY time(1m), host END
WARN WHEN idle < 20
CRIT WHEN idle < 10
ID 'cpu:{{host}}'
MESSAGE '{{id}} is {{level}}: idle {{idle}}%'
STATE CHANGES ONLY
TOPIC cpu";

fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// One window's rows: every series, idle mostly fine, some below 20 or 10.
fn rows(series: usize, window: i64) -> Vec<Row> {
    (0..series)
        .map(|s| {
            let x = (s as i64 * 7_919 + window * 104_729) % 1000;
            let idle = if x < 20 {
                5.0
            } else if x < 50 {
                15.0
            } else {
                50.0 + (x % 40) as f64
            };
            Row {
                measurement: "cpu".to_string(),
                tags: vec![("host".to_string(), format!("host-{s:06}"))],
                fields: vec![("idle".to_string(), Value::Float(idle))],
                time: window * 60_000_000_000,
            }
        })
        .collect()
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (series, windows) = if full { (100_000, 10) } else { (1_000, 3) };
    let stmt = weir_sql::parse_statements(ALERT).unwrap().remove(0);
    let Statement::CreateAlert(a) = stmt else {
        panic!("not an alert")
    };
    let rules = AlertRules::new(&a).unwrap();
    let input: Vec<Vec<Row>> = (0..windows).map(|w| rows(series, w as i64)).collect();
    let mut states = AlertStates::default();
    let before = rss();
    let mut events = 0;
    let mut total = std::time::Duration::ZERO;
    for (w, batch) in input.iter().enumerate() {
        let start = Instant::now();
        let out = rules.evaluate(&mut states, batch);
        let took = start.elapsed();
        total += took;
        events += out.events.len();
        if w == 0 {
            let grown = rss().saturating_sub(before);
            println!(
                "window 0: {series} rows in {:.1} ms, {} events; memory {:.0} bytes per alert ID (RSS growth)",
                took.as_secs_f64() * 1e3,
                out.events.len(),
                grown as f64 / series as f64
            );
        }
    }
    let n = series * windows;
    println!(
        "{n} rows ({series} series x {windows} windows) evaluated in {:.1} ms = {:.2} M rows/s (one core); {events} events published",
        total.as_secs_f64() * 1e3,
        n as f64 / total.as_secs_f64() / 1e6
    );
    assert_eq!(states.states.len(), series);
}
