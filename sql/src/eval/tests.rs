//! Expected outputs copied from InfluxDB 1.6.7's answers to the same data
//! (`SELECT f(x) FROM a WHERE time >= 0 AND time < 20s GROUP BY time(10s)`
//! and the raw-point forms), so each test pins one verified behaviour.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::ast::Expr;
use crate::duration::Duration;

const S: i64 = 1_000_000_000;

/// Measurement `a`: (second, f, i, s, b).
const A: &[(i64, f64, &str, bool)] = &[
    (1, 3.0, "x", true),
    (2, 1.0, "y", false),
    (3, 3.0, "x", true),
    (5, 2.0, "y", true),
    (7, 1.0, "z", false),
    (8, 5.0, "y", false),
    (12, 4.0, "z", true),
    (14, 6.0, "x", true),
    (15, -1.0, "x", false),
    (17, 6.0, "w", true),
];

#[derive(Clone, Copy)]
enum Field {
    F,
    I,
    S,
    B,
}

fn input(row: &(i64, f64, &'static str, bool), field: Field) -> Input<'static> {
    match field {
        Field::F => Input::Float(row.1),
        Field::I => Input::Int(row.1 as i64),
        Field::S => Input::Str(row.2),
        Field::B => Input::Bool(row.3),
    }
}

/// Runs `name(field, extra...)` over `A` in 10s windows; rows of both windows.
fn agg(name: &str, extra: &[Expr], field: Field) -> Vec<(i64, Value)> {
    let spec = AggSpec::new(name, extra, 10 * S).unwrap();
    let mut out = Vec::new();
    for w in 0..2 {
        let mut acc = Acc::new(&spec);
        // Feed in reverse time order: points may arrive in any order.
        for row in A.iter().rev().filter(|r| r.0 / 10 == w) {
            acc.add(&spec, row.0 * S, input(row, field));
        }
        out.extend(acc.finish(&spec, w * 10 * S));
    }
    out
}

fn f(v: f64) -> Value {
    Value::Float(v)
}
fn i(v: i64) -> Value {
    Value::Int(v)
}
fn s(v: &str) -> Value {
    Value::Str(v.to_string())
}
fn b(v: bool) -> Value {
    Value::Bool(v)
}
fn int(n: i64) -> Expr {
    Expr::Integer(n)
}
fn dur(ns: i64) -> Expr {
    Expr::Duration(Duration::from_nanos(ns))
}

fn close(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => {
            x == y || (x - y).abs() <= 1e-9 * x.abs().max(y.abs())
        }
        _ => a == b,
    }
}

#[track_caller]
fn check(got: Vec<(i64, Value)>, want: &[(i64, Value)]) {
    assert_eq!(got.len(), want.len(), "got {got:?}, want {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!(
            g.0 == w.0 && close(&g.1, &w.1),
            "got {got:?}, want {want:?}"
        );
    }
}

/// Both windows at their start times.
fn two(a: Value, b: Value) -> Vec<(i64, Value)> {
    vec![(0, a), (10 * S, b)]
}

#[test]
fn count_sum_mean_types() {
    check(agg("count", &[], Field::F), &two(i(6), i(4)));
    check(agg("count", &[], Field::S), &two(i(6), i(4)));
    check(agg("count", &[], Field::B), &two(i(6), i(4)));
    check(agg("sum", &[], Field::F), &two(f(15.0), f(15.0)));
    check(agg("sum", &[], Field::I), &two(i(15), i(15)));
    check(agg("mean", &[], Field::I), &two(f(2.5), f(3.75)));
    // sum/mean/median/spread/stddev of strings and booleans: InfluxDB errors
    // ("unsupported sum iterator type"); weir writes nothing.
    check(agg("sum", &[], Field::S), &[]);
    check(agg("mean", &[], Field::B), &[]);
    check(agg("median", &[], Field::S), &[]);
}

