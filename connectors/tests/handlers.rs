//! Alert handlers against real local servers: every kind's request is checked (method, path,
//! headers, body) against the request Kapacitor's handler of that name sends for the same
//! event, written out by hand from Kapacitor's source. Plus the dispatcher: retry with
//! backoff, no retry on 4xx, isolation between handlers, full queues, and `validate` errors.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use serde_json::{json, Value};
use weir_connectors::handlers::{validate, DispatchConfig, Dispatcher, HandlerSpec, HandlerStats};
use weir_engine::alert::{Event, EventSeries, Level};

const MSG: &str = "cpu:serverA is CRITICAL: idle 5.5% on the west cluster, paging the on-call";

/// The event every test sends: CRITICAL for `cpu:serverA`, at 2024-01-01T00:01:00.5Z.
fn event() -> Event {
    Event {
        topic: "cpu".into(),
        task: "cpu_alert".into(),
        id: "cpu:serverA".into(),
        message: MSG.into(),
        details: "<b>idle</b> = 5.5%".into(),
        time: 1_704_067_260_500_000_000,
        duration: 60_000_000_000,
        level: Level::Critical,
        previous_level: Level::Ok,
        recoverable: true,
        data: EventSeries {
            name: "cpu".into(),
            tags: [
                ("host".to_string(), "serverA".to_string()),
                ("region".to_string(), "west".to_string()),
            ]
            .into(),
            columns: vec!["time".into(), "idle".into(), "n".into()],
            values: vec![vec![
                json!("2024-01-01T00:01:00.5Z"),
                json!(5.5),
                json!(10.0),
            ]],
        },
    }
}

/// `event().Data.Result` as Kapacitor marshals it into JSON objects.
fn data() -> Value {
    json!({"series": [{
        "name": "cpu",
        "tags": {"host": "serverA", "region": "west"},
        "columns": ["time", "idle", "n"],
        "values": [["2024-01-01T00:01:00.5Z", 5.5, 10.0]],
    }]})
}

/// `json.Marshal(event().Data.Result)`: Go's field order and number format.
const DATA_TEXT: &str = r#"{"series":[{"name":"cpu","tags":{"host":"serverA","region":"west"},"columns":["time","idle","n"],"values":[["2024-01-01T00:01:00.5Z",5.5,10]]}]}"#;

/// Kapacitor's `alert.Data` for `event()`.
fn alert_data() -> Value {
    json!({
        "id": "cpu:serverA",
        "message": MSG,
        "details": "<b>idle</b> = 5.5%",
        "time": "2024-01-01T00:01:00.5Z",
        "duration": 60_000_000_000i64,
        "level": "CRITICAL",
        "data": data(),
        "previousLevel": "OK",
        "recoverable": true,
    })
}

fn spec(name: &str, kind: &str, options: Value) -> HandlerSpec {
    let Value::Object(options) = options else {
        panic!("options must be an object")
    };
    HandlerSpec {
        name: name.into(),
        topic: "cpu".into(),
        kind: kind.into(),
        options,
    }
}

fn fast() -> DispatchConfig {
    DispatchConfig {
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(40),
        max_attempts: 4,
        queue_capacity: 100,
    }
}

fn stats(d: &Dispatcher, name: &str) -> HandlerStats {
    d.stats().into_iter().find(|s| s.name == name).unwrap()
}

/// Sends `ev` through a dispatcher with the one handler and waits for it.
async fn deliver(spec: HandlerSpec, ev: &Event) -> HandlerStats {
    validate(&spec).unwrap();
    let name = spec.name.clone();
    let d = Dispatcher::new(fast());
    d.set_handlers(vec![spec]);
    d.publish(ev);
    assert!(
        d.flush(Duration::from_secs(30)).await,
        "handler did not finish"
    );
    let s = stats(&d, &name);
    assert_eq!((s.sent, s.failed), (1, 0), "{s:?}");
    s
}

// ---------------------------------------------------------------------------------------
// A recording HTTP server.

#[derive(Debug, Clone)]
struct Recorded {
    method: Method,
    /// Path and query.
    uri: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Recorded {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Default)]
struct ServerState {
    requests: Mutex<Vec<Recorded>>,
    /// Answers to give, in order; then `200 ""`.
    script: Mutex<VecDeque<(u16, String)>>,
}

struct HttpServer {
    addr: SocketAddr,
    state: Arc<ServerState>,
}

async fn record(
    State(state): State<Arc<ServerState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    state.requests.lock().unwrap().push(Recorded {
        method,
        uri: uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        headers,
        body,
    });
    let (code, body) = state
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or((200, String::new()));
    (StatusCode::from_u16(code).unwrap(), body)
}

impl HttpServer {
    async fn start(script: &[(u16, &str)]) -> HttpServer {
        let state = Arc::new(ServerState::default());
        state
            .script
            .lock()
            .unwrap()
            .extend(script.iter().map(|(c, b)| (*c, b.to_string())));
        let app = axum::Router::new()
            .fallback(record)
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        HttpServer { addr, state }
    }
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
    fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }
    fn only(&self) -> Recorded {
        let r = self.requests();
        assert_eq!(r.len(), 1, "{r:?}");
        r.into_iter().next().unwrap()
    }
}

/// Checks the common part of a JSON POST and returns its body.
fn json_post(r: &Recorded, path: &str) -> Value {
    assert_eq!(r.method, Method::POST);
    assert_eq!(r.uri, path);
    assert_eq!(r.header("content-type"), "application/json");
    assert!(
        r.body.ends_with(b"\n"),
        "Go's json.Encoder ends the body with a newline"
    );
    r.json()
}

/// The same for a body written with Go's json.Marshal (no newline).
fn json_post_marshal(r: &Recorded, path: &str) -> Value {
    assert_eq!(r.method, Method::POST);
    assert_eq!(r.uri, path);
    assert_eq!(r.header("content-type"), "application/json");
    assert!(!r.body.ends_with(b"\n"));
    r.json()
}

/// A TCP server that accepts connections and never answers.
async fn black_hole() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = listener.accept().await {
            held.push(conn);
        }
    });
    addr
}

// ---------------------------------------------------------------------------------------
// The kinds.

