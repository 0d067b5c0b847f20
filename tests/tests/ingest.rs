//! End-to-end tests of the write path against the real binary: every endpoint, every
//! precision, gzip, partial writes, type conflicts, the body limit and the auth parameters.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::time::Duration;

use reqwest::blocking::Client;
use serde_json::Value;
use weir_tests::{tap_lines, wait_until, Weir};

fn start() -> (tempfile::TempDir, Weir) {
    let dir = tempfile::tempdir().unwrap();
    let weir = Weir::start(
        dir.path(),
        &[
            ("WEIR_DEBUG_TAP", "tap.lp"),
            ("WEIR_ENGINE_BATCH_LINGER", "10ms"),
            ("WEIR_HTTP_MAX_BODY_SIZE", "4096"),
        ],
    );
    (dir, weir)
}

fn tap(weir: &Weir) -> Vec<String> {
    tap_lines(&weir.dir.join("data").join("tap.lp"))
}

fn wait_for_tap(weir: &Weir, n: usize) -> Vec<String> {
    wait_until(Duration::from_secs(10), "points in the tap", || {
        tap(weir).len() >= n
    });
    tap(weir)
}

fn post(weir: &Weir, path: &str, body: &str) -> (u16, String) {
    let r = Client::new()
        .post(weir.url(path))
        .body(body.to_string())
        .send()
        .unwrap();
    let status = r.status().as_u16();
    (status, r.text().unwrap())
}

fn error_of(body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body}"));
    v["error"].as_str().unwrap().to_string()
}

#[test]
fn ping_answers_204_with_version_for_get_and_head() {
    let (_d, weir) = start();
    let c = Client::new();
    for r in [
        c.get(weir.url("/ping")).send().unwrap(),
        c.head(weir.url("/ping")).send().unwrap(),
    ] {
        assert_eq!(r.status().as_u16(), 204);
        assert_eq!(
            r.headers()["x-weir-version"].to_str().unwrap(),
            env!("CARGO_PKG_VERSION")
        );
    }
}

#[test]
fn every_precision_scales_timestamps_to_nanoseconds() {
    let (_d, weir) = start();
    let cases = [
        ("", 1_i64),
        ("n", 1),
        ("ns", 1),
        ("u", 1_000),
        ("us", 1_000),
        ("µ", 1_000),
        ("ms", 1_000_000),
        ("s", 1_000_000_000),
        ("m", 60_000_000_000),
        ("h", 3_600_000_000_000),
    ];
    for (i, (p, _)) in cases.iter().enumerate() {
        let path = if p.is_empty() {
            "/write?db=prec".to_string()
        } else {
            format!("/write?db=prec&precision={p}")
        };
        let r = Client::new()
            .post(weir.url(&path))
            .body(format!("p{i} v=1 7\n"))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 204, "precision {p:?}");
    }
    let lines = wait_for_tap(&weir, cases.len());
    for (i, (p, scale)) in cases.iter().enumerate() {
        let want = format!("p{i} v=1.0 {}", 7 * scale);
        assert!(
            lines.contains(&want),
            "precision {p:?}: {want} not in {lines:?}"
        );
    }
    // Unknown precisions are refused as a whole.
    let (status, body) = post(&weir, "/write?db=prec&precision=x", "m v=1 1\n");
    assert_eq!(status, 400);
    assert!(
        error_of(&body).contains("invalid precision \"x\""),
        "{body}"
    );
}

#[test]
fn lines_without_timestamp_get_server_time_truncated_to_precision() {
    let (_d, weir) = start();
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert_eq!(post(&weir, "/write?db=t&precision=s", "m v=1\n").0, 204);
    let lines = wait_for_tap(&weir, 1);
    let ts: i64 = lines[0].rsplit(' ').next().unwrap().parse().unwrap();
    assert_eq!(ts % 1_000_000_000, 0, "truncated to seconds: {ts}");
    assert!(ts / 1_000_000_000 >= before && ts / 1_000_000_000 <= before + 5);
}

