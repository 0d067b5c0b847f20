//! Continuous queries against a real InfluxDB: the same points go to weir and to `influxd`;
//! weir's CQ output (written INTO influxd) must equal influxd's own answer to the SELECT.
//!
//! Needs `influxd` (Debian package `influxdb`, 1.6.x); fails, not skips, without it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use serde_json::Value;
use weir_tests::{post_lines as post, Influxd, Rng, Weir};

const S: i64 = 1_000_000_000;
/// 2023-01-01T00:00:00Z.
const T0: i64 = 1_672_531_200 * S;

/// Points of `cpu`: several hosts (matching and not), cpu-total and cpu0, float usage_idle,
/// integer usage_user (sometimes missing), in time order. Returns the lines and the last time.
fn points() -> (Vec<String>, i64) {
    let mut rng = Rng(42);
    let hosts = ["web-1", "web-2", "web-3", "db-1"];
    let cpus = ["cpu-total", "cpu0"];
    let mut rows: Vec<(i64, String)> = Vec::new();
    for step in 0..96i64 {
        for host in hosts {
            for cpu in cpus {
                // One point per series per 5 s step, at a jittered (unique) time.
                let t = T0 + step * 5 * S + i64::try_from(rng.below(4_999_000)).unwrap() * 1_000;
                let idle = rng.below(1_000_000_000) as f64 / 7_000_000.0;
                let mut line = format!("cpu,host={host},cpu={cpu} usage_idle={idle:?}");
                if rng.below(10) != 0 {
                    line.push_str(&format!(",usage_user={}i", rng.below(100)));
                }
                rows.push((t, format!("{line} {t}")));
            }
        }
    }
    rows.sort_by_key(|(t, _)| *t);
    let last = rows.last().unwrap().0;
    (rows.into_iter().map(|(_, l)| l).collect(), last)
}

/// `(tags, time) -> values by column name` from a /query answer (one statement).
type Rows = BTreeMap<(String, i64), BTreeMap<String, f64>>;

fn rows(body: &Value) -> Rows {
    let mut out = Rows::new();
    let Some(series) = body["results"][0]["series"].as_array() else {
        return out;
    };
    for s in series {
        let tags = s["tags"].to_string();
        let cols: Vec<&str> = s["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        for v in s["values"].as_array().unwrap() {
            let v = v.as_array().unwrap();
            let t = v[0].as_i64().unwrap();
            let mut fields = BTreeMap::new();
            for (c, x) in cols.iter().zip(v).skip(1) {
                if let Some(f) = x.as_f64() {
                    fields.insert((*c).to_string(), f);
                }
            }
            out.insert((tags.clone(), t), fields);
        }
    }
    out
}

fn assert_same(what: &str, got: &Rows, want: &Rows) {
    assert!(want.len() >= 8, "{what}: too few reference rows: {want:?}");
    let got_keys: Vec<_> = got.keys().collect();
    let want_keys: Vec<_> = want.keys().collect();
    assert_eq!(got_keys, want_keys, "{what}: different rows");
    for (k, w) in want {
        let g = &got[k];
        assert_eq!(
            g.keys().collect::<Vec<_>>(),
            w.keys().collect::<Vec<_>>(),
            "{what} {k:?}: different fields: got {g:?}, want {w:?}"
        );
        for (name, wv) in w {
            let gv = g[name];
            let tol = 1e-9 * wv.abs().max(gv.abs()).max(1e-300);
            assert!(
                (gv - wv).abs() <= tol,
                "{what} {k:?} {name}: weir {gv} != influxdb {wv}"
            );
        }
    }
}

/// Start of the window of `t` (epoch aligned plus offset).
fn window_start(t: i64, interval: i64, offset: i64) -> i64 {
    (t - offset).div_euclid(interval) * interval + offset
}

const CQ_SPEC: &str = "CREATE CONTINUOUS QUERY cpu_1m ON telegraf BEGIN SELECT mean(usage_idle) AS usage_idle, max(usage_user) AS usage_user_max INTO telegraf.autogen.cpu_1m FROM cpu WHERE cpu = 'cpu-total' AND host =~ /^web-/ GROUP BY time(1m), host END";

const SELECT_2: &str = "SELECT sum(usage_user) AS sum_user, count(usage_user) AS n_user, min(usage_idle) AS min_idle, first(usage_user) AS first_user, last(usage_idle) AS last_idle, spread(usage_user) AS spread_user, stddev(usage_idle) AS sd_idle, median(usage_user) AS med_user, mean(usage_user), mean(usage_idle)";

