//! Aggregates and selectors: one window of one group reduced to rows.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::udf::UdfSpec;
use super::value::{duration_arg, int_arg, num_arg, value_cmp, EvalError, Input, Num, Value};
use crate::ast::{Expr, VarType};

/// Which aggregate or selector, with its validated literal arguments.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Count,
    Distinct,
    /// Unit in ns.
    Integral(i64),
    Mean,
    Median,
    Mode,
    Spread,
    Stddev,
    Sum,
    First,
    Last,
    Min,
    Max,
    /// 0..=100.
    Percentile(f64),
    Sample(usize),
    Top(usize),
    Bottom(usize),
    /// A user-defined function (see [`AggSpec::udf`]).
    Udf,
}

/// A validated aggregate or selector call: `name(field, extra literal args...)`.
///
/// Validated once when the task is created so evaluating a window never fails.
#[derive(Debug, Clone, PartialEq)]
pub struct AggSpec {
    kind: Kind,
    name: &'static str,
    /// GROUP BY time interval, ns (0 = none).
    interval: i64,
    /// The function, for [`Kind::Udf`].
    udf: Option<std::sync::Arc<UdfSpec>>,
    /// `top(field, tag, ..., N)` / `bottom(...)`: the tags whose distinct values compete
    /// (InfluxDB keeps one point per combination of their values, then the best N of those).
    by_tags: Vec<String>,
}

const NAMES: &[&str] = &[
    "count",
    "distinct",
    "integral",
    "mean",
    "median",
    "mode",
    "spread",
    "stddev",
    "sum",
    "first",
    "last",
    "min",
    "max",
    "percentile",
    "sample",
    "top",
    "bottom",
];

impl AggSpec {
    /// `name` lower-case; `extra` are the call's arguments after the field
    /// (InfluxQL literals). `interval` is the GROUP BY time interval in ns.
    /// Errors on unknown names or bad arguments, with InfluxDB's wording
    /// where it has one.
    pub fn new(name: &str, extra: &[Expr], interval: i64) -> Result<AggSpec, EvalError> {
        let Some(&static_name) = NAMES.iter().find(|n| **n == name) else {
            return Err(EvalError::UnknownFunction(name.to_string()));
        };
        let got = extra.len() + 1;
        let exact = |n: usize| -> Result<(), EvalError> {
            if got == n {
                Ok(())
            } else {
                Err(EvalError::count(name, &n.to_string(), got))
            }
        };
        let mut by_tags = Vec::new();
        let kind = match name {
            "count" => exact(1).map(|_| Kind::Count)?,
            "distinct" => exact(1).map(|_| Kind::Distinct)?,
            "mean" => exact(1).map(|_| Kind::Mean)?,
            "median" => exact(1).map(|_| Kind::Median)?,
            "mode" => exact(1).map(|_| Kind::Mode)?,
            "spread" => exact(1).map(|_| Kind::Spread)?,
            "stddev" => exact(1).map(|_| Kind::Stddev)?,
            "sum" => exact(1).map(|_| Kind::Sum)?,
            "first" => exact(1).map(|_| Kind::First)?,
            "last" => exact(1).map(|_| Kind::Last)?,
            "min" => exact(1).map(|_| Kind::Min)?,
            "max" => exact(1).map(|_| Kind::Max)?,
            "integral" => match extra {
                [] => Kind::Integral(1_000_000_000),
                [unit] => Kind::Integral(duration_arg(name, unit)?),
                _ => return Err(EvalError::count(name, "1 or 2", got)),
            },
            "percentile" => {
                exact(2)?;
                let p = num_arg(name, "N", &extra[0])?;
                if !(0.0..=100.0).contains(&p) {
                    return Err(EvalError::bad(
                        name,
                        format!("N must be between 0 and 100, got {p}"),
                    ));
                }
                Kind::Percentile(p)
            }
            "sample" | "top" | "bottom" => {
                if got > 2 && name != "sample" {
                    by_tags = tag_args(name, &extra[..extra.len() - 1])?;
                } else {
                    exact(2)?;
                }
                let n = int_arg(name, "N", &extra[extra.len() - 1])?;
                if n <= 0 {
                    return Err(EvalError::bad(
                        name,
                        format!("N must be greater than 0, got {n}"),
                    ));
                }
                let n = usize::try_from(n).unwrap_or(usize::MAX);
                match name {
                    "sample" => Kind::Sample(n),
                    "top" => Kind::Top(n),
                    _ => Kind::Bottom(n),
                }
            }
            _ => return Err(EvalError::UnknownFunction(name.to_string())),
        };
        Ok(AggSpec {
            kind,
            name: static_name,
            interval,
            udf: None,
            by_tags,
        })
    }

