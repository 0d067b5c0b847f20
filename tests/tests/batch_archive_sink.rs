//! Batch archives (`CREATE ARCHIVE ... EVERY d AS SELECT`) against the real binary and a real
//! InfluxDB: every second the archive's SELECT runs against influxd and its rows are written
//! to Parquet; pyarrow reads the files back and they must equal influxd's own answer to the
//! SELECT. The range is fixed, so every run writes the same range: its files are overwritten,
//! never duplicated.
//!
//! Needs `influxd` (Debian package `influxdb`, 1.6.x) and Python 3 with pyarrow; fails, not
//! skips, without them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::Duration;

use reqwest::blocking::Client;
use serde_json::Value;
use weir_tests::{post_lines as post, InfluxRows, Influxd, Rng, Weir};

const S: i64 = 1_000_000_000;

fn sql(weir: &Weir, stmt: &str) -> (u16, String) {
    let r = Client::new()
        .post(weir.url("/api/v1/sql"))
        .body(stmt.to_string())
        .send()
        .unwrap();
    (r.status().as_u16(), r.text().unwrap())
}

fn task(weir: &Weir, name: &str) -> Value {
    Client::new()
        .get(weir.url(&format!("/api/v1/tasks/{name}")))
        .send()
        .unwrap()
        .json()
        .unwrap()
}

fn base() -> i64 {
    chrono::DateTime::parse_from_rfc3339("2023-01-01T00:00:00Z")
        .unwrap()
        .timestamp_nanos_opt()
        .unwrap()
}

/// One hour of `cpu` points of 3 hosts, floats with many decimals and an integer field.
fn points() -> String {
    let mut rng = Rng(11);
    let mut lines = Vec::new();
    for host in ["web-1", "web-2", "db-1"] {
        let mut t = base() + i64::try_from(rng.below(30)).unwrap() * S;
        while t < base() + 59 * 60 * S {
            let idle = 20.0 + rng.below(80_000) as f64 / 1000.0 + 1.0 / 3.0;
            let n = rng.below(1000);
            lines.push(format!(
                "cpu,host={host},cpu=cpu-total usage_idle={idle:?},n={n}i {t}"
            ));
            t += i64::try_from(1 + rng.below(120)).unwrap() * S;
        }
    }
    lines.join("\n")
}

const SELECT: &str = "SELECT mean(usage_idle) AS mean, max(n) AS max_n, count(n) AS count FROM cpu WHERE time >= '2023-01-01T00:00:00Z' AND time < '2023-01-01T01:00:00Z' GROUP BY time(5m), host";

/// Reads the Parquet files under `dir` with pyarrow: the rows as [`InfluxRows`], and the
/// file count and schema.
fn read_back(dir: &std::path::Path) -> (InfluxRows, Value) {
    let script = r#"
import sys, json, glob
import pyarrow as pa, pyarrow.dataset as ds, pyarrow.parquet as pq
files = sorted(glob.glob(sys.argv[1] + "/**/*.parquet", recursive=True))
t = ds.dataset(sys.argv[1], format="parquet", partitioning="hive").to_table()
schema = pq.read_schema(files[0])
rows = []
times = t.column("time").cast(pa.int64()).to_pylist()
cols = {c: t.column(c).to_pylist() for c in ["host", "mean", "max_n", "count"]}
for i, ts in enumerate(times):
    rows.append([cols["host"][i], ts, cols["mean"][i], cols["max_n"][i], cols["count"][i]])
print(json.dumps({"files": [f[len(sys.argv[1]):] for f in files], "rows": rows,
                  "schema": {f.name: str(f.type) for f in schema}}))
"#;
    let out = Command::new(std::env::var("PYTHON").unwrap_or_else(|_| "python3".into()))
        .arg("-c")
        .arg(script)
        .arg(dir)
        .output()
        .expect("python3 with pyarrow");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut rows = InfluxRows::new();
    for r in v["rows"].as_array().unwrap() {
        let tags = serde_json::json!({ "host": r[0] }).to_string();
        let mut fields = std::collections::BTreeMap::new();
        for (i, name) in [(2, "mean"), (3, "max_n"), (4, "count")] {
            if let Some(f) = r[i].as_f64() {
                fields.insert(name.to_string(), f);
            }
        }
        assert!(
            rows.insert((tags, r[1].as_i64().unwrap()), fields)
                .is_none(),
            "a row twice: {r}"
        );
    }
    (rows, v)
}

#[test]
fn batch_archive_writes_influxdb_answer_to_parquet_once_per_range() {
    let dir = tempfile::tempdir().unwrap();
    let influxd = Influxd::start(&dir.path().join("influxd"));
    influxd.query("", "CREATE DATABASE telegraf");
    post(influxd.url("/write?db=telegraf&precision=ns"), points());
    let influx_url = influxd.url("");
    let weir = Weir::start(
        &dir.path().join("weir"),
        &[("WEIR_INFLUXDB_URL", &influx_url)],
    );
    let lake = dir.path().join("lake");

    // A schedule needs AS SELECT.
    let (status, text) = sql(
        &weir,
        &format!(
            "CREATE ARCHIVE bad ON telegraf FROM cpu TO '{}' EVERY 1s",
            lake.display()
        ),
    );
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("needs AS SELECT"), "{text}");

    let select = SELECT.replacen(" FROM cpu ", " INTO cpu_5m FROM cpu ", 1);
    let stmt = format!(
        "CREATE ARCHIVE cpu_5m ON telegraf TO '{}' PARTITION BY hour EVERY 1s AS {select}",
        lake.display()
    );
    let (status, text) = sql(&weir, &stmt);
    assert_eq!(status, 200, "{stmt}: {text}");

    // Several runs of the same (fixed) range.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let t = task(&weir, "cpu_5m");
        if t["stats"]["archive"]["files_written"].as_u64().unwrap_or(0) >= 3 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no three runs: {t}\n{}",
            weir.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let t = task(&weir, "cpu_5m");
    assert_eq!(t["stats"]["errors"], 0, "{t}");
    assert!(t["plan"].as_str().unwrap().contains("batch archive"), "{t}");

    let want = weir_tests::influx_rows(&influxd.query("telegraf", SELECT));
    assert_eq!(want.len(), 36, "{want:?}");
    let root = lake.join("telegraf/autogen/cpu_5m");
    let (got, v) = read_back(&root);
    // One partition, one file: each run replaced the previous run's file.
    let files = v["files"].as_array().unwrap();
    assert_eq!(files.len(), 1, "{v}");
    assert!(
        files[0]
            .as_str()
            .unwrap()
            .starts_with("/date=2023-01-01/hour=00/cpu_5m-f"),
        "{v}"
    );
    assert_eq!(v["schema"]["time"], "timestamp[ns, tz=UTC]", "{v}");
    assert_eq!(
        v["schema"]["host"], "dictionary<values=string, indices=int32, ordered=0>",
        "{v}"
    );
    assert_eq!(v["schema"]["max_n"], "int64", "{v}");
    assert_eq!(v["schema"]["mean"], "double", "{v}");
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (k, w) in &want {
        let g = &got[k];
        assert_eq!(
            g.keys().collect::<Vec<_>>(),
            w.keys().collect::<Vec<_>>(),
            "{k:?}"
        );
        for (name, wv) in w {
            let gv = g[name];
            assert!(
                (gv - wv).abs() <= 1e-9 * wv.abs().max(1e-300),
                "{k:?} {name}: archived {gv} != influxdb {wv}"
            );
        }
    }
}
