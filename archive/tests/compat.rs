//! Compatibility: the archive tree read by pyarrow, DuckDB and pandas (from pip), every value
//! compared with what was written (ints stay ints, NaN/inf, unicode, escaped keys, nulls,
//! schema growth). Fails, never skips, when Python or its modules are missing.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::sync::Arc;

use arrow::array::{ArrayRef, DictionaryArray, Float64Array, Int64Array, TimestampNanosecondArray};
use arrow::datatypes::{Int32Type, Schema};
use arrow::record_batch::RecordBatch;
use common::*;
use serde_json::{json, Value};
use weir_archive::{ArchiveSink, StoreConfig};
use weir_engine::router::{RoutedBatch, Router};
use weir_engine::schema::{arrow_field, time_field, ColumnKind, FieldType};
use weir_engine::seq::SeqTracker;

pub fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Runs the checker; panics with its output unless it passed.
pub fn run_checker(root: &std::path::Path, expected: &Value) {
    let exp = root.parent().unwrap().join("expected.json");
    std::fs::write(&exp, serde_json::to_vec_pretty(expected).unwrap()).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/check_archive.py");
    let out = Command::new(python())
        .arg(script)
        .arg(root)
        .arg(&exp)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} (set PYTHON): {e}; the compatibility tests need Python 3 with `pip install pyarrow duckdb pandas`", python()));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    match out.status.code() {
        Some(0) => println!("{text}"),
        Some(3) => panic!("compatibility test cannot run: {text}"),
        _ => panic!("readers disagree with what was written:\n{text}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyarrow_duckdb_and_pandas_read_every_value_back() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("archive");

    // 1. Line protocol through the real pipeline: escaped keys, unicode, every field type,
    //    missing fields, two partitions, a field added in the second one.
    let node = start(dir.path(), spec("lp", &root), 1).await;
    let floats = ["1.5", "-0.0", "0.1", "123456.789", "-2.5", "3"];
    let ints = [i64::MIN, i64::MAX, 0, -1, 42, 7];
    let uints = [u64::MAX, 0, 1, 2, 3, 4];
    let mut rows = Vec::new();
    for i in 0..6usize {
        let t = T0 + (i as i64) * (HOUR / 3) + 123; // rows 0-2 in hour 00, 3-5 in hour 01
        let mut fields = vec![format!("f\\ 1={}", floats[i]), format!("i={}i", ints[i])];
        let mut row = json!({"time": t.to_string(), "host,name": format!("a=b{}", i % 2), "région": "é😀",
            "f 1": format!("{:?}", floats[i].parse::<f64>().unwrap()), "i": ints[i].to_string(),
            "u": null, "b": null, "s": null, "late": null});
        if i % 2 == 0 {
            fields.push(format!("u={}u", uints[i]));
            row["u"] = json!(uints[i].to_string());
        }
        if i != 1 {
            fields.push(format!("b={}", if i % 3 == 0 { "true" } else { "F" }));
            row["b"] = json!(i % 3 == 0);
            fields.push(r#"s="say \"hi\", \\ ok ✓""#.to_string());
            row["s"] = json!(r#"say "hi", \ ok ✓"#);
        }
        if i >= 4 {
            fields.push("late=1i".into());
            row["late"] = json!("1");
        }
        node.write(format!(
            "cpu\\ load,host\\,name=a\\=b{},région=é😀 {} {t}\n",
            i % 2,
            fields.join(",")
        ))
        .await;
        rows.push(row);
        if i == 2 {
            node.flush().await.unwrap();
        }
    }
    node.flush().await.unwrap();
    node.stop().await;

    // 2. Result rows straight from a router (as a query's output would come): NaN, infinities,
    //    signed zero, extremes.
    let tracker = Arc::new(SeqTracker::default());
    let router = Router::new(Arc::clone(&tracker));
    let state = dir.path().join("state2");
    let archive = ArchiveSink::start(
        spec("special", &root),
        &router,
        &state,
        &StoreConfig::default(),
    )
    .await
    .unwrap();
    let xs = [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0,
        5e-324,
        f64::MAX,
        0.1,
    ];
    let ns = [i64::MIN, i64::MAX, 0, -1, 1, 2, 3];
    let times: Vec<i64> = (0..7).map(|i| T0 + 10 * HOUR + i).collect();
    let schema = Arc::new(Schema::new(vec![
        time_field(),
        arrow_field("k", ColumnKind::Tag),
        arrow_field("n", ColumnKind::Field(FieldType::Integer)),
        arrow_field("x", ColumnKind::Field(FieldType::Float)),
    ]));
    let tag_values = ["α", "β", "α", "γ", "β", "α", "δ"];
    let tags: DictionaryArray<Int32Type> = tag_values.into_iter().collect();
    let cols: Vec<ArrayRef> = vec![
        Arc::new(TimestampNanosecondArray::from(times.clone()).with_timezone("UTC")),
        Arc::new(tags),
        Arc::new(Int64Array::from(ns.to_vec())),
        Arc::new(Float64Array::from(xs.to_vec())),
    ];
    tracker.assign(1, 1);
    router
        .publish(RoutedBatch {
            db: "telegraf".into(),
            rp: "autogen".into(),
            measurement: "special".into(),
            batch: RecordBatch::try_new(schema, cols).unwrap(),
            min_seq: 1,
            max_seq: 1,
            replay: false,
        })
        .await;
    tracker.release(1);
    archive.flush().await.unwrap();
    archive.stop(&router).await;
    let special_rows: Vec<Value> = (0..7)
        .map(|i| {
            json!({"time": times[i].to_string(), "k": tag_values[i],
                   "n": ns[i].to_string(), "x": format!("{:?}", xs[i])})
        })
        .collect();

    let expected = json!({"tables": [
        {"db": "telegraf", "rp": "autogen", "measurement": "cpu load", "path_only": false,
         "types": {"b": "bool", "f 1": "float", "host,name": "tag", "i": "int", "late": "int", "région": "tag", "s": "str", "u": "uint"},
         "rows": rows},
        {"db": "telegraf", "rp": "autogen", "measurement": "special", "path_only": true,
         "types": {"k": "tag", "n": "int", "x": "float"},
         "rows": special_rows},
    ]});
    run_checker(&root, &expected);
    // The checker does catch a difference.
    let mut wrong = expected.clone();
    wrong["tables"][1]["rows"][6]["x"] = json!("0.2");
    let exp = dir.path().join("wrong.json");
    std::fs::write(&exp, serde_json::to_vec(&wrong).unwrap()).unwrap();
    let st = Command::new(python())
        .args([concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/py/check_archive.py"
        )])
        .arg(&root)
        .arg(&exp)
        .output()
        .unwrap();
    assert_eq!(
        st.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );

    // The archive's own SQL agrees, in JSON.
    let r = query(
        &root,
        "SELECT x, n FROM telegraf.autogen.special ORDER BY time",
    )
    .await;
    assert_eq!(
        r["rows"],
        json!([
            ["NaN", i64::MIN],
            ["Infinity", i64::MAX],
            ["-Infinity", 0],
            [-0.0, -1],
            [5e-324, 1],
            [f64::MAX, 2],
            [0.1, 3]
        ])
    );
    let r = query(&root, r#"SELECT "host,name", "région", s, u FROM telegraf.autogen."cpu load" ORDER BY time LIMIT 1"#).await;
    assert_eq!(
        r["rows"],
        json!([["a=b0", "é😀", r#"say "hi", \ ok ✓"#, u64::MAX]])
    );
}