    /// A call of a user-defined function, an aggregate over each window and group.
    pub fn udf(spec: UdfSpec, interval: i64) -> AggSpec {
        AggSpec {
            kind: Kind::Udf,
            name: "udf",
            interval,
            udf: Some(std::sync::Arc::new(spec)),
            by_tags: Vec::new(),
        }
    }

    /// Whether finishing a window calls out to a user-defined function (and may block).
    pub fn is_udf(&self) -> bool {
        self.kind == Kind::Udf
    }

    /// The function's lower-case name.
    pub fn name(&self) -> &str {
        match &self.udf {
            Some(u) => &u.name,
            None => self.name,
        }
    }

    /// The tags of `top(field, tag, ..., N)` / `bottom(...)` (empty for every other call):
    /// the caller passes their values to [`Acc::add_tagged`], and each output row of
    /// [`Acc::finish_tagged`] carries them.
    pub fn by_tags(&self) -> &[String] {
        &self.by_tags
    }

    /// Whether the function can return several rows per window.
    pub fn multi_row(&self) -> bool {
        matches!(
            self.kind,
            Kind::Distinct | Kind::Sample(_) | Kind::Top(_) | Kind::Bottom(_)
        )
    }
}

/// The tag arguments of `top(field, tag, ..., N)`: identifiers, deduplicated (a repeated tag
/// has one value per point, so it does not change which points compete).
fn tag_args(name: &str, args: &[Expr]) -> Result<Vec<String>, EvalError> {
    let mut tags: Vec<String> = Vec::new();
    for a in args {
        match a {
            Expr::VarRef(v) if v.data_type.is_none() || v.data_type == Some(VarType::Tag) => {
                if !tags.contains(&v.name) {
                    tags.push(v.name.clone());
                }
            }
            other => {
                return Err(EvalError::bad(
                    name,
                    format!("only tags are allowed between the field and N, found {other}"),
                ))
            }
        }
    }
    Ok(tags)
}

/// One output row of [`Acc::finish_tagged`]: time, value, and the values of the call's
/// [`AggSpec::by_tags`] (in that order; `""` for a point without the tag).
pub type TaggedRow = (i64, Value, Vec<String>);

/// The running state of one aggregate in one (window, group).
///
/// An enum so a window holding thousands of groups stays small:
/// decomposable functions keep O(1) state, the rest keep the points they need.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Acc(State);

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
enum State {
    /// count
    Count(u64),
    /// sum: the running total in the input's type.
    Sum(Option<Num>),
    /// mean
    Mean {
        /// Running sum of the float points, from 0.0 as InfluxDB's `FloatMeanReducer`.
        sum: f64,
        /// Points seen.
        n: u64,
        /// Running sum of the integer (or unsigned) points in their own type, wrapping:
        /// InfluxDB's integer mean is `float64(int64 sum) / count`, which differs from a float
        /// sum past 2^53 and on overflow. (Absent from checkpoints of earlier builds.)
        #[serde(default)]
        whole: Option<Num>,
        /// The series the integer points in `whole` are from (see [`Acc::add_in_series`]).
        #[serde(default, skip_serializing_if = "is_zero")]
        series: u64,
        /// Integer points of the group's other series: per series, their wrapping sum and
        /// count. InfluxDB reduces a mean per series and merges the series' means in float64,
        /// which differs from the group's one int64 sum when a series' sum wraps (or passes
        /// 2^53) and the group's does not. Ordered, so every run merges in the same order.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        others: Option<Box<OtherSeries>>,
    },
    /// min / max: (time, value) of the winner so far (numbers or booleans).
    Extreme(Option<(i64, Value)>),
    /// first / last: (time, value) of the winner so far.
    Edge(Option<(i64, Value)>),
    /// spread: (min, max)
    Spread(Option<(Num, Num)>),
    /// stddev (Welford): n, mean, M2.
    Stddev {
        /// Points seen.
        n: u64,
        /// Running mean.
        mean: f64,
        /// Sum of squared deviations.
        m2: f64,
    },
    /// Functions that need every point (time, value), in arrival order.
    Points(Vec<(i64, Value)>),
    /// `top/bottom(field, tag, ..., N)`: per combination of the tags' values (sorted by it),
    /// the point that wins it: InfluxDB runs `max()` (`min()` for bottom) per combination
    /// first, the earlier point winning a tie, and picks the best N of those winners.
    ByTags(Vec<(Vec<String>, i64, Num)>),
}

