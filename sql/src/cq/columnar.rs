//! Window aggregates held in DataFusion's groups accumulators.
//!
//! `count`, `sum`, `mean`, `min`, `max` and `spread` of a named field are what most continuous queries
//! compute. For a query made only of those, each window keeps them in the accumulators
//! DataFusion's own aggregate operator uses ([`GroupsAccumulator`], one group per series slot
//! of the window): a routed batch updates them a column at a time (partial aggregates per
//! batch), and a window holds a few machine words per series instead of an [`Acc`] each.
//!
//! Only where DataFusion's results are [`Acc`]'s, the row path the differential suite checks
//! against influxd (`sql/tests/datafusion_accumulators.rs` and `columnar_tests.rs` compare them
//! bit for bit):
//! - `count` of any type, `sum` and `min`/`max` of integers and unsigned integers (wrapping,
//!   as InfluxDB), `sum` of floats, `min`/`max` of booleans (`bool_and` / `bool_or`);
//! - `mean` is kept as a sum and a count per input type and divided as InfluxDB's reducers do:
//!   floats summed from 0.0, integers summed as wrapping int64 and converted once (DataFusion's
//!   own `avg` casts each integer to f64 first, which differs past 2^53);
//! - `sum` of floats: DataFusion starts from 0.0, InfluxDB from the first point, which differs
//!   only when every point is -0.0; a bit per series records whether one was not, and an
//!   all -0.0 sum is -0.0 as in InfluxDB;
//! - `spread` is DataFusion's `max` less its `min`, in the input's type (wrapping), as
//!   InfluxDB's reducers subtract them.
//!
//! One difference is left, in the sign of a zero only: `min`/`max` of floats over a window
//! holding both 0 and -0 give 0 (DataFusion orders -0 below 0), where InfluxDB gives the one
//! that came first (it compares them equal). Strings are ignored by all but `count`, as [`Acc`]
//! ignores them.
//!
//! A `mean` of integers over a group of several series is reduced per series, as InfluxDB
//! does ([`Acc::add_in_series`]); these accumulators hold one sum per group, so a query leaves
//! them for the row path when a batch brings that case (`Windowed::leave_columnar`).
//!
//! Series of different field types in one window (a regex `FROM` over measurements that type
//! a field differently) keep one accumulator per type. One series never mixes types in a
//! window (weir's ingest refuses a field of another type, as InfluxDB does); if it did, its
//! parts would be combined by type, floats first.

use std::sync::{Arc, Mutex, PoisonError};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, UInt64Array,
};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema, UInt64Type};
use datafusion::error::Result as DfResult;
use datafusion::functions_aggregate::bool_and_or::{bool_and_udaf, bool_or_udaf};
use datafusion::functions_aggregate::count::count_udaf;
use datafusion::functions_aggregate::min_max::{max_udaf, min_udaf};
use datafusion::functions_aggregate::sum::sum_udaf;
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::{AggregateUDF, EmitTo, GroupsAccumulator};
use datafusion::physical_expr::expressions::col;

use super::plan::{AggCall, FieldSel, WindowedPlan};
use crate::eval::{mean, value_cmp, Acc, Num, Partial, Value};

/// An aggregate a window holds in DataFusion's accumulators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ColFn {
    Count,
    Sum,
    Mean,
    Min,
    Max,
    Spread,
}

impl ColFn {
    fn of(call: &AggCall) -> Option<ColFn> {
        if !matches!(call.field, FieldSel::Name(_))
            || call.spec.is_udf()
            || !call.spec.by_tags().is_empty()
        {
            return None;
        }
        Some(match call.spec.name() {
            "count" => ColFn::Count,
            "sum" => ColFn::Sum,
            "mean" => ColFn::Mean,
            "min" => ColFn::Min,
            "max" => ColFn::Max,
            "spread" => ColFn::Spread,
            _ => return None,
        })
    }

    /// The accumulators of one input type, in the order [`Values::value`] reads them; none
    /// when the function ignores the type.
    fn udafs(self, ty: Ty) -> Vec<Arc<AggregateUDF>> {
        let numeric = matches!(ty, Ty::Float | Ty::Int | Ty::UInt);
        match (self, ty) {
            (ColFn::Count, _) => vec![count_udaf()],
            (ColFn::Sum, _) if numeric => vec![sum_udaf()],
            (ColFn::Mean, _) if numeric => vec![sum_udaf(), count_udaf()],
            (ColFn::Min, Ty::Bool) => vec![bool_and_udaf()],
            (ColFn::Max, Ty::Bool) => vec![bool_or_udaf()],
            (ColFn::Min, _) if numeric => vec![min_udaf()],
            (ColFn::Max, _) if numeric => vec![max_udaf()],
            (ColFn::Spread, _) if numeric => vec![min_udaf(), max_udaf()],
            _ => Vec::new(),
        }
    }
}

