//! Helpers for end-to-end tests: start the real `weir` binary on a free port with its own
//! state directory, talk to it over HTTP, and kill or stop it.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};

use reqwest::blocking::Client;
use serde_json::Value;
use std::time::{Duration, Instant};

/// Path of the `weir` binary built by `cargo build` (next to the test executable's `deps`).
pub fn weir_binary() -> PathBuf {
    if let Ok(p) = std::env::var("WEIR_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target profile directory");
    let bin = dir.join(format!("weir{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} does not exist: build it first with `cargo build -p weir` (scripts/test.sh does)",
        bin.display()
    );
    bin
}

/// A free loopback port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A running `weir serve`.
pub struct Weir {
    pub child: Option<Child>,
    pub port: u16,
    pub dir: PathBuf,
    pub env: Vec<(String, String)>,
    log: PathBuf,
}

impl Weir {
    /// Starts weir with its state in `dir` and extra `WEIR_*` variables.
    pub fn start(dir: &Path, env: &[(&str, &str)]) -> Weir {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut w = Weir {
            child: None,
            port: free_port(),
            dir: dir.to_path_buf(),
            env,
            log: dir.join("weir.log"),
        };
        w.spawn();
        w
    }

    fn spawn(&mut self) {
        std::fs::create_dir_all(&self.dir).expect("state dir");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let mut cmd = Command::new(weir_binary());
        cmd.arg("serve")
            .env("WEIR_HTTP_BIND", format!("127.0.0.1:{}", self.port))
            .env("WEIR_STORAGE_DIR", self.dir.join("data"))
            .stdout(Stdio::null())
            .stderr(log);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        self.child = Some(cmd.spawn().expect("spawn weir"));
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("weir exited early with {status}; log:\n{}", self.log_text());
                }
            }
            if let Ok(r) = reqwest::blocking::get(self.url("/ping")) {
                if r.status().as_u16() == 204 {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("weir did not become ready; log:\n{}", self.log_text());
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    /// The daemon's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Kills the process with SIGKILL (no chance to flush anything).
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let pid = child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status;
            }
            assert!(Instant::now() < deadline, "weir did not stop after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the process again on the same port and state directory.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "still running");
        self.spawn();
    }

    /// Value of a Prometheus metric from `/metrics`.
    pub fn metric(&self, name: &str) -> f64 {
        let text = reqwest::blocking::get(self.url("/metrics"))
            .and_then(|r| r.text())
            .expect("metrics");
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("metric {name} not found in:\n{text}"))
    }
}

impl Drop for Weir {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Lines of the debug tap (comments and markers removed), in file order.
pub fn tap_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Waits until `f` returns true, polling; panics with `what` after `timeout`.
pub fn wait_until(timeout: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out waiting for {what}");
}

/// A running `influxd` in a temp dir, killed on drop.
pub struct Influxd {
    pub child: Child,
    pub port: u16,
    pub log: std::path::PathBuf,
}

impl Influxd {
    pub fn start(dir: &Path) -> Influxd {
        Influxd::start_on(dir, free_port())
    }