/// The integer points of a mean's other series: per series, their wrapping sum and count.
/// Boxed where it is held, so a mean that never sees a second series stays small.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
struct OtherSeries(BTreeMap<u64, (Num, u64)>);

/// Whether a function takes strings and booleans (InfluxDB's rule); others
/// ignore non-numeric input.
fn accepts_any(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::Count
            | Kind::Distinct
            | Kind::Mode
            | Kind::First
            | Kind::Last
            | Kind::Sample(_)
            | Kind::Udf
            // Booleans only; strings are dropped in add().
            | Kind::Min
            | Kind::Max
    )
}

impl Acc {
    /// The empty state for `spec`.
    pub fn new(spec: &AggSpec) -> Acc {
        Acc(match spec.kind {
            Kind::Count => State::Count(0),
            Kind::Sum => State::Sum(None),
            Kind::Mean => State::Mean {
                sum: 0.0,
                n: 0,
                whole: None,
                series: 0,
                others: None,
            },
            Kind::Min | Kind::Max => State::Extreme(None),
            Kind::First | Kind::Last => State::Edge(None),
            Kind::Spread => State::Spread(None),
            Kind::Stddev => State::Stddev {
                n: 0,
                mean: 0.0,
                m2: 0.0,
            },
            Kind::Top(_) | Kind::Bottom(_) if !spec.by_tags.is_empty() => State::ByTags(Vec::new()),
            _ => State::Points(Vec::new()),
        })
    }

    /// One point (time ns, value). Points may arrive in any time order.
    pub fn add(&mut self, spec: &AggSpec, t: i64, v: Input<'_>) {
        self.add_in_series(spec, t, v, 0);
    }

