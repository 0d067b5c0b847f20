//! Differential test of continuous queries against a real InfluxDB 1.6: a few hundred
//! generated (data, query) cases. The oracle is InfluxDB's own `SELECT ... INTO`: for case
//! `i`, weir runs `CREATE CONTINUOUS QUERY c_i ... INTO diff.autogen.w_i ...` on the stream
//! and writes into `influxd`; `influxd` runs the same SELECT `INTO diff.autogen.o_i` over the
//! same points (cut to the windows that are closed in weir). Then `w_i` and `o_i` are read
//! back and must be equal: same series, timestamps, field names and types, values (floats
//! within 1e-9 relative).
//!
//! `WEIR_DIFF_FILTER=substring` runs only the cases whose query contains it;
//! `WEIR_DIFF_VERBOSE=1` prints every case. Needs `influxd` (Debian package `influxdb`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use serde_json::Value;
use weir_tests::{post_lines, Influxd, Rng, Weir};

const S: i64 = 1_000_000_000;
const M: i64 = 60 * S;
/// 2023-01-01T00:00:00Z: aligned to every interval used.
const T0: i64 = 1_672_531_200 * S;
/// Length of the data.
const SPAN: i64 = 20 * M;
const LATENESS: i64 = 2 * S;
const DB: &str = "diff";

// ---------------------------------------------------------------------------------------
// Data
// ---------------------------------------------------------------------------------------

/// The points of every measurement, time ordered, and the last time of each measurement.
struct Data {
    lines: Vec<(i64, String)>,
    last: BTreeMap<&'static str, i64>,
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn in_range(t: i64, from: i64, to: i64) -> bool {
    t >= T0 + from && t < T0 + to
}

/// A time for `step` of a series: `step * every` plus a jitter below `every`, plus a
/// per-series nanosecond tag so that no two points of the data share a timestamp.
fn jittered(rng: &mut Rng, step: i64, every: i64, unique: i64) -> i64 {
    let ms = i64::try_from(rng.below(u64::try_from(every / 1_000_000 - 100).unwrap())).unwrap();
    T0 + step * every + ms * 1_000_000 + unique
}

fn data() -> Data {
    let mut rng = Rng(0x5eed);
    let mut lines: Vec<(i64, String)> = Vec::new();

    // cpu: 4 hosts x 2 cpus, 3 tags; float usage_idle (random walk), integer usage_user
    // (repeated values), float usage_system (missing in some points), float temp (negative
    // values, 0.5 steps: many repeats). Gaps: web-2/cpu0 in [4m, 6m10s), db-1/cpu-total in
    // [9m, 9m50s), web-3/cpu0 stops at 11m, web-1/cpu-total has no usage_system in [7m, 9m).
    let hosts = ["web-1", "web-2", "web-3", "db-1"];
    let cpus = ["cpu-total", "cpu0"];
    let mut idle = [0.0f64; 8];
    let mut temp = [0.0f64; 8];
    for (i, x) in idle.iter_mut().enumerate() {
        *x = 20.0 + 8.0 * i as f64;
    }
    for (i, x) in temp.iter_mut().enumerate() {
        *x = -2.0 + i as f64 * 0.5;
    }
    for step in 0..SPAN / (5 * S) {
        for (hi, host) in hosts.iter().enumerate() {
            for (ci, cpu) in cpus.iter().enumerate() {
                let si = hi * 2 + ci;
                let t = jittered(&mut rng, step, 5 * S, 1_000 + si as i64);
                idle[si] = (idle[si] + (rng.below(1601) as f64 - 800.0) / 100.0).clamp(0.5, 99.5);
                temp[si] += (rng.below(5) as f64 - 2.0) * 0.5;
                let user = rng.below(20) * 5;
                let system = rng.below(400) as f64 / 10.0;
                let drop_system = rng.below(4) == 0;
                let skip = match (*host, *cpu) {
                    ("web-2", "cpu0") => in_range(t, 4 * M, 6 * M + 10 * S),
                    ("db-1", "cpu-total") => in_range(t, 9 * M, 9 * M + 50 * S),
                    ("web-3", "cpu0") => t >= T0 + 11 * M,
                    _ => false,
                };
                if skip {
                    continue;
                }
                let dc = if hi < 2 { "east" } else { "west" };
                let mut line = format!(
                    "cpu,cpu={cpu},dc={dc},host={host} usage_idle={:?},usage_user={user}i,temp={:?}",
                    round2(idle[si]),
                    temp[si]
                );
                let no_system =
                    (step >= 4 && drop_system) || (si == 0 && in_range(t, 7 * M, 9 * M));
                if !no_system {
                    let _ = write!(line, ",usage_system={system:?}");
                }
                lines.push((t, format!("{line} {t}")));
            }
        }
    }

    // disk: 2 hosts x 2 paths, 2 tags, one point per 10 s; integer used (walk with repeats),
    // float free, float io (a counter with resets), integer big (near ±2^62). Gap: b,/var in [5m, 10m).
    let mut used = [1000i64, 2000, 3000, 4000];
    let mut io = [0.0f64; 4];
    for step in 0..SPAN / (10 * S) {
        for (hi, host) in ["a", "b"].iter().enumerate() {
            for (pi, path) in ["/", "/var"].iter().enumerate() {
                let si = hi * 2 + pi;
                let t = jittered(&mut rng, step, 10 * S, 2_000 + si as i64);
                used[si] += i64::try_from(rng.below(3)).unwrap() - 1;
                io[si] += rng.below(1000) as f64 / 10.0;
                if step % 37 == 36 {
                    io[si] = rng.below(10) as f64;
                }
                let free = round2(500.0 - used[si] as f64 * 0.1 + rng.below(100) as f64 / 10.0);
                // Integers near ±2^62: past 2^53 (a float sum would round) and summing past
                // 2^63 (InfluxDB wraps).
                let big = (i64::try_from(rng.below(1 << 21)).unwrap() - (1 << 20)) * (1 << 42)
                    + i64::try_from(rng.below(1000)).unwrap();
                if *host == "b" && *path == "/var" && in_range(t, 5 * M, 10 * M) {
                    continue;
                }
                lines.push((
                    t,
                    format!(
                        "disk,host={host},path={path} used={}i,free={free:?},io={:?},big={big}i {t}",
                        used[si], io[si]
                    ),
                ));
            }
        }
    }

    // events: 3 hosts x 2 levels; string msg, bool ok, integer code, float latency (missing
    // in some points). Gap: db-1,warn in [6m, 8m).
    let msgs = ["ok", "ok", "slow", "fail", "retry"];
    let codes = [200, 200, 200, 404, 500];
    for step in 0..SPAN / (5 * S) {
        for (hi, host) in ["web-1", "web-2", "db-1"].iter().enumerate() {
            for (li, level) in ["info", "warn"].iter().enumerate() {
                let si = hi * 2 + li;
                let t = jittered(&mut rng, step, 5 * S, 3_000 + si as i64);
                let msg = *rng.pick(&msgs);
                let ok = rng.below(3) != 0;
                let code = *rng.pick(&codes);
                let latency = rng.below(100) as f64 * 0.25;
                let drop_latency = step >= 4 && rng.below(5) == 0;
                if *host == "db-1" && *level == "warn" && in_range(t, 6 * M, 8 * M) {
                    continue;
                }
                let mut line =
                    format!("events,host={host},level={level} msg=\"{msg}\",ok={ok},code={code}i");
                if !drop_latency {
                    let _ = write!(line, ",latency={latency:?}");
                }
                lines.push((t, format!("{line} {t}")));
            }
        }
    }

    lines.sort_by_key(|(t, _)| *t);
    let mut last = BTreeMap::new();
    for (t, l) in &lines {
        let m = l.split(',').next().unwrap();
        let m: &'static str = match m {
            "cpu" => "cpu",
            "disk" => "disk",
            _ => "events",
        };
        last.insert(m, *t);
    }
    Data { lines, last }
}