#[test]
fn continuous_queries_match_influxdb() {
    let dir = tempfile::tempdir().unwrap();
    let influx_dir = dir.path().join("influxd");
    std::fs::create_dir_all(&influx_dir).unwrap();
    let influxd = Influxd::start(&influx_dir);
    influxd.query("", "CREATE DATABASE telegraf");

    let influx_url = influxd.url("");
    let weir = Weir::start(
        &dir.path().join("weir"),
        &[
            ("WEIR_INFLUXDB_URL", &influx_url),
            ("WEIR_ENGINE_LATENESS", "1s"),
        ],
    );
    let cq2 = format!(
        "CREATE CONTINUOUS QUERY cpu_30s ON telegraf BEGIN {SELECT_2} INTO telegraf.autogen.cpu_30s FROM cpu WHERE cpu = 'cpu-total' GROUP BY time(30s, 10s), host END"
    );
    // Every point, 2 s windows: checks that the last window closes on wall time alone.
    let cq3 = "CREATE CONTINUOUS QUERY cpu_2s ON telegraf BEGIN SELECT count(usage_idle) INTO telegraf..cpu_2s FROM cpu GROUP BY time(2s) END";
    for stmt in [CQ_SPEC, cq2.as_str(), cq3] {
        let r = Client::new()
            .post(weir.url("/api/v1/sql"))
            .body(stmt.to_string())
            .send()
            .unwrap();
        let status = r.status().as_u16();
        let body = r.text().unwrap();
        assert_eq!(status, 200, "{stmt}: {body}");
    }

    let (lines, last) = points();
    // One request each: the rows reach weir's CQs in one batch, in time order, so no point
    // can be late however slow the machine is.
    let body = lines.join("\n");
    post(influxd.url("/write?db=telegraf&precision=ns"), body.clone());
    post(weir.url("/write?db=telegraf&precision=ns"), body);

    // Windows ending at least `lateness` before the last point are closed by the data itself.
    let lateness = S;
    let end_1m = window_start(last - lateness, 60 * S, 0);
    let end_30s = window_start(last - lateness, 30 * S, 10 * S);
    let cases = [
        (
            "cpu_1m",
            format!("SELECT usage_idle, usage_user_max FROM cpu_1m WHERE time < {end_1m} GROUP BY host"),
            format!(
                "SELECT mean(usage_idle) AS usage_idle, max(usage_user) AS usage_user_max FROM cpu \
                 WHERE cpu = 'cpu-total' AND host =~ /^web-/ AND time >= {T0} AND time < {end_1m} \
                 GROUP BY time(1m), host fill(none)"
            ),
        ),
        (
            "cpu_30s",
            format!(
                "SELECT sum_user, n_user, min_idle, first_user, last_idle, spread_user, sd_idle, med_user, mean, mean_1 \
                 FROM cpu_30s WHERE time < {end_30s} GROUP BY host"
            ),
            format!(
                "{SELECT_2} FROM cpu WHERE cpu = 'cpu-total' AND time >= {} AND time < {end_30s} \
                 GROUP BY time(30s, 10s), host fill(none)",
                T0 - 20 * S
            ),
        ),
    ];
    for (name, got_q, want_q) in cases {
        let want = rows(&influxd.query("telegraf", &want_q));
        let deadline = Instant::now() + Duration::from_secs(30);
        let got = loop {
            let got = rows(&influxd.query("telegraf", &got_q));
            if got.len() >= want.len() || Instant::now() > deadline {
                break got;
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        if got.len() != want.len() {
            let task = Client::new()
                .get(weir.url(&format!("/api/v1/tasks/{name}")))
                .send()
                .and_then(|r| r.text())
                .unwrap_or_default();
            panic!(
                "{name}: weir wrote {} rows, InfluxDB answers {}; task: {task}\nweir log:\n{}",
                got.len(),
                want.len(),
                weir.log_text()
            );
        }
        assert_same(name, &got, &want);
        eprintln!("{name}: {} rows equal to InfluxDB's", want.len());
        // points_out counts after InfluxDB's answer, which may come just after the rows show.
        let deadline = Instant::now() + Duration::from_secs(10);
        let task = loop {
            let task: Value = Client::new()
                .get(weir.url(&format!("/api/v1/tasks/{name}")))
                .send()
                .unwrap()
                .json()
                .unwrap();
            let out = task["stats"]["points_out"].as_u64().unwrap_or(0);
            if out >= want.len() as u64 || Instant::now() > deadline {
                break task;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let stats = &task["stats"];
        assert_eq!(stats["points_in"], 768, "{task}");
        assert_eq!(stats["points_late"], 0, "{task}");
        assert!(stats["windows_emitted"].as_u64().unwrap() >= 7, "{task}");
        assert!(
            stats["points_out"].as_u64().unwrap() >= want.len() as u64,
            "{task}"
        );
        assert!(
            task["plan"].as_str().unwrap().contains("tumbling windows"),
            "{task}"
        );
    }
    // The data stopped; the task clock keeps moving with wall time, so the window holding the
    // last point closes within about 2 s + lateness, and no point is lost or late.
    let last_window = window_start(last, 2 * S, 0);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = rows(&influxd.query("telegraf", "SELECT count FROM cpu_2s"));
        let total: f64 = got.values().map(|f| f["count"]).sum();
        if got.keys().any(|(_, t)| *t == last_window) {
            assert_eq!(total, 768.0, "{got:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the last 2 s window was not written; weir log:\n{}",
            weir.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