    /// One point of the group's series `series`: a value that tells the series of a group
    /// apart (0 for the group's own series, when the group is one series). Only `mean()` of
    /// integers looks at it, reducing each series on its own as InfluxDB does; the other
    /// functions give the same result either way.
    pub fn add_in_series(&mut self, spec: &AggSpec, t: i64, v: Input<'_>, series: u64) {
        if let State::ByTags(_) = self.0 {
            // Without the tags' values, the point competes as if it had none of them.
            let none = vec![""; spec.by_tags.len()];
            return self.add_tagged(spec, t, v, &none);
        }
        let num = Num::of(v);
        if num.is_none() && !accepts_any(spec.kind) {
            return;
        }
        match &mut self.0 {
            State::Count(n) => *n += 1,
            State::Sum(s) => {
                if let Some(x) = num {
                    *s = Some(match *s {
                        None => x,
                        Some(prev) => prev.add(x),
                    });
                }
            }
            State::Mean {
                sum,
                n,
                whole,
                series: own,
                others,
            } => {
                match num {
                    Some(Num::F(x)) => *sum += x,
                    Some(x) if whole.is_none() && others.is_none() => {
                        *whole = Some(x);
                        *own = series;
                    }
                    Some(x) if series == *own => *whole = whole.map(|w| w.add(x)).or(Some(x)),
                    Some(x) => {
                        others
                            .get_or_insert_with(Box::default)
                            .0
                            .entry(series)
                            .and_modify(|(s, c)| {
                                *s = s.add(x);
                                *c += 1;
                            })
                            .or_insert((x, 1));
                        return;
                    }
                    None => return,
                }
                *n += 1;
            }
            State::Extreme(p) => {
                let x = Value::from_input(v);
                if matches!(x, Value::Str(_)) {
                    return;
                }
                let better = match p {
                    None => true,
                    Some((pt, pv)) => {
                        let ord = value_cmp(&x, pv);
                        let ord = if spec.kind == Kind::Min {
                            ord
                        } else {
                            ord.reverse()
                        };
                        // InfluxDB: on equal values the earlier point wins.
                        ord == Ordering::Less || (ord == Ordering::Equal && t < *pt)
                    }
                };
                if better {
                    *p = Some((t, x));
                }
            }
            State::Edge(p) => {
                let x = Value::from_input(v);
                let better = match p {
                    None => true,
                    Some((pt, pv)) => {
                        let first = spec.kind == Kind::First;
                        let newer = if first { t < *pt } else { t > *pt };
                        // InfluxDB: on equal times the larger value wins, except
                        // that first() of booleans prefers false.
                        let tie_wins = match (&x, &*pv) {
                            (Value::Bool(a), Value::Bool(b)) => {
                                if first {
                                    !*a && *b
                                } else {
                                    *a && !*b
                                }
                            }
                            _ => value_cmp(&x, pv) == Ordering::Greater,
                        };
                        newer || (t == *pt && tie_wins)
                    }
                };
                if better {
                    *p = Some((t, x));
                }
            }
            State::Spread(p) => {
                if let Some(x) = num {
                    *p = Some(match *p {
                        None => (x, x),
                        Some((lo, hi)) => (
                            if x.cmp(lo) == Ordering::Less { x } else { lo },
                            if x.cmp(hi) == Ordering::Greater {
                                x
                            } else {
                                hi
                            },
                        ),
                    });
                }
            }
            State::Stddev { n, mean, m2 } => {
                if let Some(x) = num {
                    let x = x.f();
                    *n += 1;
                    let delta = x - *mean;
                    *mean += delta / *n as f64;
                    *m2 += delta * (x - *mean);
                }
            }
            State::Points(points) => points.push((t, Value::from_input(v))),
            State::ByTags(_) => {}
        }
    }

    /// One point of a `top/bottom(field, tag, ..., N)` call, with the values of the call's
    /// [`AggSpec::by_tags`] (`""` for a tag the point lacks). Other calls ignore the tags.
    pub fn add_tagged(&mut self, spec: &AggSpec, t: i64, v: Input<'_>, tags: &[&str]) {
        let State::ByTags(best) = &mut self.0 else {
            return self.add(spec, t, v);
        };
        let Some(x) = Num::of(v) else { return };
        let top = matches!(spec.kind, Kind::Top(_));
        let found = best
            .binary_search_by(|(k, _, _)| k.iter().map(String::as_str).cmp(tags.iter().copied()));
        match found {
            Ok(i) => {
                if let Some((_, bt, bv)) = best.get_mut(i) {
                    let ord = if top {
                        x.cmp(*bv).reverse()
                    } else {
                        x.cmp(*bv)
                    };
                    if ord == Ordering::Less || (ord == Ordering::Equal && t < *bt) {
                        *bt = t;
                        *bv = x;
                    }
                }
            }
            Err(i) => best.insert(i, (tags.iter().map(|s| (*s).to_string()).collect(), t, x)),
        }
    }

    /// The rows of `top/bottom(field, tag, ..., N)` with the tags' values of each: the best
    /// N of the per-combination winners (larger, for bottom smaller, value first; the earlier
    /// point on a tie), in time order. Other calls give [`Acc::finish`]'s rows without tags.
    pub fn finish_tagged(&self, spec: &AggSpec, start: i64) -> Vec<TaggedRow> {
        let State::ByTags(best) = &self.0 else {
            return self
                .finish(spec, start)
                .into_iter()
                .map(|(t, v)| (t, v, Vec::new()))
                .collect();
        };
        let (n, top) = match spec.kind {
            Kind::Top(n) => (n, true),
            Kind::Bottom(n) => (n, false),
            _ => return Vec::new(),
        };
        let mut rows: Vec<&(Vec<String>, i64, Num)> = best.iter().collect();
        rows.sort_by(|a, b| {
            let ord = if top { b.2.cmp(a.2) } else { a.2.cmp(b.2) };
            ord.then(a.1.cmp(&b.1)).then_with(|| a.0.cmp(&b.0))
        });
        rows.truncate(n);
        rows.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        rows.into_iter()
            .map(|(tags, t, v)| (*t, v.value(), tags.clone()))
            .collect()
    }

