//! The alert state machine (SPEC §3.3), one per alert ID: which level a series is at, since
//! when, and whether an evaluation is published to the topic, with Kapacitor's rules.
//!
//! - Levels `OK < INFO < WARNING < CRITICAL`; the caller decides the level of an evaluation
//!   (the highest true condition).
//! - A non-OK evaluation is published every time, or only when the level changed with
//!   `STATE CHANGES ONLY`. A return to OK (a recovery) is published unless `NO RECOVERIES`;
//!   further OK evaluations only with `ALL OK`.
//! - `FLAPPING low high`: over the last `HISTORY n` levels (default 21), the weighted share of
//!   changes (recent ones weigh up to 1.5 times the oldest, as in Kapacitor); above `high` the
//!   alert is flapping and nothing is published until the share falls below `low`.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// An alert level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Level {
    Ok,
    Info,
    Warning,
    Critical,
}

impl Level {
    /// As Kapacitor writes it in events and templates.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "OK",
            Level::Info => "INFO",
            Level::Warning => "WARNING",
            Level::Critical => "CRITICAL",
        }
    }
}

/// How an alert publishes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rules {
    pub state_changes_only: bool,
    pub all_ok: bool,
    pub no_recoveries: bool,
    /// `FLAPPING low high`.
    pub flapping: Option<(f64, f64)>,
    /// `HISTORY n`.
    pub history: usize,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            state_changes_only: false,
            all_ok: false,
            no_recoveries: false,
            flapping: None,
            history: 21,
        }
    }
}

/// The state of one alert ID.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertState {
    pub level: Level,
    /// Event time the current level started.
    pub since: i64,
    /// Time of the last evaluation.
    pub last: i64,
    /// Recent levels, oldest first (for flapping).
    pub history: VecDeque<Level>,
    pub flapping: bool,
}

/// One evaluation's outcome, when it is to be published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub level: Level,
    pub previous: Level,
    /// How long the alert has been at `level`, ns.
    pub duration: i64,
}

impl AlertState {
    /// An alert seen for the first time: OK until evaluated.
    pub fn new(time: i64) -> AlertState {
        AlertState {
            level: Level::Ok,
            since: time,
            last: time,
            history: VecDeque::new(),
            flapping: false,
        }
    }

    /// Records an evaluation at `time` with `level`; returns what to publish, if anything.
    pub fn evaluate(&mut self, time: i64, level: Level, rules: &Rules) -> Option<Transition> {
        let previous = self.level;
        let changed = level != previous;
        if changed {
            self.since = time;
        }
        self.level = level;
        self.last = time;
        if let Some((low, high)) = rules.flapping {
            self.history.push_back(level);
            while self.history.len() > rules.history.max(2) {
                self.history.pop_front();
            }
            let share = change_share(&self.history);
            if self.flapping && share < low {
                self.flapping = false;
            } else if !self.flapping && share > high {
                self.flapping = true;
            }
            if self.flapping {
                return None;
            }
        }
        let publish = if level == Level::Ok {
            if changed {
                !rules.no_recoveries
            } else {
                rules.all_ok && !rules.state_changes_only
            }
        } else {
            changed || !rules.state_changes_only
        };
        publish.then_some(Transition {
            level,
            previous,
            duration: time.saturating_sub(self.since),
        })
    }
}

/// Weighted share of level changes in `history`: the change into the newest state weighs
/// 1.5, the oldest 1.0.
fn change_share(history: &VecDeque<Level>) -> f64 {
    let n = history.len();
    if n < 2 {
        return 0.0;
    }
    let (mut changes, mut total) = (0.0, 0.0);
    for i in 1..n {
        let w = 1.0 + 0.5 * (i - 1) as f64 / (n - 2).max(1) as f64;
        total += w;
        if history[i] != history[i - 1] {
            changes += w;
        }
    }
    changes / total
}

#[cfg(test)]
mod tests {
    use super::*;
    use Level::*;

    fn run(rules: Rules, levels: &[Level]) -> Vec<Option<(Level, Level)>> {
        let mut s = AlertState::new(0);
        levels
            .iter()
            .enumerate()
            .map(|(i, l)| {
                s.evaluate(i as i64, *l, &rules)
                    .map(|t| (t.previous, t.level))
            })
            .collect()
    }

    #[test]
    fn every_non_ok_evaluation_and_recoveries_by_default() {
        let got = run(Rules::default(), &[Ok, Warning, Warning, Critical, Ok, Ok]);
        assert_eq!(
            got,
            [
                None,
                Some((Ok, Warning)),
                Some((Warning, Warning)),
                Some((Warning, Critical)),
                Some((Critical, Ok)),
                None
            ]
        );
    }

    #[test]
    fn state_changes_only_all_ok_and_no_recoveries() {
        let changes = Rules {
            state_changes_only: true,
            ..Rules::default()
        };
        let got = run(changes, &[Warning, Warning, Critical, Critical, Ok, Ok]);
        assert_eq!(
            got,
            [
                Some((Ok, Warning)),
                None,
                Some((Warning, Critical)),
                None,
                Some((Critical, Ok)),
                None
            ]
        );
        let all_ok = Rules {
            all_ok: true,
            ..Rules::default()
        };
        assert_eq!(run(all_ok, &[Ok, Ok]), [Some((Ok, Ok)), Some((Ok, Ok))]);
        let quiet = Rules {
            no_recoveries: true,
            ..Rules::default()
        };
        assert_eq!(run(quiet, &[Critical, Ok]), [Some((Ok, Critical)), None]);
    }

    #[test]
    fn duration_counts_from_the_level_change() {
        let mut s = AlertState::new(0);
        let r = Rules::default();
        assert_eq!(s.evaluate(10, Warning, &r).map(|t| t.duration), Some(0));
        assert_eq!(s.evaluate(25, Warning, &r).map(|t| t.duration), Some(15));
        assert_eq!(s.evaluate(30, Critical, &r).map(|t| t.duration), Some(0));
    }

    #[test]
    fn flapping_suppresses_until_it_settles() {
        let rules = Rules {
            flapping: Some((0.25, 0.5)),
            history: 6,
            ..Rules::default()
        };
        let got = run(
            rules,
            &[
                Critical, Ok, Critical, Ok, Critical, Critical, Critical, Critical, Critical,
                Critical,
            ],
        );
        // Flapping from the first change (100 % of the history), silent until the weighted
        // share of changes falls below 25 % (at the 9th evaluation: 1 / 6.25).
        assert_eq!(got[0], Some((Ok, Critical)));
        assert!(got[1..8].iter().all(Option::is_none), "{got:?}");
        assert_eq!(got[8], Some((Critical, Critical)));
        assert_eq!(got[9], Some((Critical, Critical)));
    }
}
