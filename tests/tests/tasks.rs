//! Task management end to end: statements over HTTP and the CLI, persistence across restarts,
//! precise errors that store nothing, the task API and `/metrics`.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use reqwest::blocking::Client;
use serde_json::{json, Value};
use weir_tests::{weir_binary, Weir};

fn sql(weir: &Weir, text: &str) -> (u16, Value) {
    let r = Client::new()
        .post(weir.url("/api/v1/sql"))
        .body(text.to_string())
        .send()
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap())
}

fn cli(weir: &Weir, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(weir_binary())
        .args(["--url", &weir.url("")])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

const HANDLERS: &str = "
CREATE HANDLER ops_slack ON TOPIC cpu KIND slack
  WITH (url = 'http://127.0.0.1:9999/services/T/B/X', channel = '#ops');
CREATE HANDLER audit ON TOPIC cpu KIND log WITH (path = '/var/log/weir/alerts.jsonl');
";

#[test]
fn definitions_from_a_cli_file_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut weir = Weir::start(dir.path(), &[]);
    let file = dir.path().join("handlers.sql");
    std::fs::write(&file, HANDLERS).unwrap();
    let (ok, out, err) = cli(&weir, &["exec", file.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(out.contains("created handler ops_slack"), "{out}");
    weir.kill9();
    weir.restart();
    let (status, body) = sql(&weir, "SHOW HANDLERS; SHOW TOPICS");
    assert_eq!(status, 200, "{body}");
    let handlers = &body["results"][0];
    assert_eq!(handlers["columns"][0], "name");
    let names: Vec<&str> = handlers["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["audit", "ops_slack"]);
    assert_eq!(handlers["rows"][1][3]["channel"], "#ops");
    assert_eq!(
        body["results"][1]["rows"],
        json!([["cpu", "OK", 0, ["audit", "ops_slack"]]])
    );
    // A handler is validated before it is stored: the message names the option.
    let (status, body) = sql(
        &weir,
        "CREATE HANDLER typo ON TOPIC cpu KIND slack WITH (chanel = '#ops')",
    );
    assert_eq!(status, 400, "{body}");
    let e = body["error"].as_str().unwrap();
    assert!(e.contains("unknown option 'chanel'"), "{e}");
    let (status, body) = sql(&weir, "CREATE HANDLER typo ON TOPIC cpu KIND post");
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("'url'"), "{body}");
    // Creating an existing name is an error unless OR REPLACE.
    let (status, body) = sql(
        &weir,
        "CREATE HANDLER audit ON TOPIC cpu KIND log WITH (path = '/tmp/x')",
    );
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("already exists"),
        "{body}"
    );
    let (status, body) = sql(
        &weir,
        "CREATE OR REPLACE HANDLER audit ON TOPIC mem KIND log WITH (path = '/tmp/x')",
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["results"][0]["replaced"], "audit");
    let (status, _) = sql(&weir, "DROP HANDLER audit");
    assert_eq!(status, 200);
    let (_, body) = sql(&weir, "SHOW HANDLERS");
    assert_eq!(body["results"][0]["rows"].as_array().unwrap().len(), 1);
}

#[test]
fn invalid_statements_get_precise_errors_and_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let weir = Weir::start(dir.path(), &[]);
    // A syntax error in the second statement: nothing of the request is applied.
    let text = "CREATE HANDLER h1 ON TOPIC t KIND log WITH (path = '/tmp/a');\n\
                CREATE CONTINUOUS QUERY q ON db BEGIN\n  SELECT mean(x) INTO y FROM m GROUP BY time(1m\nEND";
    let (status, body) = sql(&weir, text);
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["statement"], 1, "{body}");
    assert_eq!(body["line"], 4, "{body}");
    assert!(body["column"].as_u64().unwrap() >= 1);
    assert!(
        body["reason"].as_str().unwrap().contains("expected"),
        "{body}"
    );
    assert!(body["statement_text"]
        .as_str()
        .unwrap()
        .starts_with("CREATE CONTINUOUS QUERY q"));
    let (_, body) = sql(&weir, "SHOW HANDLERS; SHOW TASKS");
    assert_eq!(body["results"][0]["rows"], json!([]));
    assert_eq!(body["results"][1]["rows"], json!([]));
    // A forecast in an archive would archive every close's forecast: refused, and why.
    let (status, body) = sql(
        &weir,
        "CREATE ARCHIVE f ON db TO 'file:///tmp/weir-never' AS SELECT holt_winters(mean(v), 3, 0) FROM m GROUP BY time(1m)",
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body.to_string()
            .contains("holt_winters() is not supported in an archive"),
        "{body}"
    );
    // The CLI exits non-zero with the server's message.
    let (ok, _, err) = cli(
        &weir,
        &["exec", "-e", "CREATE ALERT a ON db BEGIN SELECT FROM END"],
    );
    assert!(!ok);
    assert!(
        err.contains("400") && err.contains("line 1, column"),
        "{err}"
    );
    // Dropping what does not exist is a 404 unless IF EXISTS.
    let (status, body) = sql(&weir, "DROP TASK nope");
    assert_eq!(status, 404, "{body}");
    let (status, _) = sql(&weir, "DROP TASK IF EXISTS nope");
    assert_eq!(status, 200);
}

