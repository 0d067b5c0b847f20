//! Stream alerts against the real binary: the SPEC §3.3 statements verbatim (the log path and
//! the Slack URL pointed at temporary places), events on their topics through the API and the
//! CLI, alert counts in the task's stats, and alert state across a graceful restart and a
//! `kill -9` (with `STATE CHANGES ONLY`, an ID that stays CRITICAL is not published again).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use weir_tests::{post_lines, wait_until, weir_binary, HttpRecorder, Weir};

const S: i64 = 1_000_000_000;
const M: i64 = 60 * S;
/// 2023-01-01T00:00:00Z.
const T0: i64 = 1_672_531_200 * S;

const SPEC_ALERTS: &str = "CREATE ALERT cpu_idle ON telegraf
BEGIN
  SELECT mean(usage_idle) AS idle FROM cpu GROUP BY time(1m), host
END
WARN WHEN idle < 20
CRIT WHEN idle < 10
ID 'cpu:{{host}}'
MESSAGE '{{id}} is {{level}}: idle {{idle}}%'
STATE CHANGES ONLY
TOPIC cpu;

CREATE ALERT cpu_deadman ON telegraf
BEGIN
  SELECT count(usage_idle) AS n FROM cpu GROUP BY time(1m), host fill(0)
END
CRIT WHEN n = 0
TOPIC deadman;

CREATE HANDLER ops_slack ON TOPIC cpu KIND slack
  WITH (url = 'http://127.0.0.1:9999/services/T/B/X', channel = '#ops');
CREATE HANDLER audit ON TOPIC cpu KIND log WITH (path = '/var/log/weir/alerts.jsonl');
";

fn get(w: &Weir, path: &str) -> Value {
    reqwest::blocking::get(w.url(path))
        .and_then(|r| r.json())
        .unwrap()
}

