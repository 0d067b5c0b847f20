//! Splits arbitrary bytes into lines and parses each one: must never panic, and results must
//! be self-consistent.
//!
//! ```text
//! cd fuzz && cargo +nightly fuzz run line_protocol
//! ```
#![no_main]

use libfuzzer_sys::fuzz_target;
use weir_engine::line_protocol::{lines, parse_line, FieldValue, ParsedLine};

fuzz_target!(|data: &[u8]| {
    let physical_lines = data.iter().filter(|&&b| b == b'\n').count() + 1;
    let mut out = ParsedLine::default();
    for (line_no, line) in lines(data) {
        assert!(line_no >= 1 && line_no <= physical_lines);
        match parse_line(line, line_no, &mut out) {
            Ok(()) => {
                assert!(!out.measurement.raw().is_empty());
                assert!(!out.fields.is_empty());
                let _ = out.measurement.unescaped();
                for (k, v) in &out.tags {
                    assert!(!k.raw().is_empty() && !v.raw().is_empty());
                    let _ = (k.unescaped(), v.unescaped());
                }
                for (i, (k, v)) in out.fields.iter().enumerate() {
                    assert!(!k.raw().is_empty());
                    // Field keys are unique (the last value wins).
                    assert!(out.fields[..i]
                        .iter()
                        .all(|(o, _)| o.unescaped() != k.unescaped()));
                    match v {
                        FieldValue::Float(f) => assert!(f.is_finite()),
                        FieldValue::String(s) => {
                            let _ = s.unescaped();
                        }
                        _ => {}
                    }
                }
            }
            Err(e) => {
                assert!(e.line >= line_no && e.line <= physical_lines);
                assert!(e.column >= 1 && e.column <= line.len() + 1);
                let _ = e.to_string();
            }
        }
    }
});
