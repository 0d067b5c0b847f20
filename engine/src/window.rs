//! Tumbling windows and the task clock (SPEC §3.2).
//!
//! - Windows are tumbling and epoch-aligned plus an offset: the window of a point at `t` starts
//!   at `floor((t - offset) / interval) * interval + offset` (negative times included).
//! - A task's clock is the largest event time it has seen, advanced by the wall time elapsed
//!   since that point arrived. So windows close on time when data stops, and replayed old data
//!   gives the same results as live data.
//! - A window `[s, e)` closes once the clock reaches `e + lateness`; a point whose window has
//!   already closed is late (the caller counts it).

use std::collections::BTreeMap;

use crate::clock::SharedClock;

/// Start of the window holding `t`: `floor((t - offset) / interval) * interval + offset`,
/// with the offset reduced modulo the interval (as InfluxDB does). `interval` must be positive.
pub fn window_start(t: i64, interval: i64, offset: i64) -> i64 {
    let interval = interval.max(1);
    let offset = offset.rem_euclid(interval);
    t.saturating_sub(offset)
        .div_euclid(interval)
        .saturating_mul(interval)
        .saturating_add(offset)
}

/// The clock of one task: max event time seen plus wall time elapsed since it arrived.
#[derive(Debug, Clone)]
pub struct TaskClock {
    wall: SharedClock,
    /// Largest event time seen, and the wall time when it arrived.
    max_event: Option<(i64, i64)>,
}

impl TaskClock {
    /// A clock that has seen nothing yet, reading wall time from `wall`.
    pub fn new(wall: SharedClock) -> Self {
        Self {
            wall,
            max_event: None,
        }
    }

    /// Notes a point with event time `t` (every point the task reads, kept or not).
    pub fn observe(&mut self, t: i64) {
        if self.max_event.is_none_or(|(m, _)| t > m) {
            self.max_event = Some((t, self.wall.now_ns()));
        }
    }

    /// The largest event time seen (what a checkpoint keeps of the clock).
    pub fn max_event_time(&self) -> Option<i64> {
        self.max_event.map(|(m, _)| m)
    }

    /// The task's time, or `None` before the first point.
    pub fn now(&self) -> Option<i64> {
        self.max_event.map(|(m, arrived)| {
            let elapsed = self.wall.now_ns().saturating_sub(arrived).max(0);
            m.saturating_add(elapsed)
        })
    }
}

/// Open tumbling windows, each holding a state `S`, in start order.
#[derive(Debug, Clone)]
pub struct TumblingWindows<S> {
    interval: i64,
    offset: i64,
    lateness: i64,
    /// Every window ending at or before this boundary is closed.
    closed_end: i64,
    open: BTreeMap<i64, S>,
}

impl<S: Default> TumblingWindows<S> {
    /// Windows of `interval` ns shifted by `offset` ns, closing `lateness` ns after their end.
    pub fn new(interval: i64, offset: i64, lateness: i64) -> Self {
        Self {
            interval: interval.max(1),
            offset,
            lateness: lateness.max(0),
            closed_end: i64::MIN,
            open: BTreeMap::new(),
        }
    }

    /// The window length in ns.
    pub fn interval(&self) -> i64 {
        self.interval
    }

    /// The start of the window of `t`.
    pub fn start_of(&self, t: i64) -> i64 {
        window_start(t, self.interval, self.offset)
    }

    /// The state of the window holding `t`, created if needed; `None` when that window has
    /// already closed (the point is late).
    pub fn state_for(&mut self, t: i64) -> Option<(i64, &mut S)> {
        if t < self.closed_end {
            return None;
        }
        let start = self.start_of(t);
        Some((start, self.open.entry(start).or_default()))
    }

    /// Whether a point at `t` is late (its window has closed).
    pub fn is_late(&self, t: i64) -> bool {
        t < self.closed_end
    }

    /// Closes every window `[s, e)` with `e + lateness <= now`, returning them oldest first.
    pub fn close(&mut self, now: i64) -> Vec<(i64, S)> {
        let boundary = self.start_of(now.saturating_sub(self.lateness));
        if boundary > self.closed_end {
            self.closed_end = boundary;
        }
        let mut out = Vec::new();
        while let Some(entry) = self.open.first_entry() {
            let start = *entry.key();
            if start.saturating_add(self.interval) > self.closed_end {
                break;
            }
            out.push((start, entry.remove()));
        }
        out
    }