/// The functions of a query whose windows are held columnar: every aggregate must be one.
pub(crate) fn columnar_fns(w: &WindowedPlan) -> Option<Vec<ColFn>> {
    if w.multi_row || w.aggs.is_empty() {
        return None;
    }
    w.aggs.iter().map(ColFn::of).collect()
}

/// A field column's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Float,
    Int,
    UInt,
    Bool,
    Str,
}

impl Ty {
    fn of(t: &DataType) -> Option<Ty> {
        Some(match t {
            DataType::Float64 => Ty::Float,
            DataType::Int64 => Ty::Int,
            DataType::UInt64 => Ty::UInt,
            DataType::Boolean => Ty::Bool,
            DataType::Utf8 => Ty::Str,
            _ => return None,
        })
    }

    fn data_type(self) -> DataType {
        match self {
            Ty::Float => DataType::Float64,
            Ty::Int => DataType::Int64,
            Ty::UInt => DataType::UInt64,
            Ty::Bool => DataType::Boolean,
            Ty::Str => DataType::Utf8,
        }
    }
}

/// A groups accumulator of `udaf` over a column of type `input`, as DataFusion's aggregate
/// operator makes one.
fn groups_accumulator(
    udaf: &AggregateUDF,
    input: &DataType,
) -> DfResult<Box<dyn GroupsAccumulator>> {
    let schema = Schema::new(vec![Field::new("v", input.clone(), true)]);
    let exprs = [col("v", &schema)?];
    let fields = [Arc::new(schema.field(0).clone())];
    let returns = udaf.return_type(std::slice::from_ref(input))?;
    udaf.create_groups_accumulator(AccumulatorArgs {
        return_field: Arc::new(Field::new(udaf.name(), returns, true)),
        schema: &schema,
        ignore_nulls: false,
        order_bys: &[],
        is_reversed: false,
        name: udaf.name(),
        is_distinct: false,
        exprs: &exprs,
        expr_fields: &fields,
    })
}

/// One DataFusion accumulator. DataFusion reads a state by taking it out; the state read is
/// kept here and merged back only when the window takes more points, so a window emitted once
/// and dropped (the common case) never pays for the merge.
struct Held {
    acc: Box<dyn GroupsAccumulator>,
    /// The state last read, while nothing was added since.
    taken: Option<Vec<ArrayRef>>,
}

impl Held {
    /// The accumulator with its state in it, to add to.
    fn live(&mut self) -> DfResult<&mut Box<dyn GroupsAccumulator>> {
        if let Some(state) = self.taken.take() {
            let n = state.first().map_or(0, |a| a.len());
            let groups: Vec<usize> = (0..n).collect();
            self.acc.merge_batch(&state, &groups, n)?;
        }
        Ok(&mut self.acc)
    }

    /// Its state (for these functions, the result per slot).
    fn state(&mut self) -> DfResult<ArrayRef> {
        let state = match &self.taken {
            Some(state) => state,
            None => self.taken.insert(self.acc.state(EmitTo::All)?),
        };
        state.first().cloned().ok_or_else(|| {
            datafusion::error::DataFusionError::Internal("an accumulator without state".into())
        })
    }
}

/// The accumulators of one input type. Behind a mutex only because a checkpoint reads the
/// windows through `&self` and reading a state changes where it is kept; the task owns its
/// state, so the lock is never contended.
struct Part {
    ty: Ty,
    accs: Vec<Mutex<Held>>,
}

impl Part {
    fn new(f: ColFn, ty: Ty) -> DfResult<Option<Part>> {
        let udafs = f.udafs(ty);
        if udafs.is_empty() {
            return Ok(None);
        }
        let accs = udafs
            .iter()
            .map(|u| {
                groups_accumulator(u, &ty.data_type())
                    .map(|acc| Mutex::new(Held { acc, taken: None }))
            })
            .collect::<DfResult<_>>()?;
        Ok(Some(Part { ty, accs }))
    }
}

/// The bits of -0.0.
const NEG_ZERO: u64 = 0x8000_0000_0000_0000;