#[tokio::test]
async fn post_sends_alert_data_with_headers_and_basic_auth() {
    let srv = HttpServer::start(&[]).await;
    let s = spec(
        "hook",
        "post",
        json!({"url": srv.url("/alerts?src=weir"), "headers": {"X-Token": "abc"},
               "username": "u", "password": "p", "timeout": "5s"}),
    );
    let st = deliver(s, &event()).await;
    assert!(st.last_sent.is_some());
    let r = srv.only();
    assert_eq!(json_post(&r, "/alerts?src=weir"), alert_data());
    assert_eq!(r.header("x-token"), "abc");
    assert_eq!(r.header("authorization"), "Basic dTpw");
}

#[tokio::test]
async fn map_options_can_be_lists_of_pairs() {
    // WITH (...) has no map literal: `headers = ['X-A: 1', 'X-B=2']` is the same map.
    let srv = HttpServer::start(&[]).await;
    let s = spec(
        "hook",
        "post",
        json!({"url": srv.url("/h"), "headers": ["X-A: 1", "X-B=two: 2"]}),
    );
    deliver(s, &event()).await;
    let r = srv.only();
    assert_eq!(r.header("x-a"), "1");
    assert_eq!(r.header("x-b"), "two: 2");
    let s = spec(
        "hook2",
        "post",
        json!({"url": srv.url("/h"), "headers": "{\"X-C\": \"3\"}"}),
    );
    validate(&s).unwrap();
}

#[tokio::test]
async fn post_url_is_a_template() {
    let srv = HttpServer::start(&[]).await;
    let s = spec(
        "hook",
        "post",
        json!({"url": srv.url("/alerts/{{ .Level }}/{{ index .Tags \"host\" }}"), "capture-response": true}),
    );
    deliver(s, &event()).await;
    assert_eq!(
        json_post(&srv.only(), "/alerts/CRITICAL/serverA"),
        alert_data()
    );
}

#[tokio::test]
async fn log_appends_one_json_line_per_event() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/alerts.log");
    let s = spec(
        "audit",
        "log",
        json!({"path": path.to_str().unwrap(), "mode": "0640"}),
    );
    validate(&s).unwrap();
    let d = Dispatcher::new(fast());
    d.set_handlers(vec![s]);
    let mut second = event();
    second.level = Level::Ok;
    second.previous_level = Level::Critical;
    d.publish(&event());
    d.publish(&second);
    assert!(d.flush(Duration::from_secs(30)).await);
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut recovered = alert_data();
    recovered["level"] = json!("OK");
    recovered["previousLevel"] = json!("CRITICAL");
    assert_eq!(lines, vec![alert_data(), recovered]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        // The umask may take bits away, never add them.
        assert_eq!(mode & !0o640, 0, "mode {mode:o}");
        assert_ne!(mode & 0o600, 0);
    }
}

#[tokio::test]
async fn tcp_writes_the_json_and_newlines() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let got = tokio::spawn(async move {
        use tokio::io::AsyncReadExt as _;
        let (mut conn, _) = listener.accept().await.unwrap();
        let mut buf = Vec::new();
        conn.read_to_end(&mut buf).await.unwrap();
        buf
    });
    deliver(
        spec("t", "tcp", json!({"address": addr.to_string()})),
        &event(),
    )
    .await;
    let buf = got.await.unwrap();
    // Kapacitor: json.Encoder (one newline) and then buf.WriteByte('\n').
    assert!(
        buf.ends_with(b"}\n\n"),
        "{:?}",
        String::from_utf8_lossy(&buf)
    );
    let v: Value = serde_json::from_slice(&buf).unwrap();
    assert_eq!(v, alert_data());
}

#[tokio::test]
async fn exec_runs_the_program_with_the_event_on_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("save.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\ncat > \"$1\"\necho \"$2\" > \"$1.arg\"\n",
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let out = dir.path().join("event.json");
    deliver(
        spec(
            "x",
            "exec",
            json!({"prog": script.to_str().unwrap(), "args": [out.to_str().unwrap(), "second arg"]}),
        ),
        &event(),
    )
    .await;
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.ends_with("}\n"));
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), alert_data());
    let arg = std::fs::read_to_string(dir.path().join("event.json.arg")).unwrap();
    assert_eq!(arg, "second arg\n");
}

#[tokio::test]
async fn exec_that_hangs_is_killed_and_one_that_fails_reports_its_output() {
    let d = Dispatcher::new(DispatchConfig {
        max_attempts: 1,
        ..fast()
    });
    d.set_handlers(vec![
        spec(
            "hang",
            "exec",
            json!({"prog": "sleep", "args": ["600"], "timeout": "300ms"}),
        ),
        spec(
            "fail",
            "exec",
            json!({"prog": "sh", "args": ["-c", "echo nope >&2; exit 3"]}),
        ),
        spec("missing", "exec", json!({"prog": "/nonexistent/prog"})),
    ]);
    d.publish(&event());
    assert!(d.flush(Duration::from_secs(60)).await);
    let hang = stats(&d, "hang");
    assert_eq!((hang.sent, hang.failed), (0, 1));
    assert!(hang.last_error.unwrap().contains("killed"));
    let fail = stats(&d, "fail");
    assert_eq!((fail.sent, fail.failed), (0, 1));
    let e = fail.last_error.unwrap();
    assert!(e.contains("exit status: 3") && e.contains("nope"), "{e}");
    let missing = stats(&d, "missing");
    assert!(missing
        .last_error
        .unwrap()
        .contains("cannot start /nonexistent/prog"));
}

#[tokio::test]
async fn slack() {
    let srv = HttpServer::start(&[]).await;
    let s = spec(
        "ops_slack",
        "slack",
        json!({"url": srv.url("/services/T/B/X"), "channel": "#ops", "icon-emoji": ":fire:"}),
    );
    deliver(s, &event()).await;
    let r = srv.only();
    assert_eq!(
        json_post(&r, "/services/T/B/X"),
        json!({
            "channel": "#ops",
            "text": "",
            "attachments": [{"fallback": MSG, "color": "danger", "text": MSG, "mrkdwn_in": ["text"]}],
            "username": "kapacitor",
            "icon_emoji": ":fire:",
        })
    );
    assert!(r.headers.get("authorization").is_none());
}

