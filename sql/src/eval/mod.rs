//! InfluxQL's function library, evaluated over points the way InfluxDB 1.6
//! evaluates it, so a continuous query run by weir writes what InfluxDB would.
//!
//! * [`AggSpec`]/[`Acc`]: aggregates and selectors, per (window, group).
//! * [`TransformSpec`]/[`Transform`]: transformations and technical-analysis
//!   functions, per series, fed in time order.
//! * [`math`]: the per-value math functions.
//! * [`HoltWintersSpec`]: `holt_winters()`'s model, fitted over a group's window values.
//!
//! The quirks verified against InfluxDB 1.6.7 are listed in `SEMANTICS.md`.

mod aggregate;
mod go_sort;
mod holt_winters;
mod math;
mod ta;
mod transform;
mod udf;
mod value;

pub(crate) use aggregate::{mean, Partial};
pub use aggregate::{Acc, AggSpec, TaggedRow};
pub use holt_winters::{HoltWintersSpec, MAX_HISTORY_WINDOWS};
pub use math::math;
pub use transform::{Transform, TransformSpec};
pub(crate) use udf::arg_json;
pub use udf::UdfSpec;
pub(crate) use value::{value_cmp, Num};
pub use value::{EvalError, Input, Value};

#[cfg(test)]
mod tests;