// ---------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------

/// Result type class of a SELECT, for the fills that make sense.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Ty {
    Float,
    Int,
    Str,
    Mixed,
}

#[derive(Clone, Debug)]
enum Kind {
    /// `GROUP BY time(...)`: compared on the windows closed in weir.
    Windowed,
    /// `holt_winters(agg, N, S)` / `holt_winters_with_fit`: compared on the last forecast.
    ///
    /// Weir refits a group's model at every window close and writes the `n` points after
    /// that window (with fit, also the fitted values of the whole history); InfluxDB keeps
    /// the last write of a timestamp. The oracle is InfluxDB's forecast over every window a
    /// group has (it reads every point, [`Case::oracle_end`]), which is what weir's last
    /// close computes once its clock has closed the group's last window (the test waits for
    /// that, [`Case::settle`]); windows of the compared range alone would not do, as weir's
    /// clock also closes the windows after it, whose closes rewrite the forecast.
    /// - `holt_winters`: per series, weir's rows from InfluxDB's first forecast time on (the
    ///   last close's `N` points). Earlier rows are forecasts made at earlier closes for
    ///   windows that have data since: a stream cannot take them back, and InfluxDB's
    ///   single answer has no rows there.
    /// - `holt_winters_with_fit`: every row, as the last close rewrites the fit of the whole
    ///   history and everything earlier closes wrote lies within it.
    HoltWinters,
    /// Per point (no `GROUP BY time`): every point compared.
    PerPoint,
    /// `sample(field, n)`: outputs must be input points of their window, at most `n`.
    Sample(&'static str, usize),
}

struct Expr {
    m: &'static str,
    sel: String,
    ty: Ty,
    /// fill() other than none/null allowed.
    fill: bool,
    kind: Kind,
    /// Only short intervals (the function needs many windows).
    short: bool,
}

#[derive(Clone, Debug)]
struct Case {
    id: usize,
    /// Measurement whose points advance the task's clock.
    m: &'static str,
    from: String,
    sel: String,
    cond: Option<String>,
    /// (interval, offset) of GROUP BY time.
    every: Option<(i64, i64)>,
    tags: Option<String>,
    fill: Option<String>,
    kind: Kind,
}

fn dur(ns: i64) -> String {
    if ns % M == 0 {
        format!("{}m", ns / M)
    } else {
        format!("{}s", ns / S)
    }
}

impl Case {
    fn group(&self) -> String {
        let mut parts = Vec::new();
        if let Some((iv, off)) = self.every {
            if off == 0 {
                parts.push(format!("time({})", dur(iv)));
            } else {
                parts.push(format!("time({}, {})", dur(iv), dur(off)));
            }
        }
        if let Some(t) = &self.tags {
            parts.push(t.clone());
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!(" GROUP BY {}", parts.join(", "))
        }
    }

    fn fill_clause(&self) -> String {
        self.fill
            .as_ref()
            .map(|f| format!(" fill({f})"))
            .unwrap_or_default()
    }

    /// The SELECT as weir runs it (without INTO).
    fn display(&self) -> String {
        let w = self
            .cond
            .as_ref()
            .map(|c| format!(" WHERE {c}"))
            .unwrap_or_default();
        format!(
            "SELECT {} FROM {}{w}{}{}",
            self.sel,
            self.from,
            self.group(),
            self.fill_clause()
        )
    }

    fn create(&self) -> String {
        let w = self
            .cond
            .as_ref()
            .map(|c| format!(" WHERE {c}"))
            .unwrap_or_default();
        format!(
            "CREATE CONTINUOUS QUERY c_{id} ON {DB} BEGIN SELECT {} INTO {DB}.autogen.w_{id} FROM {}{w}{}{} END",
            self.sel,
            self.from,
            self.group(),
            self.fill_clause(),
            id = self.id
        )
    }

    /// Start of the compared range: the window holding T0.
    fn start(&self) -> i64 {
        match self.every {
            Some((iv, off)) => window_start(T0, iv, off),
            None => T0,
        }
    }

    /// End (exclusive) of the compared windows: every window ending at or before it is
    /// closed in weir by the data alone (end + lateness <= last point of the measurement).
    fn end(&self, data: &Data) -> i64 {
        let last = data.last[self.m];
        match self.every {
            Some((iv, off)) => window_start(last - LATENESS, iv, off),
            None => last + 1,
        }
    }

    /// Rows with `time < cut` are compared.
    fn cut(&self, data: &Data) -> Option<i64> {
        match (&self.kind, self.every) {
            (Kind::PerPoint, _) => None,
            (Kind::HoltWinters, _) => None,
            _ => Some(self.end(data)),
        }
    }

    /// End (exclusive) of the points InfluxDB's oracle reads: `end`, but for `integral()` every
    /// point, since InfluxDB interpolates a window to the series' next point wherever it is in
    /// the range (weir, on the stream, sees those points too); rows are still compared only
    /// up to the cut. For `holt_winters` every point too: see [`Kind::HoltWinters`].
    fn oracle_end(&self, data: &Data) -> i64 {
        if self.sel.contains("integral(") || matches!(self.kind, Kind::HoltWinters) {
            data.last[self.m] + 1
        } else {
            self.end(data)
        }
    }

