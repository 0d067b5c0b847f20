//! `log`: Kapacitor's log handler. Appends each event's `alert.Data` JSON as one line.

use std::io::Write as _;
use std::path::PathBuf;

use serde_json::{Map, Value};
use weir_engine::alert::Event;

use super::opts::Opts;
use super::{Failure, HandlerError};

const OPTIONS: &[&str] = &["path", "mode"];
/// Kapacitor's default file mode.
const DEFAULT_MODE: u32 = 0o600;

pub(crate) struct Log {
    path: PathBuf,
    mode: u32,
}

impl Log {
    pub(crate) fn new(name: &str, o: &Map<String, Value>) -> Result<Log, HandlerError> {
        let o = Opts::new(name, "log", o, OPTIONS)?;
        let path = PathBuf::from(o.required("path")?);
        if !path.is_absolute() {
            return Err(o.invalid(
                "path",
                format!(
                    "log path must be absolute: {} is not absolute",
                    path.display()
                ),
            ));
        }
        // Octal digits, as in `mode = '0644'` (a number is read as the same digits).
        let mode = match o.string("mode")? {
            None => DEFAULT_MODE,
            Some(m) => {
                let digits = m.trim().trim_start_matches("0o");
                u32::from_str_radix(digits, 8)
                    .ok()
                    .filter(|m| *m <= 0o7777)
                    .ok_or_else(|| {
                        o.invalid("mode", format!("'{m}' is not an octal file mode like 0644"))
                    })?
            }
        };
        if mode & 0o200 == 0 {
            return Err(o.invalid(
                "mode",
                format!("invalid file mode {mode:04o}, must be user writable"),
            ));
        }
        Ok(Log { path, mode })
    }

    pub(crate) async fn send(&self, ev: &Event) -> Result<(), Failure> {
        let mut line = ev.kapacitor_json().to_string();
        line.push('\n');
        let path = self.path.clone();
        let mode = self.mode;
        tokio::task::spawn_blocking(move || append(&path, mode, line.as_bytes()))
            .await
            .map_err(|e| Failure::retry(format!("log handler task failed: {e}")))?
    }
}

fn append(path: &std::path::Path, mode: u32, line: &[u8]) -> Result<(), Failure> {
    let err = |what: &str, e: std::io::Error| {
        Failure::retry(format!("cannot {what} alert log {}: {e}", path.display()))
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| err("create the directory of", e))?;
    }
    let mut open = std::fs::OpenOptions::new();
    open.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        open.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = open.open(path).map_err(|e| err("open", e))?;
    f.write_all(line).map_err(|e| err("write", e))
}
