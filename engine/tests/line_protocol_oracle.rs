//! Differential test of weir's line protocol parser against the `influxdb-line-protocol` crate
//! (v2, from InfluxDB IOx), over generated input with a fixed seed.
//!
//! 1. `valid_lines_agree_with_oracle`: 120,000 valid lines (in bodies of 500 lines, so line
//!    splitting is compared too) covering escapes in measurements, tag keys, tag values and field
//!    keys, literal backslashes, quoted strings with escaped quotes, backslashes, newlines,
//!    commas, spaces and `=`, unicode, every field type and boolean spelling, floats of every
//!    shape and magnitude, integer and timestamp extremes, with and without tags and
//!    timestamps, leading blanks, runs of spaces, duplicate field keys, comments and blank lines.
//!    Both parsers must produce the same measurement, tags, fields and timestamp.
//! 2. `invalid_lines_rejected_by_both`: 30,000 lines built from malformed templates; both must
//!    reject every one.
//! 3. `mutated_lines_agree_with_oracle`: 60,000 bodies made by randomly inserting, deleting and
//!    replacing bytes in valid lines. Both parsers must agree (same result or both reject),
//!    except where the oracle is known to deviate from InfluxDB 1.x (below), where weir must
//!    behave like InfluxDB.
//!    `line_splitting_agrees_with_oracle` compares `lines` with the oracle's port of
//!    InfluxDB's line scanner on 200,000 random bodies.
//! 4. `known_oracle_deviations`: each deviation, asserting what the oracle does (so a change in
//!    the oracle is noticed) and that weir does what InfluxDB 1.x (`models/points.go`) does.
//!
//! Known deviations of the oracle crate from InfluxDB 1.x (weir follows InfluxDB):
//!
//! * D1 `\\` in a measurement, tag key, tag value or field key: InfluxDB treats a byte after a
//!   backslash as escaped (so `a\\,b` is one tag value) and does not unescape `\\`; the oracle
//!   unescapes `\\` to `\` and ends the token at the following delimiter.
//! * D2 an unescaped `=` in a tag value (not its first byte): InfluxDB rejects ("invalid tag
//!   format"); the oracle accepts.
//! * D3 an unescaped `,` in a tag key or field key: InfluxDB rejects; the oracle accepts.
//! * D4 duplicate tag keys: InfluxDB rejects ("duplicate tags"); the oracle accepts.
//! * D5 duplicate field keys: InfluxDB keeps the last value; the oracle returns all of them
//!   (weir keeps the last; the comparison normalises the oracle's output the same way).
//! * D6 `\"` in a field key: InfluxDB's field iterator unescapes it to `"`; the oracle keeps it.
//! * D7 floats with nothing before or after the decimal point (`.5`, `5.`, `1.e5`): InfluxDB
//!   accepts (Go's `ParseFloat`); the oracle rejects.
//! * D8 float overflow (`1e400`): InfluxDB rejects ("invalid float"); the oracle accepts `inf`.
//! * D9 trailing spaces after the field set when there is no timestamp: InfluxDB accepts; the
//!   oracle rejects.
//! * D10 tabs and NUL bytes: InfluxDB skips them with spaces between sections and allows them in
//!   names; the oracle treats tabs as boundaries and NUL as invalid in measurements.
//! * D11 `\r\n` line endings: InfluxDB 1.x (like the oracle) rejects the `\r`; weir strips it
//!   (a deliberate weir extension).
//! * D12 comments: InfluxDB (and the oracle) find the end of a comment line with the
//!   quote-aware line scanner, so `# a="b` swallows the next line; weir ends comments at the
//!   newline (a deliberate weir choice: never lose data silently).
//! * D13 a `,` after the last field (`m f=1,`, `m f=1, 5`): InfluxDB rejects ("invalid field
//!   format"); the oracle accepts.
#![allow(clippy::unwrap_used)]

use influxdb_line_protocol as oracle;
use weir_engine::line_protocol::{lines, parse_line, FieldValue, ParseErrorKind, ParsedLine};

// ---------------------------------------------------------------------------------------------
// Normalised representation of a parsed line.

#[derive(Debug, Clone, PartialEq)]
struct Norm {
    measurement: String,
    tags: Vec<(String, String)>,
    fields: Vec<(String, Val)>,
    timestamp: Option<i64>,
}

/// Floats compare by bits: both parsers must round identically.
#[derive(Debug, Clone, PartialEq)]
enum Val {
    F(u64),
    I(i64),
    U(u64),
    B(bool),
    S(String),
}