#[tokio::test]
async fn slack_with_token_and_level_colors() {
    let srv = HttpServer::start(&[]).await;
    let s = spec(
        "s",
        "slack",
        json!({"url": srv.url("/api/chat.postMessage"), "token": "xoxb-1", "username": "weir"}),
    );
    let d = Dispatcher::new(fast());
    d.set_handlers(vec![s]);
    for level in [Level::Ok, Level::Info, Level::Warning, Level::Critical] {
        let mut ev = event();
        ev.level = level;
        d.publish(&ev);
    }
    assert!(d.flush(Duration::from_secs(30)).await);
    let reqs = srv.requests();
    let colors: Vec<Value> = reqs
        .iter()
        .map(|r| r.json()["attachments"][0]["color"].clone())
        .collect();
    assert_eq!(
        colors,
        vec![
            json!("good"),
            json!("good"),
            json!("warning"),
            json!("danger")
        ]
    );
    assert_eq!(reqs[0].header("authorization"), "Bearer xoxb-1");
    assert_eq!(reqs[0].json()["username"], json!("weir"));
    assert_eq!(reqs[0].json()["channel"], json!(""));
}

#[tokio::test]
async fn pagerduty2() {
    let srv = HttpServer::start(&[(202, r#"{"status":"success"}"#)]).await;
    let s = spec(
        "pd",
        "pagerduty2",
        json!({
            "url": srv.url("/v2/enqueue"),
            "routing_key": "rk123",
            "links": [{"href": "http://dash/{{ .ID }}", "text": "dashboard"}, {"href": "http://runbook"}],
            "client_url": "http://weir:9092",
        }),
    );
    deliver(s, &event()).await;
    let r = srv.only();
    assert_eq!(
        r.header("accept"),
        "application/vnd.pagerduty+json;version=2"
    );
    assert_eq!(
        json_post(&r, "/v2/enqueue"),
        json!({
            "routing_key": "rk123",
            "event_action": "trigger",
            "dedup_key": "cpu:serverA",
            "payload": {
                "summary": MSG,
                "source": "serverA",
                "severity": "critical",
                "timestamp": "2024-01-01T00:01:00.500000000Z",
                "class": "cpu_alert",
                "component": "",
                "group": "",
                "custom_details": {"result": data()},
            },
            "images": null,
            "links": [
                {"href": "http://dash/cpu:serverA", "text": "dashboard"},
                {"href": "http://runbook", "text": "http://runbook"},
            ],
            "client": "kapacitor",
            "client_url": "http://weir:9092",
        })
    );
}

#[tokio::test]
async fn pagerduty2_recovery_resolves() {
    let srv = HttpServer::start(&[]).await;
    let mut ev = event();
    ev.level = Level::Ok;
    ev.data.tags.remove("host");
    deliver(
        spec(
            "pd",
            "pagerduty2",
            json!({"url": srv.url("/v2/enqueue"), "routing_key": "rk"}),
        ),
        &ev,
    )
    .await;
    let body = srv.only().json();
    assert_eq!(body["event_action"], json!("resolve"));
    assert_eq!(body["payload"]["severity"], json!("info"));
    assert_eq!(body["payload"]["source"], json!("unknown"));
    assert_eq!(body["links"], Value::Null);
    assert_eq!(body["client_url"], json!(""));
}

#[tokio::test]
async fn opsgenie2_alert_and_recovery() {
    let srv = HttpServer::start(&[(202, "{}"), (202, "{}")]).await;
    let s = spec(
        "og",
        "opsgenie2",
        json!({"url": srv.url("/v2/alerts"), "api_key": "key1", "teams": ["ops"], "recipients": ["bob"]}),
    );
    let d = Dispatcher::new(fast());
    d.set_handlers(vec![s]);
    let mut ok = event();
    ok.level = Level::Ok;
    ok.message = "cpu:serverA is OK".into();
    d.publish(&event());
    d.publish(&ok);
    assert!(d.flush(Duration::from_secs(30)).await);
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].header("authorization"), "GenieKey key1");
    assert_eq!(
        json_post(&reqs[0], "/v2/alerts"),
        json!({
            "entity": "cpu:serverA",
            "alias": "Y3B1OnNlcnZlckE=",
            "message": MSG,
            "note": "",
            "priority": "P1",
            "description": DATA_TEXT,
            "details": {
                "Monitoring Tool": "Kapacitor",
                "Level": "CRITICAL",
                "host": "serverA",
                "region": "west",
                "Kapacitor Task Name": "cpu",
            },
            "responders": [{"name": "ops", "type": "team"}, {"username": "bob", "type": "user"}],
        })
    );
    assert_eq!(reqs[1].header("authorization"), "GenieKey key1");
    assert_eq!(
        json_post(
            &reqs[1],
            "/v2/alerts/Y3B1OnNlcnZlckE=/notes?identifierType=alias"
        ),
        json!({"note": "cpu:serverA is OK"})
    );
}

#[tokio::test]
async fn alerta() {
    let srv = HttpServer::start(&[(201, "{}")]).await;
    let s = spec(
        "al",
        "alerta",
        json!({
            "url": srv.url("/api"),
            "token": "tok",
            "environment": "production",
            "origin": "weir",
            "attributes": {"runbook": "http://rb/{{ .ID }}", "n": 3},
        }),
    );
    deliver(s, &event()).await;
    let r = srv.only();
    assert_eq!(r.header("authorization"), "Bearer tok");
    assert_eq!(
        json_post(&r, "/api/alert"),
        json!({
            "resource": "cpu",
            "event": "cpu:serverA",
            "environment": "production",
            "severity": "critical",
            "group": "host=serverA,region=west",
            "value": "",
            "text": MSG,
            "origin": "weir",
            "rawData": data(),
            "service": ["cpu"],
            "correlate": ["cpu"],
            "attributes": {"runbook": "http://rb/cpu:serverA", "n": 3},
            "timeout": 86400,
            "tags": ["host=serverA", "region=west"],
        })
    );
}

#[tokio::test]
async fn alerta_templates_and_token_prefix() {
    let srv = HttpServer::start(&[]).await;
    let s = spec(
        "al",
        "alerta",
        json!({
            "url": srv.url("/"),
            "token": "t",
            "token-prefix": "Key",
            "resource": "{{ index .Tags \"host\" }}",
            "event": "{{ .Name }}-{{ .TaskName }}",
            "value": "{{ index .Fields \"idle\" }}",
            "service": ["web", "{{ .Name }}"],
            "timeout": "1h",
        }),
    );
    let mut ev = event();
    ev.level = Level::Info;
    deliver(s, &ev).await;
    let r = srv.only();
    assert_eq!(r.header("authorization"), "Key t");
    let body = json_post(&r, "/alert");
    assert_eq!(body["resource"], json!("serverA"));
    assert_eq!(body["event"], json!("cpu-cpu_alert"));
    assert_eq!(body["value"], json!("5.5"));
    assert_eq!(body["severity"], json!("informational"));
    assert_eq!(body["service"], json!(["web", "cpu"]));
    assert_eq!(body["timeout"], json!(3600));
    assert!(body.get("attributes").is_none());
}

#[tokio::test]
async fn sensu() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let got = tokio::spawn(async move {
        use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};
        let (conn, _) = listener.accept().await.unwrap();
        let mut conn = tokio::io::BufReader::new(conn);
        let mut line = String::new();
        conn.read_line(&mut line).await.unwrap();
        conn.get_mut().write_all(b"ok").await.unwrap();
        line
    });
    let mut ev = event();
    ev.id = "cpu.serverA".into();
    let s = spec(
        "se",
        "sensu",
        json!({
            "addr": addr.to_string(),
            "source": "weir-{{ index .Tags \"host\" }}",
            "handlers": ["pager"],
            "metadata": {"team": "ops", "status": 99},
        }),
    );
    deliver(s, &ev).await;
    let line = got.await.unwrap();
    assert!(line.ends_with("}\n"));
    assert_eq!(
        serde_json::from_str::<Value>(&line).unwrap(),
        json!({
            "name": "cpu.serverA",
            "source": "weir-serverA",
            "output": MSG,
            "status": 2,
            "handlers": ["pager"],
            "team": "ops",
        })
    );
}