/// `(id, level, message, time)` of the topic's latest events, sorted by id.
fn events(w: &Weir, topic: &str) -> Vec<(String, String, String, String)> {
    let body = get(w, &format!("/api/v1/topics/{topic}/events"));
    let mut out: Vec<_> = body["events"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    (
                        e["id"].as_str().unwrap_or("").to_string(),
                        e["level"].as_str().unwrap_or("").to_string(),
                        e["message"].as_str().unwrap_or("").to_string(),
                        e["time"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn point(host: &str, idle: f64, t: i64) -> String {
    format!("cpu,host={host} usage_idle={idle} {t}\n")
}

#[test]
fn spec_alerts_publish_to_topics_and_keep_their_state_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("log/alerts.jsonl");
    let mut w = Weir::start(
        &dir.path().join("weir"),
        &[
            ("WEIR_ENGINE_LATENESS", "0s"),
            ("WEIR_ENGINE_CHECKPOINT_INTERVAL", "100ms"),
        ],
    );
    let slack = HttpRecorder::start();
    let sql = SPEC_ALERTS
        .replace("/var/log/weir/alerts.jsonl", log_path.to_str().unwrap())
        .replace("http://127.0.0.1:9999", &slack.url(""));
    w.exec_file(&sql);

    // Minute 0: a is fine. Minute 1: a warns, b is critical. Minute 2: nobody reports
    // (deadman). A point at minute 3 moves the clock past minute 2's end.
    let write = |w: &Weir, body: String| post_lines(w.url("/write?db=telegraf"), body);
    write(
        &w,
        [
            point("a", 50.0, T0),
            point("b", 50.0, T0 + S),
            point("a", 15.0, T0 + M),
            point("a", 16.0, T0 + M + 10 * S),
            point("b", 5.0, T0 + M + 20 * S),
            point("a", 60.0, T0 + 3 * M),
        ]
        .concat(),
    );
    let minute1 = "2023-01-01T00:01:00Z".to_string();
    let want_cpu = vec![
        (
            "cpu:a".to_string(),
            "WARNING".to_string(),
            "cpu:a is WARNING: idle 15.5%".to_string(),
            minute1.clone(),
        ),
        (
            "cpu:b".to_string(),
            "CRITICAL".to_string(),
            "cpu:b is CRITICAL: idle 5%".to_string(),
            minute1.clone(),
        ),
    ];
    wait_until(Duration::from_secs(20), "cpu events", || {
        events(&w, "cpu") == want_cpu
    });
    // The deadman: minute 2 had no point of either host; fill(0) makes it a count of 0.
    let minute2 = "2023-01-01T00:02:00Z".to_string();
    wait_until(Duration::from_secs(20), "deadman events", || {
        events(&w, "deadman")
            == vec![
                (
                    "cpu:host=a".to_string(),
                    "CRITICAL".to_string(),
                    "cpu:host=a is CRITICAL".to_string(),
                    minute2.clone(),
                ),
                (
                    "cpu:host=b".to_string(),
                    "CRITICAL".to_string(),
                    "cpu:host=b is CRITICAL".to_string(),
                    minute2.clone(),
                ),
            ]
    });
    // The full event: Kapacitor's alert data.
    let body = get(&w, "/api/v1/topics/cpu/events");
    let b = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == "cpu:b")
        .unwrap()
        .clone();
    assert_eq!(b["previousLevel"], "OK");
    assert_eq!(b["topic"], "cpu");
    assert_eq!(b["task"], "cpu_idle");
    assert_eq!(b["recoverable"], true);
    assert_eq!(
        b["data"]["series"][0],
        serde_json::json!({"name": "cpu", "tags": {"host": "b"}, "columns": ["time", "idle"], "values": [[minute1, 5.0]]})
    );

    // The handlers on topic cpu got both events: Slack the request Kapacitor's slack handler
    // sends (services/slack/service.go: icon_emoji is always there), the log one line of
    // alert data per event.
    wait_until(Duration::from_secs(20), "two Slack requests", || {
        slack.requests().len() == 2
    });
    let mut posted: Vec<(String, Value)> = slack
        .requests()
        .iter()
        .map(|r| {
            assert_eq!(r.method, "POST");
            assert_eq!(r.path, "/services/T/B/X");
            let b = r.json();
            (b["attachments"][0]["text"].as_str().unwrap().to_string(), b)
        })
        .collect();
    posted.sort_by(|a, b| a.0.cmp(&b.0));
    let slack_body = |msg: &str, color: &str| {
        serde_json::json!({
            "channel": "#ops",
            "text": "",
            "username": "kapacitor",
            "icon_emoji": "",
            "attachments": [{"fallback": msg, "color": color, "text": msg, "mrkdwn_in": ["text"]}],
        })
    };
    assert_eq!(
        posted[0].1,
        slack_body("cpu:a is WARNING: idle 15.5%", "warning")
    );
    assert_eq!(
        posted[1].1,
        slack_body("cpu:b is CRITICAL: idle 5%", "danger")
    );
    wait_until(Duration::from_secs(20), "two log lines", || {
        std::fs::read_to_string(&log_path).is_ok_and(|t| t.lines().count() == 2)
    });
    let logged: Vec<Value> = std::fs::read_to_string(&log_path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut ids: Vec<&str> = logged.iter().map(|e| e["id"].as_str().unwrap()).collect();
    ids.sort();
    assert_eq!(ids, vec!["cpu:a", "cpu:b"]);
    let b_logged = logged.iter().find(|e| e["id"] == "cpu:b").unwrap();
    for key in [
        "message",
        "level",
        "previousLevel",
        "time",
        "duration",
        "data",
        "recoverable",
    ] {
        assert_eq!(b_logged[key], b[key], "{key}");
    }
    let handlers = get(&w, "/api/v1/topics/cpu/handlers");
    for h in handlers["handlers"].as_array().unwrap() {
        assert_eq!(h["stats"]["sent"], 2, "{h}");
        assert_eq!(h["stats"]["failed"], 0, "{h}");
    }
    assert_eq!(
        w.metric("weir_handler_sent_total{handler=\"ops_slack\",topic=\"cpu\",kind=\"slack\"}"),
        2.0
    );

    // Topics: levels, events, handlers; and the same through SHOW TOPICS and the CLI.
    let topics = get(&w, "/api/v1/topics");
    assert_eq!(
        topics["topics"],
        serde_json::json!([
            {"topic": "cpu", "level": "CRITICAL", "events": 2, "handlers": ["audit", "ops_slack"]},
            {"topic": "deadman", "level": "CRITICAL", "events": 2, "handlers": []},
        ])
    );
    let handlers = get(&w, "/api/v1/topics/cpu/handlers");
    let kinds: Vec<&str> = handlers["handlers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["log", "slack"]);
    let cli = |args: &[&str]| {
        let out = Command::new(weir_binary())
            .args(args)
            .args(["--url", &w.url("")])
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let table = cli(&["topics"]);
    assert!(
        table.contains("deadman") && table.contains("CRITICAL"),
        "{table}"
    );
    let listed: Value = serde_json::from_str(&cli(&["events", "cpu", "--json"])).unwrap();
    assert_eq!(listed["events"].as_array().unwrap().len(), 2);
    let table = cli(&["events", "cpu"]);
    assert!(table.contains("cpu:b is CRITICAL: idle 5%"), "{table}");
    let unknown = get(&w, "/api/v1/topics/nope/events");
    assert!(unknown["error"]
        .as_str()
        .unwrap()
        .contains("does not exist"));

    // Alert counts in the task's stats.
    let task = get(&w, "/api/v1/tasks/cpu_idle");
    assert_eq!(task["stats"]["alerts"]["warn"], 1, "{task}");
    assert_eq!(task["stats"]["alerts"]["crit"], 1, "{task}");
    assert_eq!(
        task["stats"]["alert"]["ids_by_level"]["CRITICAL"], 1,
        "{task}"
    );
    assert_eq!(task["stats"]["alert"]["topic"], "cpu", "{task}");
    assert!(
        task["plan"].as_str().unwrap().contains("topic cpu"),
        "{task}"
    );

    // Restart gracefully: minute 3 is still open; b stays critical, a recovers at minute 3.
    assert!(w.terminate().success());
    w.restart();
    write(
        &w,
        [
            point("b", 4.0, T0 + 3 * M + S),
            point("a", 55.0, T0 + 4 * M),
            point("b", 3.0, T0 + 4 * M),
        ]
        .concat(),
    );
    let minute3 = "2023-01-01T00:03:00Z".to_string();
    wait_until(Duration::from_secs(20), "recovery of a", || {
        let e = events(&w, "cpu");
        e.len() == 2 && e[0].1 == "OK" && e[0].3 == minute3
    });
    let e = events(&w, "cpu");
    assert_eq!(e[0].2, "cpu:a is OK: idle 60%");
    // b was CRITICAL before the restart and still is: not published again.
    assert_eq!(e[1], want_cpu[1]);

    // kill -9 after the next checkpoint: b's state survives that too.
    std::thread::sleep(Duration::from_millis(500));
    w.kill9();
    w.restart();
    write(
        &w,
        [
            point("a", 15.0, T0 + 5 * M),
            point("b", 2.0, T0 + 5 * M),
            point("b", 2.0, T0 + 6 * M),
        ]
        .concat(),
    );
    wait_until(Duration::from_secs(20), "a warns again", || {
        let e = events(&w, "cpu");
        e.len() == 2 && e[0].1 == "WARNING"
    });
    assert_eq!(events(&w, "cpu")[1], want_cpu[1], "b was published again");
}

/// A continuous query's results are published back into weir's router: an alert reads the
/// CQ's output measurement (written to influxd too), and a query that would read its own
/// output is not fed back.
#[test]
fn continuous_query_results_feed_other_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let influxd = weir_tests::Influxd::start(&dir.path().join("influxd"));
    let w = Weir::start(
        &dir.path().join("weir"),
        &[
            ("WEIR_ENGINE_LATENESS", "0s"),
            ("WEIR_INFLUXDB_URL", &influxd.url("")),
        ],
    );
    w.exec_file(
        "CREATE CONTINUOUS QUERY cpu_1m ON telegraf BEGIN
           SELECT mean(usage_idle) AS idle INTO telegraf.autogen.cpu_1m FROM cpu GROUP BY time(1m), host
         END;
         CREATE CONTINUOUS QUERY echo ON telegraf BEGIN
           SELECT mean(usage_idle) AS usage_idle INTO telegraf.autogen.:MEASUREMENT FROM /^cpu$/ GROUP BY time(1m), host
         END;
         CREATE ALERT low_idle ON telegraf BEGIN
           SELECT min(idle) AS idle FROM cpu_1m GROUP BY time(5m), host
         END
         CRIT WHEN idle < 10
         ID '{{host}}'
         MESSAGE '{{host}} idle {{idle}}'
         TOPIC low;",
    );
    let mut body = String::new();
    for m in 0..5 {
        body.push_str(&point("a", 50.0, T0 + m * M));
        body.push_str(&point("b", if m == 2 { 5.0 } else { 50.0 }, T0 + m * M));
    }
    // Moves the CQ's clock past minute 4, then (through the CQ's output at minute 5... 10)
    // the alert's past its first 5-minute window.
    for m in 5..11 {
        body.push_str(&point("a", 50.0, T0 + m * M));
    }
    post_lines(w.url("/write?db=telegraf"), body);
    wait_until(
        Duration::from_secs(30),
        "the alert on the CQ's output",
        || {
            events(&w, "low")
                == vec![(
                    "b".to_string(),
                    "CRITICAL".to_string(),
                    "b idle 5".to_string(),
                    "2023-01-01T00:00:00Z".to_string(),
                )]
        },
    );
    // The CQ's output is in influxd as well.
    wait_until(Duration::from_secs(30), "cpu_1m in influxd", || {
        let rows = weir_tests::influx_rows(&influxd.query(
            "telegraf",
            "SELECT idle FROM cpu_1m WHERE host = 'b' GROUP BY host",
        ));
        rows.values().map(|r| r.len()).sum::<usize>() >= 5
    });
    let cq = get(&w, "/api/v1/tasks/cpu_1m");
    assert_eq!(cq["stats"]["errors"], 0, "{cq}");
    // `echo` writes INTO the measurement it reads: its output is not fed back to itself, so
    // it read exactly the points written (11 of a, 5 of b).
    let echo = get(&w, "/api/v1/tasks/echo");
    assert_eq!(echo["stats"]["points_in"], 16, "{echo}");
    assert!(w.log_text().contains("not published back into the router"));
}

/// `weir replay TASK FILE` computes what a task makes of recorded points and prints it,
/// without writing anything (a dry run): the daemon's topics stay empty.
#[test]
fn replay_is_a_dry_run_of_a_task_over_recorded_points() {
    let dir = tempfile::tempdir().unwrap();
    // A closed port: the continuous query is accepted, its outbox just waits.
    let influx = format!("http://127.0.0.1:{}", weir_tests::free_port());
    let w = Weir::start(&dir.path().join("weir"), &[("WEIR_INFLUXDB_URL", &influx)]);
    w.exec_file(&format!(
        "{};\nCREATE CONTINUOUS QUERY idle_1m ON telegraf BEGIN SELECT mean(usage_idle) AS idle INTO idle_1m FROM cpu GROUP BY time(1m), host END",
        SPEC_ALERTS.split(';').next().unwrap()
    ));
    let file = dir.path().join("points.lp");
    std::fs::write(
        &file,
        [
            point("a", 50.0, T0),
            point("a", 15.0, T0 + M),
            point("b", 5.0, T0 + M + S),
            point("a", 60.0, T0 + 2 * M),
        ]
        .concat(),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(weir_binary())
            .arg("replay")
            .args(args)
            .args(["--url", &w.url(""), "--lateness", "0s"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let events: Vec<Value> = run(&["cpu_idle", file.to_str().unwrap(), "--json"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let got: Vec<(&str, &str, &str)> = events
        .iter()
        .map(|e| {
            (
                e["id"].as_str().unwrap(),
                e["level"].as_str().unwrap(),
                e["message"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("cpu:a", "WARNING", "cpu:a is WARNING: idle 15%"),
            ("cpu:b", "CRITICAL", "cpu:b is CRITICAL: idle 5%"),
            ("cpu:a", "OK", "cpu:a is OK: idle 60%"),
        ]
    );
    let table = run(&["cpu_idle", file.to_str().unwrap()]);
    assert!(table.contains("cpu:b is CRITICAL: idle 5%"), "{table}");
    let mut lines: Vec<String> = run(&["idle_1m", file.to_str().unwrap()])
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    assert_eq!(
        lines,
        vec![
            format!("idle_1m,host=a idle=15.0 {}", T0 + M),
            format!("idle_1m,host=a idle=50.0 {T0}"),
            format!("idle_1m,host=a idle=60.0 {}", T0 + 2 * M),
            format!("idle_1m,host=b idle=5.0 {}", T0 + M),
        ]
    );
    // Nothing was published.
    assert_eq!(get(&w, "/api/v1/topics")["topics"], serde_json::json!([]));
    // A task that does not exist is an error naming it.
    let out = Command::new(weir_binary())
        .args([
            "replay",
            "nope",
            file.to_str().unwrap(),
            "--url",
            &w.url(""),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope"));
}