/// Keeps the last value of each field key, at the position of its last occurrence.
fn last_wins(fields: Vec<(String, Val)>) -> Vec<(String, Val)> {
    let mut out: Vec<(String, Val)> = Vec::with_capacity(fields.len());
    for (k, v) in fields {
        out.retain(|(o, _)| *o != k);
        out.push((k, v));
    }
    out
}

fn ours_norm(p: &ParsedLine<'_>) -> Norm {
    Norm {
        measurement: p.measurement.unescaped().into_owned(),
        tags: p
            .tags
            .iter()
            .map(|(k, v)| (k.unescaped().into_owned(), v.unescaped().into_owned()))
            .collect(),
        fields: p
            .fields
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    FieldValue::Float(x) => Val::F(x.to_bits()),
                    FieldValue::Integer(x) => Val::I(*x),
                    FieldValue::UInteger(x) => Val::U(*x),
                    FieldValue::Boolean(x) => Val::B(*x),
                    FieldValue::String(x) => Val::S(x.unescaped().into_owned()),
                };
                (k.unescaped().into_owned(), v)
            })
            .collect(),
        timestamp: p.timestamp,
    }
}

fn oracle_norm(p: &oracle::ParsedLine<'_>) -> Norm {
    Norm {
        measurement: p.series.measurement.to_string(),
        tags: p
            .series
            .tag_set
            .iter()
            .flatten()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        fields: last_wins(
            p.field_set
                .iter()
                .map(|(k, v)| {
                    let v = match v {
                        oracle::FieldValue::F64(x) => Val::F(x.to_bits()),
                        oracle::FieldValue::I64(x) => Val::I(*x),
                        oracle::FieldValue::U64(x) => Val::U(*x),
                        oracle::FieldValue::Boolean(x) => Val::B(*x),
                        oracle::FieldValue::String(x) => Val::S(x.to_string()),
                    };
                    (k.to_string(), v)
                })
                .collect(),
        ),
        timestamp: p.timestamp,
    }
}

type OursResult = Result<Norm, (usize, usize, ParseErrorKind)>;
type OracleResult = Result<Norm, oracle::Error>;

/// Our results for every line of `body`, with the line numbers `lines` reported.
fn ours(body: &str) -> Vec<(usize, OursResult)> {
    let mut out = ParsedLine::default();
    lines(body.as_bytes())
        .map(|(n, l)| {
            let r = parse_line(l, n, &mut out)
                .map(|()| ours_norm(&out))
                .map_err(|e| (e.line, e.column, e.kind));
            (n, r)
        })
        .collect()
}

fn theirs(body: &str) -> Vec<OracleResult> {
    oracle::parse_lines(body)
        .map(|r| r.map(|p| oracle_norm(&p)))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Deterministic generator.

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True with probability `pct`%.
    fn chance(&mut self, pct: u64) -> bool {
        self.next() % 100 < pct
    }

    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }

    /// Between `min` and `max` (inclusive) random digits.
    fn some_digits(&mut self, min: usize, max: usize) -> String {
        let n = min + self.below(max - min + 1);
        self.digits(n)
    }

    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }
}

/// Which part of a line a name is for; each has its own escapes.
#[derive(Clone, Copy, PartialEq)]
enum Ctx {
    Measurement,
    TagKey,
    TagValue,
    FieldKey,
}

/// What the generator may use.
#[derive(Clone, Copy)]
struct Opts {
    /// Escapes, literal backslashes, raw quotes and `=`.
    specials: bool,
    /// Unicode and `.` in names and strings.
    rich: bool,
    /// Newlines in strings, comments, blank lines, leading blanks.
    layout: bool,
}

const PLAIN: &[&str] = &[
    "a", "b", "c", "x", "y", "z", "cpu", "host", "mem", "us", "west", "K", "Q", "0", "1", "7", "_",
    "-",
];
const UNICODE: &[&str] = &["é", "ü", "日本", "🎉", "Ω", "ß"];