    /// Number of open windows.
    pub fn open_windows(&self) -> usize {
        self.open.len()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::ManualClock;

    const S: i64 = 1_000_000_000;

    #[test]
    fn windows_are_epoch_aligned_with_offset_and_negative_safe() {
        assert_eq!(window_start(0, 60 * S, 0), 0);
        assert_eq!(window_start(59 * S, 60 * S, 0), 0);
        assert_eq!(window_start(60 * S, 60 * S, 0), 60 * S);
        assert_eq!(window_start(-1, 60 * S, 0), -60 * S);
        assert_eq!(window_start(-60 * S, 60 * S, 0), -60 * S);
        assert_eq!(window_start(5 * S, 30 * S, 10 * S), -20 * S);
        assert_eq!(window_start(10 * S, 30 * S, 10 * S), 10 * S);
        assert_eq!(window_start(39 * S, 30 * S, 10 * S), 10 * S);
        assert_eq!(window_start(40 * S, 30 * S, 10 * S), 40 * S);
        // Negative and oversized offsets reduce modulo the interval.
        assert_eq!(window_start(40 * S, 30 * S, -20 * S), 40 * S);
        assert_eq!(window_start(40 * S, 30 * S, 70 * S), 40 * S);
    }

    #[test]
    fn task_clock_is_max_event_time_plus_wall_time_since() {
        let wall = ManualClock::new(1_000 * S);
        let mut c = TaskClock::new(Arc::new(wall.clone()));
        assert_eq!(c.now(), None);
        c.observe(100 * S);
        assert_eq!(c.now(), Some(100 * S));
        wall.advance(3 * S);
        assert_eq!(c.now(), Some(103 * S));
        // An older point does not move the clock back or reset the wall reference.
        c.observe(50 * S);
        assert_eq!(c.now(), Some(103 * S));
        c.observe(200 * S);
        assert_eq!(c.now(), Some(200 * S));
        wall.advance(S);
        assert_eq!(c.now(), Some(201 * S));
    }

    #[test]
    fn windows_close_after_lateness_and_late_points_are_refused() {
        let wall = ManualClock::new(0);
        let mut clock = TaskClock::new(Arc::new(wall.clone()));
        let mut w: TumblingWindows<Vec<i64>> = TumblingWindows::new(60 * S, 0, 5 * S);
        for t in [10 * S, 59 * S, 61 * S] {
            clock.observe(t);
            w.state_for(t).unwrap().1.push(t);
        }
        assert!(w.close(clock.now().unwrap()).is_empty());
        wall.advance(3 * S); // clock 64s: window [0,60) needs 65s
        assert!(w.close(clock.now().unwrap()).is_empty());
        wall.advance(S); // 65s
        let closed = w.close(clock.now().unwrap());
        assert_eq!(closed, vec![(0, vec![10 * S, 59 * S])]);
        assert!(w.is_late(59 * S));
        assert!(w.state_for(30 * S).is_none());
        assert!(!w.is_late(60 * S));
        w.state_for(62 * S).unwrap().1.push(62 * S);
        wall.advance(60 * S);
        let closed = w.close(clock.now().unwrap());
        assert_eq!(closed, vec![(60 * S, vec![61 * S, 62 * S])]);
        assert_eq!(w.open_windows(), 0);
    }

    #[test]
    fn offset_windows_close_at_their_own_boundaries() {
        let mut w: TumblingWindows<u32> = TumblingWindows::new(30 * S, 10 * S, 0);
        *w.state_for(12 * S).unwrap().1 += 1;
        *w.state_for(39 * S).unwrap().1 += 1;
        *w.state_for(40 * S).unwrap().1 += 1;
        assert!(w.close(39 * S).is_empty());
        assert_eq!(w.close(40 * S), vec![(10 * S, 2)]);
        assert_eq!(w.close(70 * S), vec![(40 * S, 1)]);
    }
}