#[test]
fn median_spread_stddev() {
    check(agg("median", &[], Field::I), &two(f(2.5), f(5.0)));
    check(agg("median", &[], Field::F), &two(f(2.5), f(5.0)));
    check(agg("spread", &[], Field::I), &two(i(4), i(7)));
    check(agg("spread", &[], Field::F), &two(f(4.0), f(7.0)));
    check(
        agg("stddev", &[], Field::F),
        &two(f(1.51657508881031), f(3.304037933599835)),
    );
    check(
        agg("stddev", &[], Field::I),
        &two(f(1.51657508881031), f(3.304037933599835)),
    );
    // One point: InfluxDB returns null.
    let spec = AggSpec::new("stddev", &[], S).unwrap();
    let mut acc = Acc::new(&spec);
    acc.add(&spec, S, Input::Float(3.0));
    check(acc.finish(&spec, S), &[]);
}

#[test]
fn mode_tie_breaks() {
    // Window 0 has 3 and 1 twice each: InfluxDB answers 3 (seen first).
    check(agg("mode", &[], Field::F), &two(f(3.0), f(6.0)));
    check(agg("mode", &[], Field::S), &two(s("y"), s("x")));
    // Booleans: majority, true on a tie (3:3 in window 0).
    check(agg("mode", &[], Field::B), &two(b(true), b(true)));
}

#[test]
fn first_last_min_max() {
    check(agg("first", &[], Field::S), &two(s("x"), s("z")));
    check(agg("last", &[], Field::B), &two(b(false), b(true)));
    check(agg("min", &[], Field::I), &two(i(1), i(-1)));
    check(agg("max", &[], Field::F), &two(f(5.0), f(6.0)));
    check(agg("min", &[], Field::B), &two(b(false), b(false)));
    check(agg("max", &[], Field::B), &two(b(true), b(true)));
    // max of strings: InfluxDB errors; weir writes nothing.
    check(agg("max", &[], Field::S), &[]);
}

/// Measurement `b`, two series with points at equal times (no GROUP BY tag).
#[test]
fn equal_time_ties() {
    let pts: &[(i64, f64, &str, bool)] = &[
        (1, 1.0, "b", false),
        (1, 5.0, "a", true),
        (2, 5.0, "a", false),
        (3, 2.0, "c", true),
        (3, 1.0, "c", false),
    ];
    let run = |name: &str, field: Field| {
        let spec = AggSpec::new(name, &[], 10 * S).unwrap();
        let mut acc = Acc::new(&spec);
        for row in pts {
            acc.add(&spec, row.0 * S, input(row, field));
        }
        acc.finish(&spec, 0)
    };
    check(run("first", Field::F), &[(0, f(5.0))]);
    check(run("last", Field::F), &[(0, f(2.0))]);
    check(run("first", Field::S), &[(0, s("b"))]);
    check(run("last", Field::S), &[(0, s("c"))]);
    check(run("first", Field::B), &[(0, b(false))]);
    check(run("last", Field::B), &[(0, b(true))]);
    check(run("mode", Field::F), &[(0, f(5.0))]);
    check(
        run("distinct", Field::F),
        &[(0, f(1.0)), (0, f(5.0)), (0, f(2.0))],
    );
    let top = AggSpec::new("top", &[int(2)], 10 * S).unwrap();
    let mut acc = Acc::new(&top);
    for row in pts {
        acc.add(&top, row.0 * S, Input::Float(row.1));
    }
    check(acc.finish(&top, 0), &[(S, f(5.0)), (2 * S, f(5.0))]);
    let bottom = AggSpec::new("bottom", &[int(2)], 10 * S).unwrap();
    let mut acc = Acc::new(&bottom);
    for row in pts {
        acc.add(&bottom, row.0 * S, Input::Float(row.1));
    }
    check(acc.finish(&bottom, 0), &[(S, f(1.0)), (3 * S, f(1.0))]);
}

#[test]
fn distinct_in_first_seen_order() {
    let w1 = 10 * S;
    check(
        agg("distinct", &[], Field::F),
        &[
            (0, f(3.0)),
            (0, f(1.0)),
            (0, f(2.0)),
            (0, f(5.0)),
            (w1, f(4.0)),
            (w1, f(6.0)),
            (w1, f(-1.0)),
        ],
    );
    check(
        agg("distinct", &[], Field::S),
        &[
            (0, s("x")),
            (0, s("y")),
            (0, s("z")),
            (w1, s("z")),
            (w1, s("x")),
            (w1, s("w")),
        ],
    );
    check(
        agg("distinct", &[], Field::B),
        &[(0, b(true)), (0, b(false)), (w1, b(true)), (w1, b(false))],
    );
}

