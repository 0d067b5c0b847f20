//! Which InfluxQL aggregates DataFusion's own groups accumulators compute exactly as weir's
//! `Acc` does (and so as InfluxDB does: `Acc` is what the differential suite checks).
//!
//! The `cq_windows_datafusion` bench measures DataFusion's accumulators, keyed on the task's
//! series id, as the fastest and leanest way to hold a window's aggregates. Handing a function
//! to them is only right where every result is the same bits. This test feeds the same random
//! values, split into random batches over random groups, to both and compares each group's
//! result bit for bit. The cases here are the ones that hold; where they do not (a `mean` of
//! integers: InfluxDB sums them as wrapping `int64`, DataFusion casts each to `f64` first), the
//! function stays on `Acc`, and `disagreements_stay_on_acc` shows why. Writing this test
//! found that weir's own integer mean summed in f64; it now sums as InfluxDB does
//! (`tests/cases/cq/mean_of_large_integers.case`, checked against influxd).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema};
use datafusion::functions_aggregate::average::avg_udaf;
use datafusion::functions_aggregate::count::count_udaf;
use datafusion::functions_aggregate::min_max::{max_udaf, min_udaf};
use datafusion::functions_aggregate::sum::sum_udaf;
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::{AggregateUDF, EmitTo, GroupsAccumulator};
use datafusion::physical_expr::expressions::col;
use proptest::prelude::*;
use weir_sql::eval::{Acc, AggSpec, Input, Value};

/// A DataFusion groups accumulator of `udaf` over a column `v` of type `input`, returning
/// `returns`, as its aggregate operator makes one (the planner's casts not applied).
fn try_groups_accumulator(
    udaf: &AggregateUDF,
    input: &DataType,
    returns: DataType,
) -> datafusion::error::Result<Box<dyn GroupsAccumulator>> {
    let schema = Schema::new(vec![Field::new("v", input.clone(), true)]);
    let exprs = [col("v", &schema)?];
    let fields = [Arc::new(schema.field(0).clone())];
    let args = AccumulatorArgs {
        return_field: Arc::new(Field::new(udaf.name(), returns, true)),
        schema: &schema,
        ignore_nulls: false,
        order_bys: &[],
        is_reversed: false,
        name: udaf.name(),
        is_distinct: false,
        exprs: &exprs,
        expr_fields: &fields,
    };
    assert!(udaf.groups_accumulator_supported(args.clone()));
    udaf.create_groups_accumulator(args)
}

fn groups_accumulator(udaf: &AggregateUDF, input: &DataType) -> Box<dyn GroupsAccumulator> {
    let returns = udaf.return_type(std::slice::from_ref(input)).unwrap();
    try_groups_accumulator(udaf, input, returns).unwrap()
}

/// One group's result, as bits where it is a float (so `-0` and `0` differ).
#[derive(Debug, PartialEq)]
enum Bits {
    F(u64),
    I(i64),
}

fn bits(v: &Value) -> Bits {
    match v {
        Value::Float(f) => Bits::F(f.to_bits()),
        Value::Int(i) => Bits::I(*i),
        other => panic!("unexpected {other:?}"),
    }
}

fn bits_at(a: &ArrayRef, i: usize) -> Bits {
    match a.data_type() {
        DataType::Float64 => Bits::F(a.as_primitive::<Float64Type>().value(i).to_bits()),
        DataType::Int64 => Bits::I(a.as_primitive::<Int64Type>().value(i)),
        other => panic!("unexpected {other}"),
    }
}

/// A column of `values` of the test's type.
fn column(values: &[Value]) -> ArrayRef {
    match values.first() {
        Some(Value::Int(_)) | None => Arc::new(Int64Array::from_iter_values(values.iter().map(
            |v| match v {
                Value::Int(i) => *i,
                _ => unreachable!(),
            },
        ))),
        Some(_) => Arc::new(Float64Array::from_iter_values(values.iter().map(
            |v| match v {
                Value::Float(f) => *f,
                _ => unreachable!(),
            },
        ))),
    }
}