/// One aggregate of one window, for every series slot of the window.
pub(crate) struct ColAcc {
    f: ColFn,
    parts: Vec<Part>,
    /// `sum` of floats: the slots that took a value other than -0.0 (see the module doc).
    not_neg_zero: Vec<u64>,
}

impl std::fmt::Debug for ColAcc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ColAcc")
            .field("f", &self.f)
            .field(
                "types",
                &self.parts.iter().map(|p| p.ty).collect::<Vec<_>>(),
            )
            .finish()
    }
}

fn held(m: &mut Mutex<Held>) -> &mut Held {
    m.get_mut().unwrap_or_else(PoisonError::into_inner)
}

fn get_bit(bits: &[u64], i: usize) -> bool {
    bits.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
}

fn set_bit(bits: &mut Vec<u64>, i: usize) {
    let w = i / 64;
    if bits.len() <= w {
        bits.resize(w + 1, 0);
    }
    bits[w] |= 1 << (i % 64);
}

impl ColAcc {
    pub(crate) fn new(f: ColFn) -> ColAcc {
        ColAcc {
            f,
            parts: Vec::new(),
            not_neg_zero: Vec::new(),
        }
    }

    /// The part for input type `ty`, created on first use; `None` when `f` ignores `ty`.
    /// `count` keeps one part whatever the types (it only looks at which values are null).
    fn part(&mut self, ty: Ty) -> DfResult<Option<&mut Part>> {
        let found = self
            .parts
            .iter()
            .position(|p| self.f == ColFn::Count || p.ty == ty);
        let i = match found {
            Some(i) => i,
            None => match Part::new(self.f, ty)? {
                Some(p) => {
                    self.parts.push(p);
                    self.parts.len() - 1
                }
                None => return Ok(None),
            },
        };
        Ok(self.parts.get_mut(i))
    }

    /// Folds the rows of `values` whose `filter` is set into the slots `groups` gives them
    /// (one per row); the window has `total` slots.
    ///
    /// The filter is required, even when it keeps every row: DataFusion's accumulators assume
    /// (as in its hash aggregate) that every group below `total` has had a value when a batch
    /// has neither a filter nor nulls, and skip tracking which did. The slots of a window are
    /// shared by its aggregates and types, so here a slot below `total` may have had none
    /// (another measurement's series, a point without this field); a filter makes them track.
    pub(crate) fn update(
        &mut self,
        values: &ArrayRef,
        groups: &[usize],
        filter: &BooleanArray,
        total: usize,
    ) -> DfResult<()> {
        let filter = Some(filter);
        let Some(ty) = Ty::of(values.data_type()) else {
            return Ok(());
        };
        let f = self.f;
        let Some(part) = self.part(ty)? else {
            return Ok(());
        };
        for acc in &mut part.accs {
            held(acc)
                .live()?
                .update_batch(std::slice::from_ref(values), groups, filter, total)?;
        }
        if f == ColFn::Sum && ty == Ty::Float {
            let floats = values.as_primitive::<Float64Type>();
            for (row, &g) in groups.iter().enumerate() {
                let kept = filter.is_none_or(|m| m.is_valid(row) && m.value(row));
                if kept && floats.is_valid(row) && floats.value(row).to_bits() != NEG_ZERO {
                    set_bit(&mut self.not_neg_zero, g);
                }
            }
        }
        Ok(())
    }

