//! Delivering batches to subscribers (tasks, archives) and tracking what they have made
//! durable, so the write-ahead log knows what it may delete.
//!
//! A batch is delivered as an `Arc`, never copied per subscriber. Each subscription has a
//! bounded queue: a slow subscriber slows ingest down (back-pressure) instead of growing
//! memory without bound or losing data.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use parking_lot::Mutex;
use tokio::sync::mpsc;

use crate::seq::SeqTracker;

/// Rows of one measurement, on their way to subscribers.
#[derive(Debug, Clone)]
pub struct RoutedBatch {
    pub db: Arc<str>,
    pub rp: Arc<str>,
    pub measurement: Arc<str>,
    pub batch: RecordBatch,
    /// Smallest and largest write-ahead log sequence numbers of the rows.
    pub min_seq: u64,
    pub max_seq: u64,
    /// Whether the batch comes from replaying the log at start-up.
    pub replay: bool,
}

/// One batch handed to one subscriber; `ordinal` is what the subscriber acknowledges.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub batch: Arc<RoutedBatch>,
    pub ordinal: u64,
}

/// Which batches a subscriber wants.
pub type Filter = Arc<dyn Fn(&str, &str, &str) -> bool + Send + Sync>;

/// How to subscribe.
pub struct SubscriptionSpec {
    /// Unique name, for stats and logs.
    pub name: String,
    /// `(db, rp, measurement) -> wanted`.
    pub filter: Filter,
    /// The subscriber already has every record up to this sequence number (from its own
    /// durable state); replay skips them. `None` means "only new data".
    pub cursor: Option<u64>,
    /// Queue length in batches.
    pub capacity: usize,
}

impl fmt::Debug for SubscriptionSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubscriptionSpec")
            .field("name", &self.name)
            .field("cursor", &self.cursor)
            .field("capacity", &self.capacity)
            .finish()
    }
}

#[derive(Debug, Default)]
struct AckState {
    /// Deliveries not yet acknowledged: ordinal -> smallest sequence number in it.
    unacked: BTreeMap<u64, u64>,
    /// Unacknowledged deliveries already folded into the subscriber's state (see
    /// [`Acker::fold`]).
    folded: std::collections::BTreeSet<u64>,
    next_ordinal: u64,
}

struct Sub {
    name: String,
    filter: Filter,
    cursor: u64,
    tx: mpsc::Sender<Delivery>,
    acks: Arc<Mutex<AckState>>,
}

impl fmt::Debug for Sub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sub")
            .field("name", &self.name)
            .field("cursor", &self.cursor)
            .finish()
    }
}

/// The receiving end of a subscription.
#[derive(Debug)]
pub struct Subscription {
    pub deliveries: mpsc::Receiver<Delivery>,
    pub acker: Acker,
}

/// Acknowledges durable consumption.
#[derive(Debug, Clone)]
pub struct Acker {
    acks: Arc<Mutex<AckState>>,
    tracker: Arc<SeqTracker>,
}

impl Acker {
    /// Every delivery up to and including `ordinal` is durably processed. Returns the
    /// subscriber's durable watermark: every log record up to it that the subscriber wants
    /// has been made durable by it (store this as the subscription's `cursor`).
    pub fn durable_through(&self, ordinal: u64) -> u64 {
        let mut acks = self.acks.lock();
        acks.unacked.retain(|o, _| *o > ordinal);
        acks.folded.retain(|o| *o > ordinal);
        durable_watermark(&acks, &self.tracker)
    }
}

impl Acker {
    /// The durable watermark `durable_through(ordinal)` would return, without acknowledging.
    /// A subscriber that records its watermark durably (to resume from it) writes this value
    /// first and acknowledges after, so the log is never released past what it recorded.
    pub fn watermark_after(&self, ordinal: u64) -> u64 {
        let acks = self.acks.lock();
        let delivered = self.tracker.watermark();
        acks.unacked
            .iter()
            .filter(|(o, _)| **o > ordinal)
            .map(|(_, min_seq)| min_seq.saturating_sub(1))
            .fold(delivered, u64::min)
    }
}

impl Acker {
    /// The delivery `ordinal` is folded into the subscriber's state, which is not durable yet:
    /// it still holds back the log (until [`Acker::durable_folded`]) but no longer limits
    /// [`Acker::covered_watermark`].
    pub fn fold(&self, ordinal: u64) {
        let mut acks = self.acks.lock();
        if acks.unacked.contains_key(&ordinal) {
            acks.folded.insert(ordinal);
        }
    }