#[tokio::test]
async fn sensu_refuses_an_id_it_cannot_name_a_check() {
    let d = Dispatcher::new(fast());
    d.set_handlers(vec![spec(
        "se",
        "sensu",
        json!({"addr": black_hole().await.to_string()}),
    )]);
    d.publish(&event()); // id "cpu:serverA": ':' is not allowed in a Sensu check name
    assert!(d.flush(Duration::from_secs(30)).await);
    let s = stats(&d, "se");
    assert_eq!((s.sent, s.failed, s.retries), (0, 1, 0));
    assert!(s
        .last_error
        .unwrap()
        .contains("invalid name \"cpu:serverA\" for sensu alert"));
}

#[tokio::test]
async fn hipchat() {
    let srv = HttpServer::start(&[(204, "")]).await;
    let s = spec(
        "hc",
        "hipchat",
        json!({"url": srv.url("/v2/room"), "room": "ops", "token": "t0k"}),
    );
    let mut ev = event();
    ev.level = Level::Warning;
    deliver(s, &ev).await;
    assert_eq!(
        json_post(&srv.only(), "/v2/room/ops/notification?auth_token=t0k"),
        json!({"from": "kapacitor", "color": "yellow", "message": MSG, "notify": true})
    );
}

#[tokio::test]
async fn teams() {
    let srv = HttpServer::start(&[]).await;
    deliver(
        spec(
            "tm",
            "teams",
            json!({"channel_url": srv.url("/webhook/abc")}),
        ),
        &event(),
    )
    .await;
    assert_eq!(
        json_post_marshal(&srv.only(), "/webhook/abc"),
        json!({
            "@type": "MessageCard",
            "@context": "http://schema.org/extensions",
            "title": "CRITICAL: [cpu:serverA]",
            "text": MSG,
            "summary": "CRITICAL: [cpu:serverA] - cpu:serverA is CRITICAL: idle 5.5% on the we...",
            "themeColor": "CC4A31",
        })
    );
}

#[tokio::test]
async fn telegram() {
    let srv = HttpServer::start(&[]).await;
    let s = spec(
        "tg",
        "telegram",
        json!({"url": srv.url("/bot"), "token": "123:abc", "chat_id": "-100",
               "parse_mode": "Markdown", "disable_notification": true}),
    );
    deliver(s, &event()).await;
    assert_eq!(
        json_post(&srv.only(), "/bot123:abc/sendMessage"),
        json!({"chat_id": "-100", "text": MSG, "parse_mode": "Markdown", "disable_notification": true})
    );
}

#[tokio::test]
async fn victorops() {
    let srv = HttpServer::start(&[]).await;
    let base = srv.url("/integrations/generic/20131114/alert");
    let d = Dispatcher::new(fast());
    d.set_handlers(vec![
        spec(
            "vo",
            "victorops",
            json!({"url": base, "api_key": "ak", "routing_key": "rk"}),
        ),
        spec(
            "vo_json",
            "victorops",
            json!({"url": base, "api_key": "ak", "routing_key": "db", "json_data": true}),
        ),
    ]);
    let mut ok = event();
    ok.level = Level::Ok;
    d.publish(&ok);
    assert!(d.flush(Duration::from_secs(30)).await);
    let mut reqs = srv.requests();
    reqs.sort_by(|a, b| b.uri.cmp(&a.uri));
    assert_eq!(
        json_post(&reqs[0], "/integrations/generic/20131114/alert/ak/rk"),
        json!({
            "message_type": "RECOVERY",
            "entity_id": "cpu:serverA",
            "state_message": MSG,
            "timestamp": 1_704_067_260,
            "monitoring_tool": "kapacitor",
            "data": DATA_TEXT,
        })
    );
    let body = json_post(&reqs[1], "/integrations/generic/20131114/alert/ak/db");
    assert_eq!(body["data"], data());
    assert_eq!(body["message_type"], json!("RECOVERY"));
}

#[tokio::test]
async fn pushover() {
    let srv = HttpServer::start(&[]).await;
    let s = spec(
        "po",
        "pushover",
        json!({"api_url": srv.url("/1/messages.json"), "token": "tk", "user_key": "uk",
               "title": "weir alert", "sound": "siren", "url": "http://dash/x"}),
    );
    deliver(s, &event()).await;
    let r = srv.only();
    assert_eq!(r.method, Method::POST);
    assert_eq!(r.uri, "/1/messages.json");
    assert_eq!(
        r.header("content-type"),
        "application/x-www-form-urlencoded"
    );
    // Go's url.Values.Encode: keys sorted, QueryEscape'd.
    assert_eq!(
        std::str::from_utf8(&r.body).unwrap(),
        "message=cpu%3AserverA+is+CRITICAL%3A+idle+5.5%25+on+the+west+cluster%2C+paging+the+on-call\
         &priority=1&sound=siren&title=weir+alert&token=tk&url=http%3A%2F%2Fdash%2Fx&user=uk"
    );
}

