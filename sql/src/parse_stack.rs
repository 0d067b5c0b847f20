//! The thread statements are parsed on.
//!
//! sqlparser's recursive descent (under weir's expressions, see [`crate::sql_expr`]) takes tens
//! of KiB of stack per nesting level in a debug build: a call nested 32 deep overflows a 2 MiB
//! thread, the size of a test's or a server worker's. A stack overflow aborts the process, so
//! every parse runs on a thread of its own with room for [`crate::parser::MAX_DEPTH`] levels
//! of every form (only the pages used are touched). Parsing is for definitions, not data: a
//! thread per request costs tens of microseconds.

use crate::error::{ErrorKind, ParseError, RawError};

const PARSE_STACK: usize = 64 << 20;

/// Runs `parse` (of `text`) on the parsing thread; a panic in it is the caller's.
pub(crate) fn on_parse_stack<T: Send>(
    text: &str,
    parse: impl FnOnce() -> Result<T, ParseError> + Send,
) -> Result<T, ParseError> {
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("weir-parse".into())
            .stack_size(PARSE_STACK)
            .spawn_scoped(scope, parse);
        match worker {
            Ok(handle) => handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(e) => Err(RawError::new(
                0,
                ErrorKind::Invalid,
                format!("cannot start the parser thread: {e}"),
            )
            .into_parse_error(text, 0, String::new())),
        }
    })
}