#[test]
fn v1_v2_and_kapacitor_endpoints_route_db_and_rp() {
    let (_d, weir) = start();
    let c = Client::new();
    let ok = |r: reqwest::blocking::Response| {
        let status = r.status().as_u16();
        assert_eq!(status, 204, "{}", r.text().unwrap());
    };
    ok(
        c.post(weir.url("/write?db=a&rp=r1&consistency=one&u=user&p=pass"))
            .body("m1 v=1 1\n")
            .send()
            .unwrap(),
    );
    ok(c.post(weir.url("/kapacitor/v1/write?db=b"))
        .body("m2 v=2 2\n")
        .send()
        .unwrap());
    ok(
        c.post(weir.url("/api/v2/write?bucket=c/r3&org=o&precision=ms"))
            .header("Authorization", "Token secret")
            .body("m3 v=3 3\n")
            .send()
            .unwrap(),
    );
    ok(
        c.post(weir.url("/api/v2/write?bucket=d&org=o&precision=us"))
            .body("m4 v=4 4\n")
            .send()
            .unwrap(),
    );
    ok(c.post(weir.url("/write?db=e"))
        .basic_auth("user", Some("pass"))
        .body("m5 v=5 5\n")
        .send()
        .unwrap());
    wait_for_tap(&weir, 5);
    let text = std::fs::read_to_string(weir.dir.join("data/tap.lp")).unwrap();
    for (db, rp, line) in [
        ("a", "r1", "m1 v=1.0 1"),
        ("b", "autogen", "m2 v=2.0 2"),
        ("c", "r3", "m3 v=3.0 3000000"),
        ("d", "autogen", "m4 v=4.0 4000"),
        ("e", "autogen", "m5 v=5.0 5"),
    ] {
        assert!(
            text.contains(&format!("# db={db} rp={rp}\n{line}\n")),
            "{db}/{rp}: {line} not in\n{text}"
        );
    }
    // Missing database / bucket.
    let (status, body) = post(&weir, "/write", "m v=1\n");
    assert_eq!(status, 400);
    assert!(error_of(&body).contains("database is required"));
    let (status, body) = post(&weir, "/api/v2/write?org=o", "m v=1\n");
    assert_eq!(status, 400);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["code"], "invalid");
    assert!(v["message"]
        .as_str()
        .unwrap()
        .contains("bucket is required"));
}

#[test]
fn gzip_bodies_are_decompressed() {
    let (_d, weir) = start();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(b"gz,host=a v=1i 1\ngz,host=b v=2i 2\n")
        .unwrap();
    let r = Client::new()
        .post(weir.url("/write?db=g"))
        .header("Content-Encoding", "gzip")
        .body(enc.finish().unwrap())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let lines = wait_for_tap(&weir, 2);
    assert_eq!(lines, vec!["gz,host=a v=1i 1", "gz,host=b v=2i 2"]);
    // A body that is not gzip at all.
    let r = Client::new()
        .post(weir.url("/write?db=g"))
        .header("Content-Encoding", "gzip")
        .body("plain text")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(error_of(&r.text().unwrap()).contains("invalid gzip body"));
}

#[test]
fn partial_writes_keep_valid_lines_and_name_the_bad_ones() {
    let (_d, weir) = start();
    let body = "m,host=a v=1 1\n\
                m,host=b v= 2\n\
                # a comment\n\
                m,host=c v=3 3\n\
                m,host=d 4\n\
                m,host=e v=5 5\n";
    let (status, resp) = post(&weir, "/write?db=p", body);
    assert_eq!(status, 400);
    let err = error_of(&resp);
    assert!(err.starts_with("partial write: line 2, column "), "{err}");
    assert!(err.contains("line 5, column "), "{err}");
    assert!(err.contains("(accepted=3 dropped=2)"), "{err}");
    let lines = wait_for_tap(&weir, 3);
    assert_eq!(
        lines,
        vec!["m,host=a v=1.0 1", "m,host=c v=3.0 3", "m,host=e v=5.0 5"]
    );
}