#[test]
fn top_bottom_keep_point_times() {
    check(
        agg("top", &[int(3)], Field::F),
        &[
            (S, f(3.0)),
            (3 * S, f(3.0)),
            (8 * S, f(5.0)),
            (12 * S, f(4.0)),
            (14 * S, f(6.0)),
            (17 * S, f(6.0)),
        ],
    );
    check(
        agg("bottom", &[int(3)], Field::F),
        &[
            (2 * S, f(1.0)),
            (5 * S, f(2.0)),
            (7 * S, f(1.0)),
            (12 * S, f(4.0)),
            (14 * S, f(6.0)),
            (15 * S, f(-1.0)),
        ],
    );
    check(
        agg("top", &[int(2)], Field::I),
        &[(S, i(3)), (8 * S, i(5)), (14 * S, i(6)), (17 * S, i(6))],
    );
    let all: Vec<(i64, Value)> = A.iter().map(|r| (r.0 * S, i(r.1 as i64))).collect();
    check(agg("bottom", &[int(10)], Field::I), &all);
}

fn tag(name: &str) -> Expr {
    Expr::VarRef(crate::ast::VarRef {
        name: name.into(),
        data_type: None,
    })
}

/// Runs `name(v, host, dc?, N)` over two 10s windows of tagged points:
/// (second, v, host, dc), fed in reverse order.
fn by_tag(name: &str, extra: &[Expr]) -> Vec<TaggedRow> {
    const P: &[(i64, f64, &str, &str)] = &[
        (0, 9.0, "c", "w"),
        (1, 5.0, "a", "e"),
        (1, 9.0, "d", "w"),
        (2, 9.0, "a", "e"),
        (3, 9.0, "b", "e"),
        (4, 7.0, "b", "w"),
        (7, 9.0, "c", "w"),
        (11, 3.0, "a", "e"),
        (12, 4.0, "b", "w"),
        (13, 100.0, "", "w"),
    ];
    let spec = AggSpec::new(name, extra, 10 * S).unwrap();
    let mut out = Vec::new();
    for w in 0..2 {
        let mut acc = Acc::new(&spec);
        for p in P.iter().rev().filter(|p| p.0 / 10 == w) {
            let tags: Vec<&str> = spec
                .by_tags()
                .iter()
                .map(|t| if t == "host" { p.2 } else { p.3 })
                .collect();
            acc.add_tagged(&spec, p.0 * S, Input::Float(p.1), &tags);
        }
        out.extend(acc.finish_tagged(&spec, w * 10 * S));
    }
    out
}

fn rows(want: &[(i64, f64, &[&str])]) -> Vec<TaggedRow> {
    want.iter()
        .map(|(t, v, tags)| {
            (
                t * S,
                f(*v),
                tags.iter().map(|s| (*s).to_string()).collect(),
            )
        })
        .collect()
}

#[test]
fn top_bottom_by_tag_as_influxdb() {
    // InfluxDB 1.6.7 over the same points: the best point per tag value (the earlier on a tie:
    // c's 9 at 0s, not at 7s), then the best N of those (ties again to the earlier point), in
    // time order; a point without the tag competes as "".
    assert_eq!(
        by_tag("top", &[tag("host"), int(2)]),
        rows(&[
            (0, 9.0, &["c"]),
            (1, 9.0, &["d"]),
            (12, 4.0, &["b"]),
            (13, 100.0, &[""]),
        ])
    );
    assert_eq!(
        by_tag("bottom", &[tag("host"), int(2)]),
        rows(&[
            (1, 5.0, &["a"]),
            (4, 7.0, &["b"]),
            (11, 3.0, &["a"]),
            (12, 4.0, &["b"]),
        ])
    );
    assert_eq!(
        by_tag("bottom", &[tag("host"), tag("dc"), int(3)]),
        rows(&[
            (0, 9.0, &["c", "w"]),
            (1, 5.0, &["a", "e"]),
            (4, 7.0, &["b", "w"]),
            (11, 3.0, &["a", "e"]),
            (12, 4.0, &["b", "w"]),
            (13, 100.0, &["", "w"]),
        ])
    );
    assert_eq!(
        by_tag("top", &[tag("dc"), int(5)]),
        rows(&[
            (0, 9.0, &["w"]),
            (2, 9.0, &["e"]),
            (11, 3.0, &["e"]),
            (13, 100.0, &["w"]),
        ])
    );
    // A repeated tag is one tag; the plain rows are the same points without tags.
    let spec = AggSpec::new("top", &[tag("host"), tag("host"), int(1)], S).unwrap();
    assert_eq!(spec.by_tags(), ["host".to_string()]);
    let mut acc = Acc::new(&spec);
    acc.add_tagged(&spec, 2, Input::Int(4), &["a"]);
    acc.add_tagged(&spec, 1, Input::Int(4), &["b"]);
    acc.add_tagged(&spec, 0, Input::Str("x"), &["c"]);
    assert_eq!(acc.finish(&spec, 0), vec![(1, i(4))]);
    // Only identifiers between the field and N; sample() has no tag form.
    assert!(AggSpec::new("top", &[Expr::Float(1.0), int(2)], S).is_err());
    assert!(AggSpec::new("sample", &[tag("host"), int(2)], S).is_err());
    assert!(AggSpec::new("bottom", &[tag("host"), int(0)], S).is_err());
}