    /// The output rows of window `[start, start+interval)` as InfluxDB 1.6
    /// returns them for `SELECT f(x) ... GROUP BY time(interval)`:
    /// (timestamp, value). Empty or all-incompatible input gives none.
    pub fn finish(&self, spec: &AggSpec, start: i64) -> Vec<(i64, Value)> {
        self.finish_in_group(spec, start, &[])
    }

    /// As [`Acc::finish`], for the group with `tags` (what a user-defined function is told).
    pub fn finish_in_group(
        &self,
        spec: &AggSpec,
        start: i64,
        tags: &[(String, String)],
    ) -> Vec<(i64, Value)> {
        if let (Some(udf), State::Points(points)) = (&spec.udf, &self.0) {
            if points.is_empty() {
                return Vec::new();
            }
            let window = (start, start.saturating_add(spec.interval));
            return super::udf::evaluate(udf, window, tags, points)
                .map(|v| vec![(start, v)])
                .unwrap_or_default();
        }
        let one = |v: Option<Value>| v.map(|v| vec![(start, v)]).unwrap_or_default();
        match &self.0 {
            State::Count(n) => {
                one((*n > 0).then(|| Value::Int(i64::try_from(*n).unwrap_or(i64::MAX))))
            }
            State::Sum(s) => one(s.map(Num::value)),
            State::Mean { .. } => one(self.mean()),
            State::Extreme(p) => one(p.as_ref().map(|(_, v)| v.clone())),
            State::Edge(p) => one(p.as_ref().map(|(_, v)| v.clone())),
            State::Spread(p) => one(p.map(|(lo, hi)| hi.sub(lo).value())),
            State::Stddev { n, m2, .. } => {
                one((*n >= 2).then(|| Value::Float((*m2 / (*n - 1) as f64).sqrt())))
            }
            State::Points(points) => finish_points(spec, start, points),
            State::ByTags(_) => self
                .finish_tagged(spec, start)
                .into_iter()
                .map(|(t, v, _)| (t, v))
                .collect(),
        }
    }

    /// The value of the first row [`Acc::finish`] returns, without building the rows for the
    /// functions that keep O(1) state (what a windowed CQ asks of single-row aggregates).
    pub fn finish_first(&self, spec: &AggSpec, start: i64) -> Option<Value> {
        match &self.0 {
            State::Count(n) => (*n > 0).then(|| Value::Int(i64::try_from(*n).unwrap_or(i64::MAX))),
            State::Sum(s) => s.map(Num::value),
            State::Mean { .. } => self.mean(),
            State::Extreme(p) | State::Edge(p) => p.as_ref().map(|(_, v)| v.clone()),
            State::Spread(p) => p.map(|(lo, hi)| hi.sub(lo).value()),
            State::Stddev { n, m2, .. } => {
                (*n >= 2).then(|| Value::Float((*m2 / (*n - 1) as f64).sqrt()))
            }
            State::Points(_) | State::ByTags(_) => {
                self.finish(spec, start).into_iter().next().map(|r| r.1)
            }
        }
    }