#[test]
fn field_type_conflicts_are_rejected_within_and_across_requests() {
    let (_d, weir) = start();
    assert_eq!(post(&weir, "/write?db=c", "cpu v=1.5 1\n").0, 204);
    let (status, resp) = post(
        &weir,
        "/write?db=c",
        "cpu v=2i 2\ncpu v=3.5 3\ncpu s=\"x\" 4\ncpu s=1 5\n",
    );
    assert_eq!(status, 400);
    let err = error_of(&resp);
    assert!(
        err.contains("line 1: field type conflict: field \"v\" on measurement \"cpu\" is type integer, already exists as type float"),
        "{err}"
    );
    assert!(
        err.contains("line 4: field type conflict: field \"s\" on measurement \"cpu\" is type float, already exists as type string"),
        "{err}"
    );
    let lines = wait_for_tap(&weir, 3);
    assert_eq!(lines, vec!["cpu v=1.5 1", "cpu v=3.5 3", "cpu s=\"x\" 4"]);
    // Another database has its own types.
    assert_eq!(post(&weir, "/write?db=other", "cpu v=2i 2\n").0, 204);
}

#[test]
fn bodies_over_the_limit_get_413() {
    let (_d, weir) = start();
    let big = "m v=1 1\n".repeat(1000); // 8000 bytes > 4096
    let (status, body) = post(&weir, "/write?db=l", &big);
    assert_eq!(status, 413);
    assert!(error_of(&body).contains("max_body_size"), "{body}");
    // Small on the wire, too big once decompressed.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(big.as_bytes()).unwrap();
    let r = Client::new()
        .post(weir.url("/write?db=l"))
        .header("Content-Encoding", "gzip")
        .body(enc.finish().unwrap())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
    // Chunked (no Content-Length) bodies are limited too.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..10)
        .map(|_| Ok("m v=1 1\n".repeat(100).into_bytes()))
        .collect();
    // The server may answer 413 and close before the client has sent everything; both
    // outcomes refuse the body.
    match Client::new()
        .post(weir.url("/write?db=l"))
        .body(reqwest::blocking::Body::new(ChunkReader::new(chunks)))
        .send()
    {
        Ok(r) => assert_eq!(r.status().as_u16(), 413),
        Err(e) => assert!(e.is_body() || e.is_request(), "unexpected error {e}"),
    }
    // Nothing of the refused bodies was stored; a small one still works.
    assert_eq!(post(&weir, "/write?db=l", "ok v=1 1\n").0, 204);
    assert_eq!(wait_for_tap(&weir, 1), vec!["ok v=1.0 1"]);
}

/// A reader without a known length, so the client sends a chunked body.
struct ChunkReader {
    chunks: std::vec::IntoIter<Result<Vec<u8>, std::io::Error>>,
    current: std::io::Cursor<Vec<u8>>,
}

impl ChunkReader {
    fn new(chunks: Vec<Result<Vec<u8>, std::io::Error>>) -> Self {
        Self {
            chunks: chunks.into_iter(),
            current: std::io::Cursor::new(Vec::new()),
        }
    }
}

impl std::io::Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let n = self.current.read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            match self.chunks.next() {
                Some(chunk) => self.current = std::io::Cursor::new(chunk?),
                None => return Ok(0),
            }
        }
    }
}

#[test]
fn malformed_bodies_never_crash_the_daemon() {
    let (_d, weir) = start();
    let nasty: Vec<Vec<u8>> = vec![
        b"\xff\xfe\xfd v=1".to_vec(),
        b"m v=\"unterminated".to_vec(),
        b"m,=x v=1".to_vec(),
        b"m v=1 99999999999999999999999".to_vec(),
        b"m v=1i9".to_vec(),
        b"m v=18446744073709551616u".to_vec(),
        b"\\".to_vec(),
        b",,,, ==== ".to_vec(),
        vec![0u8; 100],
        b"m v=1 1\r\n\r\n\n".to_vec(),
    ];
    for body in nasty {
        let r = Client::new()
            .post(weir.url("/write?db=n&precision=h"))
            .body(body.clone())
            .send()
            .unwrap();
        let s = r.status().as_u16();
        assert!(s == 204 || s == 400, "{s} for {body:?}");
    }
    assert_eq!(post(&weir, "/write?db=n", "alive v=1 1\n").0, 204);
}