#[tokio::test]
async fn discord() {
    let srv = HttpServer::start(&[(204, "")]).await;
    let s = spec(
        "dc",
        "discord",
        json!({"url": srv.url("/api/webhooks/1/x"), "username": "weir", "avatar_url": "http://a/b.png",
               "embed_title": "{{ .ID }} alert", "timestamp": true}),
    );
    deliver(s, &event()).await;
    assert_eq!(
        json_post(&srv.only(), "/api/webhooks/1/x"),
        json!({
            "username": "weir",
            "avatar_url": "http://a/b.png",
            "embeds": [{
                "color": 0xF95F53,
                "title": "cpu:serverA alert",
                "description": MSG,
                "timestamp": "2024-01-01T00:01:00Z",
            }],
        })
    );
}

#[tokio::test]
async fn discord_defaults() {
    let srv = HttpServer::start(&[(204, "")]).await;
    let mut ev = event();
    ev.level = Level::Warning;
    deliver(spec("dc", "discord", json!({"url": srv.url("/w")})), &ev).await;
    assert_eq!(
        srv.only().json(),
        json!({"username": "", "avatar_url": "",
               "embeds": [{"color": 0xF48D38, "title": "", "description": MSG, "timestamp": ""}]})
    );
}

// ---------------------------------------------------------------------------------------
// SMTP and MQTT against real servers (aiosmtpd, mosquitto; scripts/test.sh installs them).

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_listening(port: u16, what: &str) {
    for _ in 0..500 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{what} did not start listening on port {port}");
}

const SMTP_SERVER: &str = r#"
import json, sys, time
from aiosmtpd.controller import Controller

class Save:
    async def handle_DATA(self, server, session, envelope):
        with open(sys.argv[2], "a") as f:
            f.write(json.dumps({"from": envelope.mail_from, "to": envelope.rcpt_tos,
                                "data": envelope.original_content.decode()}) + "\n")
        return "250 OK"

c = Controller(Save(), hostname="127.0.0.1", port=int(sys.argv[1]))
c.start()
while True:
    time.sleep(3600)
"#;

#[tokio::test]
async fn smtp_sends_kapacitors_email_to_a_real_server() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("smtpd.py");
    std::fs::write(&script, SMTP_SERVER).unwrap();
    let mail = dir.path().join("mail.jsonl");
    let port = free_port();
    let _server = Proc(
        Command::new("python3")
            .arg(&script)
            .arg(port.to_string())
            .arg(&mail)
            .stdout(Stdio::null())
            .spawn()
            .expect("python3 with aiosmtpd (pip install aiosmtpd) is needed"),
    );
    wait_listening(port, "aiosmtpd (python3 -m pip install aiosmtpd)").await;
    let s = spec(
        "mail",
        "smtp",
        json!({"host": "127.0.0.1", "port": port, "from": "weir@example.com",
               "to": ["ops@example.com", "oncall@example.com"]}),
    );
    let mut ev = event();
    ev.details = "<b>idle</b> = 5.5%\n.dot line".into();
    deliver(s, &ev).await;
    let text = std::fs::read_to_string(&mail).unwrap();
    let got: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(got["from"], json!("weir@example.com"));
    assert_eq!(got["to"], json!(["ops@example.com", "oncall@example.com"]));
    let data = got["data"].as_str().unwrap();
    let (head, body) = data.split_once("\r\n\r\n").unwrap();
    let headers: BTreeMap<&str, &str> = head
        .split("\r\n")
        .map(|l| l.split_once(": ").unwrap())
        .collect();
    assert_eq!(headers["From"], "weir@example.com");
    assert_eq!(headers["To"], "ops@example.com, oncall@example.com");
    assert_eq!(headers["Subject"], MSG);
    assert_eq!(headers["Mime-Version"], "1.0");
    assert_eq!(headers["Content-Type"], "text/html; charset=UTF-8");
    assert_eq!(headers["Content-Transfer-Encoding"], "quoted-printable");
    assert!(headers.contains_key("Date"));
    // Quoted-printable of the details; the leading dot came through the SMTP dot-stuffing.
    assert_eq!(body.trim_end(), "<b>idle</b> =3D 5.5%\r\n.dot line");
}

#[tokio::test]
async fn smtp_refused_recipient_is_not_retried() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("smtpd.py");
    // aiosmtpd refuses RCPT for a handler returning 550.
    std::fs::write(
        &script,
        SMTP_SERVER.replace(
            "class Save:",
            "class Save:\n    async def handle_RCPT(self, server, session, envelope, address, options):\n        return \"550 no such user\"\n",
        ),
    )
    .unwrap();
    let port = free_port();
    let _server = Proc(
        Command::new("python3")
            .arg(&script)
            .arg(port.to_string())
            .arg(dir.path().join("mail.jsonl"))
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_listening(port, "aiosmtpd").await;
    let d = Dispatcher::new(fast());
    d.set_handlers(vec![spec(
        "mail",
        "smtp",
        json!({"host": "127.0.0.1", "port": port, "from": "weir@example.com", "to": "x@example.com"}),
    )]);
    d.publish(&event());
    assert!(d.flush(Duration::from_secs(30)).await);
    let s = stats(&d, "mail");
    assert_eq!((s.sent, s.failed, s.retries), (0, 1, 0));
    assert!(s.last_error.unwrap().contains("550 no such user"));
}