/// A name as `(raw, unescaped)`.
fn name(rng: &mut Rng, ctx: Ctx, o: Opts) -> (String, String) {
    let mut raw = String::new();
    let mut val = String::new();
    let parts = 1 + rng.below(4);
    for _ in 0..parts {
        let special = o.specials && rng.chance(25);
        let (r, v): (&str, &str) = if special {
            match ctx {
                Ctx::Measurement => *rng.pick(&[
                    (r"\,", ","),
                    (r"\ ", " "),
                    (r"\x", r"\x"),
                    (r"\é", r"\é"),
                    (r"\=", r"\="),
                    ("=", "="),
                    ("\"", "\""),
                ]),
                Ctx::TagKey | Ctx::TagValue => *rng.pick(&[
                    (r"\,", ","),
                    (r"\ ", " "),
                    (r"\=", "="),
                    (r"\x", r"\x"),
                    ("\"", "\""),
                ]),
                Ctx::FieldKey => *rng.pick(&[
                    (r"\,", ","),
                    (r"\ ", " "),
                    (r"\=", "="),
                    (r"\x", r"\x"),
                    ("\"", "\""),
                ]),
            }
        } else if o.rich && rng.chance(10) {
            let u = *rng.pick(UNICODE);
            (u, u)
        } else if o.rich && rng.chance(5) {
            (".", ".")
        } else {
            let p = *rng.pick(PLAIN);
            (p, p)
        };
        raw.push_str(r);
        val.push_str(v);
    }
    (raw, val)
}

/// A float as `(text, value)`, in a shape both parsers accept.
fn float(rng: &mut Rng) -> (String, f64) {
    let sign = if rng.chance(30) { "-" } else { "" };
    let text = match rng.below(9) {
        0 => format!("{sign}{}", rng.some_digits(1, 6)),
        1 => format!("{sign}{}.{}", rng.some_digits(1, 4), rng.some_digits(1, 8)),
        2 => format!(
            "{sign}{}.{}",
            rng.some_digits(1, 12),
            rng.some_digits(1, 14)
        ),
        3 => format!(
            "{sign}{}.{}e{}{}",
            rng.digits(1),
            rng.some_digits(1, 6),
            rng.pick(&["", "+", "-"]),
            rng.below(300)
        ),
        4 => format!(
            "{sign}{}{}{}",
            rng.some_digits(1, 3),
            rng.pick(&["e", "E"]),
            rng.below(20)
        ),
        5 => format!("{sign}{}", rng.some_digits(20, 49)),
        6 => {
            // Any finite double, printed the way Rust prints it (shortest round trip).
            let x = loop {
                let x = f64::from_bits(rng.next());
                if x.is_finite() {
                    break x;
                }
            };
            let t = format!("{x:?}");
            // Debug prints "1e-7" / "1.5e300" / "0.1"; all are valid line protocol.
            t
        }
        7 => (*rng.pick(&[
            "0",
            "-0",
            "0.0",
            "-0.0",
            "1.7976931348623157e308",
            "-1.7976931348623157e308",
            "5e-324",
            "2.2250738585072014e-308",
            "9007199254740993",
            "9007199254740992.5",
            "0.1",
            "0.30000000000000004",
            "1e-400",
            "123456789012345678",
            "1234567890123456789",
            "98.123456",
        ]))
        .to_owned(),
        _ => format!("{sign}0.{}", rng.some_digits(1, 18)),
    };
    let v: f64 = text.parse().unwrap();
    (text, v)
}

/// A field value as `(text, value)`.
fn field_value(rng: &mut Rng, o: Opts) -> (String, Val) {
    match rng.below(10) {
        0..=2 => {
            let (t, v) = float(rng);
            (t, Val::F(v.to_bits()))
        }
        3 | 4 => {
            let v: i64 = match rng.below(5) {
                0 => i64::MIN,
                1 => i64::MAX,
                2 => rng.below(100) as i64 - 50,
                _ => (rng.next() as i64) >> rng.below(63),
            };
            let t = if rng.chance(5) && v >= 0 {
                format!("00{v}i")
            } else {
                format!("{v}i")
            };
            (t, Val::I(v))
        }
        5 => {
            let v = match rng.below(4) {
                0 => u64::MAX,
                1 => 0,
                _ => rng.next() >> rng.below(64),
            };
            (format!("{v}u"), Val::U(v))
        }
        6 => {
            let (t, v) = *rng.pick(&[
                ("t", true),
                ("T", true),
                ("true", true),
                ("True", true),
                ("TRUE", true),
                ("f", false),
                ("F", false),
                ("false", false),
                ("False", false),
                ("FALSE", false),
            ]);
            (t.to_owned(), Val::B(v))
        }
        _ => {
            let (t, v) = string_value(rng, o);
            (t, Val::S(v))
        }
    }
}

