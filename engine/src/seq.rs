//! Tracking which log records are still on their way downstream.
//!
//! Every record of the write-ahead log holds references while it is between the log and the
//! subscribers (written but not yet batched, batched but not yet delivered). The *delivered
//! watermark* is the highest sequence number below which no record holds a reference: every
//! record up to it has reached every subscriber that wants it.

use std::collections::BTreeMap;

use parking_lot::Mutex;

#[derive(Debug, Default)]
struct Inner {
    refs: BTreeMap<u64, u32>,
    last_assigned: u64,
}

/// Reference counts of in-transit sequence numbers.
#[derive(Debug, Default)]
pub struct SeqTracker {
    inner: Mutex<Inner>,
}

impl SeqTracker {
    /// Registers newly assigned records `first..=last`, each with one reference.
    pub fn assign(&self, first: u64, last: u64) {
        let mut inner = self.inner.lock();
        for s in first..=last {
            *inner.refs.entry(s).or_insert(0) += 1;
        }
        inner.last_assigned = inner.last_assigned.max(last);
    }

    /// Adds a reference to `seq`.
    pub fn acquire(&self, seq: u64) {
        *self.inner.lock().refs.entry(seq).or_insert(0) += 1;
    }

    /// Drops a reference to `seq`.
    pub fn release(&self, seq: u64) {
        let mut inner = self.inner.lock();
        if let Some(n) = inner.refs.get_mut(&seq) {
            *n -= 1;
            if *n == 0 {
                inner.refs.remove(&seq);
            }
        }
    }

    /// The delivered watermark.
    pub fn watermark(&self) -> u64 {
        let inner = self.inner.lock();
        match inner.refs.keys().next() {
            Some(first) => first - 1,
            None => inner.last_assigned,
        }
    }

    /// The highest sequence number assigned so far.
    pub fn last_assigned(&self) -> u64 {
        self.inner.lock().last_assigned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watermark_stops_below_oldest_reference() {
        let t = SeqTracker::default();
        assert_eq!(t.watermark(), 0);
        t.assign(1, 3);
        assert_eq!(t.watermark(), 0);
        t.release(2);
        t.release(3);
        assert_eq!(t.watermark(), 0);
        t.acquire(1);
        t.release(1);
        assert_eq!(t.watermark(), 0);
        t.release(1);
        assert_eq!(t.watermark(), 3);
    }
}
