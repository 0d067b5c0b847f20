//! Out-of-process user-defined functions (SPEC §3.6, `CREATE FUNCTION ... LANGUAGE process`):
//! weir starts the program once (`sh -c COMMAND`) and sends it one request per window and
//! group on stdin; the program answers each on stdout. A program that crashes, hangs past its
//! timeout or breaks the protocol is killed, the call fails with the reason (shown in the
//! task's stats), and the next call starts it again: it never takes weir down.
//!
//! The protocol (docs/udf.md has a Python example): every message, both ways, is a 4-byte
//! little-endian length followed by that many bytes of one Arrow IPC *stream* (schema, batches,
//! end marker).
//!
//! - Request: columns `time` (Timestamp ns, UTC) and `value` (the field's type); schema
//!   metadata `weir.function`, `weir.args` (JSON array of the literal arguments),
//!   `weir.window_start` / `weir.window_end` (ns, decimal text), `weir.tags` (JSON object).
//! - Answer: a `value` column (and optionally `time`); zero rows for "no result". Schema
//!   metadata `weir.error` reports a failure of the function itself.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use arrow::datatypes::{Field, Schema};
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use arrow::record_batch::RecordBatch;
use weir_engine::udf::{UdfCall, UdfError, UdfRuntime};

/// Largest answer accepted (a protocol error beyond it, not an allocation).
const MAX_FRAME: u32 = 256 * 1024 * 1024;
/// Extra time the first call after a start may take: the program's own start-up (a Python
/// program importing pyarrow takes seconds on a busy machine).
const STARTUP_GRACE: Duration = Duration::from_secs(30);
/// Lines of the program's stderr kept for error messages.
const STDERR_LINES: usize = 20;

/// How one function runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdfProcessConfig {
    /// The function's name.
    pub name: String,
    /// The command line (run with `sh -c`).
    pub command: String,
    /// How long one call may take before the program is killed (`WITH (timeout = 10s)`).
    pub timeout: Duration,
}

/// Counters of one function, for the API and `/metrics`.
#[derive(Debug, Default)]
pub struct UdfStats {
    pub calls: AtomicU64,
    pub failures: AtomicU64,
    pub restarts: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl UdfStats {
    /// The last failure, if any.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok().and_then(|e| e.clone())
    }

    fn failed(&self, e: &UdfError) {
        self.failures.fetch_add(1, Relaxed);
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(e.to_string());
        }
    }
}

/// A started program.
struct Running {
    child: Child,
    stdin: ChildStdin,
    answers: Receiver<Result<Vec<u8>, String>>,
}

impl Running {
    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One function's program.
pub struct UdfProcess {
    config: UdfProcessConfig,
    running: Mutex<Option<Running>>,
    stderr: Arc<Mutex<VecDeque<String>>>,
    stats: Arc<UdfStats>,
    started_once: AtomicU64,
}

impl std::fmt::Debug for UdfProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdfProcess")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn read_frame(r: &mut impl Read) -> Result<Vec<u8>, String> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)
        .map_err(|e| format!("its output ended ({e})"))?;
    let len = u32::from_le_bytes(len);
    if len > MAX_FRAME {
        return Err(format!(
            "it sent a {len}-byte frame (limit {MAX_FRAME}); is it writing the 4-byte length first?"
        ));
    }
    let mut buf = vec![0u8; len as usize];
    r.read_exact(&mut buf)
        .map_err(|e| format!("its output ended inside a frame ({e})"))?;
    Ok(buf)
}

impl UdfProcess {
    /// A function whose program is started at the first call.
    pub fn new(config: UdfProcessConfig) -> UdfProcess {
        UdfProcess {
            config,
            running: Mutex::new(None),
            stderr: Arc::new(Mutex::new(VecDeque::new())),
            stats: Arc::new(UdfStats::default()),
            started_once: AtomicU64::new(0),
        }
    }

    /// The function's counters.
    pub fn stats(&self) -> Arc<UdfStats> {
        Arc::clone(&self.stats)
    }

    /// The definition it runs.
    pub fn config(&self) -> &UdfProcessConfig {
        &self.config
    }

