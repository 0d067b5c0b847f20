//! Table-driven tests: every `tests/cases/*.txt` file is a list of cases.
//!
//! ```text
//! === what the case shows
//! <input text, any number of lines>
//! --- statements | select | expr | debug
//! <expected output>
//! ```
//!
//! Modes: `statements` parses with `parse_statements` and expects each
//! statement's canonical `Display` on its own line; `select` uses
//! `parse_select`; `expr` uses `parse_expr`; `debug` prints the statements'
//! `{:#?}`. A failure is expected as `error: statement N, line L, column C: reason`.
//! Every successful parse is also checked to round-trip:
//! `parse(display(ast)) == ast` and `display` is a fixed point.
//!
//! `WEIR_SQL_BLESS=1 cargo test -p weir-sql --test cases` rewrites the
//! expected outputs from the actual ones (review the diff!).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use weir_sql::{parse_expr, parse_select, parse_statements, ParseError};

struct Case {
    title: String,
    input: String,
    mode: String,
    expected: String,
}

fn parse_cases(text: &str, file: &Path) -> (String, Vec<Case>) {
    let mut header = String::new();
    let mut cases = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.peek() {
        if line.starts_with("===") {
            break;
        }
        header.push_str(line);
        header.push('\n');
        lines.next();
    }
    while let Some(line) = lines.next() {
        let title = line
            .strip_prefix("===")
            .unwrap_or_else(|| panic!("{}: expected '===', got {line:?}", file.display()))
            .trim()
            .to_string();
        let mut input = String::new();
        let mut mode = None;
        for line in lines.by_ref() {
            if let Some(m) = line.strip_prefix("---") {
                mode = Some(m.trim().to_string());
                break;
            }
            input.push_str(line);
            input.push('\n');
        }
        let mode =
            mode.unwrap_or_else(|| panic!("{}: case {title:?} has no '---'", file.display()));
        let mut expected = String::new();
        while let Some(line) = lines.peek() {
            if line.starts_with("===") {
                break;
            }
            expected.push_str(line);
            expected.push('\n');
            lines.next();
        }
        cases.push(Case {
            title,
            input: input.trim_end_matches('\n').to_string(),
            mode,
            expected: expected.trim_end().to_string(),
        });
    }
    (header, cases)
}

fn show_error(e: &ParseError) -> String {
    format!("error: statement {}, {e}", e.statement)
}

fn run(case: &Case) -> Result<String, String> {
    let out = match case.mode.as_str() {
        "statements" | "debug" => match parse_statements(&case.input) {
            Ok(stmts) => {
                // Round trip: the canonical text parses back to the same tree.
                let canonical: Vec<String> = stmts.iter().map(|s| s.to_string()).collect();
                let joined = canonical.join(";\n");
                let again = parse_statements(&joined)
                    .map_err(|e| format!("canonical text does not parse: {e}\n{joined}"))?;
                if again != stmts {
                    return Err(format!(
                        "round trip changed the tree:\n{joined}\n{stmts:#?}\n{again:#?}"
                    ));
                }
                let again_text: Vec<String> = again.iter().map(|s| s.to_string()).collect();
                if again_text != canonical {
                    return Err(format!("display is not a fixed point:\n{joined}"));
                }
                if case.mode == "debug" {
                    format!("{stmts:#?}")
                } else {
                    canonical.join("\n")
                }
            }
            Err(e) => show_error(&e),
        },
        "select" => match parse_select(&case.input) {
            Ok(select) => {
                let text = select.to_string();
                let again = parse_select(&text)
                    .map_err(|e| format!("canonical text does not parse: {e}\n{text}"))?;
                if again != select {
                    return Err(format!("round trip changed the tree:\n{text}"));
                }
                text
            }
            Err(e) => show_error(&e),
        },
        "expr" => match parse_expr(&case.input) {
            Ok(expr) => {
                let text = expr.to_string();
                let again = parse_expr(&text)
                    .map_err(|e| format!("canonical text does not parse: {e}\n{text}"))?;
                if again != expr {
                    return Err(format!("round trip changed the tree:\n{text}"));
                }
                text
            }
            Err(e) => show_error(&e),
        },
        other => return Err(format!("unknown mode {other:?}")),
    };
    Ok(out)
}

fn case_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/cases")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    files
}

#[test]
fn cases() {
    let bless = std::env::var_os("WEIR_SQL_BLESS").is_some();
    let mut failures = Vec::new();
    let mut total = 0;
    for file in case_files() {
        let text = std::fs::read_to_string(&file).expect("read case file");
        let (header, cases) = parse_cases(&text, &file);
        let mut rewritten = header;
        for case in &cases {
            total += 1;
            let actual = match run(case) {
                Ok(a) => a,
                Err(problem) => {
                    failures.push(format!("{} :: {}\n{problem}", file.display(), case.title));
                    case.expected.clone()
                }
            };
            if actual != case.expected && !bless {
                failures.push(format!(
                    "{} :: {}\ninput:\n{}\nexpected:\n{}\nactual:\n{}",
                    file.display(),
                    case.title,
                    case.input,
                    case.expected,
                    actual
                ));
            }
            let _ = write!(
                rewritten,
                "=== {}\n{}\n--- {}\n{}\n\n",
                case.title, case.input, case.mode, actual
            );
        }
        if bless {
            std::fs::write(&file, rewritten.trim_end().to_string() + "\n").expect("bless");
        }
    }
    assert!(total > 0, "no cases found");
    assert!(
        failures.is_empty(),
        "{} of {total} cases failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    eprintln!("{total} cases passed");
}
