//! The values functions read and produce, and the errors they report.

use crate::ast::Expr;

/// A field value as read from one point.
///
/// Borrowed so the caller can feed values straight out of an Arrow column
/// without allocating; accumulators copy only what they must keep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Input<'a> {
    /// A float field.
    Float(f64),
    /// An integer field.
    Int(i64),
    /// An unsigned field.
    UInt(u64),
    /// A boolean field.
    Bool(bool),
    /// A string field.
    Str(&'a str),
}

/// A value a function produces.
///
/// Owned, because results outlive the batches their inputs came from. The
/// variant is the InfluxDB output type (e.g. `sum` of integers stays `Int`,
/// `mean` is always `Float`), which decides the type of the written field.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Value {
    /// A float.
    Float(f64),
    /// An integer.
    Int(i64),
    /// An unsigned integer.
    UInt(u64),
    /// A boolean.
    Bool(bool),
    /// A string.
    Str(String),
}

impl Value {
    /// The value as a float, for numeric values (`None` for bools and strings),
    /// because transformations and math functions work on numbers only.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::Float(f) => Some(f),
            Value::Int(i) => Some(i as f64),
            Value::UInt(u) => Some(u as f64),
            Value::Bool(_) | Value::Str(_) => None,
        }
    }

    /// An owned copy of an input.
    pub fn from_input(v: Input<'_>) -> Value {
        match v {
            Input::Float(f) => Value::Float(f),
            Input::Int(i) => Value::Int(i),
            Input::UInt(u) => Value::UInt(u),
            Input::Bool(b) => Value::Bool(b),
            Input::Str(s) => Value::Str(s.to_string()),
        }
    }

    /// The value borrowed as an input (to feed a result into another function).
    pub fn as_input(&self) -> Input<'_> {
        match self {
            Value::Float(f) => Input::Float(*f),
            Value::Int(i) => Input::Int(*i),
            Value::UInt(u) => Input::UInt(*u),
            Value::Bool(b) => Input::Bool(*b),
            Value::Str(s) => Input::Str(s),
        }
    }
}

/// Why a function call cannot be evaluated; the message names the function
/// and says what to change.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// The name is not a function weir can evaluate in this position.
    #[error("unsupported function {0}(): not an InfluxQL aggregate, selector or transformation weir can evaluate")]
    UnknownFunction(String),
    /// Wrong number of arguments.
    #[error("invalid number of arguments for {name}, expected {expected}, got {got}")]
    ArgCount {
        /// The function.
        name: String,
        /// What the function takes, in words.
        expected: String,
        /// What the call has (counting the field).
        got: usize,
    },
    /// An argument has the wrong type or value.
    #[error("{name}(): {message}")]
    BadArg {
        /// The function.
        name: String,
        /// What is wrong and how to fix it.
        message: String,
    },
}

impl EvalError {
    pub(crate) fn bad(name: &str, message: impl Into<String>) -> EvalError {
        EvalError::BadArg {
            name: name.to_string(),
            message: message.into(),
        }
    }

    pub(crate) fn count(name: &str, expected: &str, got: usize) -> EvalError {
        EvalError::ArgCount {
            name: name.to_string(),
            expected: expected.to_string(),
            got,
        }
    }
}

/// Reads an integer literal argument.
pub(crate) fn int_arg(name: &str, what: &str, e: &Expr) -> Result<i64, EvalError> {
    match e {
        Expr::Integer(i) => Ok(*i),
        Expr::Unsigned(u) => {
            i64::try_from(*u).map_err(|_| EvalError::bad(name, format!("{what} is too large: {u}")))
        }
        other => Err(EvalError::bad(
            name,
            format!("expected integer argument as {what}, got {other}"),
        )),
    }
}

/// Reads a number literal argument (integer or float).
pub(crate) fn num_arg(name: &str, what: &str, e: &Expr) -> Result<f64, EvalError> {
    match e {
        Expr::Integer(i) => Ok(*i as f64),
        Expr::Unsigned(u) => Ok(*u as f64),
        Expr::Float(f) => Ok(*f),
        other => Err(EvalError::bad(
            name,
            format!("expected float argument as {what}, got {other}"),
        )),
    }
}

/// Reads a duration literal argument (a unit), which must be positive.
pub(crate) fn duration_arg(name: &str, e: &Expr) -> Result<i64, EvalError> {
    match e {
        Expr::Duration(d) if d.as_nanos() > 0 => Ok(d.as_nanos()),
        Expr::Duration(d) => Err(EvalError::bad(
            name,
            format!("duration argument must be positive, got {d}"),
        )),
        other => Err(EvalError::bad(
            name,
            format!("second argument must be a duration, got {other}"),
        )),
    }
}

/// A numeric value in its InfluxDB type, for arithmetic that keeps the type.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) enum Num {
    F(f64),
    I(i64),
    U(u64),
}

impl Num {
    pub(crate) fn of(v: Input<'_>) -> Option<Num> {
        match v {
            Input::Float(f) => Some(Num::F(f)),
            Input::Int(i) => Some(Num::I(i)),
            Input::UInt(u) => Some(Num::U(u)),
            Input::Bool(_) | Input::Str(_) => None,
        }
    }

    pub(crate) fn of_value(v: &Value) -> Option<Num> {
        Num::of(v.as_input())
    }

    pub(crate) fn f(self) -> f64 {
        match self {
            Num::F(f) => f,
            Num::I(i) => i as f64,
            Num::U(u) => u as f64,
        }
    }

    pub(crate) fn value(self) -> Value {
        match self {
            Num::F(f) => Value::Float(f),
            Num::I(i) => Value::Int(i),
            Num::U(u) => Value::UInt(u),
        }
    }

    /// Total order: exact for same-typed integers, by float otherwise.
    pub(crate) fn cmp(self, other: Num) -> std::cmp::Ordering {
        match (self, other) {
            (Num::I(a), Num::I(b)) => a.cmp(&b),
            (Num::U(a), Num::U(b)) => a.cmp(&b),
            (a, b) => a.f().total_cmp(&b.f()),
        }
    }

    /// `self - other`, keeping integer types (wrapping, as Go does).
    pub(crate) fn sub(self, other: Num) -> Num {
        match (self, other) {
            (Num::I(a), Num::I(b)) => Num::I(a.wrapping_sub(b)),
            (Num::U(a), Num::U(b)) => Num::U(a.wrapping_sub(b)),
            (a, b) => Num::F(a.f() - b.f()),
        }
    }

    /// `self + other`, keeping integer types (wrapping, as Go does).
    pub(crate) fn add(self, other: Num) -> Num {
        match (self, other) {
            (Num::I(a), Num::I(b)) => Num::I(a.wrapping_add(b)),
            (Num::U(a), Num::U(b)) => Num::U(a.wrapping_add(b)),
            (a, b) => Num::F(a.f() + b.f()),
        }
    }
}

/// Ordering of any two values of the same kind, for sorting (distinct, mode):
/// numbers by value, `false < true`, strings bytewise; kinds ordered
/// number < bool < string so mixed input still sorts deterministically.
pub(crate) fn value_cmp(a: &Value, b: &Value) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Float(_) | Value::Int(_) | Value::UInt(_) => 0,
            Value::Bool(_) => 1,
            Value::Str(_) => 2,
        }
    }
    match (Num::of_value(a), Num::of_value(b)) {
        (Some(x), Some(y)) => x.cmp(y),
        _ => match (a, b) {
            (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
            (Value::Str(x), Value::Str(y)) => x.cmp(y),
            _ => rank(a).cmp(&rank(b)).then(Ordering::Equal),
        },
    }
}