    /// integral() with InfluxDB's interpolation across window edges: when a
    /// query covers several windows, InfluxDB adds the area between a window's
    /// edge and the neighbouring windows' nearest points (`prev` = last point
    /// before the window, `next` = first point after it). Only meaningful for
    /// integral; other functions ignore the neighbours.
    pub fn finish_with_neighbors(
        &self,
        spec: &AggSpec,
        start: i64,
        prev: Option<(i64, f64)>,
        next: Option<(i64, f64)>,
    ) -> Vec<(i64, Value)> {
        match (spec.kind, &self.0) {
            (Kind::Integral(unit), State::Points(points)) => {
                let pts = numeric_sorted(points);
                let integers = points
                    .iter()
                    .all(|(_, v)| matches!(v, Value::Int(_) | Value::UInt(_)));
                integral(&pts, unit, start, spec.interval, prev, next, integers)
                    .map(|v| vec![(start, Value::Float(v))])
                    .unwrap_or_default()
            }
            _ => self.finish(spec, start),
        }
    }

    /// The earliest and latest numeric points of the window, what a
    /// neighbouring window's [`Acc::finish_with_neighbors`] needs.
    pub fn edge_points(&self) -> Option<((i64, f64), (i64, f64))> {
        let State::Points(points) = &self.0 else {
            return None;
        };
        let pts = numeric_sorted(points);
        Some((*pts.first()?, *pts.last()?))
    }
}

/// The state of a decomposable aggregate as plain numbers: what moves a window's state between
/// [`Acc`] (checkpoints) and the columnar accumulators of windowed continuous queries.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Partial {
    Count(u64),
    Sum(Option<Num>),
    /// The float sum, the count of all points, the integer points' own sum.
    Mean {
        sum: f64,
        n: u64,
        whole: Option<Num>,
    },
    /// min / max: the winning value (its time does not reach the output of a windowed query).
    Extreme(Option<Value>),
    /// spread: the smallest and largest number.
    Spread(Option<(Num, Num)>),
}

impl Acc {
    /// This state as a [`Partial`], when it is one of count, sum, mean, min, max, spread (a
    /// mean only while it has seen one series: a [`Partial`] has no series).
    pub(crate) fn partial(&self) -> Option<Partial> {
        Some(match &self.0 {
            State::Count(n) => Partial::Count(*n),
            State::Sum(s) => Partial::Sum(*s),
            State::Mean {
                sum,
                n,
                whole,
                series: 0,
                others: None,
            } => Partial::Mean {
                sum: *sum,
                n: *n,
                whole: *whole,
            },
            State::Extreme(p) => Partial::Extreme(p.as_ref().map(|(_, v)| v.clone())),
            State::Spread(p) => Partial::Spread(*p),
            _ => return None,
        })
    }

    /// The state holding `p`; an extreme's value is dated `t`.
    pub(crate) fn from_partial(p: Partial, t: i64) -> Acc {
        Acc(match p {
            Partial::Count(n) => State::Count(n),
            Partial::Sum(s) => State::Sum(s),
            Partial::Mean { sum, n, whole } => State::Mean {
                sum,
                n,
                whole,
                series: 0,
                others: None,
            },
            Partial::Extreme(v) => State::Extreme(v.map(|v| (t, v))),
            Partial::Spread(p) => State::Spread(p),
        })
    }
}

impl Acc {
    /// A mean's value. Over several series (integer points only, see [`Acc::add_in_series`])
    /// as InfluxDB merges the series' reductions: each series' mean `m` weighs `m * count`
    /// (`m` alone for one point), the sum of those over the total count.
    fn mean(&self) -> Option<Value> {
        let State::Mean {
            sum,
            n,
            whole,
            others,
            ..
        } = &self.0
        else {
            return None;
        };
        let Some(others) = others else {
            return mean(*sum, *n, *whole);
        };
        let weigh = |m: f64, c: u64| if c >= 2 { m * c as f64 } else { m };
        let (mut total, mut count) = (0.0, 0u64);
        if let Some(Value::Float(m)) = mean(*sum, *n, *whole) {
            total += weigh(m, *n);
            count += n;
        }
        for (s, c) in others.0.values() {
            total += weigh(s.f() / *c as f64, *c);
            count += c;
        }
        (count > 0).then(|| Value::Float(total / count as f64))
    }
}

fn is_zero(x: &u64) -> bool {
    *x == 0
}

/// A mean's value: the float sum and the integer sum (converted once, at the end) over the
/// count.
pub(crate) fn mean(sum: f64, n: u64, whole: Option<Num>) -> Option<Value> {
    (n > 0).then(|| Value::Float((sum + whole.map_or(0.0, Num::f)) / n as f64))
}

