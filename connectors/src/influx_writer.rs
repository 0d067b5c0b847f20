//! Writing line protocol to InfluxDB 1.x `/write` through an on-disk outbox.
//!
//! A task hands each batch of lines to [`InfluxWriter::push`], which stores it as one file in
//! the outbox directory; a background loop posts the files oldest first (gzip, Basic or token
//! auth), retrying with backoff while InfluxDB is unreachable, and deletes a file once InfluxDB
//! accepted it. So nothing is lost while InfluxDB is down or weir restarts, and the backlog is
//! visible in [`WriterStats`].
//!
//! - The outbox is bounded (`max_backlog_bytes`): a full outbox makes `push` wait, which slows
//!   the task down and, through the router's bounded queues, ingest (back-pressure instead of
//!   unbounded growth or loss).
//! - Files are written to a temporary name and renamed, so a crash never leaves half a batch to
//!   be posted. [`InfluxWriter::sync`] makes the files written so far durable; a task calls it
//!   before it records a checkpoint that counts them as written.
//! - A missing database is created (`CREATE DATABASE`, as Telegraf does) and the batch
//!   posted again. InfluxDB refusing a batch otherwise (a 4xx other than 408/429: bad line,
//!   field type conflict, no permission) drops that batch with the error in the stats:
//!   retrying cannot help and would block every later batch.

use std::collections::VecDeque;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;

/// Where and how to write.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// InfluxDB's base URL, e.g. `http://127.0.0.1:8086`.
    pub url: String,
    pub database: String,
    /// `None`: the database's default retention policy.
    pub retention_policy: Option<String>,
    /// Basic auth when non-empty.
    pub username: String,
    pub password: String,
    /// `Authorization: Token ...` when non-empty and no username is set.
    pub token: String,
    /// Compress request bodies (`Content-Encoding: gzip`).
    pub gzip: bool,
    /// Bytes of line protocol the outbox holds before `push` waits.
    pub max_backlog_bytes: u64,
    /// Per-request timeout.
    pub timeout: Duration,
}