#[test]
fn task_api_answers_404_and_400_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let weir = Weir::start(dir.path(), &[]);
    let c = Client::new();
    let r = c.get(weir.url("/api/v1/tasks")).send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.json::<Value>().unwrap(), json!({ "tasks": [] }));
    let r = c.get(weir.url("/api/v1/tasks/nope")).send().unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let r = c
        .patch(weir.url("/api/v1/tasks/nope"))
        .body("{\"status\":\"enabled\"}")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let r = c
        .patch(weir.url("/api/v1/tasks/nope"))
        .body("{\"status\":\"sleeping\"}")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let r = c.delete(weir.url("/api/v1/tasks/nope")).send().unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let (ok, out, _) = cli(&weir, &["tasks"]);
    assert!(ok);
    assert!(out.starts_with("name"), "{out}");
    let (ok, _, err) = cli(&weir, &["show", "nope"]);
    assert!(!ok);
    assert!(err.contains("does not exist"), "{err}");
}

#[test]
fn metrics_parse_with_the_prometheus_client_parser() {
    let dir = tempfile::tempdir().unwrap();
    let weir = Weir::start(dir.path(), &[]);
    let r = Client::new()
        .post(weir.url("/write?db=m"))
        .body("m v=1 1\n")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let text = reqwest::blocking::get(weir.url("/metrics"))
        .unwrap()
        .text()
        .unwrap();
    let script = "import sys\n\
        from prometheus_client.parser import text_string_to_metric_families\n\
        names = [f.name for f in text_string_to_metric_families(sys.stdin.read())]\n\
        print(' '.join(sorted(names)))\n";
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client could not parse /metrics (pip install prometheus_client): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let names = String::from_utf8(out.stdout).unwrap();
    for n in [
        "weir_points_accepted",
        "weir_wal_bytes",
        "weir_task_points_in",
    ] {
        assert!(
            names.split_whitespace().any(|x| x == n),
            "{n} missing from {names}"
        );
    }
}

