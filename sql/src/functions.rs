//! InfluxQL's built-in functions: their kind and number of arguments.
//!
//! Validation uses the table to reject unknown functions and wrong argument
//! counts before a task is created; the planner uses the kinds to decide how
//! a call is evaluated (per window, per point, or per row).

/// What a function does to a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FunctionKind {
    /// Reduces a window to one computed value (`mean`, `count`, ...).
    Aggregate,
    /// Picks point(s) of a window, keeping their time and other fields (`max`, `top`, ...).
    Selector,
    /// Turns a series into another, statefully (`derivative`, `moving_average`, ...).
    Transformation,
    /// Forecasts points (`holt_winters`).
    Predictor,
    /// Technical-analysis transformations (`exponential_moving_average`, ...).
    TechnicalAnalysis,
    /// A per-row math function (`abs`, `pow`, ...).
    Math,
}

/// One built-in function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FunctionInfo {
    /// Lower-case name.
    pub name: &'static str,
    /// What it does.
    pub kind: FunctionKind,
    /// Fewest arguments.
    pub min_args: usize,
    /// Most arguments (`usize::MAX` for `top`/`bottom`).
    pub max_args: usize,
}

const fn f(
    name: &'static str,
    kind: FunctionKind,
    min_args: usize,
    max_args: usize,
) -> FunctionInfo {
    FunctionInfo {
        name,
        kind,
        min_args,
        max_args,
    }
}

use FunctionKind::*;

/// Every built-in InfluxQL function weir knows.
pub const FUNCTIONS: &[FunctionInfo] = &[
    // Aggregates.
    f("count", Aggregate, 1, 1),
    f("distinct", Aggregate, 1, 1),
    f("integral", Aggregate, 1, 2),
    f("mean", Aggregate, 1, 1),
    f("median", Aggregate, 1, 1),
    f("mode", Aggregate, 1, 1),
    f("spread", Aggregate, 1, 1),
    f("stddev", Aggregate, 1, 1),
    f("sum", Aggregate, 1, 1),
    // Selectors.
    f("bottom", Selector, 2, usize::MAX),
    f("first", Selector, 1, 1),
    f("last", Selector, 1, 1),
    f("max", Selector, 1, 1),
    f("min", Selector, 1, 1),
    f("percentile", Selector, 2, 2),
    f("sample", Selector, 2, 2),
    f("top", Selector, 2, usize::MAX),
    // Transformations.
    f("cumulative_sum", Transformation, 1, 1),
    f("derivative", Transformation, 1, 2),
    f("difference", Transformation, 1, 1),
    f("elapsed", Transformation, 1, 2),
    f("moving_average", Transformation, 2, 2),
    f("non_negative_derivative", Transformation, 1, 2),
    f("non_negative_difference", Transformation, 1, 1),
    // Predictors.
    f("holt_winters", Predictor, 3, 3),
    f("holt_winters_with_fit", Predictor, 3, 3),
    // Technical analysis.
    f("chande_momentum_oscillator", TechnicalAnalysis, 2, 4),
    f("exponential_moving_average", TechnicalAnalysis, 2, 4),
    f("double_exponential_moving_average", TechnicalAnalysis, 2, 4),
    f("kaufmans_efficiency_ratio", TechnicalAnalysis, 2, 3),
    f("kaufmans_adaptive_moving_average", TechnicalAnalysis, 2, 3),
    f("triple_exponential_moving_average", TechnicalAnalysis, 2, 4),
    f("triple_exponential_derivative", TechnicalAnalysis, 2, 4),
    f("relative_strength_index", TechnicalAnalysis, 2, 4),
    // Math.
    f("abs", Math, 1, 1),
    f("acos", Math, 1, 1),
    f("asin", Math, 1, 1),
    f("atan", Math, 1, 1),
    f("atan2", Math, 2, 2),
    f("ceil", Math, 1, 1),
    f("cos", Math, 1, 1),
    f("exp", Math, 1, 1),
    f("floor", Math, 1, 1),
    f("ln", Math, 1, 1),
    f("log", Math, 2, 2),
    f("log2", Math, 1, 1),
    f("log10", Math, 1, 1),
    f("pow", Math, 2, 2),
    f("round", Math, 1, 1),
    f("sin", Math, 1, 1),
    f("sqrt", Math, 1, 1),
    f("tan", Math, 1, 1),
];

/// The built-in function called `name` (lower case).
pub fn lookup(name: &str) -> Option<&'static FunctionInfo> {
    FUNCTIONS.iter().find(|f| f.name == name)
}

/// True for the math functions, which apply per row.
pub fn is_math(name: &str) -> bool {
    lookup(name).is_some_and(|f| f.kind == FunctionKind::Math)
}

/// True for the functions that need a window of points (aggregates,
/// selectors, predictors): a stream query using them needs `GROUP BY time`.
pub fn needs_window(name: &str) -> bool {
    lookup(name).is_some_and(|f| {
        matches!(
            f.kind,
            FunctionKind::Aggregate | FunctionKind::Selector | FunctionKind::Predictor
        )
    })
}
