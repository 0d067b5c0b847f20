//! `exec`: Kapacitor's exec handler. Runs `prog` with `args`, the event's `alert.Data` JSON
//! (and a newline) on its standard input; killed after `timeout`.

use std::io::{Read as _, Write as _};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use weir_engine::alert::Event;

use super::opts::Opts;
use super::{Failure, HandlerError};

const OPTIONS: &[&str] = &["prog", "args", "timeout"];

pub(crate) struct Exec {
    prog: String,
    args: Vec<String>,
    timeout: Duration,
}

impl Exec {
    pub(crate) fn new(name: &str, o: &Map<String, Value>) -> Result<Exec, HandlerError> {
        let o = Opts::new(name, "exec", o, OPTIONS)?;
        Ok(Exec {
            prog: o.required("prog")?,
            args: o.list("args")?,
            timeout: o
                .duration("timeout")?
                .filter(|d| !d.is_zero())
                .unwrap_or(Duration::from_secs(30)),
        })
    }

    pub(crate) async fn send(&self, ev: &Event) -> Result<(), Failure> {
        let mut input = serde_json::to_vec(&ev.kapacitor_json()).unwrap_or_default();
        input.push(b'\n');
        let (prog, args, timeout) = (self.prog.clone(), self.args.clone(), self.timeout);
        tokio::task::spawn_blocking(move || run(&prog, &args, timeout, input))
            .await
            .map_err(|e| Failure::retry(format!("exec handler task failed: {e}")))?
    }
}

fn run(prog: &str, args: &[String], timeout: Duration, input: Vec<u8>) -> Result<(), Failure> {
    let mut child = Command::new(prog)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Failure::fatal(format!("exec handler: cannot start {prog}: {e}")))?;
    // Separate threads, so a program that neither reads its input nor stops writing output
    // cannot block us; the timeout below still applies.
    if let Some(mut stdin) = child.stdin.take() {
        std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
    }
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let outputs = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
    ];
    let readers = outputs.iter().flatten().count();
    for mut r in outputs.into_iter().flatten() {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut out = Vec::new();
            let _ = r.by_ref().take(4096).read_to_end(&mut out);
            let _ = tx.send(out);
            let _ = std::io::copy(&mut r, &mut std::io::sink());
        });
    }
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if start.elapsed() >= timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Failure::retry(format!(
                    "exec handler: {prog} did not finish within {timeout:?} and was killed"
                )));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(Failure::retry(format!("exec handler: {prog}: {e}"))),
        }
    };
    // A program may leave a child holding its output open: wait only briefly for it.
    let mut output = Vec::new();
    for _ in 0..readers {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(o) => output.extend(o),
            Err(_) => break,
        }
    }
    if status.success() {
        Ok(())
    } else {
        Err(Failure::fatal(format!(
            "exec handler: {prog} failed ({status}): {}",
            String::from_utf8_lossy(&output).trim()
        )))
    }
}