fn parquet_files(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else if p.extension().is_some_and(|x| x == "parquet") {
                    out.push(p);
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(root, &mut out);
    out.sort();
    out
}

fn task(weir: &Weir, name: &str) -> Value {
    Client::new()
        .get(weir.url(&format!("/api/v1/tasks/{name}")))
        .send()
        .unwrap()
        .json()
        .unwrap()
}

fn write(weir: &Weir, body: &str) {
    let r = Client::new()
        .post(weir.url("/write?db=telegraf&precision=s"))
        .body(body.to_string())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
}

#[test]
fn archive_task_lifecycle_define_restart_disable_enable_drop() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("lake");
    let mut weir = Weir::start(dir.path(), &[("WEIR_ENGINE_BATCH_LINGER", "10ms")]);
    let file = dir.path().join("archive.sql");
    std::fs::write(
        &file,
        format!(
            "CREATE ARCHIVE cpu_raw ON telegraf FROM cpu, mem\n  TO 'file://{}' PARTITION BY hour ROLL EVERY 1s;\n",
            root.display()
        ),
    )
    .unwrap();
    let (ok, out, err) = cli(&weir, &["exec", file.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(out.contains("created archive cpu_raw"), "{out}");
    let t = task(&weir, "cpu_raw");
    assert_eq!(t["kind"], "archive");
    assert_eq!(t["status"], "enabled");
    assert_eq!(t["running"], true);
    assert!(t["plan"].as_str().unwrap().contains("cpu,mem"), "{t}");

    write(&weir, "cpu,host=a usage_idle=1 1700000000\nmem,host=a used=2i 1700000001\ndisk,host=a free=3i 1700000002\n");
    weir_tests::wait_until(
        std::time::Duration::from_secs(15),
        "first parquet files",
        || parquet_files(&root).len() >= 2,
    );
    let files = parquet_files(&root);
    assert!(
        files
            .iter()
            .all(|f| !f.to_string_lossy().contains("/disk/")),
        "{files:?}"
    );
    assert!(
        files.iter().any(|f| f
            .to_string_lossy()
            .contains("telegraf/autogen/cpu/date=2023-11-14/hour=22/")),
        "{files:?}"
    );

    // Survives a restart (kill -9), still running.
    weir.kill9();
    weir.restart();
    let t = task(&weir, "cpu_raw");
    assert_eq!(t["running"], true, "{t}");

    // Disabled: no new files; enabled again: the points written meanwhile are not archived
    // (a disabled task does not consume), new ones are.
    let (ok, _, err) = cli(&weir, &["disable", "cpu_raw"]);
    assert!(ok, "{err}");
    assert_eq!(task(&weir, "cpu_raw")["status"], "disabled");
    let before = parquet_files(&root).len();
    write(&weir, "cpu,host=b usage_idle=5 1700003600\n");
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert_eq!(
        parquet_files(&root).len(),
        before,
        "disabled task wrote files"
    );
    let (ok, _, err) = cli(&weir, &["enable", "cpu_raw"]);
    assert!(ok, "{err}");
    write(&weir, "cpu,host=c usage_idle=6 1700007200\n");
    weir_tests::wait_until(
        std::time::Duration::from_secs(15),
        "files after enable",
        || parquet_files(&root).len() > before,
    );

    // SHOW TASKS lists it; drop removes it.
    let (_, body) = sql(&weir, "SHOW TASKS");
    assert_eq!(body["results"][0]["rows"][0][0], "cpu_raw");
    let (ok, out, err) = cli(&weir, &["drop", "cpu_raw"]);
    assert!(ok, "{err}");
    assert!(out.contains("dropped cpu_raw"));
    let r = Client::new()
        .get(weir.url("/api/v1/tasks/cpu_raw"))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    weir.kill9();
    weir.restart();
    let (_, body) = sql(&weir, "SHOW TASKS");
    assert_eq!(body["results"][0]["rows"], json!([]));
}

#[test]
fn continuous_queries_without_influxdb_are_refused_and_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let weir = Weir::start(dir.path(), &[]);
    let (status, body) = sql(
        &weir,
        "CREATE CONTINUOUS QUERY cpu_1m ON telegraf BEGIN SELECT mean(usage_idle) INTO cpu_1m FROM cpu GROUP BY time(1m), host END",
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("writes INTO telegraf..cpu_1m; configure [influxdb] url"),
        "{body}"
    );
    let (_, body) = sql(&weir, "SHOW TASKS");
    assert_eq!(body["results"][0]["rows"], json!([]));
}
