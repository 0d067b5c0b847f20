//! A continuous query across restarts of weir and outages of InfluxDB, against the real binary
//! and a real `influxd`:
//!
//! - defined from a file with `weir exec`, it keeps its open windows across a graceful restart
//!   (final checkpoint) and a `kill -9` (last checkpoint plus the write-ahead log's replay):
//!   every window counts every point exactly once;
//! - while InfluxDB is down its output waits in the task's outbox (shown in `/metrics`), across
//!   a restart of weir too, and reaches InfluxDB once it is up (the database is created).
//!
//! Needs `influxd` (Debian package `influxdb`); fails, not skips, without it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::blocking::Client;
use serde_json::Value;
use weir_tests::{free_port, post_lines, wait_until, Influxd, Weir};

const S: i64 = 1_000_000_000;
/// 2023-01-01T00:00:00Z, a minute boundary.
const T0: i64 = 1_672_531_200 * S;

const CQ: &str = "CREATE CONTINUOUS QUERY per_host ON telegraf BEGIN \
    SELECT count(v) AS n, sum(v) AS total INTO out.autogen.per_host FROM m \
    GROUP BY time(1m), host END";

/// Points `v=i` of hosts a and b at `T0 + (i * 7 s) mod 2 min` for `i` in `range`: all of them
/// fall in the two windows starting at T0 and T0+1m, in no particular order.
fn points(range: std::ops::Range<i64>) -> Vec<(String, i64, i64)> {
    let mut out = Vec::new();
    for i in range {
        for host in ["a", "b"] {
            let t = T0 + (i * 7 * S) % (120 * S) + i * 1_000;
            out.push((host.to_string(), t, i));
        }
    }
    out
}

fn lines(points: &[(String, i64, i64)]) -> String {
    points
        .iter()
        .map(|(h, t, v)| format!("m,host={h} v={v}i {t}\n"))
        .collect()
}

/// `(host, window) -> (count, sum)` a correct CQ writes.
fn expected(points: &[(String, i64, i64)]) -> BTreeMap<(String, i64), (i64, i64)> {
    let mut out = BTreeMap::new();
    for (h, t, v) in points {
        let w = t - (t - T0).rem_euclid(60 * S);
        let e = out.entry((h.clone(), w)).or_insert((0, 0));
        e.0 += 1;
        e.1 += v;
    }
    out
}

/// What the CQ wrote to influxd, in the shape of [`expected`].
fn written(influx: &Influxd) -> BTreeMap<(String, i64), (i64, i64)> {
    let body = influx.query(
        "out",
        "SELECT n, total FROM out.autogen.per_host GROUP BY host",
    );
    let mut out = BTreeMap::new();
    for s in body["results"][0]["series"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let host = s["tags"]["host"].as_str().unwrap().to_string();
        for row in s["values"].as_array().unwrap() {
            out.insert(
                (host.clone(), row[0].as_i64().unwrap()),
                (row[1].as_i64().unwrap(), row[2].as_i64().unwrap()),
            );
        }
    }
    out
}

fn task(weir: &Weir) -> Value {
    Client::new()
        .get(weir.url("/api/v1/tasks/per_host"))
        .send()
        .unwrap()
        .json()
        .unwrap()
}

fn points_in(weir: &Weir) -> u64 {
    task(weir)["stats"]["points_in"].as_u64().unwrap_or(0)
}

fn write(weir: &Weir, body: String) {
    post_lines(weir.url("/write?db=telegraf&precision=ns"), body);
}

