//! User-defined functions end to end (SPEC §3.6): `CREATE FUNCTION ... LANGUAGE process` with
//! the Python example `tests/udf/mad.py` (pyarrow), called in a stream alert's SELECT per
//! window and group; the function and the task survive a restart; a program that crashes is
//! restarted and reported, and never takes weir down; a function in use cannot be dropped.
//!
//! Needs Python 3 with pyarrow (`scripts/test.sh` installs it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::Duration;

use reqwest::blocking::Client;
use serde_json::Value;
use weir_tests::{post_lines, wait_until, Weir};

const S: i64 = 1_000_000_000;
const M: i64 = 60 * S;
/// 2023-01-01T00:00:00Z.
const T0: i64 = 1_672_531_200 * S;

fn udf(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("udf")
        .join(name)
        .display()
        .to_string()
}

fn sql(w: &Weir, text: &str) -> (u16, Value) {
    let r = Client::new()
        .post(w.url("/api/v1/sql"))
        .body(text.to_string())
        .send()
        .unwrap();
    (r.status().as_u16(), r.json().unwrap())
}

fn events(w: &Weir, topic: &str) -> Vec<(String, String, String)> {
    let body: Value = reqwest::blocking::get(w.url(&format!("/api/v1/topics/{topic}/events")))
        .unwrap()
        .json()
        .unwrap();
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

/// One row of SHOW FUNCTIONS by name.
fn function(w: &Weir, name: &str) -> Value {
    let (status, body) = sql(w, "SHOW FUNCTIONS");
    assert_eq!(status, 200, "{body}");
    let cols: Vec<String> = body["results"][0]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    let row = body["results"][0]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r[0] == name)
        .unwrap_or_else(|| panic!("no function {name}: {body}"))
        .clone();
    let mut obj = serde_json::Map::new();
    for (c, v) in cols.into_iter().zip(row.as_array().unwrap()) {
        obj.insert(c, v.clone());
    }
    Value::Object(obj)
}

#[test]
fn a_python_udf_in_an_alert_survives_restarts_and_crashes() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = Weir::start(
        &dir.path().join("weir"),
        &[
            ("WEIR_ENGINE_LATENESS", "0s"),
            ("WEIR_ENGINE_CHECKPOINT_INTERVAL", "100ms"),
        ],
    );
    w.exec_file(&format!(
        "CREATE FUNCTION mad(value float, threshold float) RETURNS float
           LANGUAGE process AS 'python3 {}' WITH (timeout = 20s);
         CREATE ALERT spread ON telegraf
         BEGIN SELECT mad(usage_idle, 3) AS mad FROM cpu GROUP BY time(1m), host END
         CRIT WHEN mad > 5
         ID '{{{{host}}}}'
         MESSAGE '{{{{host}}}} spread {{{{mad}}}}'
         TOPIC spread;",
        udf("mad.py")
    ));
    // host a is steady, host b spreads: 3 * median(|x - median|) over the minute.
    let mut body = String::new();
    for (i, (a, b)) in [
        (50.0, 10.0),
        (51.0, 30.0),
        (50.0, 50.0),
        (49.0, 70.0),
        (50.0, 90.0),
    ]
    .iter()
    .enumerate()
    {
        let t = T0 + i as i64 * 10 * S;
        body.push_str(&format!("cpu,host=a usage_idle={a} {t}\n"));
        body.push_str(&format!("cpu,host=b usage_idle={b} {t}\n"));
    }
    body.push_str(&format!("cpu,host=a usage_idle=50 {}\n", T0 + M + S));
    post_lines(w.url("/write?db=telegraf"), body);
    // b: median 50, deviations 40 20 0 20 40 → 20, times 3 = 60. a: 3 * 1 = 3, not > 5.
    wait_until(Duration::from_secs(60), "the UDF's alert", || {
        events(&w, "spread")
            == vec![(
                "b".to_string(),
                "CRITICAL".to_string(),
                "b spread 60".to_string(),
            )]
    });
    let f = function(&w, "mad");
    assert_eq!(f["calls"], 2, "{f}");
    assert_eq!(f["failures"], 0, "{f}");
    assert_eq!(f["timeout"], "20s", "{f}");

    // In use: cannot be dropped.
    let (status, body) = sql(&w, "DROP FUNCTION mad");
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("called by spread"),
        "{body}"
    );

    // A restart: the function and the alert come back; b recovers in the next minute.
    assert!(w.terminate().success());
    w.restart();
    let mut body = String::new();
    for i in 0..3 {
        body.push_str(&format!(
            "cpu,host=b usage_idle=50 {}\n",
            T0 + M + i * 10 * S
        ));
    }
    body.push_str(&format!("cpu,host=b usage_idle=50 {}\n", T0 + 2 * M + S));
    post_lines(w.url("/write?db=telegraf"), body);
    wait_until(Duration::from_secs(60), "b's recovery", || {
        events(&w, "spread").first().is_some_and(|e| e.1 == "OK")
    });

    // Replace the program with one that crashes: the calls fail, are reported, weir stays up.
    let (status, body) = sql(
        &w,
        &format!(
            "CREATE OR REPLACE FUNCTION mad(value float, threshold float) RETURNS float LANGUAGE process AS 'python3 {} crash'",
            udf("crash_on_call.py")
        ),
    );
    assert_eq!(status, 200, "{body}");
    post_lines(
        w.url("/write?db=telegraf"),
        format!(
            "cpu,host=b usage_idle=1 {}\ncpu,host=b usage_idle=2 {}\n",
            T0 + 2 * M + 2 * S,
            T0 + 3 * M + S
        ),
    );
    wait_until(Duration::from_secs(60), "the failed call reported", || {
        let f = function(&w, "mad");
        f["failures"].as_u64().unwrap_or(0) >= 1
            && f["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("crashing on purpose"))
    });
    let ping = reqwest::blocking::get(w.url("/ping")).unwrap();
    assert_eq!(ping.status().as_u16(), 204);

    // Unused, it can be dropped.
    let (status, body) = sql(&w, "DROP ALERT spread; DROP FUNCTION mad; SHOW FUNCTIONS");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["results"][2]["rows"], serde_json::json!([]));
}