#[test]
fn percentile_nearest_rank_at_window_start() {
    check(
        agg("percentile", &[int(50)], Field::F),
        &two(f(2.0), f(4.0)),
    );
    // n=4, p=10: rank floor(0.4+0.5)-1 = -1 -> null.
    check(agg("percentile", &[int(10)], Field::I), &[(0, i(1))]);
    check(
        agg("percentile", &[int(100)], Field::F),
        &two(f(5.0), f(6.0)),
    );
    check(agg("percentile", &[int(5)], Field::F), &[]);
    check(
        agg("percentile", &[Expr::Float(75.5)], Field::F),
        &two(f(3.0), f(6.0)),
    );
}

#[test]
fn sample_keeps_point_times() {
    let all: Vec<(i64, Value)> = A.iter().map(|r| (r.0 * S, f(r.1))).collect();
    check(agg("sample", &[int(10)], Field::F), &all);
    // Fewer than the window's points: InfluxDB picks at random; weir picks
    // deterministically, but also returns N points at their own times.
    let got = agg("sample", &[int(2)], Field::S);
    assert_eq!(got.len(), 4);
    assert!(got
        .iter()
        .all(|(t, v)| A.iter().any(|r| r.0 * S == *t && s(r.2) == *v)));
}

#[test]
fn integral_within_window_and_across_edges() {
    // A CQ run queries exactly one window: plain trapezoids inside it.
    check(agg("integral", &[], Field::F), &two(f(15.0), f(17.5)));
    // One query over both windows (InfluxDB: 24.5 and 26): the area up to a
    // window's edge is interpolated from the neighbouring windows' points.
    let spec = AggSpec::new("integral", &[], 10 * S).unwrap();
    let mut accs = [Acc::new(&spec), Acc::new(&spec)];
    for row in A {
        accs[(row.0 / 10) as usize].add(&spec, row.0 * S, Input::Float(row.1));
    }
    let (_, last0) = accs[0].edge_points().unwrap();
    let (first1, _) = accs[1].edge_points().unwrap();
    check(
        accs[0].finish_with_neighbors(&spec, 0, None, Some(first1)),
        &[(0, f(24.5))],
    );
    check(
        accs[1].finish_with_neighbors(&spec, 10 * S, Some(last0), None),
        &[(10 * S, f(26.0))],
    );
    // integral(i, 1m) over both windows: 0.40833.. and 0.45.
    let spec = AggSpec::new("integral", &[dur(60 * S)], 10 * S).unwrap();
    let mut accs = [Acc::new(&spec), Acc::new(&spec)];
    for row in A {
        accs[(row.0 / 10) as usize].add(&spec, row.0 * S, Input::Int(row.1 as i64));
    }
    check(
        accs[0].finish_with_neighbors(&spec, 0, None, Some((12 * S, 4.0))),
        &[(0, f(0.4083333333333333))],
    );
    check(
        accs[1].finish_with_neighbors(&spec, 10 * S, Some((8 * S, 5.0)), None),
        &[(10 * S, f(0.44999999999999996))],
    );
    // GROUP BY time(3s) over [0, 6s): 4 (interpolated to the point at 3s) and 5.
    let spec = AggSpec::new("integral", &[], 3 * S).unwrap();
    let mut a0 = Acc::new(&spec);
    a0.add(&spec, S, Input::Float(3.0));
    a0.add(&spec, 2 * S, Input::Float(1.0));
    check(
        a0.finish_with_neighbors(&spec, 0, None, Some((3 * S, 3.0))),
        &[(0, f(4.0))],
    );
}