    fn error(&self, reason: impl Into<String>) -> UdfError {
        let mut reason = reason.into();
        if let Ok(lines) = self.stderr.lock() {
            if !lines.is_empty() {
                reason.push_str("; its stderr ended with: ");
                reason.push_str(&lines.iter().cloned().collect::<Vec<_>>().join(" | "));
            }
        }
        UdfError::Process {
            function: self.config.name.clone(),
            reason,
        }
    }

    fn start(&self) -> Result<Running, UdfError> {
        if self.started_once.fetch_add(1, Relaxed) > 0 {
            self.stats.restarts.fetch_add(1, Relaxed);
        }
        if let Ok(mut lines) = self.stderr.lock() {
            lines.clear();
        }
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(&self.config.command)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| self.error(format!("cannot start `{}`: {e}", self.config.command)))?;
        let (Some(stdin), Some(mut stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let _ = child.kill();
            return Err(self.error("its stdin/stdout could not be opened"));
        };
        let (tx, answers) = std::sync::mpsc::channel();
        let name = self.config.name.clone();
        std::thread::Builder::new()
            .name(format!("udf-{name}-out"))
            .spawn(move || loop {
                let frame = read_frame(&mut stdout);
                let failed = frame.is_err();
                if tx.send(frame).is_err() || failed {
                    break;
                }
            })
            .map_err(|e| self.error(format!("cannot start its reader thread: {e}")))?;
        let lines = Arc::clone(&self.stderr);
        std::thread::Builder::new()
            .name(format!("udf-{name}-err"))
            .spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    tracing::warn!(function = %name, "udf stderr: {line}");
                    if let Ok(mut l) = lines.lock() {
                        if l.len() == STDERR_LINES {
                            l.pop_front();
                        }
                        l.push_back(line);
                    }
                }
            })
            .map_err(|e| self.error(format!("cannot start its stderr thread: {e}")))?;
        tracing::info!(function = %self.config.name, command = %self.config.command, "udf process started");
        Ok(Running {
            child,
            stdin,
            answers,
        })
    }

    /// One call, starting the program if it is not running.
    pub fn call(&self, call: &UdfCall<'_>) -> Result<Option<RecordBatch>, UdfError> {
        self.stats.calls.fetch_add(1, Relaxed);
        let r = self.call_inner(call);
        if let Err(e) = &r {
            tracing::warn!(function = %self.config.name, error = %e, "udf call failed");
            self.stats.failed(e);
        }
        r
    }

    fn call_inner(&self, call: &UdfCall<'_>) -> Result<Option<RecordBatch>, UdfError> {
        let request = encode_request(call).map_err(|e| self.error(e))?;
        let mut guard = self
            .running
            .lock()
            .map_err(|_| self.error("its state is poisoned"))?;
        let fresh = guard.is_none();
        if fresh {
            *guard = Some(self.start()?);
        }
        let limit = if fresh {
            self.config.timeout + STARTUP_GRACE
        } else {
            self.config.timeout
        };
        let Some(running) = guard.as_mut() else {
            return Err(self.error("not running"));
        };
        let sent = running
            .stdin
            .write_all(&(request.len() as u32).to_le_bytes())
            .and_then(|()| running.stdin.write_all(&request))
            .and_then(|()| running.stdin.flush());
        let answer = match sent {
            Err(e) => Err(format!("it stopped reading its input ({e})")),
            Ok(()) => match running.answers.recv_timeout(limit) {
                Ok(frame) => frame,
                Err(RecvTimeoutError::Timeout) => Err(format!(
                    "it did not answer within {:?}; it was killed and starts again at the next call",
                    self.config.timeout
                )),
                Err(RecvTimeoutError::Disconnected) => Err("its output ended".to_string()),
            },
        };
        let frame = match answer {
            Ok(f) => f,
            Err(reason) => {
                if let Some(r) = guard.take() {
                    r.kill();
                }
                // Let the stderr thread catch the last lines of a crashed program.
                std::thread::sleep(Duration::from_millis(20));
                return Err(self.error(reason));
            }
        };
        drop(guard);
        decode_answer(&self.config.name, &frame).inspect_err(|_| {
            // A program that breaks the protocol is out of step: start it afresh.
            if let Ok(mut g) = self.running.lock() {
                if let Some(r) = g.take() {
                    r.kill();
                }
            }
        })
    }

    /// Stops the program.
    pub fn shutdown(&self) {
        if let Ok(mut g) = self.running.lock() {
            if let Some(r) = g.take() {
                r.kill();
            }
        }
    }
}