#[tokio::test]
async fn mqtt_publishes_to_a_real_broker() {
    let port = free_port();
    let _broker = Proc(
        Command::new("mosquitto")
            .args(["-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto is needed (apt-get install mosquitto mosquitto-clients)"),
    );
    wait_listening(port, "mosquitto").await;
    let url = format!("tcp://127.0.0.1:{port}");
    let d = Dispatcher::new(fast());
    d.set_handlers(vec![
        spec(
            "m1",
            "mqtt",
            json!({"url": url, "topic": "weir/{{ .TaskName }}/{{ index .Tags \"host\" }}",
                   "qos": 1, "retained": true, "client_id": "weir-test-1"}),
        ),
        spec(
            "m2",
            "mqtt",
            json!({"url": url, "topic": "weir/q2", "qos": 2, "retained": true,
                   "username": "u", "password": "p"}),
        ),
    ]);
    d.publish(&event());
    assert!(d.flush(Duration::from_secs(30)).await);
    for name in ["m1", "m2"] {
        let s = stats(&d, name);
        assert_eq!((s.sent, s.failed), (1, 0), "{s:?}");
    }
    // Subscribing after the publish: both messages are there as retained messages (so the
    // broker acknowledged them), with the QoS they were published with.
    let out = Command::new("mosquitto_sub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-t",
            "weir/#",
            "-q",
            "2",
        ])
        .args(["-C", "2", "-W", "20", "-F", "%t|%r|%q|%p"])
        .output()
        .expect("mosquitto_sub is needed (apt-get install mosquitto-clients)");
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        vec![
            format!("weir/cpu_alert/serverA|1|1|{MSG}"),
            format!("weir/q2|1|2|{MSG}")
        ]
    );
}

// ---------------------------------------------------------------------------------------
// The dispatcher.

#[tokio::test]
async fn retries_with_backoff_until_delivered() {
    let srv = HttpServer::start(&[(500, "busy"), (503, "still busy")]).await;
    let d = Dispatcher::new(fast());
    d.set_handlers(vec![spec("hook", "post", json!({"url": srv.url("/a")}))]);
    d.publish(&event());
    assert!(d.flush(Duration::from_secs(30)).await);
    let s = stats(&d, "hook");
    assert_eq!(
        (s.sent, s.failed, s.retries, s.dropped, s.queued),
        (1, 0, 2, 0, 0)
    );
    assert!(s
        .last_error
        .unwrap()
        .contains("503 Service Unavailable: still busy"));
    assert!(s.last_sent.is_some());
    assert_eq!(srv.requests().len(), 3);
    for r in srv.requests() {
        assert_eq!(r.json(), alert_data());
    }
}

#[tokio::test]
async fn gives_up_after_max_attempts_and_goes_on_with_the_next_event() {
    let srv = HttpServer::start(&[(500, "a"), (500, "b"), (429, "c"), (502, "d")]).await;
    let d = Dispatcher::new(fast());
    d.set_handlers(vec![spec("hook", "post", json!({"url": srv.url("/a")}))]);
    let mut second = event();
    second.id = "second".into();
    d.publish(&event());
    d.publish(&second);
    assert!(d.flush(Duration::from_secs(30)).await);
    let s = stats(&d, "hook");
    assert_eq!((s.sent, s.failed, s.retries), (1, 1, 3));
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 5);
    assert_eq!(reqs[4].json()["id"], json!("second"));
}

