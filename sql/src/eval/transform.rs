//! Transformations and technical-analysis functions: per-series streaming state.

use super::ta::{self, Cmo, Dema, Ema, Kama, Ker, Tema, Trix, UpDown, Warmup};
use super::value::{duration_arg, int_arg, EvalError, Num, Value};
use crate::ast::Expr;

/// Which transformation, with its validated arguments.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// Unit in ns; non-negative?
    Derivative(i64, bool),
    /// Non-negative?
    Difference(bool),
    CumulativeSum,
    MovingAverage(usize),
    /// Unit in ns.
    Elapsed(i64),
    /// Technical analysis: which, period, hold period, warmup (`None` = 'none').
    Ta(TaKind, usize, usize, Option<Warmup>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TaKind {
    Ema,
    Dema,
    Tema,
    Trix,
    Rsi,
    Cmo,
    Ker,
    Kama,
}

/// A validated transformation (derivative, non_negative_derivative,
/// difference, non_negative_difference, cumulative_sum, moving_average,
/// elapsed) or technical-analysis function.
///
/// Validated up front so a running task never fails on a bad argument.
#[derive(Debug, Clone, PartialEq)]
pub struct TransformSpec {
    kind: Kind,
    name: &'static str,
}

const NAMES: &[&str] = &[
    "derivative",
    "non_negative_derivative",
    "difference",
    "non_negative_difference",
    "cumulative_sum",
    "moving_average",
    "elapsed",
    "exponential_moving_average",
    "double_exponential_moving_average",
    "triple_exponential_moving_average",
    "triple_exponential_derivative",
    "relative_strength_index",
    "chande_momentum_oscillator",
    "kaufmans_efficiency_ratio",
    "kaufmans_adaptive_moving_average",
];

impl TransformSpec {
    /// `extra` = the call's arguments after the first. `grouped_interval` =
    /// `Some(GROUP BY interval)` when applied to an aggregate inside GROUP BY
    /// time, `None` for raw points: InfluxDB's derivative() defaults its unit
    /// to the GROUP BY interval in the first case and to 1s in the second.
    pub fn new(
        name: &str,
        extra: &[Expr],
        grouped_interval: Option<i64>,
    ) -> Result<Self, EvalError> {
        let Some(&static_name) = NAMES.iter().find(|n| **n == name) else {
            return Err(EvalError::UnknownFunction(name.to_string()));
        };
        let got = extra.len() + 1;
        let kind = match name {
            "derivative" | "non_negative_derivative" => {
                let unit = match extra {
                    [] => grouped_interval.filter(|i| *i > 0).unwrap_or(1_000_000_000),
                    [u] => duration_arg(name, u)?,
                    _ => return Err(EvalError::count(name, "1 or 2", got)),
                };
                Kind::Derivative(unit, name == "non_negative_derivative")
            }
            "elapsed" => {
                let unit = match extra {
                    [] => 1,
                    [u] => duration_arg(name, u)?,
                    _ => return Err(EvalError::count(name, "1 or 2", got)),
                };
                Kind::Elapsed(unit)
            }
            "difference" | "non_negative_difference" => {
                if !extra.is_empty() {
                    return Err(EvalError::count(name, "1", got));
                }
                Kind::Difference(name == "non_negative_difference")
            }
            "cumulative_sum" => {
                if !extra.is_empty() {
                    return Err(EvalError::count(name, "1", got));
                }
                Kind::CumulativeSum
            }
            "moving_average" => {
                let [n] = extra else {
                    return Err(EvalError::count(name, "2", got));
                };
                let n = int_arg(name, "the window", n)?;
                if n <= 1 {
                    return Err(EvalError::bad(
                        name,
                        format!("moving_average window must be greater than 1, got {n}"),
                    ));
                }
                Kind::MovingAverage(usize::try_from(n).unwrap_or(usize::MAX))
            }
            _ => ta_kind(name, extra)?,
        };
        Ok(TransformSpec {
            kind,
            name: static_name,
        })
    }

    /// The function's lower-case name.
    pub fn name(&self) -> &str {
        self.name
    }
}

fn ta_kind(name: &str, extra: &[Expr]) -> Result<Kind, EvalError> {
    let got = extra.len() + 1;
    let which = match name {
        "exponential_moving_average" => TaKind::Ema,
        "double_exponential_moving_average" => TaKind::Dema,
        "triple_exponential_moving_average" => TaKind::Tema,
        "triple_exponential_derivative" => TaKind::Trix,
        "relative_strength_index" => TaKind::Rsi,
        "chande_momentum_oscillator" => TaKind::Cmo,
        "kaufmans_efficiency_ratio" => TaKind::Ker,
        "kaufmans_adaptive_moving_average" => TaKind::Kama,
        _ => return Err(EvalError::UnknownFunction(name.to_string())),
    };
    let kaufmans = matches!(which, TaKind::Ker | TaKind::Kama);
    let max = if kaufmans { 3 } else { 4 };
    if !(2..=max).contains(&got) {
        return Err(EvalError::count(
            name,
            &format!("at least 2 but no more than {max}"),
            got,
        ));
    }
    let period = match &extra[0] {
        Expr::Integer(p) if *p >= 1 => *p,
        Expr::Integer(_) => {
            return Err(EvalError::bad(
                name,
                "period must be greater than or equal to 1",
            ))
        }
        _ => return Err(EvalError::bad(name, "period must be an integer")),
    };
    if which == TaKind::Cmo
        && period < 2
        && !matches!(extra.get(2), Some(Expr::String(s)) if s != "none")
    {
        // InfluxDB 1.6 crashes the query on an unsmoothed CMO of period 1.
        return Err(EvalError::bad(
            name,
            "period must be at least 2 without a warmup type",
        ));
    }
    let period = usize::try_from(period).unwrap_or(usize::MAX);
    let hold = match extra.get(1) {
        None => None,
        Some(Expr::Integer(-1)) => None,
        Some(Expr::Integer(h)) if which == TaKind::Trix && *h < 1 => {
            return Err(EvalError::bad(
                name,
                "hold period must be greater than or equal to 1",
            ))
        }
        Some(Expr::Integer(h)) if *h < 0 => {
            return Err(EvalError::bad(
                name,
                "hold period must be greater than or equal to 0",
            ))
        }
        Some(Expr::Integer(h)) => Some(usize::try_from(*h).unwrap_or(usize::MAX)),
        Some(_) => return Err(EvalError::bad(name, "hold period must be an integer")),
    };
    let warmup = match extra.get(2) {
        None if which == TaKind::Cmo => None,
        None => Some(Warmup::Exponential),
        Some(Expr::String(s)) => match s.as_str() {
            "exponential" => Some(Warmup::Exponential),
            "simple" => Some(Warmup::Simple),
            "none" if which == TaKind::Cmo => None,
            _ if which == TaKind::Cmo => {
                return Err(EvalError::bad(
                    name,
                    "warmup type must be one of: 'none' 'exponential' 'simple'",
                ))
            }
            _ => {
                return Err(EvalError::bad(
                    name,
                    "warmup type must be one of: 'exponential' 'simple'",
                ))
            }
        },
        Some(_) => return Err(EvalError::bad(name, "warmup type must be a string")),
    };
    let default_hold = TaState::new(which, period, warmup).warm_count();
    Ok(Kind::Ta(
        which,
        period,
        hold.unwrap_or(default_hold),
        warmup,
    ))
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
enum TaState {
    Ema(Ema),
    Dema(Dema),
    Tema(Tema),
    Trix(Trix),
    Rsi(UpDown),
    Cmos(UpDown),
    Cmo(Cmo),
    Ker(Ker),
    Kama(Kama),
}

impl TaState {
    fn new(which: TaKind, period: usize, warmup: Option<Warmup>) -> TaState {
        let w = warmup.unwrap_or(Warmup::Exponential);
        match which {
            TaKind::Ema => TaState::Ema(Ema::new(period, w)),
            TaKind::Dema => TaState::Dema(Dema::new(period, w)),
            TaKind::Tema => TaState::Tema(Tema::new(period, w)),
            TaKind::Trix => TaState::Trix(Trix::new(period, w)),
            TaKind::Rsi => TaState::Rsi(UpDown::new(period, w)),
            TaKind::Cmo => match warmup {
                None => TaState::Cmo(Cmo::new(period)),
                Some(w) => TaState::Cmos(UpDown::new(period, w)),
            },
            TaKind::Ker => TaState::Ker(Ker::new(period)),
            TaKind::Kama => TaState::Kama(Kama::new(period)),
        }
    }

    fn warm_count(&self) -> usize {
        match self {
            TaState::Ema(s) => s.warm_count(),
            TaState::Dema(s) => s.warm_count(),
            TaState::Tema(s) => s.warm_count(),
            TaState::Trix(s) => s.warm_count(),
            TaState::Rsi(s) | TaState::Cmos(s) => s.warm_count(),
            TaState::Cmo(s) => s.warm_count(),
            TaState::Ker(s) => s.warm_count(),
            TaState::Kama(s) => s.warm_count(),
        }
    }

    fn add(&mut self, v: f64) -> f64 {
        match self {
            TaState::Ema(s) => s.add(v),
            TaState::Dema(s) => s.add(v),
            TaState::Tema(s) => s.add(v),
            TaState::Trix(s) => s.add(v),
            TaState::Rsi(s) => {
                let (u, d) = s.add(v);
                ta::rsi(u, d)
            }
            TaState::Cmos(s) => {
                let (u, d) = s.add(v);
                ta::cmos(u, d)
            }
            TaState::Cmo(s) => s.add(v),
            TaState::Ker(s) => s.add(v),
            TaState::Kama(s) => s.add(v),
        }
    }
}

/// Per-series streaming state: fed the series' points in time order (one per
/// window when applied to an aggregate), emits what InfluxDB would output for
/// that point, if anything.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Transform {
    state: State,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
enum State {
    /// derivative / difference / elapsed: the previous point.
    Prev(Option<(i64, Value)>),
    CumulativeSum(Option<Num>),
    MovingAverage {
        buf: Vec<f64>,
        pos: usize,
        sum: f64,
        /// Integer (or unsigned) points: the window and its running sum in their own type,
        /// wrapping, as InfluxDB's integer reducer (`float64(int64 sum) / n` differs from a
        /// float sum past 2^53). Absent from checkpoints of earlier builds.
        #[serde(default)]
        whole: Vec<Num>,
        #[serde(default)]
        whole_sum: Option<Num>,
    },
    Ta {
        alg: TaState,
        count: usize,
    },
}

impl Transform {
    /// The empty state for `spec`.
    pub fn new(spec: &TransformSpec) -> Self {
        let state = match spec.kind {
            Kind::Derivative(..) | Kind::Difference(_) | Kind::Elapsed(_) => State::Prev(None),
            Kind::CumulativeSum => State::CumulativeSum(None),
            Kind::MovingAverage(n) => State::MovingAverage {
                buf: Vec::with_capacity(n.min(1 << 16)),
                pos: 0,
                sum: 0.0,
                whole: Vec::new(),
                whole_sum: None,
            },
            Kind::Ta(which, period, _, warmup) => State::Ta {
                alg: TaState::new(which, period, warmup),
                count: 0,
            },
        };
        Transform { state }
    }

    /// Feeds the next point of the series (times non-decreasing); returns the
    /// output row for it, if InfluxDB emits one. Non-numeric values are
    /// ignored by every function but elapsed.
    pub fn push(&mut self, spec: &TransformSpec, t: i64, v: &Value) -> Option<(i64, Value)> {
        match (&mut self.state, spec.kind) {
            (State::Prev(prev), Kind::Elapsed(unit)) => {
                let out = prev
                    .as_ref()
                    .map(|(pt, _)| (t, Value::Int((t - pt) / unit)));
                *prev = Some((t, Value::Bool(false)));
                out
            }
            (State::Prev(prev), Kind::Derivative(unit, non_negative)) => {
                let x = Num::of_value(v)?;
                // A point at the time of the previous one is dropped (InfluxDB
                // keeps the first of a joined series' equal-time points).
                if prev.as_ref().is_some_and(|(pt, _)| *pt == t) {
                    return None;
                }
                let old = prev.replace((t, x.value()));
                let (pt, pv) = old?;
                // In the input's type first, as InfluxDB does (`float64(curr - prev)` for
                // integers; unsigned values are subtracted the way that does not wrap).
                let diff = match (x, Num::of_value(&pv)?) {
                    (Num::U(curr), Num::U(prev)) if curr <= prev => -((prev - curr) as f64),
                    (x, prev) => x.sub(prev).f(),
                };
                if non_negative && diff < 0.0 {
                    return None;
                }
                let elapsed = (t - pt) as f64;
                Some((t, Value::Float(diff / (elapsed / unit as f64))))
            }
            (State::Prev(prev), Kind::Difference(non_negative)) => {
                let x = Num::of_value(v)?;
                if prev.as_ref().is_some_and(|(pt, _)| *pt == t) {
                    return None;
                }
                let old = prev.replace((t, x.value()));
                let (_, pv) = old?;
                let diff = x.sub(Num::of_value(&pv)?);
                if non_negative && diff.f() < 0.0 {
                    return None;
                }
                Some((t, diff.value()))
            }
            (State::CumulativeSum(sum), _) => {
                let x = Num::of_value(v)?;
                let s = match *sum {
                    None => x,
                    Some(s) => s.add(x),
                };
                *sum = Some(s);
                Some((t, s.value()))
            }
            (
                State::MovingAverage {
                    buf,
                    pos,
                    sum,
                    whole,
                    whole_sum,
                },
                Kind::MovingAverage(n),
            ) => {
                let full = match Num::of_value(v) {
                    Some(x @ (Num::I(_) | Num::U(_))) => {
                        let total = whole_sum.unwrap_or(match x {
                            Num::U(_) => Num::U(0),
                            _ => Num::I(0),
                        });
                        let total = if whole.len() < n {
                            whole.push(x);
                            total
                        } else {
                            let old = std::mem::replace(&mut whole[*pos], x);
                            total.sub(old)
                        };
                        *whole_sum = Some(total.add(x));
                        whole.len() == n
                    }
                    _ => {
                        let x = v.as_f64()?;
                        if buf.len() < n {
                            buf.push(x);
                        } else {
                            *sum -= buf[*pos];
                            buf[*pos] = x;
                        }
                        *sum += x;
                        buf.len() == n
                    }
                };
                *pos += 1;
                if *pos >= n {
                    *pos = 0;
                }
                full.then(|| {
                    let total = *sum + whole_sum.map_or(0.0, Num::f);
                    (t, Value::Float(total / n as f64))
                })
            }
            (State::Ta { alg, count }, Kind::Ta(which, _, hold, _)) => {
                let x = v.as_f64()?;
                let out = alg.add(x);
                *count += 1;
                if *count <= hold {
                    return None;
                }
                let drops_inf = matches!(which, TaKind::Trix | TaKind::Ker | TaKind::Kama);
                if drops_inf && out.is_infinite() {
                    return None;
                }
                Some((t, Value::Float(out)))
            }
            _ => None,
        }
    }
}
