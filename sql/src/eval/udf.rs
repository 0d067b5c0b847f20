//! User-defined functions called in a SELECT (`mad(usage_idle, 3)`): an aggregate over each
//! window of each group whose result comes from a [`UdfRuntime`] (a program, see
//! `weir_connectors::udf_process`).
//!
//! The window's points go to the function as Arrow (`time`, `value` in the field's type); the
//! first row of its `value` column, cast to the declared `RETURNS` type, is the result. No rows,
//! a null, or a failed call (crash, timeout: counted in the function's stats and logged) give
//! no value for that window, as an aggregate over no points does.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray, TimestampNanosecondArray,
    UInt64Array,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use weir_engine::udf::{UdfCall, UdfRuntime};

use super::value::Value;
use crate::ast::{Expr, UdfType};

/// A validated call of a user-defined function: its literal arguments and where it runs.
#[derive(Clone)]
pub struct UdfSpec {
    /// The function's name.
    pub name: String,
    /// The literal arguments after the field, as the program receives them.
    pub args: Vec<serde_json::Value>,
    /// The declared result type.
    pub returns: UdfType,
    /// Where the function runs.
    pub runtime: Arc<dyn UdfRuntime>,
}

impl std::fmt::Debug for UdfSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdfSpec")
            .field("name", &self.name)
            .field("args", &self.args)
            .field("returns", &self.returns)
            .finish_non_exhaustive()
    }
}

impl PartialEq for UdfSpec {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.args == other.args && self.returns == other.returns
    }
}

/// A literal argument as JSON (durations as ns).
pub(crate) fn arg_json(e: &Expr) -> Option<serde_json::Value> {
    Some(match e {
        Expr::Integer(i) => serde_json::json!(i),
        Expr::Unsigned(u) => serde_json::json!(u),
        Expr::Float(f) => serde_json::json!(f),
        Expr::String(s) => serde_json::json!(s),
        Expr::Boolean(b) => serde_json::json!(b),
        Expr::Duration(d) => serde_json::json!(d.as_nanos()),
        _ => return None,
    })
}

fn value_array(points: &[(i64, Value)]) -> ArrayRef {
    // A field has one type; should a window mix them, numbers become floats and anything
    // else strings.
    let all = |f: fn(&Value) -> bool| points.iter().all(|(_, v)| f(v));
    if all(|v| matches!(v, Value::Int(_))) {
        return Arc::new(Int64Array::from_iter(points.iter().map(|(_, v)| match v {
            Value::Int(i) => Some(*i),
            _ => None,
        })));
    }
    if all(|v| matches!(v, Value::UInt(_))) {
        return Arc::new(UInt64Array::from_iter(points.iter().map(
            |(_, v)| match v {
                Value::UInt(u) => Some(*u),
                _ => None,
            },
        )));
    }
    if all(|v| v.as_f64().is_some()) {
        return Arc::new(Float64Array::from_iter(
            points.iter().map(|(_, v)| v.as_f64()),
        ));
    }
    if all(|v| matches!(v, Value::Bool(_))) {
        return Arc::new(BooleanArray::from_iter(points.iter().map(
            |(_, v)| match v {
                Value::Bool(b) => Some(*b),
                _ => None,
            },
        )));
    }
    Arc::new(StringArray::from_iter(points.iter().map(|(_, v)| {
        Some(match v {
            Value::Str(s) => s.clone(),
            Value::Float(f) => f.to_string(),
            Value::Int(i) => i.to_string(),
            Value::UInt(u) => u.to_string(),
            Value::Bool(b) => b.to_string(),
        })
    })))
}

fn points_batch(points: &[(i64, Value)]) -> Option<RecordBatch> {
    let mut sorted: Vec<(i64, Value)> = points.to_vec();
    sorted.sort_by_key(|(t, _)| *t);
    let values = value_array(&sorted);
    let schema = Arc::new(Schema::new(vec![
        Field::new(
            "time",
            DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            false,
        ),
        Field::new("value", values.data_type().clone(), true),
    ]));
    let times = TimestampNanosecondArray::from_iter_values(sorted.iter().map(|(t, _)| *t))
        .with_timezone("UTC");
    RecordBatch::try_new(schema, vec![Arc::new(times), values]).ok()
}

fn target_type(t: UdfType) -> DataType {
    match t {
        UdfType::Float => DataType::Float64,
        UdfType::Integer | UdfType::Duration => DataType::Int64,
        UdfType::Unsigned => DataType::UInt64,
        UdfType::String => DataType::Utf8,
        UdfType::Boolean => DataType::Boolean,
    }
}

/// The first value of the answer's `value` column as the declared type.
fn first_value(spec: &UdfSpec, answer: &RecordBatch) -> Option<Value> {
    let col = answer.column_by_name("value")?;
    let col = cast(col, &target_type(spec.returns)).ok()?;
    if col.is_empty() || col.is_null(0) {
        return None;
    }
    let any = col.as_any();
    match spec.returns {
        UdfType::Float => Some(Value::Float(any.downcast_ref::<Float64Array>()?.value(0))),
        UdfType::Integer | UdfType::Duration => {
            Some(Value::Int(any.downcast_ref::<Int64Array>()?.value(0)))
        }
        UdfType::Unsigned => Some(Value::UInt(any.downcast_ref::<UInt64Array>()?.value(0))),
        UdfType::String => Some(Value::Str(
            any.downcast_ref::<StringArray>()?.value(0).to_string(),
        )),
        UdfType::Boolean => Some(Value::Bool(any.downcast_ref::<BooleanArray>()?.value(0))),
    }
}

/// Calls the function over one window's points of one group.
pub(crate) fn evaluate(
    spec: &UdfSpec,
    window: (i64, i64),
    tags: &[(String, String)],
    points: &[(i64, Value)],
) -> Option<Value> {
    let batch = points_batch(points)?;
    let answer = spec
        .runtime
        .call(UdfCall {
            function: &spec.name,
            args: &spec.args,
            window,
            tags,
            points: batch,
        })
        // The runtime logs and counts failures; the window has no value.
        .ok()??;
    first_value(spec, &answer)
}