#[test]
fn bad_args() {
    assert!(AggSpec::new("nope", &[], S).is_err());
    assert!(AggSpec::new("percentile", &[], S).is_err());
    assert!(AggSpec::new("percentile", &[int(101)], S).is_err());
    assert!(AggSpec::new("top", &[int(0)], S).is_err());
    assert!(AggSpec::new("integral", &[int(1)], S).is_err());
    let e = AggSpec::new("sample", &[Expr::Float(1.5)], S).unwrap_err();
    assert!(e.to_string().contains("sample"), "{e}");
}

/// Runs a transformation over the raw points of `A`.
fn raw(name: &str, extra: &[Expr], field: Field) -> Vec<(i64, Value)> {
    let spec = TransformSpec::new(name, extra, None).unwrap();
    let mut tr = Transform::new(&spec);
    A.iter()
        .filter_map(|r| tr.push(&spec, r.0 * S, &Value::from_input(input(r, field))))
        .collect()
}

fn at(pairs: &[(i64, f64)]) -> Vec<(i64, Value)> {
    pairs.iter().map(|&(t, v)| (t * S, f(v))).collect()
}
fn at_i(pairs: &[(i64, i64)]) -> Vec<(i64, Value)> {
    pairs.iter().map(|&(t, v)| (t * S, i(v))).collect()
}

#[test]
fn derivative_difference_raw() {
    check(
        raw("derivative", &[], Field::F),
        &at(&[
            (2, -2.0),
            (3, 2.0),
            (5, -0.5),
            (7, -0.5),
            (8, 4.0),
            (12, -0.25),
            (14, 1.0),
            (15, -7.0),
            (17, 3.5),
        ]),
    );
    check(
        raw("derivative", &[dur(2 * S)], Field::I),
        &at(&[
            (2, -4.0),
            (3, 4.0),
            (5, -1.0),
            (7, -1.0),
            (8, 8.0),
            (12, -0.5),
            (14, 2.0),
            (15, -14.0),
            (17, 7.0),
        ]),
    );
    check(
        raw("non_negative_derivative", &[], Field::F),
        &at(&[(3, 2.0), (8, 4.0), (14, 1.0), (17, 3.5)]),
    );
    check(
        raw("difference", &[], Field::I),
        &at_i(&[
            (2, -2),
            (3, 2),
            (5, -1),
            (7, -1),
            (8, 4),
            (12, -1),
            (14, 2),
            (15, -7),
            (17, 7),
        ]),
    );
    check(
        raw("non_negative_difference", &[], Field::F),
        &at(&[(3, 2.0), (8, 4.0), (14, 2.0), (17, 7.0)]),
    );
}

#[test]
fn cumulative_sum_moving_average_elapsed_raw() {
    check(
        raw("cumulative_sum", &[], Field::I),
        &at_i(&[
            (1, 3),
            (2, 4),
            (3, 7),
            (5, 9),
            (7, 10),
            (8, 15),
            (12, 19),
            (14, 25),
            (15, 24),
            (17, 30),
        ]),
    );
    check(
        raw("moving_average", &[int(3)], Field::F),
        &at(&[
            (3, 2.3333333333333335),
            (5, 2.0),
            (7, 2.0),
            (8, 2.6666666666666665),
            (12, 3.3333333333333335),
            (14, 5.0),
            (15, 3.0),
            (17, 3.6666666666666665),
        ]),
    );
    check(
        raw("elapsed", &[], Field::F),
        &at_i(&[
            (2, S),
            (3, S),
            (5, 2 * S),
            (7, 2 * S),
            (8, S),
            (12, 4 * S),
            (14, 2 * S),
            (15, S),
            (17, 2 * S),
        ]),
    );
    check(
        raw("elapsed", &[dur(S)], Field::S),
        &at_i(&[
            (2, 1),
            (3, 1),
            (5, 2),
            (7, 2),
            (8, 1),
            (12, 4),
            (14, 2),
            (15, 1),
            (17, 2),
        ]),
    );
}

