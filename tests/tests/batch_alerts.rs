//! Batch alerts (`CREATE ALERT ... EVERY d`) against a real InfluxDB: each run sends the
//! SELECT to `influxd`, evaluates the rows it returns and publishes the events to the topic;
//! with `STATE CHANGES ONLY` an ID that stays CRITICAL over many runs is published once, also
//! across a restart of weir; an unreachable InfluxDB fails the run with a clear error, and the
//! next run works.
//!
//! Needs `influxd` (Debian package `influxdb`, 1.6.x); fails, not skips, without it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use reqwest::blocking::Client;
use serde_json::Value;
use weir_tests::{free_port, post_lines, wait_until, Influxd, Weir};

const S: i64 = 1_000_000_000;

const ALERT: &str = "CREATE ALERT cpu_batch ON telegraf EVERY 1s
BEGIN
  SELECT mean(usage_idle) AS idle FROM cpu WHERE time > now() - 1h GROUP BY host
END
WARN WHEN idle < 20
CRIT WHEN idle < 10
ID 'cpu:{{host}}'
MESSAGE '{{id}} is {{level}}: idle {{idle}}%'
STATE CHANGES ONLY
TOPIC batch";

fn get(w: &Weir, path: &str) -> Value {
    Client::new()
        .get(w.url(path))
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

/// `(id, level, message)` of the topic's latest events, by id.
fn events(w: &Weir) -> Vec<(String, String, String)> {
    let body = get(w, "/api/v1/topics/batch/events");
    let mut out: Vec<_> = body["events"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            (
                e["id"].as_str().unwrap().to_string(),
                e["level"].as_str().unwrap().to_string(),
                e["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

fn runs(w: &Weir) -> u64 {
    get(w, "/api/v1/tasks/cpu_batch")["stats"]["windows_emitted"]
        .as_u64()
        .unwrap_or(0)
}

#[test]
fn batch_alert_publishes_state_changes_of_influxdb_rows() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on this port until influxd is started on it below.
    let port = free_port();
    let influx_url = format!("http://127.0.0.1:{port}");
    let mut weir = Weir::start(
        &dir.path().join("weir"),
        &[("WEIR_INFLUXDB_URL", &influx_url)],
    );
    weir.exec_file(ALERT);

    // InfluxDB unreachable: the runs fail with the reason in the task's stats.
    wait_until(Duration::from_secs(10), "a failed run", || {
        let t = get(&weir, "/api/v1/tasks/cpu_batch");
        t["stats"]["last_error"]
            .as_str()
            .is_some_and(|e| e.starts_with("run at ") && e.contains(&influx_url))
    });
    assert!(events(&weir).is_empty());

    let influxd = Influxd::start_on(&dir.path().join("influxd"), port);
    influxd.query("", "CREATE DATABASE telegraf");
    let now = now_ns();
    let mut lines = String::new();
    for i in 0..5 {
        let t = now - (i * 10 + 5) * S;
        lines.push_str(&format!("cpu,host=a usage_idle=5 {t}\n"));
        lines.push_str(&format!("cpu,host=b usage_idle=50 {t}\n"));
        lines.push_str(&format!("cpu,host=c usage_idle=15 {t}\n"));
    }
    post_lines(influxd.url("/write?db=telegraf&precision=ns"), lines);
    let want = vec![
        (
            "cpu:a".to_string(),
            "CRITICAL".to_string(),
            "cpu:a is CRITICAL: idle 5%".to_string(),
        ),
        (
            "cpu:c".to_string(),
            "WARNING".to_string(),
            "cpu:c is WARNING: idle 15%".to_string(),
        ),
    ];
    wait_until(Duration::from_secs(20), "the batch alert's events", || {
        events(&weir) == want
    });
    // Several more runs: nothing changes, nothing more is published.
    let after = runs(&weir);
    wait_until(Duration::from_secs(20), "three more runs", || {
        runs(&weir) >= after + 3
    });
    let t = get(&weir, "/api/v1/tasks/cpu_batch");
    assert_eq!(t["stats"]["alerts"]["crit"], 1, "{t}");
    assert_eq!(t["stats"]["alerts"]["warn"], 1, "{t}");
    assert!(t["plan"].as_str().unwrap().contains("topic batch"), "{t}");

    // A restart keeps the states: still nothing new.
    assert!(weir.terminate().success());
    weir.restart();
    let after = runs(&weir);
    wait_until(Duration::from_secs(20), "runs after the restart", || {
        runs(&weir) >= after + 2
    });
    let t = get(&weir, "/api/v1/tasks/cpu_batch");
    assert_eq!(t["stats"]["alerts"]["crit"], 0, "published again: {t}");

    // c recovers: its mean rises above 20.
    let now = now_ns();
    let lines: String = (0..20)
        .map(|i| format!("cpu,host=c usage_idle=90 {}\n", now - (i + 1) * S))
        .collect();
    post_lines(influxd.url("/write?db=telegraf&precision=ns"), lines);
    wait_until(Duration::from_secs(20), "c's recovery", || {
        events(&weir).get(1).is_some_and(|e| e.1 == "OK")
    });
    let t = get(&weir, "/api/v1/tasks/cpu_batch");
    assert_eq!(t["stats"]["alerts"]["ok"], 1, "{t}");
    assert_eq!(t["stats"]["alerts"]["crit"], 0, "{t}");
}
