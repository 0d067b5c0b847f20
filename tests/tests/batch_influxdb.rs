//! Batch queries against a real InfluxDB: weir sends the SELECT to `influxd` on a schedule and
//! writes the rows back INTO it; they must equal influxd's own answer to the SELECT.
//!
//! Needs `influxd` (Debian package `influxdb`, 1.6.x); fails, not skips, without it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use serde_json::Value;
use weir_tests::{free_port, post_lines as post, Influxd, Weir};

const S: i64 = 1_000_000_000;

fn sql(weir: &Weir, stmt: &str) {
    let r = Client::new()
        .post(weir.url("/api/v1/sql"))
        .body(stmt.to_string())
        .send()
        .unwrap();
    let status = r.status().as_u16();
    let body = r.text().unwrap();
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

type Rows = weir_tests::InfluxRows;

fn rows(body: &Value) -> Rows {
    weir_tests::influx_rows(body)
}

fn assert_same(got: &Rows, want: &Rows) {
    let got_keys: Vec<_> = got.keys().collect();
    let want_keys: Vec<_> = want.keys().collect();
    assert_eq!(
        got_keys, want_keys,
        "different rows: got {got:?}, want {want:?}"
    );
    for (k, w) in want {
        let g = &got[k];
        assert_eq!(
            g.keys().collect::<Vec<_>>(),
            w.keys().collect::<Vec<_>>(),
            "{k:?}: different fields: got {g:?}, want {w:?}"
        );
        for (name, wv) in w {
            let gv = g[name];
            let tol = 1e-9 * wv.abs().max(gv.abs()).max(1e-300);
            assert!(
                (gv - wv).abs() <= tol,
                "{k:?} {name}: weir {gv} != influxdb {wv}"
            );
        }
    }
}

const SELECT: &str = "SELECT mean(usage_idle) AS usage_idle FROM cpu WHERE time > now() - 1h GROUP BY time(1h), host";

const BATCH: &str = "CREATE BATCH QUERY cpu_hourly ON telegraf EVERY 1s BEGIN SELECT mean(usage_idle) AS usage_idle INTO telegraf.autogen.cpu_1h FROM cpu WHERE time > now() - 1h GROUP BY time(1h), host END";

/// Recent points of `cpu` (the last ~3 minutes): 4 hosts, floats.
fn recent_points() -> String {
    let now = now_ns();
    let mut lines = Vec::new();
    for (h, host) in ["web-1", "web-2", "db-1"].iter().enumerate() {
        for i in 0..20i64 {
            let t = now - (i * 9 + 5) * S - i64::try_from(h).unwrap() * 1_000_000;
            let idle = 50.0 + (i as f64) * 1.37 + (h as f64) * 0.113 + 0.0001;
            lines.push(format!(
                "cpu,host={host},cpu=cpu-total usage_idle={idle:?} {t}"
            ));
        }
    }
    // Whole means come back from InfluxDB as `50`: they must still be written as floats.
    for i in 0..5i64 {
        let t = now - (i * 7 + 3) * S;
        lines.push(format!("cpu,host=db-2,cpu=cpu-total usage_idle=50.0 {t}"));
    }
    lines.join("\n")
}

#[test]
fn batch_query_matches_influxdb() {
    let dir = tempfile::tempdir().unwrap();
    let influx_dir = dir.path().join("influxd");
    std::fs::create_dir_all(&influx_dir).unwrap();
    let influxd = Influxd::start(&influx_dir);
    influxd.query("", "CREATE DATABASE telegraf");
    post(
        influxd.url("/write?db=telegraf&precision=ns"),
        recent_points(),
    );

    let influx_url = influxd.url("");
    let weir = Weir::start(
        &dir.path().join("weir"),
        &[("WEIR_INFLUXDB_URL", &influx_url)],
    );
    sql(&weir, BATCH);

    let want = rows(&influxd.query("telegraf", SELECT));
    assert!(want.len() >= 4, "too few reference rows: {want:?}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let got = loop {
        let got = rows(&influxd.query("telegraf", "SELECT usage_idle FROM cpu_1h GROUP BY host"));
        if got.len() >= want.len() || Instant::now() > deadline {
            break got;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    if got.len() != want.len() {
        panic!(
            "weir wrote {} rows, InfluxDB answers {}; task: {}\nweir log:\n{}",
            got.len(),
            want.len(),
            task(&weir, "cpu_hourly"),
            weir.log_text()
        );
    }
    assert_same(&got, &want);
    let t = task(&weir, "cpu_hourly");
    let stats = &t["stats"];
    assert!(stats["windows_emitted"].as_u64().unwrap() >= 1, "{t}");
    assert!(
        stats["points_out"].as_u64().unwrap() >= want.len() as u64,
        "{t}"
    );
    assert!(
        stats["points_in"].as_u64().unwrap() >= want.len() as u64,
        "{t}"
    );
    assert_eq!(stats["errors"], 0, "{t}");
    let plan = t["plan"].as_str().unwrap();
    assert!(plan.contains(SELECT), "{t}");
    assert!(!plan.contains("INTO telegraf.autogen.cpu_1h FROM"), "{t}");
    // db-2's mean is 50, shown as `50` in InfluxDB's JSON: still written as a float.
    let keys = influxd.query("telegraf", "SHOW FIELD KEYS FROM cpu_1h");
    assert_eq!(
        keys["results"][0]["series"][0]["values"],
        serde_json::json!([["usage_idle", "float"]]),
        "{keys}"
    );

    // On a cron schedule (seven fields: every second), for the host whose values are all
    // 50.0: InfluxDB's JSON shows them as `50`, the source field's type says float.
    let want = rows(&influxd.query(
        "telegraf",
        "SELECT mean(usage_idle) AS usage_idle, max(usage_idle) AS usage_max FROM cpu WHERE host = 'db-2' AND time > now() - 1h GROUP BY time(1h), host",
    ));
    sql(
        &weir,
        "CREATE BATCH QUERY cpu_cron ON telegraf CRON '* * * * * * *' BEGIN SELECT mean(usage_idle) AS usage_idle, max(usage_idle) AS usage_max INTO telegraf.autogen.cpu_cron FROM cpu WHERE host = 'db-2' AND time > now() - 1h GROUP BY time(1h), host END",
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = rows(&influxd.query(
            "telegraf",
            "SELECT usage_idle, usage_max FROM cpu_cron GROUP BY host",
        ));
        if got.len() >= want.len() {
            assert_same(&got, &want);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the cron batch query wrote nothing; task: {}",
            task(&weir, "cpu_cron")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let t = task(&weir, "cpu_cron");
    assert!(t["plan"].as_str().unwrap().contains("CRON"), "{t}");
    assert_eq!(t["stats"]["errors"], 0, "{t}");
    let keys = influxd.query("telegraf", "SHOW FIELD KEYS FROM cpu_cron");
    assert_eq!(
        keys["results"][0]["series"][0]["values"],
        serde_json::json!([["usage_idle", "float"], ["usage_max", "float"]]),
        "{keys}"
    );
}

#[test]
fn batch_query_survives_unreachable_influxdb() {
    let dir = tempfile::tempdir().unwrap();
    // A closed port: nothing listens there until influxd is started on it below.
    let port = free_port();
    let influx_url = format!("http://127.0.0.1:{port}");
    let weir = Weir::start(
        &dir.path().join("weir"),
        &[("WEIR_INFLUXDB_URL", &influx_url)],
    );
    sql(&weir, BATCH);
    std::thread::sleep(Duration::from_millis(2500));
    let t = task(&weir, "cpu_hourly");
    assert!(t["stats"]["errors"].as_u64().unwrap() >= 1, "{t}");
    let last = t["stats"]["last_error"].as_str().unwrap_or_default();
    assert!(last.contains(&influx_url), "{t}");
    assert!(last.starts_with("run at "), "{t}");
    eprintln!("last_error while InfluxDB is down: {last}");
    let r = reqwest::blocking::get(weir.url("/ping")).unwrap();
    assert_eq!(r.status().as_u16(), 204);

    // InfluxDB comes up: a later run succeeds without touching the task.
    let influx_dir = dir.path().join("influxd");
    std::fs::create_dir_all(&influx_dir).unwrap();
    let influxd = Influxd::start_on(&influx_dir, port);
    influxd.query("", "CREATE DATABASE telegraf");
    post(
        influxd.url("/write?db=telegraf&precision=ns"),
        recent_points(),
    );
    let want = rows(&influxd.query("telegraf", SELECT));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = rows(&influxd.query("telegraf", "SELECT usage_idle FROM cpu_1h GROUP BY host"));
        if got.len() >= want.len() {
            assert_same(&got, &want);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no run succeeded after InfluxDB came up; task: {}\nweir log:\n{}",
            task(&weir, "cpu_hourly"),
            weir.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let t = task(&weir, "cpu_hourly");
    assert!(t["stats"]["windows_emitted"].as_u64().unwrap() >= 1, "{t}");
}

#[test]
fn batch_query_runs_never_overlap() {
    let dir = tempfile::tempdir().unwrap();
    // Accepts connections (the kernel's backlog) but never answers: every run hangs.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let influx_url = format!("http://{}", silent.local_addr().unwrap());
    let weir = Weir::start(
        &dir.path().join("weir"),
        &[("WEIR_INFLUXDB_URL", &influx_url)],
    );
    sql(&weir, BATCH);
    let deadline = Instant::now() + Duration::from_secs(10);
    let t = loop {
        let t = task(&weir, "cpu_hourly");
        if t["stats"]["errors"].as_u64().unwrap() >= 2 || Instant::now() > deadline {
            break t;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(t["stats"]["errors"].as_u64().unwrap() >= 2, "{t}");
    let last = t["stats"]["last_error"].as_str().unwrap_or_default();
    assert!(
        last.starts_with("run at ") && last.ends_with("skipped: previous run still going"),
        "{t}"
    );
    // The first run hangs, so every later one is skipped: counted apart from failures.
    let skipped = t["stats"]["batch_query"]["skipped_runs"].as_u64().unwrap();
    assert!(skipped >= 1, "{t}");
    assert!(t["stats"]["batch_query"]["last_skipped"].is_string(), "{t}");
    assert_eq!(t["stats"]["windows_emitted"], 0, "{t}");
    let r = reqwest::blocking::get(weir.url("/ping")).unwrap();
    assert_eq!(r.status().as_u16(), 204);
    // Dropping the task ends the hung run too.
    sql(&weir, "DROP BATCH QUERY cpu_hourly");
    drop(silent);
}

/// An answer larger than one chunk (InfluxDB's `chunked=true`, 10,000 rows a chunk) is
/// converted and written chunk by chunk; every row arrives.
#[test]
fn large_answers_are_streamed_in_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let influxd = Influxd::start(&dir.path().join("influxd"));
    influxd.query("", "CREATE DATABASE telegraf");
    let now = now_ns();
    let n: i64 = 25_000;
    let mut body = String::new();
    for i in 0..n {
        let host = if i % 2 == 0 { "a" } else { "b" };
        // 10 ms apart, the newest a second ago: all within the last hour.
        body.push_str(&format!(
            "cpu,host={host} usage_idle={}.5 {}\n",
            i % 100,
            now - S - (n - i) * 10_000_000
        ));
    }
    post(influxd.url("/write?db=telegraf&precision=ns"), body);
    let weir = Weir::start(
        &dir.path().join("weir"),
        &[("WEIR_INFLUXDB_URL", &influxd.url(""))],
    );
    sql(
        &weir,
        "CREATE BATCH QUERY copy ON telegraf EVERY 2s BEGIN SELECT usage_idle INTO telegraf.autogen.cpu_copy FROM cpu WHERE time > now() - 1h GROUP BY host END",
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = influxd.query("telegraf", "SELECT count(usage_idle) FROM cpu_copy");
        let count = r["results"][0]["series"][0]["values"][0][1]
            .as_i64()
            .unwrap_or(0);
        if count == n {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "cpu_copy has {count} of {n} rows; task: {}",
            task(&weir, "copy")
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let t = task(&weir, "copy");
    assert!(t["stats"]["points_in"].as_u64().unwrap() >= n as u64, "{t}");
    assert_eq!(t["stats"]["errors"], 0, "{t}");
}
