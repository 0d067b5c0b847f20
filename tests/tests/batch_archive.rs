//! `FROM ARCHIVE` batch queries against the real binary and a real InfluxDB: points go into
//! weir's Parquet archive, a batch query evaluates its SELECT over the archive every second and
//! writes the rows INTO `influxd`; they must equal influxd's own answer to the same SELECT over
//! the same points written to it directly. Then weir is stopped while runs fall due, and the
//! restarted task reports them.
//!
//! Needs `influxd` (Debian package `influxdb`, 1.6.x); fails, not skips, without it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use serde_json::Value;
use weir_tests::{post_lines as post, wait_until, Influxd, Rng, Weir};

const S: i64 = 1_000_000_000;

fn sql(weir: &Weir, stmt: &str) -> (u16, String) {
    let r = Client::new()
        .post(weir.url("/api/v1/sql"))
        .body(stmt.to_string())
        .send()
        .unwrap();
    (r.status().as_u16(), r.text().unwrap())
}

fn sql_ok(weir: &Weir, stmt: &str) {
    let (status, body) = sql(weir, stmt);
    assert_eq!(status, 200, "{stmt}: {body}");
}

fn task(weir: &Weir, name: &str) -> Value {
    Client::new()
        .get(weir.url(&format!("/api/v1/tasks/{name}")))
        .send()
        .unwrap()
        .json()
        .unwrap()
}

fn now_ns() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(d.as_nanos()).unwrap()
}

fn parse_rfc3339(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .timestamp_nanos_opt()
        .unwrap()
}

type Rows = weir_tests::InfluxRows;

fn rows(body: &Value) -> Rows {
    weir_tests::influx_rows(body)
}

fn same(got: &Rows, want: &Rows) -> Result<(), String> {
    if got.keys().collect::<Vec<_>>() != want.keys().collect::<Vec<_>>() {
        return Err(format!("different rows: got {got:?}, want {want:?}"));
    }
    for (k, w) in want {
        let g = &got[k];
        if g.keys().collect::<Vec<_>>() != w.keys().collect::<Vec<_>>() {
            return Err(format!("{k:?}: different fields: got {g:?}, want {w:?}"));
        }
        for (name, wv) in w {
            let gv = g[name];
            let tol = 1e-9 * wv.abs().max(gv.abs()).max(1e-300);
            if (gv - wv).abs() > tol {
                return Err(format!("{k:?} {name}: weir {gv} != influxdb {wv}"));
            }
        }
    }
    Ok(())
}