    /// How long after the write weir's outputs may still change by the clock alone: for
    /// `holt_winters`, until the task clock (last point + wall time since weir read it)
    /// closes the window of the last point, plus a margin for weir reading the points and
    /// writing its output; for the rest, the windows compared close by the data alone.
    fn settle(&self, data: &Data) -> Duration {
        match (&self.kind, self.every) {
            (Kind::HoltWinters, Some((iv, off))) => {
                let last = data.last[self.m];
                let due = window_start(last, iv, off) + iv + LATENESS - last;
                Duration::from_nanos(u64::try_from(due.max(0)).unwrap()) + Duration::from_secs(6)
            }
            _ => Duration::ZERO,
        }
    }

    /// InfluxDB's own INTO over the same points.
    fn oracle(&self, data: &Data) -> String {
        let w = self
            .cond
            .as_ref()
            .map(|c| format!("({c}) AND "))
            .unwrap_or_default();
        // Without GROUP BY, weir's per-point queries keep every tag of the point (so series
        // never overwrite each other in the target): InfluxDB's INTO does that with GROUP BY *.
        let group = match (&self.kind, &self.tags) {
            (Kind::PerPoint, None) => " GROUP BY *".to_string(),
            _ => self.group(),
        };
        format!(
            "SELECT {} INTO {DB}.autogen.o_{} FROM {} WHERE {w}time >= {} AND time < {}{}{}",
            self.sel,
            self.id,
            self.from,
            self.start(),
            self.oracle_end(data),
            group,
            self.fill_clause()
        )
    }

    /// Features for the summary: functions called, fill form, GROUP BY and WHERE shape.
    fn features(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let b = self.sel.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i].is_ascii_alphabetic() || b[i] == b'_' {
                let s = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                if i < b.len() && b[i] == b'(' {
                    out.insert(format!("fn {}", &self.sel[s..i]));
                }
            } else {
                i += 1;
            }
        }
        if self.sel.contains("(*)") {
            out.insert("wildcard fn(*)".into());
        }
        if self.sel.trim() == "*" {
            out.insert("SELECT *".into());
        }
        if self.sel.contains(" AS ") {
            out.insert("alias".into());
        }
        if self.sel.contains(['+', '-', '/']) || self.sel.contains(" * ") {
            out.insert("math expression".into());
        }
        if self.sel.matches('(').count() > 1 && self.sel.contains(", ") && !self.sel.contains("*)")
        {
            out.insert("several calls".into());
        }
        match &self.kind {
            Kind::PerPoint => {
                out.insert("per-point".into());
            }
            Kind::Sample(..) => {
                out.insert("sample".into());
            }
            _ => {
                let f = self.fill.clone().unwrap_or_else(|| "<default>".into());
                out.insert(format!("fill({f})"));
            }
        }
        if let Some((iv, off)) = self.every {
            out.insert(if off == 0 {
                format!("time({})", dur(iv))
            } else {
                format!("time({}, {})", dur(iv), dur(off))
            });
        }
        out.insert(format!(
            "group by {}",
            self.tags.clone().unwrap_or_else(|| "<no tags>".into())
        ));
        if let Some(c) = &self.cond {
            let tag = ["host", "cpu", "dc", "path", "level"]
                .iter()
                .any(|t| c.contains(&format!("{t} ")));
            let field = [
                "usage_", "temp", "used", "free", "io ", "latency", "code", "msg", "ok ",
            ]
            .iter()
            .any(|f| c.contains(f));
            if tag {
                out.insert("where tag".into());
            }
            if field {
                out.insert("where field".into());
            }
        }
        out.insert(format!("from {}", self.m));
        out
    }
}

fn window_start(t: i64, interval: i64, offset: i64) -> i64 {
    (t - offset).div_euclid(interval) * interval + offset
}

fn e(m: &'static str, sel: &str, ty: Ty, fill: bool) -> Expr {
    Expr {
        m,
        sel: sel.to_string(),
        ty,
        fill,
        kind: Kind::Windowed,
        short: false,
    }
}

fn short(mut x: Expr) -> Expr {
    x.short = true;
    x
}