impl Drop for UdfProcess {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn encode_request(call: &UdfCall<'_>) -> Result<Vec<u8>, String> {
    let mut metadata = HashMap::new();
    metadata.insert("weir.function".to_string(), call.function.to_string());
    metadata.insert(
        "weir.args".to_string(),
        serde_json::Value::Array(call.args.to_vec()).to_string(),
    );
    metadata.insert("weir.window_start".to_string(), call.window.0.to_string());
    metadata.insert("weir.window_end".to_string(), call.window.1.to_string());
    let tags: serde_json::Map<String, serde_json::Value> = call
        .tags
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    metadata.insert(
        "weir.tags".to_string(),
        serde_json::Value::Object(tags).to_string(),
    );
    let fields: Vec<Field> = call
        .points
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    let schema = Arc::new(Schema::new_with_metadata(fields, metadata));
    let batch = call
        .points
        .clone()
        .with_schema(Arc::clone(&schema))
        .map_err(|e| format!("cannot build the request: {e}"))?;
    let mut buf = Vec::new();
    let mut w = StreamWriter::try_new(&mut buf, &schema)
        .map_err(|e| format!("cannot encode the request: {e}"))?;
    w.write(&batch)
        .and_then(|()| w.finish())
        .map_err(|e| format!("cannot encode the request: {e}"))?;
    drop(w);
    Ok(buf)
}

fn decode_answer(function: &str, frame: &[u8]) -> Result<Option<RecordBatch>, UdfError> {
    let broken = |reason: String| UdfError::Process {
        function: function.to_string(),
        reason: format!("its answer is not an Arrow IPC stream: {reason}"),
    };
    let reader = StreamReader::try_new(std::io::Cursor::new(frame), None)
        .map_err(|e| broken(e.to_string()))?;
    let schema = reader.schema();
    if let Some(message) = schema.metadata().get("weir.error") {
        return Err(UdfError::Failed {
            function: function.to_string(),
            message: message.clone(),
        });
    }
    if schema.column_with_name("value").is_none() {
        return Err(UdfError::Process {
            function: function.to_string(),
            reason: format!(
                "its answer has no `value` column (columns: {})",
                schema
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    let mut batches = Vec::new();
    for b in reader {
        batches.push(b.map_err(|e| broken(e.to_string()))?);
    }
    let batch =
        arrow::compute::concat_batches(&schema, &batches).map_err(|e| broken(e.to_string()))?;
    Ok((batch.num_rows() > 0).then_some(batch))
}

/// The functions of this weir, by name: what tasks call.
#[derive(Debug, Default)]
pub struct UdfRegistry {
    functions: RwLock<HashMap<String, Arc<UdfProcess>>>,
}

impl UdfRegistry {
    /// Replaces the set of functions; unchanged definitions keep their running program.
    pub fn set(&self, configs: Vec<UdfProcessConfig>) {
        let Ok(mut map) = self.functions.write() else {
            return;
        };
        let mut next = HashMap::new();
        for c in configs {
            let p = match map.remove(&c.name) {
                Some(p) if p.config == c => p,
                _ => Arc::new(UdfProcess::new(c.clone())),
            };
            next.insert(c.name, p);
        }
        for (_, old) in map.drain() {
            old.shutdown();
        }
        *map = next;
    }

    /// Counters by function name.
    pub fn stats(&self) -> Vec<(String, Arc<UdfStats>)> {
        let mut v: Vec<_> = self
            .functions
            .read()
            .map(|m| m.iter().map(|(k, p)| (k.clone(), p.stats())).collect())
            .unwrap_or_default();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

impl UdfRuntime for UdfRegistry {
    fn call(&self, call: UdfCall<'_>) -> Result<Option<RecordBatch>, UdfError> {
        let p = self
            .functions
            .read()
            .ok()
            .and_then(|m| m.get(call.function).cloned())
            .ok_or_else(|| UdfError::Unknown(call.function.to_string()))?;
        p.call(&call)
    }
}
