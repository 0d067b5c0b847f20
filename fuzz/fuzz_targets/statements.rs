//! Parses arbitrary text as weir statements (the lexer, the statement parser and sqlparser's
//! expression grammar under it): must never panic or overflow the stack, an error must point
//! inside the text, and a statement that parses must print as text that parses to the same
//! tree.
//!
//! ```text
//! cd fuzz && cargo +nightly fuzz run statements
//! ```
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match weir_sql::parse_statements(text) {
        Ok(statements) => {
            for s in statements {
                let printed = s.to_string();
                let again = weir_sql::parse_statements(&printed)
                    .unwrap_or_else(|e| panic!("{printed:?} does not parse: {e}"));
                assert_eq!(again.len(), 1, "{printed:?}");
                assert_eq!(again[0], s, "{printed:?}");
            }
        }
        Err(e) => assert!(e.line >= 1 && e.column >= 1, "{e:?}"),
    }
    // The SELECT and expression entry points too.
    let _ = weir_sql::parse_select(text);
    let _ = weir_sql::parse_expr(text);
});
