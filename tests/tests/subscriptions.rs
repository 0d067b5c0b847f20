//! InfluxDB subscriptions against a real InfluxDB: with `[influxdb] subscribe = true` weir
//! subscribes to the databases its stream tasks read, points written to `influxd` reach
//! weir's continuous queries through the subscription and their results land back in
//! `influxd`; weir drops its own stale subscriptions and never touches anyone else's.
//!
//! Needs `influxd` (Debian package `influxdb`, 1.6.x); fails, not skips, without it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use serde_json::Value;
use weir_tests::{free_port, post_lines as post, wait_until, Influxd, Weir};

const S: i64 = 1_000_000_000;
/// 2023-01-01T00:00:00Z.
const T0: i64 = 1_672_531_200 * S;
const LONG: Duration = Duration::from_secs(90);

/// Has the influxd processes this test binary starts run their subscriber service, so
/// subscriptions push the points they receive (the helper's config turns it off; influxd's
/// environment overrides its config). Called first thing in each test, before any of them
/// starts a process, so the environment never changes under a spawn.
fn influxd_subscriber_on() {
    static ENV: std::sync::Once = std::sync::Once::new();
    ENV.call_once(|| std::env::set_var("INFLUXDB_SUBSCRIBER_ENABLED", "true"));
}

/// One subscription as `SHOW SUBSCRIPTIONS` lists it.
#[derive(Debug, Clone, PartialEq)]
struct Sub {
    db: String,
    rp: String,
    name: String,
    mode: String,
    destinations: Vec<String>,
}

fn subscriptions(influxd: &Influxd) -> Vec<Sub> {
    let body = influxd.query("", "SHOW SUBSCRIPTIONS");
    let mut out = Vec::new();
    for s in body["results"][0]["series"]
        .as_array()
        .into_iter()
        .flatten()
    {
        for v in s["values"].as_array().unwrap() {
            out.push(Sub {
                db: s["name"].as_str().unwrap().to_string(),
                rp: v[0].as_str().unwrap().to_string(),
                name: v[1].as_str().unwrap().to_string(),
                mode: v[2].as_str().unwrap().to_string(),
                destinations: v[3]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d.as_str().unwrap().to_string())
                    .collect(),
            });
        }
    }
    out
}

fn named(influxd: &Influxd, name: &str) -> Vec<Sub> {
    subscriptions(influxd)
        .into_iter()
        .filter(|s| s.name == name)
        .collect()
}

fn sql(weir: &Weir, stmt: &str) -> Value {
    let r = Client::new()
        .post(weir.url("/api/v1/sql"))
        .body(stmt.to_string())
        .send()
        .unwrap();
    let status = r.status().as_u16();
    let body = r.text().unwrap();
    assert_eq!(status, 200, "{stmt}: {body}");
    serde_json::from_str(&body).unwrap()
}

fn status(weir: &Weir) -> Value {
    Client::new()
        .get(weir.url("/api/v1/subscriptions"))
        .send()
        .unwrap()
        .json()
        .unwrap()
}

/// Writes a point of a measurement no task reads to influxd until weir has received points
/// through the subscription (InfluxDB picks up a new subscription asynchronously).
fn wait_for_forwarding(influxd: &Influxd, weir: &Weir) {
    let before = weir.metric("weir_points_accepted_total");
    let mut last_probe: Option<Instant> = None;
    let mut n = 0i64;
    wait_until(LONG, "a point written to influxd to reach weir", || {
        if last_probe.is_none_or(|t| t.elapsed() > Duration::from_millis(500)) {
            n += 1;
            post(
                influxd.url("/write?db=telegraf"),
                format!("probe n={n}i {}", T0 - S * 3600 + n),
            );
            last_probe = Some(Instant::now());
        }
        weir.metric("weir_points_accepted_total") > before
    });
}

const CQ: &str = "CREATE CONTINUOUS QUERY cpu_1m ON telegraf BEGIN SELECT mean(usage_idle) AS usage_idle INTO telegraf.autogen.cpu_1m FROM cpu GROUP BY time(1m), host END";