/// Why the writer cannot work.
#[derive(Debug, thiserror::Error)]
pub enum WriterError {
    #[error("InfluxDB writer outbox {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot build the HTTP client for InfluxDB: {0}")]
    Client(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> WriterError + '_ {
    move |source| WriterError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Counters of one writer, shown in the task's stats and in `/metrics`.
#[derive(Debug, Default)]
pub struct WriterStats {
    /// Bytes of line protocol waiting in the outbox.
    pub backlog_bytes: AtomicU64,
    /// Batches waiting in the outbox.
    pub backlog_batches: AtomicU64,
    /// Lines InfluxDB accepted.
    pub points_written: AtomicU64,
    /// Failed attempts that will be retried.
    pub retries: AtomicU64,
    /// Batches InfluxDB refused (dropped).
    pub batches_dropped: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl WriterStats {
    /// The last failure, if any.
    pub fn last_error(&self) -> Option<String> {
        lock(&self.last_error).clone()
    }

    fn record_error(&self, e: String) {
        *lock(&self.last_error) = Some(e);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One batch in the outbox.
#[derive(Debug, Clone, Copy)]
struct Entry {
    seq: u64,
    bytes: u64,
    lines: u64,
}

#[derive(Debug, Default)]
struct Queue {
    entries: VecDeque<Entry>,
    next_seq: u64,
    bytes: u64,
    /// Written since the last `sync`.
    unsynced: Vec<u64>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    config: WriterConfig,
    write_url: String,
    client: reqwest::Client,
    queue: Mutex<Queue>,
    /// Signalled when a batch is added.
    added: Notify,
    /// Signalled when a batch leaves the outbox.
    removed: Notify,
    stats: Arc<WriterStats>,
}

/// A writer with its outbox; cloning shares it.
#[derive(Debug, Clone)]
pub struct InfluxWriter {
    inner: Arc<Inner>,
}

fn file_name(e: &Entry) -> String {
    format!("{:020}-{}.lp", e.seq, e.lines)
}

fn parse_name(name: &str) -> Option<(u64, u64)> {
    let stem = name.strip_suffix(".lp")?;
    let (seq, lines) = stem.split_once('-')?;
    Some((seq.parse().ok()?, lines.parse().ok()?))
}

/// `…/write?db=D[&rp=R]&precision=ns`.
fn write_url(config: &WriterConfig) -> String {
    let mut url = format!(
        "{}/write?db={}&precision=ns",
        config.url.trim_end_matches('/'),
        urlencode(&config.database)
    );
    if let Some(rp) = &config.retention_policy {
        url.push_str("&rp=");
        url.push_str(&urlencode(rp));
    }
    url
}

/// Percent-encodes a query-string value.
fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

impl InfluxWriter {
    /// Opens (or creates) the outbox in `dir`, picking up the batches a previous run left.
    pub fn open(dir: &Path, config: WriterConfig) -> Result<InfluxWriter, WriterError> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
            let entry = entry.map_err(io_err(dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if name.ends_with(".tmp") {
                // A batch whose write was interrupted; the task regenerates it.
                std::fs::remove_file(&path).map_err(io_err(&path))?;
                continue;
            }
            if let Some((seq, lines)) = parse_name(&name) {
                let bytes = entry.metadata().map_err(io_err(&path))?.len();
                found.push(Entry { seq, bytes, lines });
            }
        }
        found.sort_by_key(|e| e.seq);
        let stats = Arc::new(WriterStats::default());
        let queue = Queue {
            next_seq: found.last().map_or(0, |e| e.seq + 1),
            bytes: found.iter().map(|e| e.bytes).sum(),
            entries: found.into(),
            unsynced: Vec::new(),
        };
        stats.backlog_bytes.store(queue.bytes, Relaxed);
        stats
            .backlog_batches
            .store(queue.entries.len() as u64, Relaxed);
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .map_err(|e| WriterError::Client(e.to_string()))?;
        Ok(InfluxWriter {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                write_url: write_url(&config),
                config,
                client,
                queue: Mutex::new(queue),
                added: Notify::new(),
                removed: Notify::new(),
                stats,
            }),
        })
    }

    /// The writer's counters.
    pub fn stats(&self) -> Arc<WriterStats> {
        Arc::clone(&self.inner.stats)
    }

    /// Where batches go (`/write` URL with database and retention policy).
    pub fn target(&self) -> &str {
        &self.inner.write_url
    }

    /// Adds a batch of newline-terminated lines to the outbox, waiting while it is full.
    pub async fn push(&self, body: &[u8], lines: usize) -> Result<(), WriterError> {
        if lines == 0 || body.is_empty() {
            return Ok(());
        }
        let inner = &self.inner;
        loop {
            let removed = inner.removed.notified();
            {
                let q = lock(&inner.queue);
                // An empty outbox always takes a batch, however large.
                if q.entries.is_empty() || q.bytes < inner.config.max_backlog_bytes {
                    break;
                }
            }
            removed.await;
        }
        let entry = {
            let mut q = lock(&inner.queue);
            let e = Entry {
                seq: q.next_seq,
                bytes: body.len() as u64,
                lines: lines as u64,
            };
            q.next_seq += 1;
            e
        };
        let path = inner.dir.join(file_name(&entry));
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, body).map_err(io_err(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io_err(&path))?;
        {
            let mut q = lock(&inner.queue);
            q.bytes += entry.bytes;
            q.entries.push_back(entry);
            q.unsynced.push(entry.seq);
            inner.stats.backlog_bytes.store(q.bytes, Relaxed);
            inner
                .stats
                .backlog_batches
                .store(q.entries.len() as u64, Relaxed);
        }
        inner.added.notify_one();
        Ok(())
    }

    /// Makes every batch pushed so far durable (fsync of the files still waiting and of the
    /// directory). Batches already written to InfluxDB need nothing.
    pub fn sync(&self) -> Result<(), WriterError> {
        let inner = &self.inner;
        let pending: Vec<Entry> = {
            let mut q = lock(&inner.queue);
            let unsynced = std::mem::take(&mut q.unsynced);
            q.entries
                .iter()
                .filter(|e| unsynced.contains(&e.seq))
                .copied()
                .collect()
        };
        for e in &pending {
            let path = inner.dir.join(file_name(e));
            match std::fs::File::open(&path) {
                Ok(f) => f.sync_all().map_err(io_err(&path))?,
                // Written to InfluxDB and deleted meanwhile.
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => return Err(io_err(&path)(err)),
            }
        }
        let dir = std::fs::File::open(&inner.dir).map_err(io_err(&inner.dir))?;
        dir.sync_all().map_err(io_err(&inner.dir))
    }

    /// Posts the outbox's batches, oldest first, until the returned task is aborted.
    pub fn spawn(&self, handle: &tokio::runtime::Handle) -> tokio::task::JoinHandle<()> {
        let inner = Arc::clone(&self.inner);
        handle.spawn(async move { inner.run().await })
    }
}

/// What one attempt to post a batch came to.
enum Attempt {
    Written,
    /// InfluxDB has no such database: create it (as Telegraf does), then post again.
    MissingDatabase(String),
    /// Refused for good: drop the batch.
    Refused(String),
    /// Try again later.
    Failed(String),
}

impl Inner {
    async fn run(&self) {
        let mut backoff = Duration::from_millis(100);
        loop {
            let added = self.added.notified();
            let head = lock(&self.queue).entries.front().copied();
            let Some(entry) = head else {
                added.await;
                continue;
            };
            let path = self.dir.join(file_name(&entry));
            let body = match std::fs::read(&path) {
                Ok(b) => b,
                Err(e) => {
                    // Unreadable: nothing can ever post it.
                    self.stats
                        .record_error(format!("outbox file {}: {e}", path.display()));
                    self.stats.batches_dropped.fetch_add(1, Relaxed);
                    self.remove_head(&path);
                    continue;
                }
            };
            match self.post(body).await {
                Attempt::Written => {
                    self.stats.points_written.fetch_add(entry.lines, Relaxed);
                    self.remove_head(&path);
                    backoff = Duration::from_millis(100);
                }
                Attempt::MissingDatabase(e) => match self.create_database().await {
                    Ok(()) => {
                        tracing::info!(database = %self.config.database, "created the missing InfluxDB database");
                    }
                    Err(create) => {
                        let e = format!("{e}; creating it failed: {create}");
                        tracing::error!(url = %self.write_url, error = %e, "dropping a batch");
                        self.stats.record_error(e);
                        self.stats.batches_dropped.fetch_add(1, Relaxed);
                        self.remove_head(&path);
                    }
                },
                Attempt::Refused(e) => {
                    tracing::error!(url = %self.write_url, error = %e, "InfluxDB refused a batch; dropping it");
                    self.stats.record_error(e);
                    self.stats.batches_dropped.fetch_add(1, Relaxed);
                    self.remove_head(&path);
                }
                Attempt::Failed(e) => {
                    tracing::warn!(url = %self.write_url, error = %e, retry_in = ?backoff, "InfluxDB write failed; retrying");
                    self.stats.record_error(e);
                    self.stats.retries.fetch_add(1, Relaxed);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
    }

    fn remove_head(&self, path: &Path) {
        if let Err(e) = std::fs::remove_file(path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %path.display(), error = %e, "cannot delete a written outbox batch");
            }
        }
        let mut q = lock(&self.queue);
        if let Some(e) = q.entries.pop_front() {
            q.bytes = q.bytes.saturating_sub(e.bytes);
        }
        self.stats.backlog_bytes.store(q.bytes, Relaxed);
        self.stats
            .backlog_batches
            .store(q.entries.len() as u64, Relaxed);
        drop(q);
        self.removed.notify_waiters();
    }

    /// `CREATE DATABASE` (idempotent in InfluxDB 1.x).
    async fn create_database(&self) -> Result<(), String> {
        let url = format!("{}/query", self.config.url.trim_end_matches('/'));
        let q = format!(
            "CREATE DATABASE \"{}\"",
            self.config
                .database
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
        );
        let req = self.authorize(self.client.post(&url).form(&[("q", q.as_str())]));
        let r = req.send().await.map_err(|e| e.to_string())?;
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        if status.is_success() && !text.contains("\"error\"") {
            Ok(())
        } else {
            Err(format!("{status}: {}", text.trim()))
        }
    }

    fn authorize(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let config = &self.config;
        if !config.username.is_empty() {
            req.basic_auth(&config.username, Some(&config.password))
        } else if !config.token.is_empty() {
            req.header("Authorization", format!("Token {}", config.token))
        } else {
            req
        }
    }

    async fn post(&self, body: Vec<u8>) -> Attempt {
        let config = &self.config;
        let mut req = self.client.post(&self.write_url);
        if config.gzip {
            let mut enc = flate2::write::GzEncoder::new(
                Vec::with_capacity(body.len() / 4),
                flate2::Compression::fast(),
            );
            let zipped = enc.write_all(&body).and_then(|()| enc.finish());
            match zipped {
                Ok(z) => req = req.header("Content-Encoding", "gzip").body(z),
                Err(e) => return Attempt::Failed(format!("cannot gzip a batch: {e}")),
            }
        } else {
            req = req.body(body);
        }
        match self.authorize(req).send().await {
            Ok(r) if r.status().is_success() => Attempt::Written,
            Ok(r) => {
                let status = r.status();
                let text = r.text().await.unwrap_or_default();
                let e = format!(
                    "InfluxDB write to {} failed: {status}: {}",
                    self.write_url,
                    text.trim()
                );
                let retry = status.is_server_error()
                    || status == reqwest::StatusCode::REQUEST_TIMEOUT
                    || status == reqwest::StatusCode::TOO_MANY_REQUESTS;
                if status == reqwest::StatusCode::NOT_FOUND && text.contains("database not found") {
                    Attempt::MissingDatabase(e)
                } else if retry {
                    Attempt::Failed(e)
                } else {
                    Attempt::Refused(e)
                }
            }
            Err(e) => Attempt::Failed(format!("InfluxDB write to {} failed: {e}", self.write_url)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn config(url: &str, max: u64) -> WriterConfig {
        WriterConfig {
            url: url.to_string(),
            database: "my db".to_string(),
            retention_policy: Some("rp".to_string()),
            username: String::new(),
            password: String::new(),
            token: String::new(),
            gzip: true,
            max_backlog_bytes: max,
            timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn url_names_database_and_retention_policy() {
        assert_eq!(
            write_url(&config("http://h:8086/", 1)),
            "http://h:8086/write?db=my%20db&precision=ns&rp=rp"
        );
    }

    #[tokio::test]
    async fn outbox_survives_reopen_and_drops_partial_files() {
        let dir = tempfile::tempdir().unwrap();
        let w = InfluxWriter::open(dir.path(), config("http://127.0.0.1:1", 1 << 20)).unwrap();
        w.push(b"m v=1 1\n", 1).await.unwrap();
        w.push(b"m v=2 2\nm v=3 3\n", 2).await.unwrap();
        w.sync().unwrap();
        std::fs::write(dir.path().join("00000000000000000099-1.tmp"), b"m v=").unwrap();
        drop(w);
        let w = InfluxWriter::open(dir.path(), config("http://127.0.0.1:1", 1 << 20)).unwrap();
        let s = w.stats();
        assert_eq!(s.backlog_batches.load(Relaxed), 2);
        assert_eq!(s.backlog_bytes.load(Relaxed), 8 + 16);
        assert!(!dir.path().join("00000000000000000099-1.tmp").exists());
        // New batches continue the sequence after the ones found.
        w.push(b"m v=4 4\n", 1).await.unwrap();
        assert!(dir.path().join("00000000000000000002-1.lp").exists());
    }

    #[tokio::test]
    async fn full_outbox_makes_push_wait() {
        let dir = tempfile::tempdir().unwrap();
        let w = InfluxWriter::open(dir.path(), config("http://127.0.0.1:1", 10)).unwrap();
        w.push(b"m v=1 1\nm v=2 2\n", 2).await.unwrap();
        let waited =
            tokio::time::timeout(Duration::from_millis(200), w.push(b"m v=3 3\n", 1)).await;
        assert!(waited.is_err(), "a push into a full outbox must wait");
        // Once the head leaves the outbox, the push goes through.
        let head = dir.path().join("00000000000000000000-2.lp");
        w.inner.remove_head(&head);
        tokio::time::timeout(Duration::from_secs(5), w.push(b"m v=3 3\n", 1))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(w.stats().backlog_batches.load(Relaxed), 1);
    }

    /// A local `/write` that fails once with 500, refuses `bad` lines with 400 and records
    /// what it accepted: checks gzip, auth, retries and dropping.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn posts_gzip_with_auth_retries_and_drops_refused_batches() {
        use axum::extract::State;
        use axum::http::{HeaderMap, StatusCode};
        use std::io::Read as _;

        #[derive(Default)]
        struct Seen {
            calls: u64,
            accepted: Vec<String>,
            auth: Vec<String>,
        }
        type Shared = Arc<Mutex<Seen>>;
        async fn write(
            State(seen): State<Shared>,
            headers: HeaderMap,
            body: axum::body::Bytes,
        ) -> StatusCode {
            let mut s = lock(&seen);
            s.calls += 1;
            let gz = headers
                .get("content-encoding")
                .map(|v| v.as_bytes().to_vec());
            assert_eq!(gz.as_deref(), Some(&b"gzip"[..]));
            let mut text = String::new();
            flate2::read::GzDecoder::new(&body[..])
                .read_to_string(&mut text)
                .unwrap();
            if let Some(a) = headers.get("authorization") {
                s.auth.push(a.to_str().unwrap().to_string());
            }
            if s.calls == 1 {
                return StatusCode::INTERNAL_SERVER_ERROR;
            }
            if text.contains("bad") {
                return StatusCode::BAD_REQUEST;
            }
            s.accepted.push(text);
            StatusCode::NO_CONTENT
        }
        let seen: Shared = Arc::default();
        let app = axum::Router::new()
            .route("/write", axum::routing::post(write))
            .with_state(Arc::clone(&seen));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(&format!("http://{addr}"), 1 << 20);
        cfg.username = "u".into();
        cfg.password = "p".into();
        let w = InfluxWriter::open(dir.path(), cfg).unwrap();
        w.push(b"m v=1 1\n", 1).await.unwrap();
        w.push(b"m bad 2\n", 1).await.unwrap();
        w.push(b"m v=3 3\nm v=4 4\n", 2).await.unwrap();
        let task = w.spawn(&tokio::runtime::Handle::current());
        let stats = w.stats();
        for _ in 0..500 {
            if stats.backlog_batches.load(Relaxed) == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        task.abort();
        let s = lock(&seen);
        assert_eq!(s.accepted, vec!["m v=1 1\n", "m v=3 3\nm v=4 4\n"]);
        assert!(s.auth.iter().all(|a| a == "Basic dTpw"), "{:?}", s.auth);
        assert_eq!(stats.points_written.load(Relaxed), 3);
        assert_eq!(stats.retries.load(Relaxed), 1);
        assert_eq!(stats.batches_dropped.load(Relaxed), 1);
        assert!(stats.last_error().unwrap().contains("400"));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