fn exprs() -> Vec<Expr> {
    use Ty::{Float, Int, Mixed, Str};
    let mut v = Vec::new();
    // Every aggregate and selector over floats, a float with repeats and negatives, a field
    // missing in some points, and an integer.
    for (f, fty) in [
        ("usage_idle", Float),
        ("temp", Float),
        ("usage_system", Float),
        ("usage_user", Int),
    ] {
        v.push(e("cpu", &format!("count({f})"), Int, true));
        v.push(e("cpu", &format!("mean({f})"), Float, true));
        v.push(e("cpu", &format!("median({f})"), Float, true));
        v.push(e("cpu", &format!("mode({f})"), fty, true));
        v.push(e("cpu", &format!("spread({f})"), fty, true));
        v.push(e("cpu", &format!("stddev({f})"), Float, true));
        v.push(e("cpu", &format!("sum({f})"), fty, true));
        v.push(e("cpu", &format!("integral({f})"), Float, true));
        v.push(e("cpu", &format!("distinct({f})"), fty, false));
        v.push(e("cpu", &format!("first({f})"), fty, true));
        v.push(e("cpu", &format!("last({f})"), fty, true));
        v.push(e("cpu", &format!("min({f})"), fty, true));
        v.push(e("cpu", &format!("max({f})"), fty, true));
        v.push(e("cpu", &format!("percentile({f}, 50)"), fty, true));
        v.push(e("cpu", &format!("percentile({f}, 95)"), fty, true));
        v.push(e("cpu", &format!("top({f}, 3)"), fty, false));
        v.push(e("cpu", &format!("bottom({f}, 2)"), fty, false));
    }
    v.push(e("cpu", "integral(usage_idle, 1m)", Float, true));
    v.push(e("cpu", "percentile(usage_idle, 0)", Float, true));
    v.push(e("cpu", "percentile(temp, 100)", Float, true));
    v.push(e("cpu", "top(usage_idle, host, 2)", Float, false));
    v.push(e("cpu", "bottom(temp, cpu, 1)", Float, false));
    for (f, fty) in [("used", Int), ("free", Float), ("io", Float), ("big", Int)] {
        for agg in [
            "count", "mean", "sum", "max", "min", "spread", "median", "mode", "last",
        ] {
            let ty = match agg {
                "count" => Int,
                "mean" | "median" => Float,
                _ => fty,
            };
            v.push(e("disk", &format!("{agg}({f})"), ty, true));
        }
    }
    v.push(e("disk", "top(used, 2)", Int, false));
    v.push(e("disk", "distinct(used)", Int, false));
    v.push(e("disk", "stddev(free)", Float, true));
    // Strings and bools.
    for sel in [
        "count(msg)",
        "count(ok)",
        "distinct(msg)",
        "distinct(code)",
        "count(latency)",
    ] {
        v.push(e("events", sel, Int, sel.starts_with("count")));
    }
    for sel in [
        "first(msg)",
        "last(msg)",
        "first(ok)",
        "last(ok)",
        "mode(msg)",
        "mode(ok)",
    ] {
        v.push(e("events", sel, Str, true));
    }
    v.push(e("events", "mode(code)", Int, true));
    v.push(e("events", "sum(code)", Int, true));
    v.push(e("events", "max(code)", Int, true));
    v.push(e("events", "mean(latency)", Float, true));
    v.push(e("events", "percentile(latency, 75)", Float, true));
    v.push(e("events", "bottom(latency, 3)", Float, false));
    // Transformations of aggregates.
    for (m, sel, ty) in [
        ("cpu", "derivative(mean(usage_idle))", Float),
        ("cpu", "derivative(mean(temp), 1s)", Float),
        ("cpu", "derivative(max(usage_user), 1m)", Float),
        ("disk", "derivative(max(io), 10s)", Float),
        ("disk", "non_negative_derivative(max(io))", Float),
        ("disk", "non_negative_derivative(last(io), 1s)", Float),
        (
            "cpu",
            "non_negative_derivative(mean(usage_idle), 1m)",
            Float,
        ),
        ("cpu", "difference(sum(usage_user))", Int),
        ("cpu", "difference(mean(temp))", Float),
        ("disk", "non_negative_difference(max(used))", Int),
        ("cpu", "non_negative_difference(mean(usage_idle))", Float),
        ("cpu", "cumulative_sum(count(usage_system))", Int),
        ("cpu", "cumulative_sum(mean(temp))", Float),
        ("events", "cumulative_sum(sum(code))", Int),
        ("cpu", "moving_average(mean(usage_idle), 3)", Float),
        ("cpu", "moving_average(max(temp), 2)", Float),
        ("cpu", "elapsed(mean(usage_idle))", Int),
        ("cpu", "elapsed(max(temp), 1s)", Int),
        ("events", "elapsed(count(msg), 1s)", Int),
    ] {
        v.push(short(e(m, sel, ty, true)));
    }
    // Math on aggregates.
    for (sel, ty) in [
        ("abs(mean(temp))", Float),
        ("mean(usage_idle) * 2 + 1", Float),
        ("max(usage_idle) - min(usage_idle)", Float),
        ("max(usage_user) - min(usage_user)", Int),
        ("sqrt(mean(usage_idle))", Float),
        ("round(mean(temp))", Float),
        ("floor(max(usage_system))", Float),
        ("ceil(min(temp))", Float),
        ("mean(usage_idle) / 100", Float),
        ("sum(usage_user) * 2", Mixed),
        ("abs(min(temp)) - 1 AS t", Float),
        ("pow(mean(usage_idle), 2)", Float),
        ("log10(max(usage_idle))", Float),
        ("sum(usage_idle) / count(usage_idle) AS avg", Float),
    ] {
        v.push(e("cpu", sel, ty, true));
    }
    v.push(e("disk", "max(io) - min(io) AS range", Float, true));
    // Technical analysis.
    for (m, sel) in [
        ("cpu", "exponential_moving_average(mean(usage_idle), 3)"),
        (
            "cpu",
            "double_exponential_moving_average(mean(usage_idle), 3)",
        ),
        ("cpu", "triple_exponential_moving_average(mean(temp), 3)"),
        ("cpu", "relative_strength_index(mean(usage_idle), 3)"),
        ("cpu", "triple_exponential_derivative(mean(usage_idle), 3)"),
        ("cpu", "kaufmans_efficiency_ratio(mean(usage_idle), 3)"),
        (
            "cpu",
            "kaufmans_adaptive_moving_average(mean(usage_idle), 3)",
        ),
        ("cpu", "chande_momentum_oscillator(mean(temp), 3)"),
        ("disk", "exponential_moving_average(max(used), 2)"),
    ] {
        v.push(short(e(m, sel, Float, true)));
    }
    // Predictors.
    for (m, sel) in [
        ("cpu", "holt_winters(mean(usage_idle), 3, 0)"),
        ("cpu", "holt_winters(mean(temp), 2, 2)"),
        ("cpu", "holt_winters_with_fit(mean(usage_idle), 2, 0)"),
        ("disk", "holt_winters(max(io), 2, 0)"),
    ] {
        let mut x = short(e(m, sel, Float, false));
        x.kind = Kind::HoltWinters;
        v.push(x);
    }
    // Several calls, aliases, wildcards.
    for (m, sel) in [
        ("cpu", "mean(usage_idle), max(usage_idle)"),
        ("cpu", "mean(usage_idle), mean(temp)"),
        ("cpu", "mean(usage_idle), mean(temp), mean(usage_system)"),
        (
            "cpu",
            "mean(usage_idle) AS m, max(usage_user) AS mx, count(usage_system) AS n",
        ),
        (
            "cpu",
            "min(temp), max(temp), first(usage_user), last(usage_user)",
        ),
        ("cpu", "mean(usage_idle), mean(usage_idle) * 2 + 1"),
        (
            "cpu",
            "sum(usage_user), sum(usage_user) AS total, count(usage_user)",
        ),
        ("cpu", "mean(*)"),
        ("cpu", "max(*)"),
        ("cpu", "count(*)"),
        ("cpu", "sum(*)"),
        ("cpu", "median(*)"),
        ("disk", "mean(*)"),
        ("disk", "last(*)"),
        ("events", "count(*)"),
        ("events", "mean(*)"),
        ("events", "first(*)"),
        ("events", "count(msg), first(msg), last(ok), mean(latency)"),
    ] {
        v.push(e(
            m,
            sel,
            Mixed,
            !sel.contains("first(*)") && !sel.contains("msg"),
        ));
    }
    // integral() beside other calls: their rows carry the integral column, which InfluxDB
    // then fills (never with fill(linear)).
    for (m, sel) in [
        ("cpu", "integral(usage_system), count(usage_system)"),
        ("cpu", "integral(usage_idle) AS area, mean(usage_idle)"),
        ("disk", "integral(free, 1m), max(used)"),
    ] {
        v.push(e(m, sel, Float, true));
    }
    v
}

const TAG_WHERES: &[(&str, &[&str])] = &[
    (
        "cpu",
        &[
            "host = 'web-1'",
            "host != 'db-1'",
            "host =~ /^web-/",
            "host !~ /-1$/",
            "cpu = 'cpu-total' AND host =~ /^web-[12]$/",
            "host = 'web-2' AND cpu = 'cpu0'",
            "host = 'web-3' AND cpu = 'cpu0'",
            "dc = 'east' OR host = 'db-1'",
            "host <> 'web-3'",
        ],
    ),
    (
        "disk",
        &[
            "host = 'b'",
            "path = '/var'",
            "host = 'b' AND path = '/var'",
            "path =~ /var/",
        ],
    ),
    (
        "events",
        &[
            "level = 'warn'",
            "host =~ /^web/",
            "host = 'db-1' AND level = 'warn'",
            "level != 'info' OR host = 'web-2'",
        ],
    ),
];