/// `f(agg(f))` with GROUP BY time(4s) over [0, 20s): the per-window means are
/// 2.333.., 1.5, 5, 3, 6 (maxes 3, 2, 5, 6, 6; integer sums 7, 3, 5, 9, 6).
fn grouped(name: &str, extra: &[Expr], windows: &[Value]) -> Vec<(i64, Value)> {
    let spec = TransformSpec::new(name, extra, Some(4 * S)).unwrap();
    let mut tr = Transform::new(&spec);
    windows
        .iter()
        .enumerate()
        .filter_map(|(k, v)| tr.push(&spec, k as i64 * 4 * S, v))
        .collect()
}

#[test]
fn transformations_of_aggregates() {
    let means = [f(7.0 / 3.0), f(1.5), f(5.0), f(3.0), f(6.0)];
    // Default derivative unit inside GROUP BY time is the interval, not 1s.
    check(
        grouped("derivative", &[], &means),
        &at(&[(4, -0.8333333333333335), (8, 3.5), (12, -2.0), (16, 3.0)]),
    );
    check(
        grouped("derivative", &[dur(S)], &means),
        &at(&[
            (4, -0.20833333333333337),
            (8, 0.875),
            (12, -0.5),
            (16, 0.75),
        ]),
    );
    let maxes = [f(3.0), f(2.0), f(5.0), f(6.0), f(6.0)];
    check(
        grouped("non_negative_derivative", &[], &maxes),
        &at(&[(8, 3.0), (12, 1.0), (16, 0.0)]),
    );
    let sums = [i(7), i(3), i(5), i(9), i(6)];
    check(
        grouped("difference", &[], &sums),
        &at_i(&[(4, -4), (8, 2), (12, 4), (16, -3)]),
    );
    check(
        grouped("cumulative_sum", &[], &sums),
        &at_i(&[(0, 7), (4, 10), (8, 15), (12, 24), (16, 30)]),
    );
    check(
        grouped("elapsed", &[], &means),
        &at_i(&[(4, 4 * S), (8, 4 * S), (12, 4 * S), (16, 4 * S)]),
    );
    check(
        grouped("moving_average", &[int(2)], &means),
        &at(&[(4, 1.9166666666666667), (8, 3.25), (12, 4.0), (16, 4.5)]),
    );
}