/// Numeric points sorted by time (stable: equal times keep arrival order).
fn numeric_sorted(points: &[(i64, Value)]) -> Vec<(i64, f64)> {
    let mut pts: Vec<(i64, f64)> = points
        .iter()
        .filter_map(|(t, v)| v.as_f64().map(|f| (*t, f)))
        .collect();
    pts.sort_by_key(|p| p.0);
    pts
}

/// Trapezoid integral over time-sorted points; `None` when there are none.
fn integral(
    pts: &[(i64, f64)],
    unit: i64,
    start: i64,
    interval: i64,
    prev: Option<(i64, f64)>,
    next: Option<(i64, f64)>,
    integers: bool,
) -> Option<f64> {
    let end = start.saturating_add(interval);
    let unit = unit as f64;
    let mut iter = pts.iter();
    let &(mut pt, mut pv) = iter.next()?;
    let mut sum = 0.0;
    if let Some((t0, v0)) = prev {
        if t0 < start {
            // InfluxDB interpolates at the end of the previous point's window
            // (this window's start unless the windows between are empty) and
            // integrates from there.
            let from = if interval > 0 {
                start - ((start - t0 - 1) / interval) * interval
            } else {
                start
            };
            if pt > from {
                let vs = lerp(from, t0, pt, v0, pv);
                // InfluxDB's integer reducer pairs the previous point's own
                // value with the edge value (a quirk of its variable reuse).
                let (a, b) = if integers { (v0, vs) } else { (vs, pv) };
                sum += 0.5 * (a + b) * ((pt - from) as f64 / unit);
            }
        }
    }
    for &(t, v) in iter {
        if t == pt {
            // Equal times: the later point replaces the earlier.
            pv = v;
            continue;
        }
        sum += 0.5 * (v + pv) * ((t - pt) as f64 / unit);
        pt = t;
        pv = v;
    }
    match next {
        Some((t1, v1)) if t1 >= end && pt < end => {
            let ve = lerp(end, pt, t1, pv, v1);
            sum += 0.5 * (ve + pv) * ((end - pt) as f64 / unit);
        }
        // No point after the window (the range ends): InfluxDB drops a window whose last
        // point is at its start, even when the area from the previous window is in it.
        None if pt == start => return None,
        _ => {}
    }
    Some(sum)
}

fn lerp(t: i64, t0: i64, t1: i64, v0: f64, v1: f64) -> f64 {
    if t1 == t0 {
        return v0;
    }
    v0 + (v1 - v0) * ((t - t0) as f64 / (t1 - t0) as f64)
}

