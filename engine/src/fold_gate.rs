//! Folding deliveries into a subscriber's state so that its checkpoints are exact.
//!
//! A subscriber that keeps state (a continuous query's windows) checkpoints it with a log
//! position `W` and, after a crash, resumes from the checkpoint while the log replays the
//! records after `W`. That is exactly once only if the state holds the wanted rows of the
//! records up to `W` and none of the records after it. Batches do not arrive in sequence
//! order across measurements (each measurement is batched on its own, and a batch spans the
//! records its rows came from), so a batch is folded in only once [`Acker::covered_watermark`]
//! reaches its last record; until then the gate holds it. The wait is short: the other
//! measurements' batches are cut within `[engine] batch_linger`.

use std::collections::VecDeque;

use crate::router::{Acker, Delivery};

/// Deliveries received but not yet folded into the state.
#[derive(Debug, Default)]
pub struct FoldGate {
    held: VecDeque<Delivery>,
}

impl FoldGate {
    /// An empty gate.
    pub fn new() -> FoldGate {
        FoldGate::default()
    }

    /// Takes a delivery; it comes out of [`FoldGate::ready`] once it may be folded.
    pub fn hold(&mut self, d: Delivery) {
        self.held.push_back(d);
    }

    /// Deliveries held.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// The deliveries that may be folded into the state now, in the order to fold them; each
    /// is marked folded in `acker`. A batch of a measurement never overtakes an earlier batch
    /// of the same measurement (its records come after).
    pub fn ready(&mut self, acker: &Acker) -> Vec<Delivery> {
        if self.held.is_empty() {
            return Vec::new();
        }
        // Everything at once when the watermark covers it all: batches whose record ranges
        // overlap can only be folded together.
        let all: Vec<u64> = self.held.iter().map(|d| d.ordinal).collect();
        let w = acker.covered_watermark(&all);
        let out: Vec<Delivery> = if self.held.iter().all(|d| d.batch.max_seq <= w) {
            self.held.drain(..).collect()
        } else {
            let mut out = Vec::new();
            loop {
                let before = out.len();
                let mut i = 0;
                while i < self.held.len() {
                    let d = &self.held[i];
                    if d.batch.max_seq <= acker.covered_watermark(&[d.ordinal]) {
                        if let Some(d) = self.held.remove(i) {
                            acker.fold(d.ordinal);
                            out.push(d);
                        }
                    } else {
                        i += 1;
                    }
                }
                if out.len() == before {
                    break out;
                }
            }
        };
        for d in &out {
            acker.fold(d.ordinal);
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Arc;

    use arrow::array::RecordBatch;

    use super::*;
    use crate::router::{RoutedBatch, Router, SubscriptionSpec};
    use crate::seq::SeqTracker;

    fn batch(measurement: &str, min_seq: u64, max_seq: u64) -> RoutedBatch {
        RoutedBatch {
            db: Arc::from("db"),
            rp: Arc::from("autogen"),
            measurement: Arc::from(measurement),
            batch: RecordBatch::new_empty(Arc::new(arrow::datatypes::Schema::empty())),
            min_seq,
            max_seq,
            replay: false,
        }
    }

    fn setup() -> (Arc<SeqTracker>, Router, crate::router::Subscription) {
        let tracker = Arc::new(SeqTracker::default());
        let router = Router::new(Arc::clone(&tracker));
        let sub = router.subscribe(SubscriptionSpec {
            name: "t".into(),
            filter: Arc::new(|_, _, _| true),
            cursor: Some(0),
            capacity: 16,
        });
        (tracker, router, sub)
    }

    fn names(ds: &[Delivery]) -> Vec<String> {
        ds.iter()
            .map(|d| {
                format!(
                    "{}{}-{}",
                    d.batch.measurement, d.batch.min_seq, d.batch.max_seq
                )
            })
            .collect()
    }

    #[tokio::test]
    async fn batches_wait_for_the_records_before_them() {
        let (tracker, router, mut sub) = setup();
        let mut gate = FoldGate::new();
        // Records 1..=3: m2 has rows of record 1 still in its batcher.
        tracker.assign(1, 3);
        router.publish(batch("m1", 2, 3)).await;
        tracker.release(2);
        tracker.release(3);
        gate.hold(sub.deliveries.recv().await.unwrap());
        assert!(
            gate.ready(&sub.acker).is_empty(),
            "record 1 is not delivered yet"
        );
        assert_eq!(sub.acker.covered_watermark(&[]), 0);

        router.publish(batch("m2", 1, 1)).await;
        tracker.release(1);
        gate.hold(sub.deliveries.recv().await.unwrap());
        let ready = gate.ready(&sub.acker);
        assert_eq!(names(&ready), ["m12-3", "m21-1"]);
        // The checkpoint covers both, and acknowledging it releases the log.
        assert_eq!(sub.acker.covered_watermark(&[]), 3);
        assert_eq!(router.release_point(), 0, "folded is not durable yet");
        sub.acker.durable_folded();
        assert_eq!(router.release_point(), 3);
    }

    #[tokio::test]
    async fn a_ready_batch_passes_a_blocked_one_of_another_measurement() {
        let (tracker, router, mut sub) = setup();
        let mut gate = FoldGate::new();
        tracker.assign(1, 5);
        // m1's batch spans records 1..=5 but record 5 still has rows in flight.
        router.publish(batch("m1", 1, 5)).await;
        tracker.release(1);
        tracker.release(2);
        tracker.release(3);
        tracker.release(4);
        gate.hold(sub.deliveries.recv().await.unwrap());
        assert!(gate.ready(&sub.acker).is_empty());
        // A later batch cannot pass it: a checkpoint after record 6 would claim m1's rows.
        tracker.assign(6, 6);
        router.publish(batch("m2", 6, 6)).await;
        tracker.release(6);
        gate.hold(sub.deliveries.recv().await.unwrap());
        assert!(gate.ready(&sub.acker).is_empty(), "record 5 is in flight");
        tracker.release(5);
        let ready = gate.ready(&sub.acker);
        assert_eq!(names(&ready), ["m11-5", "m26-6"]);
        assert!(gate.is_empty());
        assert_eq!(sub.acker.covered_watermark(&[]), 6);
    }

    #[tokio::test]
    async fn folding_never_claims_rows_of_a_held_batch() {
        let (tracker, router, mut sub) = setup();
        let mut gate = FoldGate::new();
        tracker.assign(1, 4);
        // m1 holds records 1..=4 (overlapping), m2 record 2..=3: neither alone is foldable
        // while the other is held; both together once everything is delivered.
        router.publish(batch("m1", 1, 4)).await;
        router.publish(batch("m2", 2, 3)).await;
        gate.hold(sub.deliveries.recv().await.unwrap());
        gate.hold(sub.deliveries.recv().await.unwrap());
        for s in 1..=3 {
            tracker.release(s);
        }
        assert!(gate.ready(&sub.acker).is_empty());
        tracker.release(4);
        assert_eq!(names(&gate.ready(&sub.acker)), ["m11-4", "m22-3"]);
    }
}
