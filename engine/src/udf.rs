//! User-defined functions as the runtime sees them (SPEC §3.6): a task hands one window's
//! points of one group to a [`UdfRuntime`] and gets the function's result back, as Arrow.
//!
//! The statement language decides when a function is called (per window and group, like an
//! aggregate); the connectors own how (`weir_connectors::udf_process`: a program on
//! stdin/stdout). This trait is what they share, so neither depends on the other.

use arrow::record_batch::RecordBatch;

/// One call: a function over one window of one group.
#[derive(Debug)]
pub struct UdfCall<'a> {
    /// The function's name (lower case).
    pub function: &'a str,
    /// The literal arguments after the field, as JSON values (numbers, strings, booleans;
    /// durations as ns).
    pub args: &'a [serde_json::Value],
    /// The window `[start, end)`, ns.
    pub window: (i64, i64),
    /// The group's tags, sorted by key.
    pub tags: &'a [(String, String)],
    /// The points: `time` (Timestamp ns, UTC) and `value` (the field's type), in time order.
    pub points: RecordBatch,
}

/// Why a call gave no result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UdfError {
    /// The function does not exist (dropped while a task used it).
    #[error("function {0} is not defined")]
    Unknown(String),
    /// The program could not be started, crashed, hung or broke the protocol; it is restarted
    /// for the next call.
    #[error("function {function}: {reason}")]
    Process { function: String, reason: String },
    /// The program answered with an error of its own.
    #[error("function {function} failed: {message}")]
    Failed { function: String, message: String },
}

/// Runs user-defined functions.
pub trait UdfRuntime: Send + Sync + std::fmt::Debug {
    /// Calls the function; `Ok(None)` when it returned no rows (no output for the window).
    /// The answer has a `value` column and optionally a `time` column.
    fn call(&self, call: UdfCall<'_>) -> Result<Option<RecordBatch>, UdfError>;
}