#[test]
fn technical_analysis_raw() {
    let st = |x: &str| Expr::String(x.to_string());
    check(
        raw("exponential_moving_average", &[int(3)], Field::F),
        &at(&[
            (3, 2.3333333333333335),
            (5, 2.166666666666667),
            (7, 1.5833333333333335),
            (8, 3.291666666666667),
            (12, 3.6458333333333335),
            (14, 4.822916666666667),
            (15, 1.9114583333333335),
            (17, 3.9557291666666665),
        ]),
    );
    check(
        raw(
            "exponential_moving_average",
            &[int(3), int(0), st("simple")],
            Field::F,
        ),
        &at(&[
            (1, 3.0),
            (2, 2.0),
            (3, 2.3333333333333335),
            (5, 2.166666666666667),
            (7, 1.5833333333333335),
            (8, 3.291666666666667),
            (12, 3.6458333333333335),
            (14, 4.822916666666667),
            (15, 1.9114583333333335),
            (17, 3.9557291666666665),
        ]),
    );
    check(
        raw("double_exponential_moving_average", &[int(3)], Field::F),
        &at(&[
            (3, 2.4444444444444446),
            (5, 2.1388888888888893),
            (7, 1.277777777777778),
            (8, 3.993055555555556),
            (12, 4.173611111111111),
            (14, 5.675347222222222),
            (15, 0.8819444444444446),
            (17, 4.463107638888888),
        ]),
    );
    check(
        raw(
            "double_exponential_moving_average",
            &[int(2), int(-1), st("simple")],
            Field::F,
        ),
        &at(&[
            (3, 3.0),
            (5, 2.1851851851851856),
            (7, 1.123456790123457),
            (8, 4.506172839506172),
            (12, 4.212620027434842),
            (14, 5.863283036122542),
            (15, -0.11476909007773184),
            (17, 5.049789158156785),
        ]),
    );
    check(
        raw("triple_exponential_moving_average", &[int(2)], Field::F),
        &at(&[
            (2, 1.0740740740740735),
            (3, 2.851851851851851),
            (5, 2.0864197530864206),
            (7, 1.0274348422496569),
            (8, 4.807956104252399),
            (12, 4.172382258802012),
            (14, 5.941116699690087),
            (15, -0.6790123456790131),
            (17, 5.495148097342884),
        ]),
    );
    check(
        raw(
            "triple_exponential_moving_average",
            &[int(2), int(0), st("simple")],
            Field::F,
        ),
        &at(&[
            (1, 3.0),
            (2, 2.0),
            (3, 3.333333333333334),
            (5, 2.185185185185186),
            (7, 1.0411522633744852),
            (8, 4.807956104252401),
            (12, 4.171467764060356),
            (14, 5.940710257582686),
            (15, -0.679113956205863),
            (17, 5.495148097342884),
        ]),
    );
    check(
        raw("triple_exponential_derivative", &[int(2)], Field::F),
        &at(&[
            (3, 0.0),
            (5, -4.102564102564099),
            (7, -18.062982768865123),
            (8, 42.34952864394488),
            (12, 23.7731363559178),
            (14, 28.511760491455938),
            (15, -30.527252238894476),
            (17, 15.912854923252894),
        ]),
    );
    check(
        raw("relative_strength_index", &[int(3)], Field::F),
        &at(&[
            (5, 52.94117647058823),
            (7, 40.90909090909091),
            (8, 75.0),
            (12, 61.6600790513834),
            (14, 75.0),
            (15, 26.532938226578537),
            (17, 62.694600381966545),
        ]),
    );
    check(
        raw(
            "relative_strength_index",
            &[int(2), int(0), st("simple")],
            Field::F,
        ),
        &at(&[
            (1, 100.0),
            (2, 60.0),
            (3, 71.42857142857143),
            (5, 50.0),
            (7, 31.25),
            (8, 82.8125),
            (12, 60.22727272727273),
            (14, 80.97826086956522),
            (15, 17.40654205607477),
            (17, 67.86363636363636),
        ]),
    );
    check(
        raw("chande_momentum_oscillator", &[int(3)], Field::F),
        &at(&[
            (3, 0.0),
            (5, -20.0),
            (7, 0.0),
            (8, 33.33333333333333),
            (12, 33.33333333333333),
            (14, 71.42857142857143),
            (15, -60.0),
            (17, 12.5),
        ]),
    );
    check(
        raw("chande_momentum_oscillator", &[int(3), int(0)], Field::F),
        &at(&[
            (1, 0.0),
            (2, -100.0),
            (3, 0.0),
            (5, -20.0),
            (7, 0.0),
            (8, 33.33333333333333),
            (12, 33.33333333333333),
            (14, 71.42857142857143),
            (15, -60.0),
            (17, 12.5),
        ]),
    );
    check(
        raw(
            "chande_momentum_oscillator",
            &[int(2), int(-1), st("exponential")],
            Field::F,
        ),
        &at(&[
            (3, 38.46153846153847),
            (5, -5.263157894736838),
            (7, -41.935483870967744),
            (8, 65.35433070866141),
            (12, 19.999999999999996),
            (14, 61.852861035422336),
            (15, -65.28345996493279),
            (17, 35.71266196862923),
        ]),
    );
    check(
        raw("kaufmans_efficiency_ratio", &[int(3)], Field::F),
        &at(&[
            (5, 0.2),
            (7, 0.0),
            (8, 0.3333333333333333),
            (12, 0.3333333333333333),
            (14, 0.7142857142857143),
            (15, 0.6),
            (17, 0.125),
        ]),
    );
    check(
        raw("kaufmans_adaptive_moving_average", &[int(3)], Field::F),
        &at(&[
            (5, 2.9657948895826105),
            (7, 2.957612600760206),
            (8, 3.1012915539884163),
            (12, 3.164514372944486),
            (14, 3.8582231932531306),
            (15, 2.977373235716788),
            (17, 3.0364348524544296),
        ]),
    );
    check(
        raw("kaufmans_efficiency_ratio", &[int(2), int(0)], Field::F),
        &at(&[
            (1, 1.0),
            (2, 0.2),
            (3, 0.0),
            (5, 0.3333333333333333),
            (7, 1.0),
            (8, 0.6),
            (12, 0.6),
            (14, 0.3333333333333333),
            (15, 0.5555555555555556),
            (17, 0.0),
        ]),
    );
    assert!(TransformSpec::new("exponential_moving_average", &[int(0)], None).is_err());
    assert!(TransformSpec::new(
        "exponential_moving_average",
        &[int(2), int(0), st("none")],
        None
    )
    .is_err());
    assert!(TransformSpec::new("moving_average", &[int(1)], None).is_err());
}