const FIELD_WHERES: &[(&str, &[&str])] = &[
    (
        "cpu",
        &[
            "usage_idle > 50",
            "usage_idle < 30 OR usage_idle > 70",
            "temp < 0",
            "usage_user > 20 AND usage_idle < 80",
            "usage_system > 5",
            "host =~ /^web-/ AND temp > -1",
        ],
    ),
    ("disk", &["io > 1000", "used < 3000 OR free > 250"]),
    (
        "events",
        &["code = 200", "latency > 10 AND code != 500", "msg = 'ok'"],
    ),
];

const TAGS: &[(&str, &[&str])] = &[
    ("cpu", &["host", "host, cpu", "*", "dc"]),
    ("disk", &["host", "host, path", "*"]),
    ("events", &["host", "host, level", "*"]),
];

fn lookup<'a>(table: &'a [(&str, &'a [&'a str])], m: &str) -> &'a [&'a str] {
    table.iter().find(|(k, _)| *k == m).unwrap().1
}

/// Functions that read the previous windows of their group.
const TRANSFORMATIONS: &[&str] = &[
    "derivative",
    "difference",
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

/// Windowed cases: every expression with a few GROUP BY / fill / WHERE variants.
fn cases() -> Vec<Case> {
    let mut rng = Rng(7);
    let mut out = Vec::new();
    let intervals_all: &[(i64, i64)] = &[(30 * S, 0), (M, 0), (M, 15 * S), (5 * M, 0)];
    let intervals_short: &[(i64, i64)] = &[(30 * S, 0), (M, 0), (M, 15 * S)];
    for x in exprs() {
        let variants = if x.sel.contains("*)") || x.m != "cpu" {
            2
        } else {
            3
        };
        for k in 0..variants {
            let every = *rng.pick(if x.short || matches!(x.kind, Kind::HoltWinters) {
                intervals_short
            } else {
                intervals_all
            });
            let tags = match rng.below(3) {
                0 => None,
                _ => Some(rng.pick(lookup(TAGS, x.m)).to_string()),
            };
            // Field filters only with fills that add nothing before a group's first point.
            let cond = match rng.below(6) {
                0 | 1 => Some(rng.pick(lookup(TAG_WHERES, x.m)).to_string()),
                2 => Some(rng.pick(lookup(FIELD_WHERES, x.m)).to_string()),
                _ => None,
            };
            let field_cond = cond
                .as_ref()
                .is_some_and(|c| lookup(FIELD_WHERES, x.m).contains(&c.as_str()));
            let mut fills: Vec<Option<&str>> = vec![None, Some("none"), Some("null")];
            // A transformation over fill(N) differs by design at a group's first window:
            // InfluxDB reads (and fills) the window before the range, which a stream cannot
            // know about (SPEC §3.2: windows before a group's first point are not filled).
            let transformation = TRANSFORMATIONS
                .iter()
                .any(|t| x.sel.contains(&format!("{t}(")));
            if x.fill && !field_cond {
                fills.push(Some("previous"));
                if x.ty != Ty::Str {
                    fills.push(Some("linear"));
                    if !transformation {
                        fills.push(Some("0"));
                    }
                }
                if x.ty == Ty::Float && !transformation {
                    fills.push(Some("-1.5"));
                }
                // Bias toward the interesting fills.
                let extra: Vec<_> = fills[3..].to_vec();
                fills.extend(extra);
            }
            let fill = if k == 0 && fills.len() > 3 {
                *rng.pick(&fills[3..])
            } else {
                *rng.pick(&fills)
            };
            out.push(Case {
                id: 0,
                m: x.m,
                from: x.m.to_string(),
                sel: x.sel.clone(),
                cond,
                every: Some(every),
                tags,
                fill: fill.map(str::to_string),
                kind: x.kind.clone(),
            });
        }
    }
    // Fill forms over a series with a gap, a dead series and a field missing for a while.
    for fill in [
        None,
        Some("null"),
        Some("previous"),
        Some("linear"),
        Some("0"),
        Some("-1.5"),
    ] {
        for (sel, cond, tags) in [
            ("mean(usage_idle)", "host = 'web-2' AND cpu = 'cpu0'", None),
            ("max(temp)", "host = 'web-3'", Some("cpu")),
            ("mean(usage_system)", "host = 'web-1'", Some("cpu")),
        ] {
            out.push(Case {
                id: 0,
                m: "cpu",
                from: "cpu".into(),
                sel: sel.into(),
                cond: Some(cond.into()),
                every: Some((30 * S, 0)),
                tags: tags.map(str::to_string),
                fill: fill.map(str::to_string),
                kind: Kind::Windowed,
            });
        }
        out.push(Case {
            id: 0,
            m: "disk",
            from: "disk".into(),
            sel: "mean(free)".into(),
            cond: None,
            every: Some((5 * M, 0)),
            tags: Some("*".into()),
            fill: fill.map(str::to_string),
            kind: Kind::Windowed,
        });
    }
    // String and bool fields in WHERE.
    for (sel, cond) in [
        ("count(code)", "msg = 'ok'"),
        ("mean(latency)", "ok = true"),
        ("sum(code)", "msg != 'fail' AND ok = false"),
        ("max(latency)", "msg =~ /^(slow|retry)$/"),
    ] {
        out.push(Case {
            id: 0,
            m: "events",
            from: "events".into(),
            sel: sel.into(),
            cond: Some(cond.into()),
            every: Some((M, 0)),
            tags: Some("host".into()),
            fill: None,
            kind: Kind::Windowed,
        });
    }
    // Regex FROM.
    out.push(Case {
        id: 0,
        m: "cpu",
        from: "/^cp/".into(),
        sel: "mean(usage_idle)".into(),
        cond: None,
        every: Some((M, 0)),
        tags: Some("host".into()),
        fill: None,
        kind: Kind::Windowed,
    });
    // Per point.
    for (m, sel, cond, tags) in [
        ("cpu", "usage_idle + temp AS s", None, None),
        (
            "cpu",
            "usage_idle * 2 - usage_user AS x",
            Some("host = 'web-1'"),
            None,
        ),
        (
            "cpu",
            "usage_idle, usage_system",
            Some("usage_idle > 50"),
            Some("host"),
        ),
        ("cpu", "*", None, None),
        ("cpu", "*", Some("cpu = 'cpu0'"), Some("*")),
        ("cpu", "abs(temp) AS a, usage_user", None, Some("*")),
        ("cpu", "derivative(usage_idle, 1s)", None, Some("host")),
        ("cpu", "derivative(temp)", None, Some("*")),
        (
            "cpu",
            "cumulative_sum(usage_user)",
            Some("host =~ /^web/"),
            Some("host, cpu"),
        ),
        ("cpu", "moving_average(usage_idle, 3)", None, Some("*")),
        ("disk", "difference(used)", None, Some("*")),
        ("disk", "non_negative_derivative(io, 1s)", None, Some("*")),
        (
            "disk",
            "non_negative_difference(used)",
            None,
            Some("host, path"),
        ),
        ("events", "elapsed(latency, 1ms)", None, Some("*")),
        ("events", "msg, ok", Some("level = 'warn'"), None),
        ("events", "code * 2 AS c2", Some("ok = true"), Some("*")),
    ] {
        out.push(Case {
            id: 0,
            m,
            from: m.into(),
            sel: sel.into(),
            cond: cond.map(str::to_string),
            every: None,
            tags: tags.map(str::to_string),
            fill: None,
            kind: Kind::PerPoint,
        });
    }
    // sample() is random: checked separately.
    for (m, f, n, every, tags) in [
        ("cpu", "usage_idle", 3, (M, 0), Some("host")),
        ("events", "msg", 2, (30 * S, 0), Some("*")),
        ("disk", "used", 4, (5 * M, 0), None),
    ] {
        out.push(Case {
            id: 0,
            m,
            from: m.into(),
            sel: format!("sample({f}, {n})"),
            cond: None,
            every: Some(every),
            tags: tags.map(str::to_string),
            fill: None,
            kind: Kind::Sample(f, n),
        });
    }
    for (i, c) in out.iter_mut().enumerate() {
        c.id = i;
    }
    out
}

// ---------------------------------------------------------------------------------------
// Reading back and comparing
// ---------------------------------------------------------------------------------------

/// `(tags, time) -> non-null fields` of one statement's answer.
type Rows = BTreeMap<(String, i64), BTreeMap<String, Value>>;

fn rows(result: &Value) -> Rows {
    let mut out = Rows::new();
    let Some(series) = result["series"].as_array() else {
        return out;
    };
    for s in series {
        let tags = s["tags"].to_string();
        let cols: Vec<&str> = s["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        for v in s["values"].as_array().unwrap() {
            let v = v.as_array().unwrap();
            let t = v[0].as_i64().unwrap();
            let fields = cols
                .iter()
                .zip(v)
                .skip(1)
                .filter(|(_, x)| !x.is_null())
                .map(|(c, x)| ((*c).to_string(), x.clone()))
                .collect();
            out.insert((tags.clone(), t), fields);
        }
    }
    out
}

/// `field -> type` from `SHOW FIELD KEYS`.
fn field_types(result: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for s in result["series"].as_array().into_iter().flatten() {
        for v in s["values"].as_array().unwrap() {
            out.insert(
                v[0].as_str().unwrap().to_string(),
                v[1].as_str().unwrap().to_string(),
            );
        }
    }
    out
}

/// Runs `;`-separated statements in requests of `chunk`, returns one result per statement.
fn multi(influxd: &Influxd, stmts: &[String]) -> Vec<Value> {
    let client = Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let mut out = Vec::new();
    for chunk in stmts.chunks(40) {
        let q = chunk.join(";\n");
        let r = client
            .post(influxd.url("/query"))
            .form(&[("db", DB), ("q", q.as_str()), ("epoch", "ns")])
            .send()
            .expect("influxd /query");
        let body: Value = r.json().expect("influxd answers JSON");
        let results = body["results"].as_array().cloned().unwrap_or_default();
        for i in 0..chunk.len() {
            let r = results
                .iter()
                .find(|r| r["statement_id"].as_u64() == Some(i as u64))
                .cloned()
                .unwrap_or_else(|| serde_json::json!({ "error": format!("no result: {body}") }));
            out.push(r);
        }
    }
    out
}

fn readback(c: &Case, data: &Data, prefix: &str) -> String {
    let w = c
        .cut(data)
        .map(|t| format!(" WHERE time < {t}"))
        .unwrap_or_default();
    format!("SELECT * FROM \"{prefix}_{}\"{w} GROUP BY *", c.id)
}

fn same_value(g: &Value, w: &Value, ty: Option<&str>) -> bool {
    match (g, w) {
        (Value::Number(a), Value::Number(b)) => {
            if ty == Some("integer") {
                return a.as_i64().is_some() && a.as_i64() == b.as_i64();
            }
            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            let tol = 1e-9 * a.abs().max(b.abs());
            (a - b).abs() <= tol
        }
        _ => g == w,
    }
}

fn short_tags(k: &(String, i64)) -> String {
    format!("{} t={}", k.0, k.1)
}

/// `holt_winters` without fit: weir's rows of each series from InfluxDB's first forecast
/// time of that series on (see [`Kind::HoltWinters`]); a series InfluxDB has no rows for
/// keeps all its rows (and fails the comparison).
fn last_forecast(got: &Rows, want: &Rows) -> Rows {
    let mut first: BTreeMap<&str, i64> = BTreeMap::new();
    for (tags, t) in want.keys() {
        let e = first.entry(tags.as_str()).or_insert(*t);
        *e = (*e).min(*t);
    }
    got.iter()
        .filter(|((tags, t), _)| first.get(tags.as_str()).is_none_or(|f| t >= f))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// First difference between weir's rows and InfluxDB's, if any.
fn compare(
    got: &Rows,
    want: &Rows,
    got_types: &BTreeMap<String, String>,
    want_types: &BTreeMap<String, String>,
) -> Result<(), String> {
    let gk: BTreeSet<_> = got.keys().map(|k| &k.0).collect();
    let wk: BTreeSet<_> = want.keys().map(|k| &k.0).collect();
    if gk != wk {
        return Err(format!(
            "different series: weir {gk:?}, influxdb {wk:?} ({} vs {} rows)",
            got.len(),
            want.len()
        ));
    }
    for (k, w) in want {
        let Some(g) = got.get(k) else {
            let extra = got.keys().find(|x| !want.contains_key(*x));
            return Err(format!(
                "weir has no row at {} (influxdb: {w:?}); {} vs {} rows; first extra weir row: {:?}",
                short_tags(k),
                got.len(),
                want.len(),
                extra.map(|x| (short_tags(x), &got[x]))
            ));
        };
        if g.keys().ne(w.keys()) {
            return Err(format!(
                "different fields at {}: weir {g:?}, influxdb {w:?}",
                short_tags(k)
            ));
        }
        for (name, wv) in w {
            let gv = &g[name];
            if !same_value(gv, wv, want_types.get(name).map(String::as_str)) {
                return Err(format!(
                    "{name} at {}: weir {gv}, influxdb {wv} (weir row {g:?}, influxdb row {w:?})",
                    short_tags(k)
                ));
            }
        }
    }
    if let Some(k) = got.keys().find(|k| !want.contains_key(*k)) {
        return Err(format!(
            "weir has an extra row at {}: {:?} ({} vs {} rows)",
            short_tags(k),
            got[k],
            got.len(),
            want.len()
        ));
    }
    if got_types != want_types {
        return Err(format!(
            "different field types: weir {got_types:?}, influxdb {want_types:?}"
        ));
    }
    Ok(())
}

/// `sample(f, n)`: every output row is an input point of its series and window, at most
/// `n` rows per window, and every window with input has output.
fn check_sample(
    c: &Case,
    data: &Data,
    got: &Rows,
    input: &Rows,
    f: &str,
    n: usize,
) -> Result<(), String> {
    let (iv, off) = c.every.unwrap();
    let mut per_window: BTreeMap<(String, i64), usize> = BTreeMap::new();
    for (k, row) in got {
        let Some(inp) = input.get(k) else {
            return Err(format!(
                "weir row {} {row:?} is no input point",
                short_tags(k)
            ));
        };
        if row.get(&c.sel) != inp.get(f) && row.get("sample") != inp.get(f) {
            return Err(format!(
                "weir row {} {row:?} differs from the input point {inp:?}",
                short_tags(k)
            ));
        }
        *per_window
            .entry((k.0.clone(), window_start(k.1, iv, off)))
            .or_default() += 1;
    }
    let cut = c.cut(data).unwrap();
    for k in input.keys().filter(|k| k.1 < cut) {
        let w = (k.0.clone(), window_start(k.1, iv, off));
        match per_window.get(&w) {
            None => return Err(format!("no sample for window {} t={}", w.0, w.1)),
            Some(&x) if x > n => {
                return Err(format!("{x} samples > {n} in window {} t={}", w.0, w.1))
            }
            _ => {}
        }
    }
    Ok(())
}

fn create_in_weir(weir: &Weir, stmt: &str) -> Result<(), String> {
    let r = Client::new()
        .post(weir.url("/api/v1/sql"))
        .body(stmt.to_string())
        .send()
        .map_err(|e| e.to_string())?;
    let status = r.status().as_u16();
    let body = r.text().unwrap_or_default();
    if status == 200 {
        return Ok(());
    }
    // The reason alone, without the case's name (so that reasons can be counted).
    let reason = serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|v| {
            v["reason"]
                .as_str()
                .or(v["error"].as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| body.trim().to_string());
    Err(format!("HTTP {status}: {}", strip_case_name(&reason)))
}

/// `continuous query c_12: x` -> `x`; other `c_<n>` -> `c_N`.
fn strip_case_name(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("c_") {
        let digits = rest[i + 2..].bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            out.push_str(&rest[..i + 2]);
            rest = &rest[i + 2..];
            continue;
        }
        out.push_str(&rest[..i]);
        out.push_str("c_N");
        rest = &rest[i + 2 + digits..];
    }
    out.push_str(rest);
    out.replace("continuous query c_N: ", "")
}

/// The task's stats from weir, for the report of a case whose output differs.
fn task_stats(weir: &Weir, id: usize) -> String {
    Client::new()
        .get(weir.url(&format!("/api/v1/tasks/c_{id}")))
        .send()
        .and_then(|r| r.json::<Value>())
        .map(|v| v["stats"].to_string())
        .unwrap_or_else(|e| e.to_string())
}

/// Sum of `points_out` and `points_late` over every task (to see weir settle).
fn task_counters(weir: &Weir) -> (u64, u64) {
    let list = Client::new()
        .get(weir.url("/api/v1/tasks"))
        .send()
        .and_then(|r| r.json::<Value>())
        .unwrap_or(Value::Null);
    let mut out = (0, 0);
    for t in list["tasks"].as_array().into_iter().flatten() {
        out.0 += t["stats"]["points_out"].as_u64().unwrap_or(0);
        out.1 += t["stats"]["points_late"].as_u64().unwrap_or(0);
    }
    out
}

#[test]
fn continuous_queries_differential() {
    let verbose = std::env::var("WEIR_DIFF_VERBOSE").is_ok_and(|v| v != "0" && !v.is_empty());
    let filter = std::env::var("WEIR_DIFF_FILTER").unwrap_or_default();
    let data = data();
    let all = cases();
    let total_generated = all.len();
    let cases: Vec<Case> = all
        .into_iter()
        .filter(|c| c.display().contains(&filter))
        .collect();
    assert!(
        !cases.is_empty(),
        "no case matches WEIR_DIFF_FILTER={filter:?}"
    );
    eprintln!(
        "cq_differential: {} of {total_generated} cases, {} points",
        cases.len(),
        data.lines.len()
    );

    let dir = tempfile::tempdir().unwrap();
    let influx_dir = dir.path().join("influxd");
    std::fs::create_dir_all(&influx_dir).unwrap();
    let influxd = Influxd::start(&influx_dir);
    influxd.query("", &format!("CREATE DATABASE {DB}"));
    let influx_url = influxd.url("");
    let lateness = format!("{}s", LATENESS / S);
    let weir = Weir::start(
        &dir.path().join("weir"),
        &[
            ("WEIR_INFLUXDB_URL", influx_url.as_str()),
            ("WEIR_ENGINE_LATENESS", lateness.as_str()),
        ],
    );

    // Weir's CQs, one statement each so that a refusal names its case.
    let mut refused: BTreeMap<usize, String> = BTreeMap::new();
    for c in &cases {
        if let Err(e) = create_in_weir(&weir, &c.create()) {
            refused.insert(c.id, e);
        }
    }
    eprintln!(
        "cq_differential: weir accepted {} of {} CQs",
        cases.len() - refused.len(),
        cases.len()
    );

    // The same points to both, in one time-ordered request each.
    let body = data
        .lines
        .iter()
        .map(|(_, l)| l.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    post_lines(
        influxd.url(&format!("/write?db={DB}&precision=ns")),
        body.clone(),
    );
    let posted = Instant::now();
    post_lines(weir.url(&format!("/write?db={DB}&precision=ns")), body);

    // The oracle: InfluxDB's INTO. A refusal here is a bug of this test.
    let oracle: Vec<&Case> = cases
        .iter()
        .filter(|c| !matches!(c.kind, Kind::Sample(..)))
        .collect();
    let stmts: Vec<String> = oracle.iter().map(|c| c.oracle(&data)).collect();
    let answers = multi(&influxd, &stmts);
    let bad: Vec<String> = oracle
        .iter()
        .zip(&answers)
        .filter(|(_, a)| !a["error"].is_null())
        .map(|(c, a)| format!("  {}: {}", c.oracle(&data), a["error"]))
        .collect();
    assert!(
        bad.is_empty(),
        "InfluxDB refused oracle queries:\n{}",
        bad.join("\n")
    );

    // Weir's outputs, until they stop changing.
    let weir_reads: Vec<String> = cases.iter().map(|c| readback(c, &data, "w")).collect();
    let deadline = posted + Duration::from_secs(120);
    let settle = cases
        .iter()
        .map(|c| c.settle(&data))
        .max()
        .unwrap_or_default()
        .max(Duration::from_secs(4));
    let mut prev: Option<(Vec<Rows>, u64)> = None;
    let (got, late) = loop {
        std::thread::sleep(Duration::from_millis(1500));
        let (out, late) = task_counters(&weir);
        let now: Vec<Rows> = multi(&influxd, &weir_reads).iter().map(rows).collect();
        let stable =
            prev.as_ref().is_some_and(|(p, o)| *p == now && *o == out) && posted.elapsed() > settle;
        if stable || Instant::now() > deadline {
            break (now, late);
        }
        prev = Some((now, out));
    };
    eprintln!(
        "cq_differential: weir's outputs settled {:.1}s after the write ({late} late points \
         over all tasks: should be 0)",
        posted.elapsed().as_secs_f64()
    );
    let want: Vec<Rows> = multi(
        &influxd,
        &cases
            .iter()
            .map(|c| readback(c, &data, "o"))
            .collect::<Vec<_>>(),
    )
    .iter()
    .map(rows)
    .collect();
    let types = |prefix: &str| -> Vec<BTreeMap<String, String>> {
        multi(
            &influxd,
            &cases
                .iter()
                .map(|c| format!("SHOW FIELD KEYS FROM \"{prefix}_{}\"", c.id))
                .collect::<Vec<_>>(),
        )
        .iter()
        .map(field_types)
        .collect()
    };
    let (got_types, want_types) = (types("w"), types("o"));
    // Raw input for sample().
    let sample_inputs: Vec<Rows> = multi(
        &influxd,
        &cases
            .iter()
            .map(|c| match &c.kind {
                Kind::Sample(f, _) => format!(
                    "SELECT {f} FROM {} WHERE time >= {} AND time < {}{}",
                    c.from,
                    c.start(),
                    c.end(&data),
                    c.tags
                        .as_ref()
                        .map(|t| format!(" GROUP BY {t}"))
                        .unwrap_or_default()
                ),
                _ => "SELECT * FROM nothing_here".to_string(),
            })
            .collect::<Vec<_>>(),
    )
    .iter()
    .map(rows)
    .collect();

    let mut failures: Vec<(usize, String)> = Vec::new();
    let mut by_feature: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut empty_oracle = 0;
    let judge = |i: usize, got_i: &Rows| -> Result<(), String> {
        let c = &cases[i];
        if let Some(e) = refused.get(&c.id) {
            Err(format!("CREATE refused: {e}"))
        } else if let Kind::Sample(f, n) = c.kind {
            check_sample(c, &data, got_i, &sample_inputs[i], f, n)
        } else {
            let got_i = match c.kind {
                Kind::HoltWinters if !c.sel.contains("_with_fit(") => {
                    last_forecast(got_i, &want[i])
                }
                _ => got_i.clone(),
            };
            compare(&got_i, &want[i], &got_types[i], &want_types[i])
        }
    };
    for (i, c) in cases.iter().enumerate() {
        if want[i].is_empty() && !refused.contains_key(&c.id) && !matches!(c.kind, Kind::Sample(..))
        {
            empty_oracle += 1;
        }
        let mut result = judge(i, &got[i]);
        // An output that still differs may only be late (a loaded machine, a slow model fit):
        // read it again until the deadline. A real difference fails after that.
        while result.is_err() && !refused.contains_key(&c.id) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_secs(2));
            let again = multi(&influxd, std::slice::from_ref(&weir_reads[i]));
            result = judge(i, &again.first().map(rows).unwrap_or_default());
        }
        if verbose {
            eprintln!(
                "case {} [{}]: {} (weir {} rows, influxdb {} rows)",
                c.id,
                if result.is_ok() { "ok" } else { "FAIL" },
                c.display(),
                got[i].len(),
                want[i].len()
            );
        }
        for f in c.features() {
            let e = by_feature.entry(f).or_default();
            e.1 += 1;
            if result.is_ok() {
                e.0 += 1;
            }
        }
        if let Err(e) = result {
            let e = if refused.contains_key(&c.id) {
                e
            } else {
                format!("{e}\n    weir task stats: {}", task_stats(&weir, c.id))
            };
            failures.push((i, e));
        }
    }

    let mut report = String::new();
    let _ = writeln!(
        report,
        "cq_differential: {} cases, {} equal, {} different ({} with an empty InfluxDB answer)",
        cases.len(),
        cases.len() - failures.len(),
        failures.len(),
        empty_oracle,
    );
    let mut reasons: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, e) in &failures {
        let r = match e.strip_prefix("CREATE refused: ") {
            Some(r) => format!("refused: {r}"),
            None => "accepted, output differs".to_string(),
        };
        reasons.entry(r).or_default().push(cases[*i].id);
    }
    let _ = writeln!(report, "failures by reason (count: case ids):");
    for (r, ids) in &reasons {
        let shown: Vec<String> = ids.iter().take(12).map(ToString::to_string).collect();
        let more = if ids.len() > 12 { ", ..." } else { "" };
        let _ = writeln!(
            report,
            "  {:>4}  {r}  [{}{more}]",
            ids.len(),
            shown.join(", ")
        );
    }
    let _ = writeln!(report, "by feature (equal/total):");
    for (f, (ok, n)) in &by_feature {
        let _ = writeln!(report, "  {f:<48} {ok:>4}/{n:<4}");
    }
    for (i, e) in &failures {
        let c = &cases[*i];
        let _ = writeln!(report, "FAIL case {}: {}", c.id, c.display());
        if verbose || !matches!(c.kind, Kind::Sample(..)) {
            let _ = writeln!(report, "    oracle: {}", c.oracle(&data));
        }
        let _ = writeln!(report, "    {e}");
    }
    eprintln!("{report}");
    if !failures.is_empty() && verbose {
        let log = weir.log_text();
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        eprintln!("weir log (last lines):");
        for l in tail.iter().rev() {
            eprintln!("  {l}");
        }
    }
    let equal = cases.len() - failures.len();
    // With a filter, only the cases selected run.
    assert!(
        equal >= 200 || !filter.is_empty(),
        "only {equal} cases equal to InfluxDB (summary above)"
    );
    let differ: Vec<usize> = failures.iter().map(|(i, _)| cases[*i].id).collect();
    assert!(
        differ.is_empty(),
        "{} of {} continuous queries differ from InfluxDB: {differ:?} (summary above)",
        differ.len(),
        cases.len()
    );
}
