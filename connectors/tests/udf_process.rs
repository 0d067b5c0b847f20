//! User-defined functions as real programs: the Python examples under `tests/udf/` (pyarrow),
//! called through the Arrow IPC protocol; crashes, hangs, protocol errors and the function's
//! own errors fail the call with the reason, and the next call works again.
//!
//! Needs Python 3 with pyarrow (`pip install pyarrow`; `scripts/test.sh` installs it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Float64Array, StringArray, TimestampNanosecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use weir_connectors::udf_process::{UdfProcess, UdfProcessConfig, UdfRegistry};
use weir_engine::udf::{UdfCall, UdfError, UdfRuntime};

fn script(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/udf")
        .join(name);
    format!("python3 {}", p.display())
}

fn points(values: &[f64]) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new(
            "time",
            DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            false,
        ),
        Field::new("value", DataType::Float64, true),
    ]));
    let times: Vec<i64> = (0..values.len() as i64)
        .map(|i| i * 1_000_000_000)
        .collect();
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(TimestampNanosecondArray::from(times).with_timezone("UTC")),
            Arc::new(Float64Array::from(values.to_vec())),
        ],
    )
    .unwrap()
}

fn call<'a>(
    function: &'a str,
    args: &'a [serde_json::Value],
    tags: &'a [(String, String)],
    values: &[f64],
) -> UdfCall<'a> {
    UdfCall {
        function,
        args,
        window: (0, 60_000_000_000),
        tags,
        points: points(values),
    }
}

fn value(batch: &RecordBatch) -> f64 {
    batch
        .column_by_name("value")
        .unwrap()
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap()
        .value(0)
}

#[test]
fn mad_in_python_over_arrow_ipc() {
    let registry = UdfRegistry::default();
    registry.set(vec![UdfProcessConfig {
        name: "mad".into(),
        command: script("mad.py"),
        timeout: Duration::from_secs(30),
    }]);
    let args = [serde_json::json!(3)];
    let tags = [("host".to_string(), "a".to_string())];
    // median 3, deviations 2 1 0 1 97 → median 1, times 3.
    let out = registry
        .call(call("mad", &args, &tags, &[1.0, 2.0, 3.0, 4.0, 100.0]))
        .unwrap()
        .unwrap();
    assert_eq!(value(&out), 3.0);
    // The same process answers the next window.
    let out = registry
        .call(call("mad", &args, &tags, &[10.0, 10.0, 12.0]))
        .unwrap()
        .unwrap();
    assert_eq!(value(&out), 0.0);
    let out = registry.call(call("mad", &args, &tags, &[])).unwrap();
    assert!(out.is_none(), "no rows means no result");
    let stats = registry.stats();
    assert_eq!(stats[0].1.calls.load(Relaxed), 3);
    assert_eq!(stats[0].1.restarts.load(Relaxed), 0);
    assert!(matches!(
        registry.call(call("nope", &args, &tags, &[1.0])),
        Err(UdfError::Unknown(_))
    ));
}

#[test]
fn misbehaving_programs_fail_the_call_and_are_restarted() {
    let p = UdfProcess::new(UdfProcessConfig {
        name: "odd".into(),
        command: script("misbehave.py"),
        timeout: Duration::from_secs(2),
    });
    let tags = [("host".to_string(), "a".to_string())];
    let ok = [serde_json::json!("ok")];
    let answer = p
        .call(&call("odd", &ok, &tags, &[1.0, 2.0]))
        .unwrap()
        .unwrap();
    assert_eq!(value(&answer), 2.0);
    let echoed = answer
        .column_by_name("tags")
        .unwrap()
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap()
        .value(0)
        .to_string();
    assert_eq!(echoed, r#"{"host":"a"}"#);

    let crash = [serde_json::json!("crash")];
    let e = p
        .call(&call("odd", &crash, &tags, &[1.0]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("output ended"), "{e}");
    assert!(
        e.contains("crashing as asked"),
        "stderr in the message: {e}"
    );
    let again = p.call(&call("odd", &ok, &tags, &[1.0])).unwrap().unwrap();
    assert_eq!(value(&again), 1.0);

    // The program is running: the timeout applies in full.
    let hang = [serde_json::json!("hang")];
    let e = p
        .call(&call("odd", &hang, &tags, &[1.0]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("did not answer within 2s"), "{e}");
    let again = p
        .call(&call("odd", &ok, &tags, &[1.0, 1.0, 1.0]))
        .unwrap()
        .unwrap();
    assert_eq!(value(&again), 3.0);

    let garbage = [serde_json::json!("garbage")];
    let e = p
        .call(&call("odd", &garbage, &tags, &[1.0]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("frame"), "{e}");
    let again = p.call(&call("odd", &ok, &tags, &[1.0])).unwrap().unwrap();
    assert_eq!(value(&again), 1.0);

    let error = [serde_json::json!("error")];
    let e = p.call(&call("odd", &error, &tags, &[1.0])).unwrap_err();
    assert_eq!(e.to_string(), "function odd failed: bad input");

    let s = p.stats();
    assert_eq!(s.calls.load(Relaxed), 8);
    assert_eq!(s.failures.load(Relaxed), 4);
    assert_eq!(s.restarts.load(Relaxed), 3);
    assert_eq!(s.last_error().unwrap(), "function odd failed: bad input");
}

#[test]
fn a_command_that_does_not_exist_is_reported() {
    let p = UdfProcess::new(UdfProcessConfig {
        name: "missing".into(),
        command: "/nonexistent/udf-program".into(),
        timeout: Duration::from_secs(5),
    });
    let e = p
        .call(&call("missing", &[], &[], &[1.0]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("not found"), "{e}");
}