#[test]
fn math_functions() {
    // Rows of `a` at 7s..15s: f = 1, 5, 4, 6, -1 (and i the same as integers).
    let m = |name: &str, args: &[Value]| math(name, args);
    // abs/ceil/floor/round return integers unchanged (abs(-1i) is -1).
    assert_eq!(m("abs", &[i(-1)]), Some(i(-1)));
    assert_eq!(m("abs", &[f(-1.0)]), Some(f(1.0)));
    assert_eq!(m("ceil", &[i(-1)]), Some(i(-1)));
    assert_eq!(m("round", &[f(-2.5)]), Some(f(-3.0)));
    assert_eq!(m("round", &[f(2.4)]), Some(f(2.0)));
    let close_to = |got: Option<Value>, want: f64| assert!(close(&got.unwrap(), &f(want)));
    close_to(m("sqrt", &[i(5)]), 2.23606797749979);
    assert_eq!(m("sqrt", &[f(-1.0)]), None);
    assert_eq!(m("ln", &[f(-1.0)]), None);
    close_to(m("ln", &[f(5.0)]), 1.6094379124341003);
    close_to(m("log", &[f(5.0), i(2)]), 2.321928094887362);
    close_to(m("log2", &[i(6)]), 2.584962500721156);
    close_to(m("log10", &[f(5.0)]), 0.6989700043360187);
    close_to(m("pow", &[i(-1), i(2)]), 1.0);
    assert_eq!(m("pow", &[f(-1.0), f(0.5)]), None);
    close_to(m("exp", &[f(-1.0)]), 0.36787944117144233);
    close_to(m("atan2", &[f(5.0), i(2)]), 1.1902899496825317);
    close_to(m("atan2", &[i(-1), i(-1)]), -2.356194490192345);
    close_to(m("acos", &[f(-1.0)]), std::f64::consts::PI);
    assert_eq!(m("asin", &[f(5.0)]), None);
    close_to(m("atan", &[i(5)]), 1.3734007669450157);
    close_to(m("sin", &[f(5.0)]), -0.9589242746631385);
    close_to(m("cos", &[i(4)]), -0.6536436208636119);
    close_to(m("tan", &[f(6.0)]), -0.29100619138474915);
    assert_eq!(m("abs", &[s("x")]), None);
    assert_eq!(m("nope", &[f(1.0)]), None);
}

#[test]
fn types_are_send_sync() {
    fn ok<T: Send + Sync>() {}
    ok::<AggSpec>();
    ok::<Acc>();
    ok::<TransformSpec>();
    ok::<Transform>();
    ok::<Value>();
    ok::<EvalError>();
}

#[test]
fn finish_first_is_the_first_row_of_finish() {
    let names = [
        "count", "distinct", "integral", "mean", "median", "mode", "spread", "stddev", "sum",
        "first", "last", "min", "max",
    ];
    for field in [Field::F, Field::I, Field::S, Field::B] {
        for name in names {
            let spec = AggSpec::new(name, &[], 10 * S).unwrap();
            for w in 0..3 {
                let mut acc = Acc::new(&spec);
                for row in A.iter().filter(|r| r.0 / 10 == w) {
                    acc.add(&spec, row.0 * S, input(row, field));
                }
                let want = acc
                    .finish(&spec, w * 10 * S)
                    .into_iter()
                    .next()
                    .map(|r| r.1);
                assert_eq!(acc.finish_first(&spec, w * 10 * S), want, "{name}");
            }
        }
    }
}
