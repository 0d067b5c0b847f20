//! SPEC §3.4's two archives, verbatim apart from the local path, against the real binary and
//! a real S3-compatible server (moto): raw points to local Parquet, and the results of a
//! windowed query to `s3://metrics/weir`. The query archive keeps its open windows across a
//! graceful restart and a `kill -9` (the state is part of each roll; the log replays the
//! rest), and every result row lands exactly once with InfluxQL's value.
//!
//! Needs `pip install "moto[server]"` (scripts/test.sh installs it); fails, never skips.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use reqwest::blocking::Client;
use serde_json::Value;
use weir_tests::{post_lines, Moto, Weir};

const S: i64 = 1_000_000_000;
/// 2023-01-01T00:00:00Z, a minute boundary.
const T0: i64 = 1_672_531_200 * S;

/// `cpu` points of hosts a and b, `usage_idle = i`, at `T0 + (i * 11 s) mod 3 min`, and one
/// `mem` point per step.
fn points(range: std::ops::Range<i64>) -> (String, Vec<(String, i64, f64)>) {
    let mut body = String::new();
    let mut cpu = Vec::new();
    for i in range {
        let t = T0 + (i * 11 * S) % (180 * S) + i * 1_000;
        for host in ["a", "b"] {
            let v = i as f64 + if host == "a" { 0.0 } else { 0.5 };
            body.push_str(&format!("cpu,host={host} usage_idle={v:?} {t}\n"));
            cpu.push((host.to_string(), t, v));
        }
        body.push_str(&format!("mem,host=a used={i}i {t}\n"));
    }
    (body, cpu)
}

/// `(host, window start) -> mean(usage_idle)`.
fn means(points: &[(String, i64, f64)]) -> BTreeMap<(String, i64), f64> {
    let mut acc: BTreeMap<(String, i64), (f64, f64)> = BTreeMap::new();
    for (h, t, v) in points {
        let w = t - (t - T0).rem_euclid(60 * S);
        let e = acc.entry((h.clone(), w)).or_insert((0.0, 0.0));
        e.0 += v;
        e.1 += 1.0;
    }
    acc.into_iter().map(|(k, (s, n))| (k, s / n)).collect()
}

fn query(weir: &Weir, sql: &str) -> Value {
    let r = Client::new()
        .post(weir.url("/api/v1/query"))
        .body(sql.to_string())
        .send()
        .unwrap();
    let status = r.status().as_u16();
    let body: Value = r.json().unwrap();
    assert_eq!(status, 200, "{sql}: {body}");
    body
}

fn ns(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap_or_else(|e| panic!("bad time {rfc3339}: {e}"))
        .timestamp_nanos_opt()
        .unwrap()
}

#[test]
fn spec_archives_raw_points_and_query_results_exactly_once_across_restarts() {
    let moto = Moto::start("metrics");
    let tmp = tempfile::tempdir().unwrap();
    let raw_root = tmp.path().join("raw");
    // The query API reads the lake (the default archive root); windows close only when the
    // last point moves the clock an hour past them.
    let env = [
        ("WEIR_ARCHIVE_URL", "s3://metrics/weir"),
        ("WEIR_ARCHIVE_ENDPOINT", moto.endpoint.as_str()),
        ("WEIR_ARCHIVE_REGION", "us-east-1"),
        ("WEIR_ARCHIVE_ACCESS_KEY_ID", "test"),
        ("WEIR_ARCHIVE_SECRET_ACCESS_KEY", "test"),
        ("WEIR_ARCHIVE_ALLOW_HTTP", "true"),
        ("WEIR_ENGINE_LATENESS", "1h"),
    ];
    let mut weir = Weir::start(&tmp.path().join("weir"), &env);
    let sql = format!(
        "CREATE ARCHIVE cpu_raw ON telegraf FROM cpu, mem\n  \
           TO 'file://{}' PARTITION BY hour;\n\
         CREATE ARCHIVE cpu_1m_lake ON telegraf\n  \
           TO 's3://metrics/weir' PARTITION BY day\n  \
           AS SELECT mean(usage_idle) AS usage_idle FROM cpu GROUP BY time(1m), host;\n",
        raw_root.display()
    );
    weir.exec_file(&sql);
    let write = |weir: &Weir, body: String| {
        post_lines(weir.url("/write?db=telegraf&precision=ns"), body);
    };

    // 1. Part of three windows; a graceful restart rolls the open windows' state.
    let (body, mut cpu) = points(0..25);
    write(&weir, body);
    assert!(weir.terminate().success());
    weir.restart();

    // 2. More points in the same windows, then kill -9: the log replays them.
    let (body, more) = points(25..50);
    cpu.extend(more);
    write(&weir, body);
    weir.kill9();
    weir.restart();

    // 3. A point three hours later closes the windows; a graceful stop rolls their rows.
    write(
        &weir,
        format!("cpu,host=a usage_idle=1.0 {}\n", T0 + 3 * 3600 * S),
    );
    assert!(weir.terminate().success());
    weir.restart();

    let want = means(&cpu);
    assert_eq!(want.len(), 6, "two hosts in three windows");
    let body = query(
        &weir,
        "SELECT time, host, usage_idle FROM telegraf.autogen.cpu ORDER BY host, time",
    );
    let mut got = BTreeMap::new();
    for row in body["rows"].as_array().unwrap() {
        let key = (
            row[1].as_str().unwrap().to_string(),
            ns(row[0].as_str().unwrap()),
        );
        let v = row[2].as_f64().unwrap();
        assert!(
            got.insert(key.clone(), v).is_none(),
            "result row {key:?} archived twice: {body}"
        );
    }
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{body}"
    );
    for (k, w) in &want {
        let g = got[k];
        assert!(
            (g - w).abs() <= 1e-9 * w.abs().max(1.0),
            "{k:?}: archived {g}, InfluxQL mean {w}"
        );
    }
    let columns: Vec<&str> = body["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(columns, ["time", "host", "usage_idle"]);

    // The raw archive has the points under the SPEC's layout.
    for m in ["cpu", "mem"] {
        let dir = raw_root
            .join("telegraf/autogen")
            .join(m)
            .join("date=2023-01-01");
        let files: Vec<_> = walk(&dir)
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
            .collect();
        assert!(!files.is_empty(), "no Parquet under {}", dir.display());
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}
