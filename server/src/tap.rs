//! The diagnostic tap: every point the router delivers, appended to a file as line protocol.
//!
//! It is also the simplest durable subscriber, and shows the protocol every durable
//! subscriber follows: write, fsync, record the durable watermark, then acknowledge. On start
//! the file is cut back to its last recorded watermark and the log replays everything after
//! it, so each point is in the file exactly once even across `kill -9`.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use weir_engine::lp_encode::encode_batch;
use weir_engine::router::{Delivery, Router, Subscription, SubscriptionSpec};

const MARKER: &str = "# weir-tap seq=";

/// Tap failures.
#[derive(Debug, thiserror::Error)]
pub enum TapError {
    #[error("debug tap {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Opens the tap file, subscribes to the router and returns the consumer task.
pub fn start(router: &Router, path: &Path) -> Result<tokio::task::JoinHandle<()>, TapError> {
    let io = |source| TapError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let (file, cursor) = recover(path).map_err(io)?;
    let sub = router.subscribe(SubscriptionSpec {
        name: "debug-tap".into(),
        filter: Arc::new(|_, _, _| true),
        cursor: Some(cursor),
        capacity: 64,
    });
    let path = path.to_path_buf();
    Ok(tokio::spawn(async move { run(sub, file, path).await }))
}

/// Cuts the file after its last watermark marker; returns the file and that watermark.
fn recover(path: &Path) -> std::io::Result<(File, u64)> {
    let mut file = OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(path)?;
    let mut keep = 0u64;
    let mut cursor = 0u64;
    let mut offset = 0u64;
    let mut reader = BufReader::new(&mut file);
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader.read_line(&mut line)?;
        if n == 0 {
            break;
        }
        offset += n as u64;
        if let Some(seq) = line.trim_end().strip_prefix(MARKER) {
            if let Ok(seq) = seq.parse() {
                cursor = seq;
                keep = offset;
            }
        }
    }
    drop(reader);
    file.set_len(keep)?;
    file.seek(SeekFrom::End(0))?;
    file.sync_all()?;
    Ok((file, cursor))
}

/// Which held deliveries can be written now, and the watermark the file reaches with them.
///
/// The file must hold exactly the records up to the watermark it records: a delivery that
/// contains a record above the router's delivered watermark (another measurement's older
/// records are still in flight) waits, and the watermark stops below every delivery that waits.
fn split_writable(held: Vec<Delivery>, delivered: u64) -> (Vec<Delivery>, Vec<Delivery>, u64) {
    let mut w = delivered;
    loop {
        let lowest_waiting = held
            .iter()
            .filter(|d| d.batch.max_seq > w)
            .map(|d| d.batch.min_seq.saturating_sub(1))
            .min();
        match lowest_waiting {
            Some(h) if h < w => w = h,
            _ => break,
        }
    }
    let (write, keep): (Vec<_>, Vec<_>) = held.into_iter().partition(|d| d.batch.max_seq <= w);
    (write, keep, w)
}

async fn run(mut sub: Subscription, file: File, path: PathBuf) {
    let mut file = Some(file);
    let mut held: Vec<Delivery> = Vec::new();
    let mut recorded = None;
    let mut closed = false;
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(50));
    while !(closed && held.is_empty()) {
        if !closed {
            tokio::select! {
                d = sub.deliveries.recv() => match d {
                    Some(d) => held.push(d),
                    None => closed = true,
                },
                _ = tick.tick() => {}
            }
            while let Ok(d) = sub.deliveries.try_recv() {
                held.push(d);
            }
        }
        let delivered = sub.acker.watermark_after(u64::MAX);
        let (write, keep, watermark) = split_writable(std::mem::take(&mut held), delivered);
        held = keep;
        if write.is_empty() && recorded == Some(watermark) {
            if closed {
                // Nothing more will arrive and what is held can never be written.
                break;
            }
            continue;
        }
        // Acknowledge up to the first delivery still waiting.
        let first_waiting = held.iter().map(|d| d.ordinal).min();
        let ack = match first_waiting {
            Some(o) => o.saturating_sub(1),
            None => write.iter().map(|d| d.ordinal).max().unwrap_or(0),
        };
        let mut out = Vec::new();
        for d in &write {
            let b = &d.batch;
            out.extend_from_slice(format!("# db={} rp={}\n", b.db, b.rp).as_bytes());
            if let Err(e) = encode_batch(&mut out, &b.measurement, &b.batch, &[]) {
                tracing::error!(error = %e, "debug tap cannot encode a batch");
            }
        }
        let Some(f) = file.take() else { break };
        let written = tokio::task::spawn_blocking(move || {
            let mut f = f;
            let result = (|| {
                f.write_all(&out)?;
                f.sync_data()?;
                f.write_all(format!("{MARKER}{watermark}\n").as_bytes())?;
                f.sync_data()
            })();
            (f, result)
        })
        .await;
        match written {
            Ok((f, Ok(()))) => {
                file = Some(f);
                recorded = Some(watermark);
                if ack > 0 {
                    sub.acker.durable_through(ack);
                }
            }
            Ok((_, Err(e))) => {
                // Not acknowledged: the log keeps the points, and a restart writes them again.
                tracing::error!(path = %path.display(), error = %e, "debug tap write failed; tap stopped");
                break;
            }
            Err(e) => {
                tracing::error!(error = %e, "debug tap writer panicked; tap stopped");
                break;
            }
        }
    }
}