#[tokio::test]
async fn a_4xx_is_not_retried() {
    let srv = HttpServer::start(&[(400, r#"{"error":"invalid_payload"}"#)]).await;
    let d = Dispatcher::new(fast());
    d.set_handlers(vec![spec("hook", "slack", json!({"url": srv.url("/s")}))]);
    d.publish(&event());
    assert!(d.flush(Duration::from_secs(30)).await);
    let s = stats(&d, "hook");
    assert_eq!((s.sent, s.failed, s.retries), (0, 1, 0));
    let e = s.last_error.unwrap();
    assert_eq!(
        e,
        format!(
            "POST to http://127.0.0.1:{} returned 400 Bad Request: {{\"error\":\"invalid_payload\"}}",
            srv.addr.port()
        )
    );
    assert_eq!(srv.requests().len(), 1);
}

#[tokio::test]
async fn connection_refused_is_retried_then_failed() {
    let port = free_port(); // nothing listens there
    let d = Dispatcher::new(DispatchConfig {
        max_attempts: 3,
        ..fast()
    });
    d.set_handlers(vec![spec(
        "hook",
        "post",
        json!({"url": format!("http://127.0.0.1:{port}/")}),
    )]);
    d.publish(&event());
    assert!(d.flush(Duration::from_secs(30)).await);
    let s = stats(&d, "hook");
    assert_eq!((s.sent, s.failed, s.retries), (0, 1, 2));
    let e = s.last_error.unwrap();
    assert_eq!(
        e,
        format!(
            "POST to http://127.0.0.1:{port} failed: error sending request: client error \
             (Connect): tcp connect error: Connection refused (os error 111)"
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_handler_does_not_delay_another_on_the_same_topic() {
    let hole = black_hole().await;
    let srv = HttpServer::start(&[]).await;
    let d = Dispatcher::new(fast());
    d.set_handlers(vec![
        spec(
            "hung",
            "post",
            json!({"url": format!("http://{hole}/"), "timeout": "1h"}),
        ),
        spec("fine", "post", json!({"url": srv.url("/ok")})),
    ]);
    for _ in 0..3 {
        d.publish(&event());
    }
    // "fine" delivers all three while "hung" is still stuck on its first.
    let mut fine = stats(&d, "fine");
    for _ in 0..3000 {
        if fine.sent == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        fine = stats(&d, "fine");
    }
    assert_eq!(fine.sent, 3, "{fine:?}");
    let hung = stats(&d, "hung");
    assert_eq!((hung.sent, hung.failed, hung.queued), (0, 0, 3), "{hung:?}");
    assert!(!d.flush(Duration::from_millis(50)).await);
}

#[tokio::test]
async fn a_full_queue_drops_the_oldest_events_without_blocking() {
    let hole = black_hole().await;
    let d = Dispatcher::new(DispatchConfig {
        queue_capacity: 3,
        ..fast()
    });
    d.set_handlers(vec![spec(
        "hung",
        "post",
        json!({"url": format!("http://{hole}/"), "timeout": "1h"}),
    )]);
    // On this single-threaded runtime the handler's task cannot run until we await: publish
    // returns without waiting for it, however full the queue.
    for i in 0..10 {
        let mut ev = event();
        ev.id = format!("e{i}");
        d.publish(&ev);
    }
    let s = stats(&d, "hung");
    assert_eq!((s.dropped, s.queued, s.sent), (7, 3, 0));
}

#[tokio::test]
async fn publish_goes_only_to_handlers_on_the_topic() {
    let srv = HttpServer::start(&[]).await;
    let mut other = spec("mem", "post", json!({"url": srv.url("/mem")}));
    other.topic = "mem".into();
    let d = Dispatcher::new(fast());
    d.set_handlers(vec![
        spec("cpu", "post", json!({"url": srv.url("/cpu")})),
        other,
    ]);
    d.publish(&event());
    assert!(d.flush(Duration::from_secs(30)).await);
    assert_eq!(srv.only().uri, "/cpu");
    assert_eq!(stats(&d, "mem").sent, 0);
}

#[tokio::test]
async fn set_handlers_keeps_unchanged_handlers_and_their_stats() {
    let srv = HttpServer::start(&[]).await;
    let a = spec("a", "post", json!({"url": srv.url("/a")}));
    let b = spec("b", "post", json!({"url": srv.url("/b")}));
    let d = Dispatcher::new(fast());
    d.set_handlers(vec![a.clone(), b.clone()]);
    d.publish(&event());
    assert!(d.flush(Duration::from_secs(30)).await);
    let b2 = spec("b", "post", json!({"url": srv.url("/b2")}));
    let c = spec("c", "teams", json!({"url": srv.url("/c")}));
    d.set_handlers(vec![a, b2, c]);
    let st = d.stats();
    let names: Vec<(&str, &str, u64)> = st
        .iter()
        .map(|s| (s.name.as_str(), s.kind.as_str(), s.sent))
        .collect();
    // a unchanged keeps its count; b changed starts afresh; c is new.
    assert_eq!(
        names,
        vec![("a", "post", 1), ("b", "post", 0), ("c", "teams", 0)]
    );
    d.publish(&event());
    assert!(d.flush(Duration::from_secs(30)).await);
    let mut uris: Vec<String> = srv.requests().into_iter().map(|r| r.uri).collect();
    uris.sort();
    assert_eq!(uris, vec!["/a", "/a", "/b", "/b2", "/c"]);
    d.set_handlers(vec![]);
    assert!(d.stats().is_empty());
}

#[test]
fn stats_serialize_with_the_documented_fields() {
    let s = HandlerStats {
        name: "h".into(),
        topic: "cpu".into(),
        kind: "slack".into(),
        sent: 1,
        failed: 2,
        retries: 3,
        dropped: 4,
        queued: 5,
        last_error: None,
        last_sent: Some("2026-12-02T13:10:00Z".into()),
    };
    assert_eq!(
        serde_json::to_value(&s).unwrap(),
        json!({"name": "h", "topic": "cpu", "kind": "slack", "sent": 1, "failed": 2, "retries": 3,
               "dropped": 4, "queued": 5, "last_error": null, "last_sent": "2026-12-02T13:10:00Z"})
    );
}

// ---------------------------------------------------------------------------------------
// validate()

fn err(kind: &str, options: Value) -> String {
    validate(&spec("h", kind, options)).unwrap_err().to_string()
}

#[test]
fn validate_errors_name_the_option() {
    assert_eq!(
        err("pagerduty", json!({})),
        "handler h: unknown kind 'pagerduty'; known kinds: log, post, tcp, exec, smtp, slack, \
         pagerduty2, opsgenie2, alerta, sensu, hipchat, teams, telegram, victorops, pushover, \
         discord, mqtt"
    );
    assert_eq!(
        err("slack", json!({"channel": "#ops"})),
        "handler h: kind slack needs option 'url'"
    );
    assert_eq!(
        err("slack", json!({"url": "http://x/", "chanel": "#ops"})),
        "handler h: unknown option 'chanel' for kind slack; known options: url, token, channel, \
         username, icon_emoji, workspace"
    );
    assert_eq!(
        err("slack", json!({"url": "hooks.slack.com/services/T"})),
        "handler h: option 'url' of kind slack is not a valid URL 'hooks.slack.com/services/T': \
         relative URL without a base"
    );
    assert_eq!(
        err("post", json!({"url": "ftp://example.com/x"})),
        "handler h: option 'url' of kind post is not a valid URL 'ftp://example.com/x': scheme \
         must be http or https, not ftp"
    );
    assert_eq!(
        err("post", json!({"url": "{{ .ID }}/x"})),
        "handler h: option 'url' of kind post is not a valid URL '{{ .ID }}/x': relative URL \
         without a base"
    );
    assert_eq!(
        err("post", json!({"url": "http://x/", "headers": 5})),
        "handler h: option 'headers' of kind post must be a map, not a number"
    );
    assert_eq!(
        err("post", json!({"url": "http://x/", "headers": ["X-A b"]})),
        "handler h: option 'headers' of kind post: 'X-A b' is not 'key: value' or 'key=value'"
    );
    assert_eq!(
        err("pagerduty2", json!({})),
        "handler h: kind pagerduty2 needs option 'routing_key'"
    );
    assert_eq!(
        err("log", json!({"path": "alerts.log"})),
        "handler h: option 'path' of kind log: log path must be absolute: alerts.log is not absolute"
    );
    assert_eq!(
        err("log", json!({"path": "/tmp/a.log", "mode": "0444"})),
        "handler h: option 'mode' of kind log: invalid file mode 0444, must be user writable"
    );
    assert_eq!(
        err("mqtt", json!({"topic": "a", "qos": 3})),
        "handler h: option 'qos' of kind mqtt: 3 is not 0, 1 or 2"
    );
    assert_eq!(
        err("mqtt", json!({"url": "ssl://broker:8883", "topic": "a"})),
        "handler h: option 'url' of kind mqtt is not a valid URL 'ssl://broker:8883': scheme must \
         be tcp or mqtt, not ssl"
    );
    assert_eq!(
        err(
            "telegram",
            json!({"token": "t", "chat_id": "1", "parse_mode": "rst"})
        ),
        "handler h: option 'parse_mode' of kind telegram: 'rst' is not valid, use 'Markdown' or \
         'HTML'"
    );
    assert_eq!(
        err("tcp", json!({"address": "localhost"})),
        "handler h: option 'address' of kind tcp: 'localhost' is not host:port"
    );
    assert_eq!(
        err("exec", json!({"prog": "/bin/true", "timeout": "soon"})),
        "handler h: option 'timeout' of kind exec: 'soon' is not a duration like 10s or 1m \
         (expected number at 0)"
    );
    assert_eq!(
        err("smtp", json!({"from": "weir@example.com"})),
        "handler h: kind smtp needs option 'to'"
    );
    assert_eq!(
        err(
            "discord",
            json!({"url": "http://d/", "embed_title": "{{ .Nope }}"})
        ),
        "handler h: option 'embed_title' of kind discord: unsupported template action \
         '{{ .Nope }}' in '{{ .Nope }}': use .ID, .Message, .Level, .Name, .TaskName, .Group, \
         .Details, .Time, .Duration, index .Tags \"key\" or index .Fields \"key\""
    );
    assert_eq!(
        err(
            "opsgenie2",
            json!({"api_key": "k", "recovery_action": "delete"})
        ),
        "handler h: option 'recovery_action' of kind opsgenie2: 'delete' is not 'notes' or 'close'"
    );
    assert_eq!(
        err("victorops", json!({"api_key": "k", "json_data": "yes"})),
        "handler h: option 'json_data' of kind victorops must be a boolean, not a string"
    );
}

#[test]
fn every_kind_validates_with_its_minimal_options() {
    let minimal = [
        ("log", json!({"path": "/tmp/weir-alerts.log"})),
        ("post", json!({"url": "https://example.com/hook"})),
        ("tcp", json!({"address": "127.0.0.1:9000"})),
        ("exec", json!({"prog": "/bin/true"})),
        (
            "smtp",
            json!({"from": "a@example.com", "to": ["b@example.com"]}),
        ),
        (
            "slack",
            json!({"url": "https://hooks.slack.com/services/T/B/X"}),
        ),
        ("slack", json!({"token": "xoxb"})),
        ("pagerduty2", json!({"routing_key": "rk"})),
        ("opsgenie2", json!({"api_key": "k"})),
        ("alerta", json!({"url": "https://alerta.example.com/api"})),
        ("sensu", json!({"addr": "sensu:3030"})),
        (
            "hipchat",
            json!({"url": "https://x.hipchat.com/v2/room", "room": "ops"}),
        ),
        (
            "teams",
            json!({"channel_url": "https://outlook.office.com/webhook/x"}),
        ),
        ("telegram", json!({"token": "t", "chat_id": "1"})),
        ("victorops", json!({"api_key": "k"})),
        ("pushover", json!({"token": "t", "user_key": "u"})),
        (
            "discord",
            json!({"url": "https://discord.com/api/webhooks/1/x"}),
        ),
        ("mqtt", json!({"topic": "alerts"})),
    ];
    for (kind, options) in minimal {
        validate(&spec("h", kind, options)).unwrap_or_else(|e| panic!("{kind}: {e}"));
    }
}

#[tokio::test]
async fn https_urls_speak_tls() {
    // A plain HTTP server behind an https URL: the TLS handshake fails (so TLS is there) and
    // is retried like any connection error.
    let srv = HttpServer::start(&[]).await;
    let d = Dispatcher::new(DispatchConfig {
        max_attempts: 2,
        ..fast()
    });
    d.set_handlers(vec![spec(
        "tls",
        "slack",
        json!({"url": format!("https://127.0.0.1:{}/services/T/B/X", srv.addr.port())}),
    )]);
    d.publish(&event());
    assert!(d.flush(Duration::from_secs(30)).await);
    let s = stats(&d, "tls");
    assert_eq!((s.sent, s.failed, s.retries), (0, 1, 1));
    let e = s.last_error.unwrap();
    eprintln!("https error: {e}");
    assert!(!e.contains("scheme"), "{e}");
    assert!(srv.requests().is_empty());
}

#[test]
fn set_handlers_outside_a_runtime_starts_nothing() {
    let d = Dispatcher::new(DispatchConfig::default());
    d.set_handlers(vec![spec(
        "a",
        "post",
        json!({"url": "http://127.0.0.1:1/"}),
    )]);
    assert!(d.stats().is_empty());
}

const SMTP_AUTH_SERVER: &str = r#"
import json, sys, time
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

logins = []
def check(server, session, envelope, mechanism, auth_data):
    logins.append([mechanism, auth_data.login.decode(), auth_data.password.decode()])
    return AuthResult(success=auth_data.password == b"s3cret", handled=False)

class Save:
    async def handle_DATA(self, server, session, envelope):
        with open(sys.argv[2], "a") as f:
            f.write(json.dumps({"logins": logins, "to": envelope.rcpt_tos}) + "\n")
        return "250 OK"

c = Controller(Save(), hostname="127.0.0.1", port=int(sys.argv[1]), authenticator=check,
               auth_required=True, auth_require_tls=False)
c.start()
while True:
    time.sleep(3600)
"#;

#[tokio::test]
async fn smtp_authenticates_with_auth_plain() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("smtpd_auth.py");
    std::fs::write(&script, SMTP_AUTH_SERVER).unwrap();
    let mail = dir.path().join("mail.jsonl");
    let port = free_port();
    let _server = Proc(
        Command::new("python3")
            .arg(&script)
            .arg(port.to_string())
            .arg(&mail)
            .stdout(Stdio::null())
            .stderr(Stdio::null()) // aiosmtpd warns about AUTH without TLS
            .spawn()
            .unwrap(),
    );
    wait_listening(port, "aiosmtpd").await;
    let mail_spec = |name: &str, password: &str| {
        spec(
            name,
            "smtp",
            json!({"host": "127.0.0.1", "port": port, "username": "weir", "password": password,
                   "from": "weir@example.com", "to": "ops@example.com"}),
        )
    };
    let d = Dispatcher::new(fast());
    d.set_handlers(vec![mail_spec("good", "s3cret"), mail_spec("bad", "wrong")]);
    d.publish(&event());
    let done = d.flush(Duration::from_secs(30)).await;
    assert!(done, "{:?}", d.stats());
    assert_eq!(stats(&d, "good").sent, 1);
    let bad = stats(&d, "bad");
    assert_eq!((bad.sent, bad.failed, bad.retries), (0, 1, 0));
    assert!(
        bad.last_error.unwrap().contains("AUTH PLAIN: 535"),
        "wrong password refused"
    );
    let text = std::fs::read_to_string(&mail).unwrap();
    let got: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(got["to"], json!(["ops@example.com"]));
    assert!(got["logins"]
        .as_array()
        .unwrap()
        .contains(&json!(["PLAIN", "weir", "s3cret"])));
}

#[test]
fn the_dispatcher_can_be_shared_across_tasks() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: T) {}
    let d = Dispatcher::new(DispatchConfig::default());
    send_sync(&d);
    send(d.flush(Duration::from_millis(1)));
}