/// Waits until what weir wrote INTO `measurement` equals influxd's answer to `oracle`.
///
/// Each run writes the windows of its own range (`fill`, and `count()` filled with 0, reach
/// its ends), so what several runs wrote is compared over the windows of influxd's range.
fn assert_converges(influxd: &Influxd, oracle: &str, measurement: &str, min_rows: usize) {
    let readback = format!("SELECT * FROM {measurement} GROUP BY host");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let want = rows(&influxd.query("telegraf", oracle));
        assert!(
            want.len() >= min_rows,
            "too few reference rows ({}): {want:?}",
            want.len()
        );
        let lo = want.keys().map(|k| k.1).min().unwrap();
        let hi = want.keys().map(|k| k.1).max().unwrap();
        let got: Rows = rows(&influxd.query("telegraf", &readback))
            .into_iter()
            .filter(|(k, _)| (lo..=hi).contains(&k.1))
            .collect();
        match same(&got, &want) {
            Ok(()) => return,
            Err(e) if Instant::now() > deadline => panic!("{measurement}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// `cpu` points, 3 hosts: one hour of 2023 (fixed) and the last half hour (recent), floats
/// with many decimals and an integer field.
fn points() -> (String, usize) {
    let mut rng = Rng(7);
    let base = parse_rfc3339("2023-01-01T00:00:00Z");
    let recent = now_ns() - 30 * 60 * S;
    let mut lines = Vec::new();
    for host in ["web-1", "web-2", "db-1"] {
        for start in [base, recent] {
            let mut t = start + i64::try_from(rng.below(30)).unwrap() * S;
            // Gaps of up to 3 minutes leave some 1m windows empty.
            while t < start + 29 * 60 * S {
                let idle = 20.0 + rng.below(80_000) as f64 / 1000.0 + 1.0 / 3.0;
                let n = rng.below(1000);
                lines.push(format!(
                    "cpu,host={host},cpu=cpu-total usage_idle={idle:?},n={n}i {t}"
                ));
                t += i64::try_from(1 + rng.below(180)).unwrap() * S;
            }
        }
    }
    let n = lines.len();
    (lines.join("\n"), n)
}

fn archived(weir: &Weir) -> i64 {
    let r = Client::new()
        .post(weir.url("/api/v1/query"))
        .body("SELECT count(*) AS n FROM telegraf.autogen.cpu")
        .send()
        .unwrap();
    if r.status().as_u16() != 200 {
        // No file yet: the table appears with the first one.
        return 0;
    }
    let body: Value = r.json().unwrap();
    body["rows"][0][0].as_i64().unwrap_or(0)
}

const RECENT: &str = "SELECT mean(usage_idle) AS mean, max(usage_idle) AS max, count(usage_idle) AS count FROM cpu WHERE time > now() - 1h GROUP BY time(1m), host";

const FIXED: &str = "SELECT mean(usage_idle) AS mean, max(n) AS max_n, sum(n) AS sum_n, count(n) AS count FROM cpu WHERE time >= '2023-01-01T00:00:00Z' AND time < '2023-01-01T01:00:00Z' GROUP BY time(5m), host fill(0)";

const WHOLE_GTE: &str = "SELECT mean(usage_idle) AS mean, max(n) AS max_n, sum(n) AS sum_n, count(n) AS count FROM cpu WHERE time >= '2023-01-01T00:00:00Z' AND time < '2023-01-01T01:00:00Z' GROUP BY host";

const WHOLE_GT: &str = "SELECT mean(usage_idle) AS mean, min(n) AS min_n, count(usage_idle) AS count FROM cpu WHERE time > '2023-01-01T00:10:00Z' AND time <= '2023-01-01T00:40:00Z' GROUP BY host";

/// A forecast over a range that goes on past the points (they stop at 00:29).
const HOLT: &str = "SELECT holt_winters(mean(usage_idle), 4, 0) AS hw FROM cpu WHERE time >= '2023-01-01T00:00:00Z' AND time < '2023-01-01T01:00:00Z' GROUP BY time(5m), host";

/// A seasonal forecast with the fitted values of every window.
const HOLT_FIT: &str = "SELECT holt_winters_with_fit(max(n), 3, 2) AS hw FROM cpu WHERE time >= '2023-01-01T00:00:00Z' AND time < '2023-01-01T00:30:00Z' GROUP BY time(3m), host";

/// The SELECT of a batch query: `oracle` with `INTO` and `FROM ARCHIVE`.
fn batch(name: &str, into: &str, oracle: &str) -> String {
    let select = oracle.replacen(
        " FROM cpu ",
        &format!(" INTO telegraf.autogen.{into} FROM ARCHIVE cpu "),
        1,
    );
    format!("CREATE BATCH QUERY {name} ON telegraf EVERY 1s BEGIN {select} END")
}

/// Every error of the task is a run skipped because the one before was still going (six
/// queries every second on a loaded 2-core box, the catch-up run after a restart on a cold
/// cache, may take longer than a second): none failed.
fn assert_no_failed_runs(t: &Value) {
    assert_eq!(
        t["stats"]["errors"], t["stats"]["batch_query"]["skipped_runs"],
        "{t}"
    );
}

#[test]
fn from_archive_batch_queries_match_influxdb_and_report_missed_runs() {
    let dir = tempfile::tempdir().unwrap();
    let influx_dir = dir.path().join("influxd");
    let influxd = Influxd::start(&influx_dir);
    influxd.query("", "CREATE DATABASE telegraf");
    let (body, n) = points();
    post(influxd.url("/write?db=telegraf&precision=ns"), body.clone());

    let influx_url = influxd.url("");
    let mut weir = Weir::start(
        &dir.path().join("weir"),
        &[
            ("WEIR_INFLUXDB_URL", &influx_url),
            ("WEIR_ENGINE_BATCH_LINGER", "20ms"),
        ],
    );
    sql_ok(
        &weir,
        "CREATE ARCHIVE cpu_raw ON telegraf FROM cpu PARTITION BY hour ROLL EVERY 1s",
    );
    post(weir.url("/write?db=telegraf&precision=ns"), body);
    wait_until(Duration::from_secs(60), "the points in Parquet", || {
        archived(&weir) == i64::try_from(n).unwrap()
    });

    // What cannot run is refused when created, with the reason.
    let (status, text) = sql(
        &weir,
        "CREATE BATCH QUERY bad ON telegraf EVERY 1s BEGIN SELECT mean(usage_idle) INTO o FROM ARCHIVE cpu WHERE time > now() - 1h OR host = 'a' GROUP BY time(1m) END",
    );
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("time inside OR"), "{text}");

    sql_ok(&weir, &batch("cpu_recent", "cpu_recent", RECENT));
    sql_ok(&weir, &batch("cpu_fixed", "cpu_fixed", FIXED));
    assert_converges(&influxd, RECENT, "cpu_recent", 20);
    // fill(0): every 5m window of the hour for every host, as InfluxDB fills them.
    assert_converges(&influxd, FIXED, "cpu_fixed", 36);
    // Aggregates over the whole range (no GROUP BY time()): one row per group, at the lower
    // bound as influxd answers it (`time >= X` gives X, `time > X` gives X + 1ns).
    sql_ok(&weir, &batch("cpu_whole_gte", "cpu_whole_gte", WHOLE_GTE));
    sql_ok(&weir, &batch("cpu_whole_gt", "cpu_whole_gt", WHOLE_GT));
    assert_converges(&influxd, WHOLE_GTE, "cpu_whole_gte", 3);
    assert_converges(&influxd, WHOLE_GT, "cpu_whole_gt", 3);
    // holt_winters(): one fit over the range's windows, one forecast per run.
    sql_ok(&weir, &batch("cpu_holt", "cpu_holt", HOLT));
    sql_ok(&weir, &batch("cpu_holt_fit", "cpu_holt_fit", HOLT_FIT));
    assert_converges(&influxd, HOLT, "cpu_holt", 12);
    assert_converges(&influxd, HOLT_FIT, "cpu_holt_fit", 30);

    let t = task(&weir, "cpu_recent");
    assert_no_failed_runs(&t);
    assert!(t["stats"]["points_in"].as_u64().unwrap() > 0, "{t}");
    assert!(t["stats"]["points_out"].as_u64().unwrap() > 0, "{t}");
    assert!(t["plan"].as_str().unwrap().contains("FROM ARCHIVE"), "{t}");
    assert_eq!(t["stats"]["batch_query"]["missed_runs"], 0, "{t}");
    let last_run = parse_rfc3339(t["stats"]["batch_query"]["last_run"].as_str().unwrap());

    // Down for a few seconds: the runs due meanwhile are reported at the next start.
    assert!(weir.terminate().success());
    let stopped = now_ns();
    std::thread::sleep(Duration::from_secs(4));
    let restarting = now_ns();
    weir.restart();
    let t = task(&weir, "cpu_recent");
    let b = &t["stats"]["batch_query"];
    let missed = b["missed_runs"].as_u64().unwrap();
    assert!((3..=6).contains(&missed), "{t}");
    let first = parse_rfc3339(b["missed_first"].as_str().unwrap());
    let last = parse_rfc3339(b["missed_last"].as_str().unwrap());
    assert!(first > last_run && first <= stopped + 2 * S, "{t}");
    assert!(last >= restarting - S && last <= now_ns(), "{t}");
    assert_eq!(last - first, i64::try_from(missed - 1).unwrap() * S, "{t}");
    // One catch-up run for the most recent missed time, then the schedule goes on.
    assert_eq!(b["catch_up_run"], b["missed_last"], "{t}");
    assert!(
        weir.log_text().contains("fell due while weir was down"),
        "{}",
        weir.log_text()
    );
    wait_until(Duration::from_secs(20), "runs after the restart", || {
        let t = task(&weir, "cpu_recent");
        t["stats"]["batch_query"]["last_run"]
            .as_str()
            .is_some_and(|r| parse_rfc3339(r) > last)
    });
    let t = task(&weir, "cpu_recent");
    assert_no_failed_runs(&t);
    assert_converges(&influxd, RECENT, "cpu_recent", 20);

    // A disabled query has missed nothing when enabled again.
    sql_ok(&weir, "DISABLE TASK cpu_fixed");
    std::thread::sleep(Duration::from_secs(2));
    sql_ok(&weir, "ENABLE TASK cpu_fixed");
    let t = task(&weir, "cpu_fixed");
    assert_eq!(t["stats"]["batch_query"]["missed_runs"], 0, "{t}");
}