fn finish_points(spec: &AggSpec, start: i64, points: &[(i64, Value)]) -> Vec<(i64, Value)> {
    if points.is_empty() {
        return Vec::new();
    }
    match spec.kind {
        Kind::Integral(unit) => {
            let pts = numeric_sorted(points);
            integral(&pts, unit, start, spec.interval, None, None, false)
                .map(|v| vec![(start, Value::Float(v))])
                .unwrap_or_default()
        }
        Kind::Distinct => {
            // InfluxDB keeps each value's earliest point, then orders by
            // (time, value): first-appearance order, not value order.
            let mut pts: Vec<(i64, &Value)> = points.iter().map(|(t, v)| (*t, v)).collect();
            pts.sort_by(|a, b| value_cmp(a.1, b.1).then(a.0.cmp(&b.0)));
            pts.dedup_by(|a, b| value_cmp(a.1, b.1) == Ordering::Equal);
            pts.sort_by(|a, b| a.0.cmp(&b.0).then(value_cmp(a.1, b.1)));
            pts.into_iter().map(|(_, v)| (start, v.clone())).collect()
        }
        Kind::Median => {
            let mut vals: Vec<f64> = points.iter().filter_map(|(_, v)| v.as_f64()).collect();
            if vals.is_empty() {
                return Vec::new();
            }
            vals.sort_by(f64::total_cmp);
            let len = vals.len();
            let m = if len % 2 == 1 {
                vals[len / 2]
            } else {
                let (lo, hi) = (vals[len / 2 - 1], vals[len / 2]);
                lo + (hi - lo) / 2.0
            };
            vec![(start, Value::Float(m))]
        }
        Kind::Mode => mode(points).map(|v| vec![(start, v)]).unwrap_or_default(),
        Kind::Percentile(p) => {
            let mut pts: Vec<(i64, Num)> = points
                .iter()
                .filter_map(|(t, v)| Num::of_value(v).map(|n| (*t, n)))
                .collect();
            pts.sort_by(|a, b| a.1.cmp(b.1).then(a.0.cmp(&b.0)));
            let i = (pts.len() as f64 * p / 100.0 + 0.5).floor() as i64 - 1;
            match usize::try_from(i).ok().and_then(|i| pts.get(i)) {
                Some(&(_, v)) => vec![(start, v.value())],
                None => Vec::new(),
            }
        }
        Kind::Top(n) | Kind::Bottom(n) => {
            let mut pts: Vec<(i64, Num)> = points
                .iter()
                .filter_map(|(t, v)| Num::of_value(v).map(|x| (*t, x)))
                .collect();
            let top = matches!(spec.kind, Kind::Top(_));
            pts.sort_by(|a, b| {
                let ord = if top { b.1.cmp(a.1) } else { a.1.cmp(b.1) };
                ord.then(a.0.cmp(&b.0))
            });
            pts.truncate(n);
            pts.sort_by_key(|p| p.0);
            pts.into_iter().map(|(t, v)| (t, v.value())).collect()
        }
        Kind::Sample(n) => {
            let mut pts: Vec<(i64, Value)> = points.to_vec();
            pts.sort_by_key(|p| p.0);
            if pts.len() > n {
                // InfluxDB samples at random; weir keeps a deterministic,
                // evenly spread subset so re-runs agree.
                let len = pts.len();
                pts = (0..n)
                    .filter_map(|k| pts.get(k * len / n).cloned())
                    .collect();
            }
            pts
        }
        _ => Vec::new(),
    }
}

/// InfluxDB's mode: booleans by majority (true on a tie); other values sorted
/// by (value, time) and scanned with InfluxDB's running-count rule, whose tie
/// break favours the value whose run started before the current best was
/// last updated (in effect: the value first seen earlier; all-distinct input
/// gives the smallest value).
fn mode(points: &[(i64, Value)]) -> Option<Value> {
    if let [(_, v)] = points {
        return Some(v.clone());
    }
    if points.iter().any(|(_, v)| matches!(v, Value::Bool(_))) {
        let trues = points
            .iter()
            .filter(|(_, v)| *v == Value::Bool(true))
            .count();
        let falses = points
            .iter()
            .filter(|(_, v)| *v == Value::Bool(false))
            .count();
        if trues + falses > 0 {
            return Some(Value::Bool(trues >= falses));
        }
    }
    // InfluxDB reads a window's points in time order, sorts them by value with Go's unstable
    // sort.Sort, and breaks frequency ties by the times of the equal points as that sort
    // leaves them: the same sort, step for step, gives its answer.
    let mut pts: Vec<(i64, &Value)> = points.iter().map(|(t, v)| (*t, v)).collect();
    pts.sort_by_key(|p| p.0);
    super::go_sort::sort(&mut pts, |a, b| value_cmp(a.1, b.1) == Ordering::Less);
    let &(t0, v0) = pts.first()?;
    let (mut most_freq, mut curr_freq) = (0usize, 0usize);
    let (mut curr_mode, mut most_mode) = (v0, v0);
    let (mut most_time, mut curr_time) = (t0, t0);
    for &(t, v) in &pts {
        if value_cmp(v, curr_mode) != Ordering::Equal {
            curr_freq = 1;
            curr_mode = v;
            curr_time = t;
            continue;
        }
        curr_freq += 1;
        if most_freq > curr_freq || (most_freq == curr_freq && curr_time > most_time) {
            continue;
        }
        most_freq = curr_freq;
        most_mode = v;
        most_time = t;
    }
    Some(most_mode.clone())
}
