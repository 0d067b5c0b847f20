//! Accumulating the rows of many small requests into larger batches per measurement.
//!
//! Telegraf sends a few rows of many measurements per request; operators work best on
//! batches of thousands of rows. A measurement's buffer is cut when it reaches `max_rows`
//! or when its oldest rows have waited `linger`, whichever comes first.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::record_batch::RecordBatch;
use parking_lot::Mutex;

use crate::batch::unify::concat_unified;
use crate::router::{RoutedBatch, Router};
use crate::seq::SeqTracker;

/// Batching settings.
#[derive(Debug, Clone, Copy)]
pub struct BatcherConfig {
    pub max_rows: usize,
    pub linger: Duration,
}

impl Default for BatcherConfig {
    fn default() -> Self {
        Self {
            max_rows: 8192,
            linger: Duration::from_millis(100),
        }
    }
}

type Key = (Arc<str>, Arc<str>, Arc<str>);

#[derive(Debug)]
struct Buffer {
    batches: Vec<RecordBatch>,
    rows: usize,
    seqs: Vec<u64>,
    since: Instant,
}

/// Per-measurement buffers in front of the router.
#[derive(Debug)]
pub struct Batcher {
    config: BatcherConfig,
    buffers: Mutex<HashMap<Key, Buffer>>,
    router: Arc<Router>,
    tracker: Arc<SeqTracker>,
}

/// A cut buffer, ready to publish.
#[derive(Debug)]
struct Cut {
    key: Key,
    buffer: Buffer,
}

impl Batcher {
    pub fn new(config: BatcherConfig, router: Arc<Router>, tracker: Arc<SeqTracker>) -> Self {
        Self {
            config,
            buffers: Mutex::new(HashMap::new()),
            router,
            tracker,
        }
    }

    /// Adds the rows of log record `seq` for one measurement. Takes a reference on `seq`
    /// until the rows are delivered.
    pub async fn add(
        &self,
        db: &Arc<str>,
        rp: &Arc<str>,
        measurement: Arc<str>,
        batch: RecordBatch,
        seq: u64,
        replay: bool,
    ) {
        let rows = batch.num_rows();
        if rows == 0 {
            return;
        }
        self.tracker.acquire(seq);
        let key = (Arc::clone(db), Arc::clone(rp), measurement);
        let cut = {
            let mut buffers = self.buffers.lock();
            let buffer = buffers.entry(key.clone()).or_insert_with(|| Buffer {
                batches: Vec::new(),
                rows: 0,
                seqs: Vec::new(),
                since: Instant::now(),
            });
            buffer.batches.push(batch);
            buffer.rows += rows;
            if buffer.seqs.last() != Some(&seq) {
                buffer.seqs.push(seq);
            }
            if buffer.rows >= self.config.max_rows {
                buffers.remove(&key).map(|buffer| Cut { key, buffer })
            } else {
                None
            }
        };
        if let Some(cut) = cut {
            self.publish(cut, replay).await;
        }
    }

    /// Publishes buffers older than the linger time.
    pub async fn flush_expired(&self) {
        let linger = self.config.linger;
        self.flush_where(|b| b.since.elapsed() >= linger, false)
            .await;
    }

    /// Publishes every buffer.
    pub async fn flush_all(&self, replay: bool) {
        self.flush_where(|_| true, replay).await;
    }

    async fn flush_where(&self, pred: impl Fn(&Buffer) -> bool, replay: bool) {
        let cuts: Vec<Cut> = {
            let mut buffers = self.buffers.lock();
            let keys: Vec<Key> = buffers
                .iter()
                .filter(|(_, b)| pred(b))
                .map(|(k, _)| k.clone())
                .collect();
            keys.into_iter()
                .filter_map(|key| buffers.remove(&key).map(|buffer| Cut { key, buffer }))
                .collect()
        };
        for cut in cuts {
            self.publish(cut, replay).await;
        }
    }

    /// Rows currently buffered.
    pub fn buffered_rows(&self) -> usize {
        self.buffers.lock().values().map(|b| b.rows).sum()
    }

    async fn publish(&self, cut: Cut, replay: bool) {
        let Cut {
            key: (db, rp, measurement),
            buffer,
        } = cut;
        match concat_unified(&buffer.batches) {
            Ok(batch) => {
                let min_seq = buffer.seqs.iter().copied().min().unwrap_or(0);
                let max_seq = buffer.seqs.iter().copied().max().unwrap_or(0);
                self.router
                    .publish(RoutedBatch {
                        db,
                        rp,
                        measurement,
                        batch,
                        min_seq,
                        max_seq,
                        replay,
                    })
                    .await;
            }
            Err(e) => {
                // Cannot happen while the schema registry holds (a column's type never
                // changes); if it ever does, the rows are dropped and the error is loud.
                tracing::error!(%db, %measurement, error = %e, "cannot combine batches; rows not delivered");
            }
        }
        for seq in buffer.seqs {
            self.tracker.release(seq);
        }
    }
}