/// `host -> [(time, usage_idle)]` of `cpu_1m` in influxd, windows before `T0 + 2m` only.
fn cq_output(influxd: &Influxd) -> BTreeMap<String, Vec<(i64, f64)>> {
    let q = format!(
        "SELECT usage_idle FROM cpu_1m WHERE time < {} GROUP BY host",
        T0 + 120 * S
    );
    let body = influxd.query("telegraf", &q);
    let mut out = BTreeMap::new();
    for s in body["results"][0]["series"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let host = s["tags"]["host"].as_str().unwrap().to_string();
        let rows = s["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| (v[0].as_i64().unwrap(), v[1].as_f64().unwrap()))
            .collect();
        out.insert(host, rows);
    }
    out
}

#[test]
fn points_written_to_influxdb_reach_tasks_through_the_subscription() {
    influxd_subscriber_on();
    let dir = tempfile::tempdir().unwrap();
    let influx_dir = dir.path().join("influxd");
    std::fs::create_dir_all(&influx_dir).unwrap();
    let influxd = Influxd::start(&influx_dir);
    influxd.query("", "CREATE DATABASE telegraf");
    influxd.query("", "CREATE DATABASE old");
    // Left by an earlier run of this weir on a database no task reads any more.
    influxd.query(
        "",
        "CREATE SUBSCRIPTION \"weir-e2e\" ON \"old\".\"autogen\" DESTINATIONS ALL 'http://127.0.0.1:1'",
    );
    // Somebody else's: weir must leave it alone.
    influxd.query(
        "",
        "CREATE SUBSCRIPTION \"someone-else\" ON \"telegraf\".\"autogen\" DESTINATIONS ALL 'http://127.0.0.1:2'",
    );
    let foreign = named(&influxd, "someone-else");
    assert_eq!(foreign.len(), 1);

    let influx_url = influxd.url("");
    let mut weir = Weir::start(
        &dir.path().join("weir"),
        &[
            ("WEIR_INFLUXDB_URL", &influx_url),
            ("WEIR_INFLUXDB_SUBSCRIBE", "true"),
            ("WEIR_INFLUXDB_SUBSCRIPTION_NAME", "weir-e2e"),
            ("WEIR_ENGINE_LATENESS", "1s"),
        ],
    );
    let weir_url = weir.url("");

    // Start-up: no task reads `old`, so weir's stale subscription there goes.
    wait_until(
        LONG,
        "the stale subscription on \"old\" to be dropped",
        || named(&influxd, "weir-e2e").is_empty(),
    );

    sql(&weir, CQ);
    let want = Sub {
        db: "telegraf".into(),
        rp: "autogen".into(),
        name: "weir-e2e".into(),
        mode: "ALL".into(),
        destinations: vec![weir_url.clone()],
    };
    wait_until(LONG, "weir's subscription on telegraf.autogen", || {
        named(&influxd, "weir-e2e") == vec![want.clone()]
    });
    let st = status(&weir);
    assert_eq!(st["enabled"], true, "{st}");
    assert_eq!(st["name"], "weir-e2e", "{st}");
    assert_eq!(st["destination"], weir_url.as_str(), "{st}");

    // Round trip: points written to influxd (only) reach the CQ, whose output lands in influxd.
    wait_for_forwarding(&influxd, &weir);
    let mut lines = Vec::new();
    for i in 0..14i64 {
        let t = T0 + i * 10 * S;
        lines.push(format!("cpu,host=a usage_idle={} {t}", i as f64));
        lines.push(format!("cpu,host=b usage_idle={} {t}", 100.0 + i as f64));
    }
    post(
        influxd.url("/write?db=telegraf&precision=ns"),
        lines.join("\n"),
    );
    // Windows [0, 60s) and [60s, 120s) close at once: the last point is at 130 s.
    let want_rows = BTreeMap::from([
        ("a".to_string(), vec![(T0, 2.5), (T0 + 60 * S, 8.5)]),
        ("b".to_string(), vec![(T0, 102.5), (T0 + 60 * S, 108.5)]),
    ]);
    let deadline = Instant::now() + LONG;
    loop {
        let got = cq_output(&influxd);
        if got == want_rows {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "CQ output in influxd: got {got:?}, want {want_rows:?}\nweir log:\n{}",
            weir.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let st = status(&weir);
    assert_eq!(
        st["subscriptions"],
        serde_json::json!([{ "database": "telegraf", "retention_policy": "autogen" }]),
        "{st}"
    );
    assert_eq!(st["problems"], serde_json::json!([]), "{st}");

    // Shutdown keeps the subscription.
    assert!(weir.terminate().success());
    assert_eq!(named(&influxd, "weir-e2e"), vec![want.clone()]);
    // While weir is down its subscription gets another destination: at start-up weir puts
    // its own back.
    influxd.query(
        "",
        "DROP SUBSCRIPTION \"weir-e2e\" ON \"telegraf\".\"autogen\"",
    );
    influxd.query(
        "",
        "CREATE SUBSCRIPTION \"weir-e2e\" ON \"telegraf\".\"autogen\" DESTINATIONS ALL 'http://127.0.0.1:3'",
    );
    weir.restart();
    wait_until(
        LONG,
        "weir to restore its subscription's destination",
        || named(&influxd, "weir-e2e") == vec![want.clone()],
    );

    // Dropping the only task that reads telegraf drops the subscription, not the foreign one.
    sql(&weir, "DROP CONTINUOUS QUERY cpu_1m");
    wait_until(LONG, "weir's subscription to be dropped", || {
        named(&influxd, "weir-e2e").is_empty()
    });
    assert_eq!(named(&influxd, "someone-else"), foreign);
    let st = status(&weir);
    assert_eq!(st["subscriptions"], serde_json::json!([]), "{st}");
}

#[test]
fn subscribes_once_influxdb_is_up_and_the_database_exists() {
    influxd_subscriber_on();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let influx_url = format!("http://127.0.0.1:{port}");
    let weir = Weir::start(
        &dir.path().join("weir"),
        &[
            ("WEIR_INFLUXDB_URL", &influx_url),
            ("WEIR_INFLUXDB_SUBSCRIBE", "true"),
            ("WEIR_INFLUXDB_SUBSCRIPTION_SYNC_INTERVAL", "500ms"),
        ],
    );
    // Task creation does not wait for InfluxDB.
    sql(&weir, CQ);
    // What InfluxDB 1.x's subscriber sends: empty precision and consistency, no Content-Type.
    let r = Client::new()
        .post(weir.url("/write?consistency=&db=telegraf&precision=&rp=autogen"))
        .header("User-Agent", "InfluxDBClient")
        .body(format!("probe n=1i {T0}"))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 204, "{}", r.text().unwrap_or_default());

    let problems = |weir: &Weir| -> String {
        let st = status(weir);
        let list = st["problems"].as_array().cloned().unwrap_or_default();
        let texts: Vec<&str> = list.iter().filter_map(Value::as_str).collect();
        texts.join("\n")
    };
    wait_until(LONG, "the status to say InfluxDB is unreachable", || {
        problems(&weir).contains("unreachable")
    });
    assert_eq!(status(&weir)["enabled"], true);

    let influx_dir = dir.path().join("influxd");
    std::fs::create_dir_all(&influx_dir).unwrap();
    let influxd = Influxd::start_on(&influx_dir, port);
    wait_until(LONG, "the status to name the missing database", || {
        problems(&weir).contains("database \"telegraf\" (read by cpu_1m) does not exist")
    });
    assert!(named(&influxd, "weir").is_empty());

    influxd.query("", "CREATE DATABASE telegraf");
    let want = Sub {
        db: "telegraf".into(),
        rp: "autogen".into(),
        name: "weir".into(),
        mode: "ALL".into(),
        destinations: vec![weir.url("")],
    };
    wait_until(LONG, "weir's subscription once the database exists", || {
        named(&influxd, "weir") == vec![want.clone()]
    });
    wait_until(LONG, "the status to have no problems", || {
        problems(&weir).is_empty()
    });
    wait_for_forwarding(&influxd, &weir);
}