#[test]
fn window_state_survives_graceful_restart_and_kill9() {
    let tmp = tempfile::tempdir().unwrap();
    let influx = Influxd::start(&tmp.path().join("influxd"));
    influx.query("", "CREATE DATABASE out");
    let url = influx.url("");
    // Windows close an hour of event time after their end: only the last point closes them.
    // Small log segments, so the log releases what a checkpoint covers: after that, only the
    // checkpoint has those points.
    let env = [
        ("WEIR_INFLUXDB_URL", url.as_str()),
        ("WEIR_ENGINE_LATENESS", "1h"),
        ("WEIR_ENGINE_CHECKPOINT_INTERVAL", "1h"),
        ("WEIR_WAL_SEGMENT_SIZE", "1024"),
    ];
    let mut weir = Weir::start(&tmp.path().join("weir"), &env);
    weir.exec_file(&format!("{CQ};\n"));

    // 1. Part of both windows, then SIGTERM: the final checkpoint keeps them.
    let a = points(0..20);
    write(&weir, lines(&a));
    wait_until(
        Duration::from_secs(30),
        "the CQ read the first points",
        || points_in(&weir) >= a.len() as u64,
    );
    assert!(weir.terminate().success());
    weir.restart();
    let t = task(&weir);
    assert_eq!(t["status"], "enabled", "{t}");
    assert!(
        t["stats"]["continuous_query"]["checkpoint"]["watermark"].as_u64() > Some(0),
        "resumed from a checkpoint: {t}"
    );

    // 2. More points, then kill -9 before any checkpoint: the log replays them.
    let b = points(20..45);
    write(&weir, lines(&b));
    wait_until(
        Duration::from_secs(30),
        "the CQ read the next points",
        || points_in(&weir) >= b.len() as u64,
    );
    // The first points have left the log (the checkpoint holds them); the next ones stay
    // until a checkpoint covers them.
    let a_bytes = lines(&a).len() as f64;
    let b_bytes = lines(&b).len() as f64;
    wait_until(
        Duration::from_secs(30),
        "the log released the checkpointed points",
        || weir.metric("weir_wal_bytes") < a_bytes + b_bytes,
    );
    assert!(weir.metric("weir_wal_bytes") >= b_bytes);
    weir.kill9();
    weir.restart();
    wait_until(
        Duration::from_secs(30),
        "the log replayed to the CQ",
        || points_in(&weir) >= b.len() as u64,
    );
    assert!(
        written(&influx).is_empty(),
        "no window may close before its last point"
    );

    // 3. The rest, and a point three hours later that closes both windows.
    let c = points(45..60);
    write(&weir, lines(&c));
    write(&weir, format!("m,host=a v=0i {}\n", T0 + 3 * 3600 * S));
    let mut all = a.clone();
    all.extend(b.iter().cloned());
    all.extend(c.iter().cloned());
    let want = expected(&all);
    assert_eq!(want.len(), 4, "two hosts in two windows");
    wait_until(
        Duration::from_secs(60),
        "the windows reached influxd",
        || written(&influx).len() >= want.len(),
    );
    assert_eq!(
        written(&influx),
        want,
        "every point counted exactly once across both restarts"
    );
}

#[test]
fn output_waits_on_disk_while_influxdb_is_down() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let env = [
        ("WEIR_INFLUXDB_URL", url.as_str()),
        ("WEIR_ENGINE_LATENESS", "0s"),
    ];
    let mut weir = Weir::start(&tmp.path().join("weir"), &env);
    let r = Client::new()
        .post(weir.url("/api/v1/sql"))
        .body(CQ)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().unwrap());

    // Two windows' points and a point that closes them; InfluxDB is not running.
    let pts = points(0..30);
    write(&weir, lines(&pts));
    write(&weir, format!("m,host=a v=0i {}\n", T0 + 3 * 3600 * S));
    let backlog = r#"weir_task_writer_backlog_batches{task="per_host"}"#;
    wait_until(
        Duration::from_secs(30),
        "output waits in the outbox",
        || weir.metric(backlog) >= 1.0,
    );
    assert!(weir.metric(r#"weir_task_writer_retries_total{task="per_host"}"#) >= 1.0);
    let t = task(&weir);
    assert!(
        t["stats"]["writer"]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains(&url)),
        "the error names InfluxDB's URL: {t}"
    );

    // The outbox survives a restart of weir.
    assert!(weir.terminate().success());
    weir.restart();
    assert!(
        weir.metric(backlog) >= 1.0,
        "outbox picked up after restart"
    );

    // InfluxDB comes up (without the target database): the output arrives.
    let influx = Influxd::start_on(&tmp.path().join("influxd"), port);
    let want = expected(&pts);
    wait_until(
        Duration::from_secs(60),
        "the outbox drained into influxd",
        || weir.metric(backlog) == 0.0 && written(&influx).len() >= want.len(),
    );
    assert_eq!(written(&influx), want);
    assert_eq!(
        weir.metric(r#"weir_task_writer_backlog_bytes{task="per_host"}"#),
        0.0
    );
}