    /// Starts influxd with its HTTP API on `port`.
    pub fn start_on(dir: &Path, port: u16) -> Influxd {
        let bin = which("influxd").unwrap_or_else(|| {
            panic!(
                "influxd is not installed: the InfluxDB tests need a real \
                 InfluxDB 1.x (`apt-get install -y influxdb`, which scripts/test.sh does)"
            )
        });
        std::fs::create_dir_all(dir).expect("influxd dir");
        let rpc = free_port();
        let d = dir.display();
        let config = format!(
            "reporting-disabled = true\n\
             bind-address = \"127.0.0.1:{rpc}\"\n\
             [meta]\n  dir = \"{d}/meta\"\n\
             [data]\n  dir = \"{d}/data\"\n  wal-dir = \"{d}/wal\"\n  query-log-enabled = false\n\
             [http]\n  bind-address = \"127.0.0.1:{port}\"\n  log-enabled = false\n\
             [monitor]\n  store-enabled = false\n\
             [continuous_queries]\n  enabled = false\n\
             [subscriber]\n  enabled = false\n"
        );
        let conf = dir.join("influxdb.conf");
        std::fs::write(&conf, config).expect("influxd config");
        let log = dir.join("influxd.log");
        let child = Command::new(bin)
            .arg("run")
            .arg("-config")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("influxd log"))
            .spawn()
            .expect("spawn influxd");
        let mut me = Influxd { child, port, log };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = me.child.try_wait() {
                panic!("influxd exited with {status}: {}", me.log_text());
            }
            if let Ok(r) = reqwest::blocking::get(me.url("/ping")) {
                if r.status().as_u16() == 204 {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "influxd did not start: {}",
                me.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        me
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn query(&self, db: &str, q: &str) -> Value {
        let r = Client::new()
            .post(self.url("/query"))
            .form(&[("db", db), ("q", q), ("epoch", "ns")])
            .send()
            .expect("influxd /query");
        let status = r.status().as_u16();
        let body: Value = r.json().expect("influxd answers JSON");
        assert_eq!(status, 200, "{q}: {body}");
        assert!(body["results"][0]["error"].is_null(), "{q}: {body}");
        body
    }
}

impl Drop for Influxd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn which(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// POSTs line protocol to a `/write` URL, asserting 204.
pub fn post_lines(url: String, body: String) {
    let r = Client::new().post(&url).body(body).send().expect("POST");
    let status = r.status().as_u16();
    assert_eq!(status, 204, "{url}: {}", r.text().unwrap_or_default());
}

/// Deterministic pseudo-random numbers (64-bit LCG, high bits), so generated test data is the
/// same on every run.
#[derive(Debug)]
pub struct Rng(pub u64);

impl Rng {
    /// The next 31-bit value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// One element of `xs` (non-empty).
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[(self.below(xs.len() as u64)) as usize]
    }
}

/// A real S3-compatible server on loopback: moto (`pip install "moto[server]"`), with one
/// bucket. Fails, never skips, when it cannot be started.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".into())
}

impl Moto {
    /// Starts moto on a free port and creates `bucket` (credentials `test`/`test`,
    /// region `us-east-1`).
    pub fn start(bucket: &str) -> Moto {
        let port = free_port();
        let child = Command::new(python())
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {} -m moto.server: {e}; this test needs `pip install \"moto[server]\"`",
                    python()
                )
            });
        let mut m = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = m.child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = m.child.stderr.take() {
                    use std::io::Read;
                    let _ = e.read_to_string(&mut err);
                }
                panic!("moto.server exited ({status}): {err}\nthis test needs `pip install \"moto[server]\"`");
            }
            assert!(
                Instant::now() < deadline,
                "moto.server did not listen on {port} within 30s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let out = Command::new(python())
            .args([
                "-c",
                &format!(
                    "import boto3; boto3.client('s3', endpoint_url='{}', region_name='us-east-1', aws_access_key_id='test', aws_secret_access_key='test').create_bucket(Bucket='{bucket}')",
                    m.endpoint
                ),
            ])
            .output()
            .expect("python3");
        assert!(
            out.status.success(),
            "cannot create the bucket: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        m
    }
}

/// `(tags as JSON, time) -> value by column name` of an InfluxDB `/query` answer (first
/// statement, numeric columns); rows whose values are all null are left out, as InfluxDB's
/// `INTO` writes nothing for them.
pub type InfluxRows =
    std::collections::BTreeMap<(String, i64), std::collections::BTreeMap<String, f64>>;

/// Reads an InfluxDB `/query` answer (`epoch=ns`) into [`InfluxRows`].
pub fn influx_rows(body: &Value) -> InfluxRows {
    let mut out = InfluxRows::new();
    let Some(series) = body["results"][0]["series"].as_array() else {
        return out;
    };
    for s in series {
        let tags = s["tags"].to_string();
        let cols: Vec<&str> = s["columns"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c.as_str())
            .collect();
        for v in s["values"].as_array().into_iter().flatten() {
            let Some(v) = v.as_array() else { continue };
            let Some(t) = v.first().and_then(Value::as_i64) else {
                continue;
            };
            let fields: std::collections::BTreeMap<String, f64> = cols
                .iter()
                .zip(v)
                .skip(1)
                .filter_map(|(c, x)| x.as_f64().map(|f| ((*c).to_string(), f)))
                .collect();
            if !fields.is_empty() {
                out.insert((tags.clone(), t), fields);
            }
        }
    }
    out
}

impl Weir {
    /// `weir exec FILE` against this daemon, with `sql` written to a file in its directory;
    /// panics with the client's output when it fails.
    pub fn exec_file(&self, sql: &str) {
        let file = self.dir.join("exec.sql");
        std::fs::write(&file, sql).expect("write the SQL file");
        let out = Command::new(weir_binary())
            .arg("exec")
            .arg(&file)
            .args(["--url", &self.url("")])
            .output()
            .expect("run weir exec");
        assert!(
            out.status.success(),
            "weir exec failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A request an [`HttpRecorder`] received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// A local HTTP server that answers every request with 200 and records it: the stand-in
/// for a SaaS endpoint (Slack, PagerDuty, ...) whose requests a test checks.
pub struct HttpRecorder {
    pub port: u16,
    requests: std::sync::Arc<std::sync::Mutex<Vec<Recorded>>>,
}

impl HttpRecorder {
    pub fn start() -> HttpRecorder {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = std::sync::Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                if let Some(r) = read_request(&stream) {
                    seen.lock().expect("requests").push(r);
                }
                let mut stream = stream;
                let _ = std::io::Write::write_all(
                    &mut stream,
                    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                );
            }
        });
        HttpRecorder { port, requests }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The requests so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().expect("requests").clone()
    }
}

fn read_request(stream: &std::net::TcpStream) -> Option<Recorded> {
    use std::io::{BufRead, Read};
    let mut r = std::io::BufReader::new(stream);
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_string());
            if k == "content-length" {
                len = v.parse().unwrap_or(0);
            }
            headers.push((k, v));
        }
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).ok()?;
    Some(Recorded {
        method,
        path,
        headers,
        body,
    })
}