/// A double-quoted string as `(text, value)`.
fn string_value(rng: &mut Rng, o: Opts) -> (String, String) {
    let mut raw = String::from("\"");
    let mut val = String::new();
    for _ in 0..rng.below(8) {
        let mut specials: Vec<(&str, &str)> = vec![
            (",", ","),
            (" ", " "),
            ("=", "="),
            ("x y", "x y"),
            ("a=1,b=2", "a=1,b=2"),
        ];
        if o.specials {
            specials.extend([
                (r#"\""#, "\""),
                (r"\\", "\\"),
                (r"\x", r"\x"),
                (r"\n", r"\n"),
                (r#"\\\""#, r#"\""#),
            ]);
        }
        if o.layout {
            specials.extend([("\n", "\n"), ("\t", "\t"), ("\r", "\r"), ("#", "#")]);
        }
        if o.rich {
            specials.extend([(".", "."), ("é", "é"), ("🎉", "🎉")]);
        }
        let (r, v) = if rng.chance(40) {
            *rng.pick(&specials)
        } else {
            let p = *rng.pick(PLAIN);
            (p, p)
        };
        raw.push_str(r);
        val.push_str(v);
    }
    raw.push('"');
    (raw, val)
}

/// A valid line as text, with what it means.
fn valid_line(rng: &mut Rng, o: Opts) -> (String, Norm) {
    let mut text = String::new();
    let (m_raw, m_val) = name(rng, Ctx::Measurement, o);
    // With leading blanks, InfluxDB's line scanner counts the key section's '=' and ',' when
    // deciding whether a '"' opens a string: a raw '=' in the measurement (or at the start of a
    // tag value) would make a later '"' in a key open one. Both parsers agree on that, but the
    // line would no longer be valid.
    let leading_blanks = o.layout && !m_raw.contains('=') && rng.chance(10);
    if leading_blanks {
        let blanks = *rng.pick(&[" ", "  ", "\t", " \t "]);
        text.push_str(blanks);
    }
    text.push_str(&m_raw);

    let mut tags = Vec::new();
    let mut tag_keys: Vec<String> = Vec::new();
    for _ in 0..rng.below(5) {
        let (k_raw, k_val) = name(rng, Ctx::TagKey, o);
        if tag_keys.contains(&k_raw) {
            continue;
        }
        tag_keys.push(k_raw.clone());
        let (mut v_raw, mut v_val) = name(rng, Ctx::TagValue, o);
        // A tag value may start with '=' (both parsers accept it). With leading blanks
        // InfluxDB's line scanner counts that '=' and a later quote would open a "string".
        if o.specials && !leading_blanks && rng.chance(3) {
            v_raw.insert(0, '=');
            v_val.insert(0, '=');
        }
        text.push(',');
        text.push_str(&k_raw);
        text.push('=');
        text.push_str(&v_raw);
        tags.push((k_val, v_val));
    }

    text.push_str(if rng.chance(90) { " " } else { "   " });
    let mut fields = Vec::new();
    let mut keys: Vec<(String, String)> = Vec::new();
    for i in 0..1 + rng.below(5) {
        // Sometimes repeat an earlier key: the last value wins.
        let (k_raw, k_val) = if !keys.is_empty() && rng.chance(8) {
            rng.pick(&keys).clone()
        } else {
            let k = name(rng, Ctx::FieldKey, o);
            keys.push(k.clone());
            k
        };
        let (v_text, v) = field_value(rng, o);
        if i > 0 {
            text.push(',');
        }
        text.push_str(&k_raw);
        text.push('=');
        text.push_str(&v_text);
        fields.push((k_val, v));
    }

    let timestamp = if rng.chance(60) {
        let ts: i64 = match rng.below(6) {
            0 => i64::MIN,
            1 => i64::MAX,
            2 => -(rng.below(1_000_000) as i64),
            3 => 0,
            _ => 1_600_000_000_000_000_000 + (rng.next() % 200_000_000_000_000_000) as i64,
        };
        text.push_str(if rng.chance(90) { " " } else { "  " });
        if rng.chance(3) && ts >= 0 {
            text.push_str("000");
        }
        text.push_str(&ts.to_string());
        // Trailing spaces are fine after a timestamp (but not without one: D9).
        if rng.chance(5) {
            text.push_str("  ");
        }
        Some(ts)
    } else {
        None
    };

    let norm = Norm {
        measurement: m_val,
        tags,
        fields: last_wins(fields),
        timestamp,
    };
    (text, norm)
}

/// Number of physical lines in `s` (newlines + 1).
fn physical_lines(s: &str) -> usize {
    s.bytes().filter(|&b| b == b'\n').count() + 1
}

// ---------------------------------------------------------------------------------------------
// 1. Valid lines.

#[test]
fn valid_lines_agree_with_oracle() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut total = 0usize;
    let mut with_escapes = 0usize;
    let mut with_strings = 0usize;
    for body_no in 0..240 {
        let o = Opts {
            specials: body_no % 4 != 0,
            rich: body_no % 3 != 0,
            layout: body_no % 2 == 0,
        };
        let mut body = String::new();
        let mut expected: Vec<(usize, Norm)> = Vec::new();
        let mut line_no = 1;
        while expected.len() < 500 {
            if o.layout && rng.chance(3) {
                let filler = *rng.pick(&["", "   ", "\t", "# a comment", "  # indented, comment"]);
                body.push_str(filler);
                body.push('\n');
                line_no += 1;
                continue;
            }
            let (text, norm) = valid_line(&mut rng, o);
            if text.contains('\\') {
                with_escapes += 1;
            }
            if text.contains('"') {
                with_strings += 1;
            }
            expected.push((line_no, norm));
            line_no += physical_lines(&text);
            body.push_str(&text);
            body.push('\n');
        }
        if rng.chance(50) {
            body.pop();
        }
        total += expected.len();

        let ours = ours(&body);
        let theirs = theirs(&body);
        assert_eq!(ours.len(), expected.len(), "line count; body:\n{body}");
        assert_eq!(
            theirs.len(),
            expected.len(),
            "oracle line count; body:\n{body}"
        );
        for ((want, (n, got)), oracle) in expected.iter().zip(&ours).zip(&theirs) {
            let (want_n, want) = want;
            let oracle = match oracle {
                Ok(o) => o,
                Err(e) => {
                    panic!("oracle rejected line {want_n}: {e}\nwant {want:?}\nbody:\n{body}")
                }
            };
            assert_eq!(got.as_ref(), Ok(want), "line {want_n}; body:\n{body}");
            assert_eq!(oracle, want, "oracle, line {want_n}; body:\n{body}");
            assert_eq!(n, want_n, "line number; body:\n{body}");
        }
    }
    assert!(total >= 100_000, "{total}");
    assert!(
        with_escapes > 30_000 && with_strings > 30_000,
        "{with_escapes} {with_strings}"
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Invalid lines.

#[test]
fn invalid_lines_rejected_by_both() {
    let o = Opts {
        specials: false,
        rich: true,
        layout: false,
    };
    const BAD_VALUES: &[&str] = &[
        "1.2.3",
        "1x",
        "12ii",
        "1i2",
        "--1",
        "+1",
        "1e",
        "1e+",
        "e5",
        "-",
        "tru",
        "truee",
        "T1",
        "abc",
        "\"a\"b",
        "1.5i",
        "1.5u",
        "-1u",
        "1e5i",
        "9223372036854775808i",
        "-9223372036854775809i",
        "18446744073709551616u",
        "NaN",
        "nan",
        "inf",
        "-inf",
        "0x10",
        "1_000",
        "i",
        "u",
        "1u2",
        "\"\"\"\"",
    ];
    const BAD_TIMESTAMPS: &[&str] = &[
        "12a",
        "1.5",
        "-",
        "--1",
        "+1",
        "9223372036854775808",
        "-9223372036854775809",
        "99999999999999999999999",
        "1e5",
        "0x1",
        "\"1\"",
        "1i",
        "12 3",
        "1 x",
    ];
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    for i in 0..30_000 {
        let m = name(&mut rng, Ctx::Measurement, o).0;
        let tk = name(&mut rng, Ctx::TagKey, o).0;
        let tv = name(&mut rng, Ctx::TagValue, o).0;
        let fk = name(&mut rng, Ctx::FieldKey, o).0;
        let (fv, _) = field_value(&mut rng, o);
        let f = format!("{fk}={fv}");
        let line = match i % 22 {
            0 => m.clone(),
            1 => format!("{m},{tk}={tv}"),
            2 => format!(",{tk}={tv} {f}"),
            3 => format!("{m},{tk} {f}"),
            4 => format!("{m},{tk}= {f}"),
            5 => format!("{m},={tv} {f}"),
            6 => format!("{m}, {f}"),
            7 => format!("{m},{tk}={tv}, {f}"),
            8 => format!("{m} {fk}="),
            9 => format!("{m} {fk}=,{f}"),
            10 => format!("{m} ={fv}"),
            11 => format!("{m} {f} {fk}={fv}"),
            12 => format!("{m} {f} {f}"),
            13 => format!("{m} {fk}"),
            14 => format!("{m} {f},{fk}"),
            15 | 16 => format!("{m} {fk}={}", rng.pick(BAD_VALUES)),
            17 | 18 => format!("{m} {f} {}", rng.pick(BAD_TIMESTAMPS)),
            19 => format!("{m} {fk}=\"unterminated"),
            20 => format!("{m} {fk}=\"x\"y"),
            _ => format!("{m},{tk}={tv}, {f} 1"),
        };
        let ours = ours(&line);
        let theirs = theirs(&line);
        assert_eq!(ours.len(), 1, "{line:?}");
        assert_eq!(theirs.len(), 1, "{line:?}");
        assert!(
            ours[0].1.is_err(),
            "weir accepted {line:?}: {:?}",
            ours[0].1
        );
        assert!(
            theirs[0].is_err(),
            "oracle accepted {line:?}: {:?}",
            theirs[0]
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Mutated lines.

/// Whether `line` has a float with nothing before or after its decimal point (D7). Mutated
/// lines have no '.' except in numbers.
fn has_bare_decimal_point(text: &str) -> bool {
    let b = text.as_bytes();
    (0..b.len()).any(|i| {
        b[i] == b'.'
            && !(i > 0
                && b[i - 1].is_ascii_digit()
                && b.get(i + 1).is_some_and(|c| c.is_ascii_digit()))
    })
}

/// Why weir and the oracle may disagree on a line, or `None`.
fn known_deviation(line: &str, ours: &OursResult, theirs: &OracleResult) -> Option<&'static str> {
    match (ours, theirs) {
        (Ok(_), Err(oracle::Error::CannotParseEntireLine { trailing_content }))
            if !trailing_content.is_empty() && trailing_content.bytes().all(|b| b == b' ') =>
        {
            Some("D9 trailing spaces")
        }
        (Ok(_), Err(_)) if has_bare_decimal_point(line) => Some("D7 bare decimal point"),
        (Err((_, column, kind)), Ok(o)) => {
            // D13: our error points right after a ',' that ends the field set.
            let pos = column - 1;
            if *kind == ParseErrorKind::InvalidFieldFormat
                && pos > 0
                && line.as_bytes()[pos - 1] == b','
                && matches!(line.as_bytes().get(pos), None | Some(b' '))
            {
                return Some("D13 trailing comma after the fields");
            }
            if *kind == ParseErrorKind::InvalidTagFormat
                && o.tags
                    .iter()
                    .any(|(_, v)| v.get(1..).is_some_and(|v| v.contains('=')))
            {
                return Some("D2 '=' in tag value");
            }
            if matches!(
                kind,
                ParseErrorKind::MissingTagKey
                    | ParseErrorKind::MissingTagValue
                    | ParseErrorKind::InvalidFieldFormat
            ) && (o.tags.iter().any(|(k, _)| k.contains(','))
                || o.fields.iter().any(|(k, _)| k.contains(',')))
            {
                return Some("D3 ',' in key");
            }
            if matches!(kind, ParseErrorKind::DuplicateTag { .. })
                && (1..o.tags.len()).any(|i| o.tags[..i].iter().any(|(k, _)| *k == o.tags[i].0))
            {
                return Some("D4 duplicate tags");
            }
            if let ParseErrorKind::FloatOutOfRange { value, .. } = kind {
                if value.parse::<f64>().is_ok_and(f64::is_infinite) {
                    return Some("D8 float overflow");
                }
            }
            None
        }
        _ => None,
    }
}

#[test]
fn mutated_lines_agree_with_oracle() {
    // No backslashes (D1, D6), tabs, NULs or CRs (D10, D11) or '#' (D12) in the base lines or
    // the mutations; '.' only in numbers.
    let o = Opts {
        specials: false,
        rich: false,
        layout: false,
    };
    const ALPHABET: &[u8] = b"a1-\",= iuetF\n.0";
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let mut deviations = std::collections::BTreeMap::<&str, usize>::new();
    let mut accepted = 0usize;
    for _ in 0..60_000 {
        let (text, _) = valid_line(&mut rng, o);
        let mut b = text.into_bytes();
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(b.len() + 1);
            let c = *rng.pick(ALPHABET);
            match rng.below(3) {
                0 => b.insert(at, c),
                1 if at < b.len() => {
                    b.remove(at);
                }
                _ if at < b.len() => b[at] = c,
                _ => {}
            }
        }
        let body = String::from_utf8(b).unwrap();
        let ours = ours(&body);
        let theirs = theirs(&body);
        assert_eq!(
            ours.len(),
            theirs.len(),
            "line count differs for {body:?}: {ours:?} {theirs:?}"
        );
        // Each result corresponds to one logical line; find its text for the classifier.
        let texts: Vec<&str> = lines(body.as_bytes())
            .map(|(_, l)| std::str::from_utf8(l).unwrap())
            .collect();
        for (((_, a), b), line) in ours.iter().zip(&theirs).zip(texts) {
            match (a, b) {
                (Ok(x), Ok(y)) => {
                    assert_eq!(x, y, "different parse of {line:?}");
                    accepted += 1;
                }
                (Err(_), Err(_)) => {}
                _ => match known_deviation(line, a, b) {
                    Some(d) => *deviations.entry(d).or_default() += 1,
                    None => panic!(
                        "weir and oracle disagree on {line:?}:\nweir:   {a:?}\noracle: {b:?}"
                    ),
                },
            }
        }
    }
    // Enough mutated lines stay valid for the comparison to mean something.
    assert!(accepted > 10_000, "{accepted}");
    println!("known deviations seen: {deviations:?}");
}

// ---------------------------------------------------------------------------------------------
// 3b. Line splitting.

/// `lines` against the oracle's `split_lines`, a direct port of InfluxDB's `scanLine`, on
/// random bodies made of the bytes that matter to it (no '#' or '\r', where weir deviates on
/// purpose: D11, D12).
#[test]
fn line_splitting_agrees_with_oracle() {
    const ALPHABET: &[u8] = b"  ==,,\"\"\\\\\n\nab\t";
    let mut rng = Rng(0x1234_5678_9ABC_DEF1);
    for _ in 0..200_000 {
        let len = rng.below(48);
        let body: String = (0..len).map(|_| char::from(*rng.pick(ALPHABET))).collect();
        let mut expected = Vec::new();
        let mut offset = 0;
        for piece in oracle::split_lines(&body) {
            let start = offset;
            offset += piece.len() + 1;
            if piece.bytes().all(|b| b == b' ' || b == b'\t') {
                continue;
            }
            let line_no = 1 + body[..start].matches('\n').count();
            // Like InfluxDB, drop the newline of a last line that ran to the end of the body.
            expected.push((line_no, piece.strip_suffix('\n').unwrap_or(piece)));
        }
        let got: Vec<(usize, &str)> = lines(body.as_bytes())
            .map(|(n, l)| (n, std::str::from_utf8(l).unwrap()))
            .collect();
        assert_eq!(got, expected, "body: {body:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Known deviations, one by one.

fn ours_one(line: &str) -> OursResult {
    let mut r = ours(line);
    assert_eq!(r.len(), 1, "{line:?}");
    r.remove(0).1
}

fn theirs_one(line: &str) -> OracleResult {
    let mut r = theirs(line);
    assert_eq!(r.len(), 1, "{line:?}");
    r.remove(0)
}

fn norm(m: &str, tags: &[(&str, &str)], fields: &[(&str, Val)], ts: Option<i64>) -> Norm {
    Norm {
        measurement: m.to_owned(),
        tags: tags
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        fields: fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
        timestamp: ts,
    }
}

fn one() -> Val {
    Val::F(1f64.to_bits())
}

fn kind(r: &OursResult) -> &ParseErrorKind {
    match r {
        Err((_, _, k)) => k,
        Ok(n) => panic!("accepted: {n:?}"),
    }
}

#[test]
fn known_oracle_deviations() {
    // D1: a byte after a backslash is escaped, and `\\` is not unescaped.
    let line = r"m\\,t=a f=1";
    assert_eq!(
        ours_one(line),
        Ok(norm(r"m\,t=a", &[], &[("f", one())], None))
    );
    assert!(matches!(
        theirs_one(line),
        Err(oracle::Error::EndsWithBackslash)
    ));
    let line = r"m,t=a\\ b f=1";
    assert_eq!(
        ours_one(line),
        Ok(norm("m", &[("t", r"a\ b")], &[("f", one())], None))
    );
    assert!(matches!(
        theirs_one(line),
        Err(oracle::Error::EndsWithBackslash)
    ));
    let line = r"m a\\b=1";
    assert_eq!(
        ours_one(line),
        Ok(norm("m", &[], &[(r"a\\b", one())], None))
    );
    assert_eq!(
        theirs_one(line).unwrap(),
        norm("m", &[], &[(r"a\b", one())], None)
    );

    // D2: '=' inside a tag value.
    let line = "m,t=a=b f=1";
    assert_eq!(*kind(&ours_one(line)), ParseErrorKind::InvalidTagFormat);
    assert_eq!(
        theirs_one(line).unwrap(),
        norm("m", &[("t", "a=b")], &[("f", one())], None)
    );

    // D3: ',' in a tag key or field key.
    let line = "m,a,b=1 f=1";
    assert_eq!(*kind(&ours_one(line)), ParseErrorKind::MissingTagValue);
    assert_eq!(
        theirs_one(line).unwrap(),
        norm("m", &[("a,b", "1")], &[("f", one())], None)
    );
    let line = "m a,b=1";
    assert_eq!(*kind(&ours_one(line)), ParseErrorKind::InvalidFieldFormat);
    assert_eq!(
        theirs_one(line).unwrap(),
        norm("m", &[], &[("a,b", one())], None)
    );

    // D4: duplicate tags.
    let line = "m,a=1,a=2 f=1";
    assert_eq!(
        *kind(&ours_one(line)),
        ParseErrorKind::DuplicateTag {
            key: "a".to_owned()
        }
    );
    assert_eq!(
        theirs_one(line).unwrap().tags,
        vec![
            ("a".to_owned(), "1".to_owned()),
            ("a".to_owned(), "2".to_owned())
        ]
    );

    // D5: duplicate fields (the oracle's raw output keeps both).
    let line = "m a=1,b=2i,a=3";
    assert_eq!(
        ours_one(line),
        Ok(norm(
            "m",
            &[],
            &[("b", Val::I(2)), ("a", Val::F(3f64.to_bits()))],
            None
        ))
    );
    let raw = oracle::parse_lines(line).next().unwrap().unwrap();
    assert_eq!(raw.field_set.len(), 3);

    // D6: `\"` in a field key.
    let line = r#"m a\"b=1"#;
    assert_eq!(ours_one(line), Ok(norm("m", &[], &[("a\"b", one())], None)));
    assert_eq!(
        theirs_one(line).unwrap(),
        norm("m", &[], &[(r#"a\"b"#, one())], None)
    );

    // D7: bare decimal points.
    for (line, v) in [
        ("m a=.5", 0.5),
        ("m a=5.", 5.0),
        ("m a=-.5", -0.5),
        ("m a=1.e5", 1e5),
        ("m a=.5e1", 5.0),
    ] {
        assert_eq!(
            ours_one(line),
            Ok(norm("m", &[], &[("a", Val::F(f64::to_bits(v)))], None)),
            "{line}"
        );
        assert!(theirs_one(line).is_err(), "{line}");
    }

    // D8: float overflow.
    let line = "m a=1e400";
    assert!(matches!(
        kind(&ours_one(line)),
        ParseErrorKind::FloatOutOfRange { .. }
    ));
    assert_eq!(
        theirs_one(line).unwrap().fields,
        vec![("a".to_owned(), Val::F(f64::INFINITY.to_bits()))]
    );

    // D9: trailing spaces without a timestamp.
    let line = "m a=1  ";
    assert_eq!(ours_one(line), Ok(norm("m", &[], &[("a", one())], None)));
    assert!(theirs_one(line).is_err());

    // D10: tabs and NUL bytes.
    for (line, want) in [
        ("m\tx a=1", norm("m\tx", &[], &[("a", one())], None)),
        ("m \ta=1", norm("m", &[], &[("a", one())], None)),
        (
            "m,t=a\tb a=1",
            norm("m", &[("t", "a\tb")], &[("a", one())], None),
        ),
        ("m\0x a=1", norm("m\0x", &[], &[("a", one())], None)),
    ] {
        assert_eq!(ours_one(line), Ok(want), "{line:?}");
        assert!(theirs_one(line).is_err(), "{line:?}");
    }

    // D11: CRLF.
    let body = "m a=1\r\nn b=2i\r\n";
    let got: Vec<OursResult> = ours(body).into_iter().map(|(_, r)| r).collect();
    assert_eq!(
        got,
        vec![
            Ok(norm("m", &[], &[("a", one())], None)),
            Ok(norm("n", &[], &[("b", Val::I(2))], None))
        ]
    );
    assert!(theirs(body).iter().all(Result::is_err));

    // D13: a trailing comma after the fields.
    for (line, column) in [
        ("m f=1,", 7),
        ("m f=\"x\",", 9),
        ("m f=1, 5", 7),
        ("m f=t,", 7),
    ] {
        assert_eq!(
            ours_one(line),
            Err((1, column, ParseErrorKind::InvalidFieldFormat)),
            "{line}"
        );
        assert!(theirs_one(line).is_ok(), "{line}");
    }

    // D12: a comment line with a quote.
    let body = "# a=\"b\nm a=1\n";
    let got: Vec<(usize, OursResult)> = ours(body);
    assert_eq!(got, vec![(2, Ok(norm("m", &[], &[("a", one())], None)))]);
    // InfluxDB skips both lines (the comment runs to the next quote); the oracle parses
    // "m a=1\n" with the newline and rejects it.
    assert!(theirs(body).iter().all(Result::is_err));
}
