//! The archive against the real binary: `kill -9` during load, restart, and every acknowledged
//! point is in the Parquet archive exactly once, as the daemon's own SQL sees it.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use reqwest::blocking::Client;
use serde_json::Value;
use weir_tests::{wait_until, Weir};

fn try_query(weir: &Weir, sql: &str) -> (u16, Value) {
    let r = Client::new()
        .post(weir.url("/api/v1/query"))
        .body(sql.to_string())
        .send()
        .unwrap();
    (r.status().as_u16(), r.json().unwrap())
}

fn query(weir: &Weir, sql: &str) -> Value {
    let (status, body) = try_query(weir, sql);
    assert_eq!(status, 200, "{body}");
    body
}

fn count(weir: &Weir) -> i64 {
    let (status, body) = try_query(
        weir,
        "SELECT count(*) AS n, count(DISTINCT seq) AS d FROM telegraf.autogen.cpu",
    );
    if status == 400 && body["error"].as_str().unwrap_or("").contains("not found") {
        // No file written yet: the table appears with the first one.
        return 0;
    }
    assert_eq!(status, 200, "{body}");
    let n = body["rows"][0][0].as_i64().unwrap();
    let d = body["rows"][0][1].as_i64().unwrap();
    assert_eq!(n, d, "duplicate rows in the archive: {body}");
    n
}

#[test]
fn kill9_during_load_then_restart_archives_every_acknowledged_point_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut weir = Weir::start(
        dir.path(),
        &[
            ("WEIR_ENGINE_BATCH_LINGER", "20ms"),
            ("WEIR_ENGINE_BATCH_ROWS", "500"),
            ("WEIR_WAL_FSYNC", "interval"),
        ],
    );
    let r = Client::new()
        .post(weir.url("/api/v1/sql"))
        .body("CREATE ARCHIVE cpu_raw ON telegraf FROM cpu PARTITION BY hour ROLL EVERY 1s")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().unwrap());

    // Load from a second thread; kill -9 while requests are in flight.
    let url = weir.url("/write?db=telegraf&precision=ms");
    let writer = std::thread::spawn(move || {
        let client = Client::new();
        let mut acked = 0i64;
        for req in 0..4000i64 {
            let mut body = String::new();
            for i in 0..50i64 {
                let seq = req * 50 + i;
                body.push_str(&format!(
                    "cpu,host=h{} seq={seq}i,v={}.5 {}\n",
                    seq % 7,
                    seq % 13,
                    1_700_000_000_000 + seq
                ));
            }
            match client.post(&url).body(body).send() {
                Ok(r) if r.status().as_u16() == 204 => acked += 50,
                _ => break,
            }
        }
        acked
    });
    std::thread::sleep(Duration::from_millis(700));
    weir.kill9();
    let acked = writer.join().unwrap();
    assert!(acked > 0, "nothing was acknowledged before the kill");
    assert!(acked < 4000 * 50, "the load finished before the kill");
    eprintln!("{acked} points acknowledged before kill -9");

    weir.restart();
    // The restart replays the log into the archive; the archive rolls every second.
    wait_until(
        Duration::from_secs(30),
        "every acknowledged point archived",
        || count(&weir) >= acked,
    );
    std::thread::sleep(Duration::from_millis(1500));
    let n = count(&weir);
    // Requests in flight at the kill may have been made durable without their 204 reaching
    // the client: at least every acknowledged point, never a duplicate.
    assert!(n >= acked, "{n} archived < {acked} acknowledged");
    assert!(
        n <= acked + 50,
        "{n} archived, far more than {acked} acknowledged"
    );
    let body = query(
        &weir,
        "SELECT min(seq) AS lo, max(seq) AS hi FROM telegraf.autogen.cpu",
    );
    assert_eq!(body["rows"][0][0].as_i64().unwrap(), 0);
    assert_eq!(
        body["rows"][0][1].as_i64().unwrap(),
        n - 1,
        "a gap in the archive"
    );
}