/// Each group's result from `Acc` (InfluxQL) and from DataFusion, over `points` (group,
/// value) fed in batches cut at `cuts`.
fn both(
    influxql: &str,
    udaf: &AggregateUDF,
    points: &[(usize, Value)],
    cuts: &[usize],
) -> Vec<(Bits, Bits)> {
    let groups = points.iter().map(|p| p.0 + 1).max().unwrap_or(0);
    let spec = AggSpec::new(influxql, &[], 60_000_000_000).unwrap();
    let mut accs: Vec<Acc> = (0..groups).map(|_| Acc::new(&spec)).collect();
    for (t, (g, v)) in points.iter().enumerate() {
        let input = match v {
            Value::Float(f) => Input::Float(*f),
            Value::Int(i) => Input::Int(*i),
            _ => unreachable!(),
        };
        accs[*g].add(&spec, t as i64, input);
    }
    let input_type = match points.first() {
        Some((_, Value::Float(_))) => DataType::Float64,
        _ => DataType::Int64,
    };
    let mut df = groups_accumulator(udaf, &input_type);
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (points.len() + 1)).collect();
    bounds.push(0);
    bounds.push(points.len());
    bounds.sort_unstable();
    bounds.dedup();
    for w in bounds.windows(2) {
        let chunk = &points[w[0]..w[1]];
        let values: Vec<Value> = chunk.iter().map(|p| p.1.clone()).collect();
        let group_indices: Vec<usize> = chunk.iter().map(|p| p.0).collect();
        df.update_batch(&[column(&values)], &group_indices, None, groups)
            .unwrap();
    }
    let out = df.evaluate(EmitTo::All).unwrap();
    (0..groups)
        .filter_map(|g| {
            let want = accs[g].finish_first(&spec, 0)?;
            assert!(
                out.is_valid(g),
                "{influxql}: group {g} has a value in InfluxQL"
            );
            Some((bits(&want), bits_at(&out, g)))
        })
        .collect()
}

/// Floats as fields carry them: signs, zeros of both signs, tiny and huge magnitudes, and
/// values whose sums round.
fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        -1e6f64..1e6,
        Just(0.0),
        Just(-0.0),
        Just(0.1),
        Just(1e300),
        Just(-1e300),
        Just(f64::MIN_POSITIVE),
        (-1000i64..1000).prop_map(|i| i as f64 / 3.0),
    ]
}

/// Integers, extremes included (sums wrap as InfluxDB's `int64` do).
fn int() -> impl Strategy<Value = i64> {
    prop_oneof![
        -1_000_000i64..1_000_000,
        Just(i64::MAX),
        Just(i64::MIN),
        Just(0),
        any::<i64>(),
    ]
}

fn float_points() -> impl Strategy<Value = Vec<(usize, Value)>> {
    prop::collection::vec((0usize..20, float().prop_map(Value::Float)), 1..300)
}

fn int_points() -> impl Strategy<Value = Vec<(usize, Value)>> {
    prop::collection::vec((0usize..20, int().prop_map(Value::Int)), 1..300)
}

fn cuts() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0usize..300, 0..6)
}

fn assert_same(influxql: &str, udaf: &AggregateUDF, points: &[(usize, Value)], cuts: &[usize]) {
    for (g, (want, got)) in both(influxql, udaf, points, cuts).into_iter().enumerate() {
        assert_eq!(want, got, "{influxql}, group {g}: InfluxQL vs DataFusion");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn floats(points in float_points(), cuts in cuts()) {
        assert_same("count", &count_udaf(), &points, &cuts);
        assert_same("mean", &avg_udaf(), &points, &cuts);
        // sum: the same but for a group of only -0.0 (see disagreements_stay_on_acc).
        let nonzero: Vec<(usize, Value)> = points
            .iter()
            .map(|(g, v)| match v {
                Value::Float(f) if *f == 0.0 => (*g, Value::Float(1.0)),
                other => (*g, other.clone()),
            })
            .collect();
        assert_same("sum", &sum_udaf(), &nonzero, &cuts);
    }

    #[test]
    fn integers(points in int_points(), cuts in cuts()) {
        assert_same("count", &count_udaf(), &points, &cuts);
        assert_same("sum", &sum_udaf(), &points, &cuts);
        assert_same("min", &min_udaf(), &points, &cuts);
        assert_same("max", &max_udaf(), &points, &cuts);
    }
}

#[test]
fn disagreements_stay_on_acc() {
    // sum of floats: InfluxDB's sum starts from the first point, DataFusion's from 0.0, so
    // a group of only -0.0 sums to -0.0 in InfluxDB and to 0.0 in DataFusion.
    let points = [(0, Value::Float(-0.0)), (0, Value::Float(-0.0))];
    let [(want, got)] = both("sum", &sum_udaf(), &points, &[1]).try_into().unwrap();
    assert_eq!(want, Bits::F((-0.0f64).to_bits()));
    assert_eq!(got, Bits::F(0.0f64.to_bits()));
    // mean of integers: InfluxDB adds them as int64 (wrapping), then divides; DataFusion's
    // avg takes no integers without the planner's cast of each to f64 (another answer past
    // 2^53).
    let spec = AggSpec::new("mean", &[], 1).unwrap();
    let mut acc = Acc::new(&spec);
    acc.add(&spec, 0, Input::Int(9_007_199_254_740_993));
    acc.add(&spec, 1, Input::Int(1));
    assert_eq!(
        acc.finish_first(&spec, 0),
        Some(Value::Float(4_503_599_627_370_497.0))
    );
    assert!(
        try_groups_accumulator(&avg_udaf(), &DataType::Int64, DataType::Float64).is_err(),
        "DataFusion's avg now takes integers directly: compare it with InfluxQL's mean"
    );
}