    /// The current results, leaving the state as it was (a window is emitted again when late
    /// points arrive, and checkpointed while open).
    pub(crate) fn values(&self) -> DfResult<Values<'_>> {
        let mut parts = Vec::with_capacity(self.parts.len());
        for p in &self.parts {
            let arrays = p
                .accs
                .iter()
                .map(|acc| acc.lock().unwrap_or_else(PoisonError::into_inner).state())
                .collect::<DfResult<Vec<_>>>()?;
            parts.push((p.ty, arrays));
        }
        Ok(Values {
            f: self.f,
            parts,
            not_neg_zero: &self.not_neg_zero,
        })
    }

    /// The aggregate over `slots` states read from a checkpoint (or another window).
    pub(crate) fn from_partials(f: ColFn, slots: &[Partial]) -> DfResult<ColAcc> {
        let mut acc = ColAcc::new(f);
        let n = slots.len();
        let groups: Vec<usize> = (0..n).collect();
        // Per input type, the state arrays of its accumulators (as `Part::accs`).
        let mut by_type: Vec<(Ty, Vec<ArrayRef>)> = Vec::new();
        let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let counts = |get: &dyn Fn(&Partial) -> i64| -> ArrayRef {
            Arc::new(slots.iter().map(|p| Some(get(p))).collect::<Int64Array>())
        };
        match f {
            ColFn::Count => by_type.push((
                Ty::Int,
                vec![counts(&|p| match p {
                    Partial::Count(c) => count(*c),
                    _ => 0,
                })],
            )),
            ColFn::Sum => {
                let sum = |p: &Partial| match p {
                    Partial::Sum(s) => *s,
                    _ => None,
                };
                for (ty, sums) in num_arrays(slots, sum) {
                    by_type.push((ty, vec![sums]));
                }
                for (i, p) in slots.iter().enumerate() {
                    if let Some(Num::F(x)) = sum(p) {
                        if x.to_bits() != NEG_ZERO {
                            set_bit(&mut acc.not_neg_zero, i);
                        }
                    }
                }
            }
            ColFn::Mean => {
                // Where the float part keeps the count, and where the whole part does: all in
                // one part when the other adds nothing (a float sum of +0.0 adds nothing).
                let split = |p: &Partial| -> Option<(Option<f64>, Option<Num>, u64)> {
                    let Partial::Mean { sum, n, whole } = p else {
                        return None;
                    };
                    (*n > 0).then_some(match whole {
                        None => (Some(*sum), None, *n),
                        // Integers and unsigned together (not one series): already a float,
                        // and `(sum + w) / n` is what the mean would divide.
                        Some(Num::F(w)) => (Some(*sum + *w), None, *n),
                        Some(w) if sum.to_bits() == 0 => (None, Some(*w), *n),
                        Some(w) => (Some(*sum), Some(*w), *n),
                    })
                };
                // The float sum and the whole sum, each in its own type's array.
                let sums = num_arrays(slots, |p| {
                    let (fsum, whole, _) = split(p)?;
                    fsum.map(Num::F).or(whole)
                });
                let wholes = num_arrays(slots, |p| {
                    let (fsum, whole, _) = split(p)?;
                    fsum.and(whole)
                });
                for ((ty, sum), (_, whole)) in sums.into_iter().zip(wholes) {
                    // The count goes with the part its slot's first sum is in.
                    let n = counts(&|p| match (split(p), ty) {
                        (Some((Some(_), _, n)), Ty::Float) => count(n),
                        (Some((None, Some(w), n)), _) if num_ty(w) == ty => count(n),
                        _ => 0,
                    });
                    by_type.push((ty, vec![sum, n]));
                    // A whole sum beside a float one: its part, with no count of its own.
                    if whole.null_count() < whole.len() {
                        by_type.push((ty, vec![whole, counts(&|_| 0)]));
                    }
                }
            }
            ColFn::Min | ColFn::Max => {
                let extreme = |p: &Partial| match p {
                    Partial::Extreme(v) => v.clone(),
                    _ => None,
                };
                for (ty, values) in
                    num_arrays(slots, |p| extreme(p).as_ref().and_then(Num::of_value))
                {
                    by_type.push((ty, vec![values]));
                }
                let bools: ArrayRef = Arc::new(
                    slots
                        .iter()
                        .map(|p| match extreme(p) {
                            Some(Value::Bool(b)) => Some(b),
                            _ => None,
                        })
                        .collect::<BooleanArray>(),
                );
                by_type.push((Ty::Bool, vec![bools]));
            }
            ColFn::Spread => {
                let ends = |p: &Partial| match p {
                    Partial::Spread(e) => *e,
                    _ => None,
                };
                let lows = num_arrays(slots, |p| ends(p).map(|e| e.0));
                let highs = num_arrays(slots, |p| ends(p).map(|e| e.1));
                for ((ty, lo), (_, hi)) in lows.into_iter().zip(highs) {
                    by_type.push((ty, vec![lo, hi]));
                }
            }
        }
        for (ty, states) in by_type {
            // A type no slot has stays without a part, as if never seen.
            let used = states.first().is_some_and(|s| s.null_count() < s.len())
                && !(f == ColFn::Count
                    && states.first().is_some_and(|s| {
                        s.as_primitive::<Int64Type>()
                            .values()
                            .iter()
                            .all(|c| *c == 0)
                    }));
            if !used {
                continue;
            }
            let Some(part) = acc.part(ty)? else { continue };
            for (a, state) in part.accs.iter_mut().zip(&states) {
                held(a)
                    .live()?
                    .merge_batch(std::slice::from_ref(state), &groups, n)?;
            }
        }
        Ok(acc)
    }
}