    /// The highest sequence number `W` such that every wanted row of every record up to `W`
    /// has been delivered, and no delivery other than the folded ones and `except` holds rows
    /// of records up to `W`. A state made of the folded deliveries (plus `except`) holds
    /// exactly the wanted rows of the records up to `W` if each of them lies entirely at or
    /// below `W`; that is what a checkpoint may record as its resume point.
    pub fn covered_watermark(&self, except: &[u64]) -> u64 {
        let acks = self.acks.lock();
        let delivered = self.tracker.watermark();
        acks.unacked
            .iter()
            .filter(|(o, _)| !acks.folded.contains(o) && !except.contains(o))
            .map(|(_, min_seq)| min_seq.saturating_sub(1))
            .fold(delivered, u64::min)
    }

    /// Every folded delivery is durable now (the state holding them was checkpointed).
    pub fn durable_folded(&self) -> u64 {
        let mut acks = self.acks.lock();
        let folded = std::mem::take(&mut acks.folded);
        acks.unacked.retain(|o, _| !folded.contains(o));
        durable_watermark(&acks, &self.tracker)
    }
}

fn durable_watermark(acks: &AckState, tracker: &SeqTracker) -> u64 {
    let delivered = tracker.watermark();
    match acks.unacked.values().min() {
        Some(min_seq) => delivered.min(min_seq.saturating_sub(1)),
        None => delivered,
    }
}

/// Routes batches to subscribers.
#[derive(Debug)]
pub struct Router {
    subs: Mutex<Vec<Arc<Sub>>>,
    tracker: Arc<SeqTracker>,
}

impl Router {
    /// A router whose watermarks come from `tracker`.
    pub fn new(tracker: Arc<SeqTracker>) -> Self {
        Self {
            subs: Mutex::new(Vec::new()),
            tracker,
        }
    }

    /// Adds a subscriber. Replaces one of the same name.
    pub fn subscribe(&self, spec: SubscriptionSpec) -> Subscription {
        let (tx, rx) = mpsc::channel(spec.capacity.max(1));
        let acks = Arc::new(Mutex::new(AckState::default()));
        let cursor = spec.cursor.unwrap_or_else(|| self.tracker.watermark());
        let sub = Arc::new(Sub {
            name: spec.name,
            filter: spec.filter,
            cursor,
            tx,
            acks: Arc::clone(&acks),
        });
        let mut subs = self.subs.lock();
        subs.retain(|s| s.name != sub.name);
        subs.push(sub);
        Subscription {
            deliveries: rx,
            acker: Acker {
                acks,
                tracker: Arc::clone(&self.tracker),
            },
        }
    }

    /// Removes a subscriber; it no longer holds back log truncation.
    pub fn unsubscribe(&self, name: &str) {
        self.subs.lock().retain(|s| s.name != name);
    }

    /// The cursors subscribers started from; replay cuts batches at these boundaries so every
    /// replayed batch is wanted entirely or not at all by each subscriber.
    pub fn cursors(&self) -> Vec<u64> {
        self.subs.lock().iter().map(|s| s.cursor).collect()
    }

    /// Delivers a batch to every subscriber that wants it and has not already got its records.
    /// Waits while a subscriber's queue is full.
    pub async fn publish(&self, batch: RoutedBatch) {
        let batch = Arc::new(batch);
        let targets: Vec<Arc<Sub>> = self
            .subs
            .lock()
            .iter()
            .filter(|s| {
                batch.min_seq > s.cursor && (s.filter)(&batch.db, &batch.rp, &batch.measurement)
            })
            .map(Arc::clone)
            .collect();
        for sub in targets {
            let ordinal = {
                let mut acks = sub.acks.lock();
                acks.next_ordinal += 1;
                let ordinal = acks.next_ordinal;
                acks.unacked.insert(ordinal, batch.min_seq);
                ordinal
            };
            let delivery = Delivery {
                batch: Arc::clone(&batch),
                ordinal,
            };
            if sub.tx.send(delivery).await.is_err() {
                // The subscriber went away; it must not hold back the log.
                let mut acks = sub.acks.lock();
                acks.unacked.remove(&ordinal);
                acks.folded.remove(&ordinal);
                tracing::debug!(subscriber = %sub.name, "subscriber closed; dropping it");
                self.unsubscribe(&sub.name);
            }
        }
    }

    /// The log may be deleted up to here: every subscriber has durably consumed every record
    /// up to this sequence number that it wants.
    pub fn release_point(&self) -> u64 {
        let delivered = self.tracker.watermark();
        self.subs
            .lock()
            .iter()
            .map(|s| durable_watermark(&s.acks.lock(), &self.tracker))
            .fold(delivered, u64::min)
    }

    /// Names of the current subscribers.
    pub fn subscriber_names(&self) -> Vec<String> {
        self.subs.lock().iter().map(|s| s.name.clone()).collect()
    }
}
