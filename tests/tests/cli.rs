//! The `weir` command line: `config`, `write`, `--url`.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use weir_tests::{tap_lines, wait_until, weir_binary, Weir};

#[test]
fn config_prints_effective_config_with_env_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("weir.toml");
    std::fs::write(
        &file,
        "[influxdb]\nurl = \"http://file:8086\"\n[engine]\nlateness = \"7s\"\n",
    )
    .unwrap();
    let out = Command::new(weir_binary())
        .args(["config", "--config"])
        .arg(&file)
        .env("WEIR_INFLUXDB_URL", "http://env:8086")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("url = \"http://env:8086\""), "{text}");
    assert!(text.contains("lateness = \"7s\""), "{text}");
    assert!(text.contains("bind = \"127.0.0.1:9092\""), "{text}");
    // A bad value is a clear error and a non-zero exit.
    let out = Command::new(weir_binary())
        .arg("config")
        .env("WEIR_ENGINE_LATENESS", "soon")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid duration \"soon\""));
}

#[test]
fn write_command_sends_stdin_and_reports_rejections() {
    let dir = tempfile::tempdir().unwrap();
    let weir = Weir::start(
        dir.path(),
        &[
            ("WEIR_DEBUG_TAP", "tap.lp"),
            ("WEIR_ENGINE_BATCH_LINGER", "10ms"),
        ],
    );
    let write = |args: &[&str], input: &str| {
        let mut child = Command::new(weir_binary())
            .args(["--url", &weir.url("")])
            .arg("write")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let out = write(&["--db", "cli", "--precision", "s"], "w v=1 2\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = write(&["--db", "cli", "--gzip", "--rp", "r"], "w v=2 3\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = write(&["--db", "cli"], "w v=\n");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("400") && err.contains("line 1, column"),
        "{err}"
    );
    let tap = weir.dir.join("data/tap.lp");
    wait_until(Duration::from_secs(10), "tap", || {
        tap_lines(&tap).len() >= 2
    });
    let text = std::fs::read_to_string(&tap).unwrap();
    assert!(
        text.contains("# db=cli rp=autogen\nw v=1.0 2000000000\n"),
        "{text}"
    );
    assert!(text.contains("# db=cli rp=r\nw v=2.0 3\n"), "{text}");
}