/// The input type a number comes from.
fn num_ty(x: Num) -> Ty {
    match x {
        Num::F(_) => Ty::Float,
        Num::I(_) => Ty::Int,
        Num::U(_) => Ty::UInt,
    }
}

/// Per numeric type, an array over `slots` holding each slot's number where it is of that
/// type (null elsewhere): how a state read from a checkpoint is split into the parts.
fn num_arrays(slots: &[Partial], get: impl Fn(&Partial) -> Option<Num>) -> [(Ty, ArrayRef); 3] {
    let nums: Vec<Option<Num>> = slots.iter().map(get).collect();
    let floats: Float64Array = nums
        .iter()
        .map(|x| match x {
            Some(Num::F(v)) => Some(*v),
            _ => None,
        })
        .collect();
    let ints: Int64Array = nums
        .iter()
        .map(|x| match x {
            Some(Num::I(v)) => Some(*v),
            _ => None,
        })
        .collect();
    let uints: UInt64Array = nums
        .iter()
        .map(|x| match x {
            Some(Num::U(v)) => Some(*v),
            _ => None,
        })
        .collect();
    [
        (Ty::Float, Arc::new(floats)),
        (Ty::Int, Arc::new(ints)),
        (Ty::UInt, Arc::new(uints)),
    ]
}

/// The results of one [`ColAcc`], read slot by slot.
pub(crate) struct Values<'a> {
    f: ColFn,
    /// Per input type, the state of each accumulator (for these functions, its result).
    parts: Vec<(Ty, Vec<ArrayRef>)>,
    not_neg_zero: &'a [u64],
}

