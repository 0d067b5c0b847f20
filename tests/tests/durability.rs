//! Acknowledged writes survive `kill -9`, and a graceful stop exits 0 with everything flushed.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::time::Duration;

use reqwest::blocking::Client;
use weir_tests::{tap_lines, wait_until, Weir};

fn run_kill9(fsync: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mut weir = Weir::start(
        dir.path(),
        &[
            ("WEIR_DEBUG_TAP", "tap.lp"),
            ("WEIR_WAL_FSYNC", fsync),
            // Long linger: acknowledged points are still only in the WAL when we kill.
            ("WEIR_ENGINE_BATCH_LINGER", "1h"),
            ("WEIR_ENGINE_BATCH_ROWS", "1000000"),
            // Small segments so the log rolls and releases while we write.
            ("WEIR_WAL_SEGMENT_SIZE", "4096"),
        ],
    );
    let client = Client::new();
    let mut acked = HashSet::new();
    for req in 0..50 {
        let mut body = String::new();
        for i in 0..20 {
            let line = format!("k,req=r{req} i={i}i {}", req * 100 + i);
            body.push_str(&line);
            body.push('\n');
            acked.insert(line);
        }
        let r = client
            .post(weir.url("/write?db=d"))
            .body(body)
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 204);
    }
    // Killed right after the last 204: nothing had a chance to be flushed.
    weir.kill9();
    let tap = weir.dir.join("data/tap.lp");
    assert!(
        tap_lines(&tap).is_empty(),
        "the batcher flushed before the kill"
    );

    weir.env.retain(|(k, _)| k != "WEIR_ENGINE_BATCH_LINGER");
    weir.env
        .push(("WEIR_ENGINE_BATCH_LINGER".into(), "10ms".into()));
    weir.restart();
    wait_until(
        Duration::from_secs(20),
        "replayed points in the tap",
        || tap_lines(&tap).len() >= acked.len(),
    );
    let replayed = weir.metric("weir_points_replayed_total");
    assert_eq!(replayed as usize, acked.len());

    // Restart once more (gracefully): the tap already has everything, nothing is duplicated.
    let status = weir.terminate();
    assert!(status.success(), "graceful stop exit status {status}");
    weir.restart();
    std::thread::sleep(Duration::from_millis(300));
    let lines = tap_lines(&tap);
    assert_eq!(lines.len(), acked.len(), "each point exactly once");
    let got: HashSet<String> = lines.into_iter().collect();
    assert_eq!(got, acked);
}

#[test]
fn kill9_after_ack_loses_nothing_with_fsync_always() {
    run_kill9("always");
}

#[test]
fn kill9_after_ack_loses_nothing_with_fsync_interval() {
    run_kill9("interval");
}

#[test]
fn sigterm_flushes_buffers_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mut weir = Weir::start(
        dir.path(),
        &[
            ("WEIR_DEBUG_TAP", "tap.lp"),
            ("WEIR_ENGINE_BATCH_LINGER", "1h"),
        ],
    );
    let r = Client::new()
        .post(weir.url("/write?db=d"))
        .body("m v=1 1\nm v=2 2\n")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let status = weir.terminate();
    assert!(status.success(), "{status}");
    assert_eq!(
        tap_lines(&weir.dir.join("data/tap.lp")),
        vec!["m v=1.0 1", "m v=2.0 2"]
    );
    assert!(weir.log_text().contains("received SIGTERM"));
}

#[test]
fn field_types_are_remembered_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let mut weir = Weir::start(dir.path(), &[]);
    let c = Client::new();
    let r = c
        .post(weir.url("/write?db=d"))
        .body("m v=1i 1\n")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    weir.kill9();
    weir.restart();
    let r = c
        .post(weir.url("/write?db=d"))
        .body("m v=1.5 2\n")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().unwrap().contains("already exists as type integer"));
}

/// Deliveries in flight when weir dies: batches of two measurements are cut at different
/// times, so a delivered batch can hold records newer than another measurement's buffered
/// ones. After `kill -9` and a restart the tap still has every acknowledged point exactly once.
#[test]
fn kill9_while_delivering_keeps_every_point_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut weir = Weir::start(
        dir.path(),
        &[
            ("WEIR_DEBUG_TAP", "tap.lp"),
            ("WEIR_WAL_FSYNC", "interval"),
            ("WEIR_ENGINE_BATCH_LINGER", "30ms"),
            ("WEIR_ENGINE_BATCH_ROWS", "7"),
            ("WEIR_WAL_SEGMENT_SIZE", "2048"),
        ],
    );
    let client = Client::new();
    let mut acked = HashSet::new();
    for req in 0..120 {
        let mut body = String::new();
        // `a` gets 3 lines per request (cut every few requests), `b` one (cut by linger).
        for i in 0..3 {
            let line = format!("a,req=r{req} i={i}i {}", req * 10 + i);
            body.push_str(&line);
            body.push('\n');
            acked.insert(line);
        }
        let line = format!("b,req=r{req} i=0i {}", req * 10);
        body.push_str(&line);
        body.push('\n');
        acked.insert(line);
        let r = client
            .post(weir.url("/write?db=d"))
            .body(body)
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 204);
        if req % 7 == 0 {
            std::thread::sleep(Duration::from_millis(15));
        }
    }
    weir.kill9();
    weir.restart();
    let tap = weir.dir.join("data/tap.lp");
    wait_until(Duration::from_secs(20), "every point in the tap", || {
        tap_lines(&tap).len() >= acked.len()
    });
    std::thread::sleep(Duration::from_millis(300));
    let lines = tap_lines(&tap);
    let got: HashSet<String> = lines.iter().cloned().collect();
    assert_eq!(got, acked);
    assert_eq!(lines.len(), acked.len(), "duplicates in the tap");
}