impl Values<'_> {
    /// A part's number at `slot`, `None` when the slot took none.
    fn num(&self, ty: Ty, a: &ArrayRef, slot: usize) -> Option<Num> {
        if slot >= a.len() || !a.is_valid(slot) {
            return None;
        }
        Some(match ty {
            Ty::Float => {
                let x = a.as_primitive::<Float64Type>().value(slot);
                // An all -0.0 sum is -0.0 (InfluxDB starts from the first point).
                if self.f == ColFn::Sum && x.to_bits() == 0 && !get_bit(self.not_neg_zero, slot) {
                    Num::F(-0.0)
                } else {
                    Num::F(x)
                }
            }
            Ty::Int => Num::I(a.as_primitive::<Int64Type>().value(slot)),
            Ty::UInt => Num::U(a.as_primitive::<UInt64Type>().value(slot)),
            Ty::Bool | Ty::Str => return None,
        })
    }

    /// A count part's count at `slot` (0 when it took none).
    fn count(a: &ArrayRef, slot: usize) -> u64 {
        if slot >= a.len() || !a.is_valid(slot) {
            return 0;
        }
        u64::try_from(a.as_primitive::<Int64Type>().value(slot)).unwrap_or(0)
    }

    /// The aggregate's state at `slot` (for checkpoints and the result).
    pub(crate) fn partial(&self, slot: usize) -> Partial {
        match self.f {
            ColFn::Count => Partial::Count(
                self.parts
                    .iter()
                    .filter_map(|(_, a)| a.first())
                    .map(|a| Self::count(a, slot))
                    .sum(),
            ),
            ColFn::Sum => Partial::Sum(
                self.parts
                    .iter()
                    .filter_map(|(ty, a)| self.num(*ty, a.first()?, slot))
                    .reduce(Num::add),
            ),
            ColFn::Mean => {
                let (mut sum, mut n, mut whole) = (0.0, 0, None::<Num>);
                for (ty, a) in &self.parts {
                    let (Some(s), Some(c)) = (a.first(), a.get(1)) else {
                        continue;
                    };
                    n += Self::count(c, slot);
                    match self.num(*ty, s, slot) {
                        Some(Num::F(x)) => sum += x,
                        Some(x) => whole = Some(whole.map_or(x, |w| w.add(x))),
                        None => {}
                    }
                }
                Partial::Mean { sum, n, whole }
            }
            ColFn::Min | ColFn::Max => {
                let mut best: Option<Value> = None;
                for (ty, a) in &self.parts {
                    let Some(a) = a.first() else { continue };
                    let v = match ty {
                        Ty::Bool if slot < a.len() && a.is_valid(slot) => {
                            Some(Value::Bool(a.as_boolean().value(slot)))
                        }
                        _ => self.num(*ty, a, slot).map(Num::value),
                    };
                    let Some(v) = v else { continue };
                    let better = best.as_ref().is_none_or(|b| {
                        let ord = value_cmp(&v, b);
                        if self.f == ColFn::Min {
                            ord.is_lt()
                        } else {
                            ord.is_gt()
                        }
                    });
                    if better {
                        best = Some(v);
                    }
                }
                Partial::Extreme(best)
            }
            ColFn::Spread => {
                let (mut lo, mut hi) = (None::<Num>, None::<Num>);
                for (ty, a) in &self.parts {
                    let (Some(mins), Some(maxs)) = (a.first(), a.get(1)) else {
                        continue;
                    };
                    if let Some(x) = self.num(*ty, mins, slot) {
                        lo = Some(lo.map_or(x, |l| if x.cmp(l).is_lt() { x } else { l }));
                    }
                    if let Some(x) = self.num(*ty, maxs, slot) {
                        hi = Some(hi.map_or(x, |h| if x.cmp(h).is_gt() { x } else { h }));
                    }
                }
                Partial::Spread(lo.zip(hi))
            }
        }
    }

    /// The result at `slot`, as [`Acc::finish_first`] gives it.
    pub(crate) fn value(&self, slot: usize) -> Option<Value> {
        match self.partial(slot) {
            Partial::Count(0) => None,
            Partial::Count(n) => Some(Value::Int(i64::try_from(n).unwrap_or(i64::MAX))),
            Partial::Sum(s) => s.map(Num::value),
            Partial::Mean { sum, n, whole } => mean(sum, n, whole),
            Partial::Extreme(v) => v,
            Partial::Spread(p) => p.map(|(lo, hi)| hi.sub(lo).value()),
        }
    }

    /// The state at `slot` as the row path's [`Acc`], dated `t` (checkpoints).
    pub(crate) fn acc(&self, slot: usize, t: i64) -> Acc {
        Acc::from_partial(self.partial(slot), t)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn all(n: usize) -> BooleanArray {
        BooleanArray::from(vec![true; n])
    }

    fn floats(v: &[Option<f64>]) -> ArrayRef {
        Arc::new(v.iter().copied().collect::<Float64Array>())
    }

    /// Reading the results twice (a re-emission) gives the same results.
    #[test]
    fn values_leave_the_state_as_it_was() {
        for f in [
            ColFn::Count,
            ColFn::Sum,
            ColFn::Mean,
            ColFn::Min,
            ColFn::Max,
            ColFn::Spread,
        ] {
            let mut acc = ColAcc::new(f);
            let a = floats(&[None, Some(-2.25), None, Some(-0.0)]);
            acc.update(&a, &[0, 0, 1, 1], &all(4), 2).unwrap();
            let first: Vec<_> = (0..2).map(|s| acc.values().unwrap().value(s)).collect();
            let second: Vec<_> = (0..2).map(|s| acc.values().unwrap().value(s)).collect();
            assert_eq!(first, second, "{f:?}");
            let b = floats(&[Some(if f == ColFn::Min { -5.0 } else { 1.0 })]);
            acc.update(&b, &[1], &all(1), 2).unwrap();
            let third: Vec<_> = (0..2).map(|s| acc.values().unwrap().value(s)).collect();
            assert_eq!(third[0], first[0], "{f:?}");
            assert_ne!(third[1], first[1], "{f:?}");
        }
    }

    /// A slot the window has but this aggregate never took a value for has no result: slot 1
    /// exists (total 3) when slot 0 and 2 take values without nulls.
    #[test]
    fn slots_without_values_have_no_result() {
        for f in [
            ColFn::Sum,
            ColFn::Mean,
            ColFn::Min,
            ColFn::Max,
            ColFn::Count,
        ] {
            let mut acc = ColAcc::new(f);
            acc.update(&floats(&[Some(1.0)]), &[0], &all(1), 1).unwrap();
            acc.update(&floats(&[Some(2.0)]), &[2], &all(1), 3).unwrap();
            let v = acc.values().unwrap();
            assert_eq!(v.value(1), None, "{f:?}");
            assert!(v.value(2).is_some(), "{f:?}");
            // And after the state was read back in.
            acc.update(&floats(&[Some(3.0)]), &[0], &all(1), 4).unwrap();
            let v = acc.values().unwrap();
            assert_eq!((v.value(1), v.value(3)), (None, None), "{f:?}");
        }
    }
}
