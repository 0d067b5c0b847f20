//! Table-driven tests of the line protocol parser: input -> expected parse or expected error
//! (line, column, reason), every error kind, line splitting (CRLF, comments, blank lines,
//! multi-line strings, line numbers), and a property test that arbitrary bytes never panic.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use weir_engine::line_protocol::{
    lines, parse_body, parse_line, EscapedStr, FieldValue, ParseError, ParseErrorKind, ParsedLine,
    Precision,
};

/// An owned, unescaped view of a parsed line.
#[derive(Debug, Clone, PartialEq)]
struct Line {
    measurement: String,
    tags: Vec<(String, String)>,
    fields: Vec<(String, V)>,
    timestamp: Option<i64>,
}

/// A field value; floats compare by bits (so `-0.0 != 0.0`).
#[derive(Debug, Clone, PartialEq)]
enum V {
    F(u64),
    I(i64),
    U(u64),
    B(bool),
    S(String),
}

fn f(v: f64) -> V {
    V::F(v.to_bits())
}

fn s(v: &str) -> V {
    V::S(v.to_owned())
}

fn owned(p: &ParsedLine<'_>) -> Line {
    Line {
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
                    FieldValue::Float(x) => V::F(x.to_bits()),
                    FieldValue::Integer(x) => V::I(*x),
                    FieldValue::UInteger(x) => V::U(*x),
                    FieldValue::Boolean(x) => V::B(*x),
                    FieldValue::String(x) => V::S(x.unescaped().into_owned()),
                };
                (k.unescaped().into_owned(), v)
            })
            .collect(),
        timestamp: p.timestamp,
    }
}

fn parse(input: &str) -> Result<Line, ParseError> {
    let mut out = ParsedLine::default();
    parse_line(input.as_bytes(), 1, &mut out).map(|()| owned(&out))
}

fn line(
    measurement: &str,
    tags: &[(&str, &str)],
    fields: &[(&str, V)],
    timestamp: Option<i64>,
) -> Line {
    Line {
        measurement: measurement.to_owned(),
        tags: tags
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        fields: fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
        timestamp,
    }
}

/// One field, no tags, no timestamp.
fn simple(measurement: &str, field: &str, value: V) -> Line {
    line(measurement, &[], &[(field, value)], None)
}

#[test]
fn valid_lines() {
    let cases: Vec<(&str, Line)> = vec![
        (
            "cpu,host=server-01234,region=us-west-2,cpu=cpu-total usage_idle=98.123456,usage_user=1.234567 1700000000000000000",
            line(
                "cpu",
                &[("host", "server-01234"), ("region", "us-west-2"), ("cpu", "cpu-total")],
                &[("usage_idle", f(98.123456)), ("usage_user", f(1.234567))],
                Some(1_700_000_000_000_000_000),
            ),
        ),
        // Floats.
        ("m f=1", simple("m", "f", f(1.0))),
        ("m f=-1.5", simple("m", "f", f(-1.5))),
        ("m f=.5", simple("m", "f", f(0.5))),
        ("m f=5.", simple("m", "f", f(5.0))),
        ("m f=-.5", simple("m", "f", f(-0.5))),
        ("m f=1e10", simple("m", "f", f(1e10))),
        ("m f=1E-2", simple("m", "f", f(0.01))),
        ("m f=-1.5e+3", simple("m", "f", f(-1500.0))),
        ("m f=1.e5", simple("m", "f", f(1e5))),
        ("m f=007", simple("m", "f", f(7.0))),
        ("m f=-0", simple("m", "f", f(-0.0))),
        ("m f=0.1", simple("m", "f", f(0.1))),
        ("m f=1e-400", simple("m", "f", f(0.0))),
        ("m f=1.7976931348623157e308", simple("m", "f", f(f64::MAX))),
        ("m f=123456789012345678901234567890", simple("m", "f", f(1.2345678901234568e29))),
        // Integers and unsigned.
        ("m f=1i", simple("m", "f", V::I(1))),
        ("m f=-0i", simple("m", "f", V::I(0))),
        ("m f=007i", simple("m", "f", V::I(7))),
        ("m f=9223372036854775807i", simple("m", "f", V::I(i64::MAX))),
        ("m f=-9223372036854775808i", simple("m", "f", V::I(i64::MIN))),
        ("m f=0u", simple("m", "f", V::U(0))),
        ("m f=18446744073709551615u", simple("m", "f", V::U(u64::MAX))),
        // Booleans: every spelling InfluxDB accepts.
        ("m f=t", simple("m", "f", V::B(true))),
        ("m f=T", simple("m", "f", V::B(true))),
        ("m f=true", simple("m", "f", V::B(true))),
        ("m f=True", simple("m", "f", V::B(true))),
        ("m f=TRUE", simple("m", "f", V::B(true))),
        ("m f=f", simple("m", "f", V::B(false))),
        ("m f=F", simple("m", "f", V::B(false))),
        ("m f=false", simple("m", "f", V::B(false))),
        ("m f=False", simple("m", "f", V::B(false))),
        ("m f=FALSE", simple("m", "f", V::B(false))),
        // Strings.
        ("m f=\"\"", simple("m", "f", s(""))),
        ("m f=\"a b,c=d\"", simple("m", "f", s("a b,c=d"))),
        (r#"m f="a\"b""#, simple("m", "f", s("a\"b"))),
        (r#"m f="a\\b""#, simple("m", "f", s("a\\b"))),
        (r#"m f="a\b""#, simple("m", "f", s("a\\b"))),
        (r#"m f="a\\\"b""#, simple("m", "f", s("a\\\"b"))),
        (r#"m f="end\\""#, simple("m", "f", s("end\\"))),
        ("m f=\"line1\nline2\"", simple("m", "f", s("line1\nline2"))),
        ("m f=\"héllo 🎉\"", simple("m", "f", s("héllo 🎉"))),
        ("m f=\"x\",g=1i", line("m", &[], &[("f", s("x")), ("g", V::I(1))], None)),
        // Escapes.
        (
            r"m\ x\,y,t\ k\,\==v\,w\=z\ q f\ k\==1",
            line("m x,y", &[("t k,=", "v,w=z q")], &[("f k=", f(1.0))], None),
        ),
        (r"m\=x f=1", simple(r"m\=x", "f", f(1.0))),
        (r"m\x,t=a\b f\c=1", line(r"m\x", &[("t", r"a\b")], &[(r"f\c", f(1.0))], None)),
        // A backslash escapes the next byte even after another backslash (InfluxDB).
        (r"a\\ b f=1", simple(r"a\ b", "f", f(1.0))),
        (r"m,t=a\\,b f=1", line("m", &[("t", r"a\,b")], &[("f", f(1.0))], None)),
        (r"m a\\b=1", simple("m", r"a\\b", f(1.0))),
        (r#"m a\"b=1"#, simple("m", "a\"b", f(1.0))),
        (r#"m "a"=1"#, simple("m", "\"a\"", f(1.0))),
        ("m\"x=y f=1", simple("m\"x=y", "f", f(1.0))),
        // Tags: order kept, unicode, a value may start with '='.
        ("m,b=1,a=2 f=1", line("m", &[("b", "1"), ("a", "2")], &[("f", f(1.0))], None)),
        ("m,t=日本 f=1", line("m", &[("t", "日本")], &[("f", f(1.0))], None)),
        ("m,t==x f=1", line("m", &[("t", "=x")], &[("f", f(1.0))], None)),
        ("m,t=a\"b f=1", line("m", &[("t", "a\"b")], &[("f", f(1.0))], None)),
        // Duplicate fields: the last value wins, at its position.
        (
            "m a=1,b=2,a=3",
            line("m", &[], &[("b", f(2.0)), ("a", f(3.0))], None),
        ),
        (r"m a\ b=1,a\ b=2i", simple("m", "a b", V::I(2))),
        // Whitespace and timestamps.
        ("  \tm f=1", simple("m", "f", f(1.0))),
        ("m  f=1   123  ", line("m", &[], &[("f", f(1.0))], Some(123))),
        ("m \tf=1 \t123", line("m", &[], &[("f", f(1.0))], Some(123))),
        ("m f=1   ", simple("m", "f", f(1.0))),
        ("m f=1 -1", line("m", &[], &[("f", f(1.0))], Some(-1))),
        ("m f=1 0000123", line("m", &[], &[("f", f(1.0))], Some(123))),
        (
            "m f=1 -9223372036854775808",
            line("m", &[], &[("f", f(1.0))], Some(i64::MIN)),
        ),
        (
            "m f=1 9223372036854775807",
            line("m", &[], &[("f", f(1.0))], Some(i64::MAX)),
        ),
        (
            "m f=1 000000000000000000000000001",
            line("m", &[], &[("f", f(1.0))], Some(1)),
        ),
    ];
    for (input, want) in cases {
        assert_eq!(parse(input), Ok(want), "input: {input:?}");
    }
}

/// A stable index per error kind, so that the table can be checked to cover all of them.
fn kind_index(k: &ParseErrorKind) -> usize {
    use ParseErrorKind::*;
    match k {
        InvalidUtf8 => 0,
        MissingMeasurement => 1,
        MissingTagKey => 2,
        MissingTagValue => 3,
        InvalidTagFormat => 4,
        DuplicateTag { .. } => 5,
        MissingFields => 6,
        MissingFieldKey => 7,
        InvalidFieldKey { .. } => 8,
        InvalidFieldFormat => 9,
        MissingFieldValue { .. } => 10,
        InvalidNumber { .. } => 11,
        FloatOutOfRange { .. } => 12,
        IntegerOutOfRange { .. } => 13,
        UnsignedOutOfRange { .. } => 14,
        InvalidBoolean { .. } => 15,
        InvalidFieldValue { .. } => 16,
        UnterminatedString { .. } => 17,
        TrailingAfterString { .. } => 18,
        InvalidTimestamp => 19,
        TimestampOutOfRange => 20,
        TrailingContent => 21,
        KeyTooLong { .. } => 22,
    }
}
const KIND_COUNT: usize = 23;

fn field(field: &str) -> String {
    field.to_owned()
}

fn number(fieldname: &str, value: &str) -> ParseErrorKind {
    ParseErrorKind::InvalidNumber {
        field: field(fieldname),
        value: value.to_owned(),
    }
}

#[test]
fn invalid_lines() {
    use ParseErrorKind::*;
    let long_measurement = "x".repeat(65536) + " f=1";
    let long_field = "x".repeat(65530) + " abcd=1";
    let cases: Vec<(Vec<u8>, usize, ParseErrorKind)> = vec![
        (b"m f=\"\xff\"".to_vec(), 6, InvalidUtf8),
        (b"m\xc3 f=1".to_vec(), 2, InvalidUtf8),
        (b",t=a f=1".to_vec(), 1, MissingMeasurement),
        (b"".to_vec(), 1, MissingMeasurement),
        (b"   ".to_vec(), 4, MissingMeasurement),
        (b"m,=a f=1".to_vec(), 3, MissingTagKey),
        (b"m, f=1".to_vec(), 3, MissingTagKey),
        (b"m,t=a, f=1".to_vec(), 7, MissingTagKey),
        (b"m,".to_vec(), 3, MissingTagKey),
        (b"m,t f=1".to_vec(), 4, MissingTagValue),
        (b"m,t= f=1".to_vec(), 5, MissingTagValue),
        (b"m,t=,u=1 f=1".to_vec(), 5, MissingTagValue),
        (b"m,t=".to_vec(), 5, MissingTagValue),
        (b"m,t".to_vec(), 4, MissingTagValue),
        (b"m,t,u=1 f=1".to_vec(), 4, MissingTagValue),
        (b"m,t=a=b f=1".to_vec(), 6, InvalidTagFormat),
        (
            b"m,a=1,b=2,a=3 f=1".to_vec(),
            11,
            DuplicateTag {
                key: "a".to_owned(),
            },
        ),
        (
            br"m,b\ c=1,a=2,b\ c=3 f=1".to_vec(),
            14,
            DuplicateTag {
                key: "b c".to_owned(),
            },
        ),
        (b"m".to_vec(), 2, MissingFields),
        (b"m,t=a".to_vec(), 6, MissingFields),
        (b"m ".to_vec(), 3, MissingFields),
        (b"m \t ".to_vec(), 5, MissingFields),
        (br"m\ ".to_vec(), 4, MissingFields),
        (b"m =1".to_vec(), 3, MissingFieldKey),
        (b"m a=1,=2".to_vec(), 7, MissingFieldKey),
        (
            br"m a\\=1".to_vec(),
            5,
            InvalidFieldKey {
                key: r"a\\".to_owned(),
            },
        ),
        (b"m a".to_vec(), 3, InvalidFieldFormat),
        (b"m a=1,b".to_vec(), 7, InvalidFieldFormat),
        (b"m a=1,".to_vec(), 7, InvalidFieldFormat),
        (b"m a=1, b=2".to_vec(), 7, InvalidFieldFormat),
        (b"m a b=1".to_vec(), 3, InvalidFieldFormat),
        (b"m a,b=1".to_vec(), 3, InvalidFieldFormat),
        (b"m a=".to_vec(), 5, MissingFieldValue { field: field("a") }),
        (
            b"m a=,b=1".to_vec(),
            5,
            MissingFieldValue { field: field("a") },
        ),
        (
            b"m a= 1".to_vec(),
            5,
            MissingFieldValue { field: field("a") },
        ),
        (b"m a=1.2.3".to_vec(), 5, number("a", "1.2.3")),
        (b"m a=1e".to_vec(), 5, number("a", "1e")),
        (b"m a=1e+".to_vec(), 5, number("a", "1e+")),
        (b"m a=NaN".to_vec(), 5, number("a", "NaN")),
        (b"m a=nan".to_vec(), 5, number("a", "nan")),
        (b"m a=-".to_vec(), 5, number("a", "-")),
        (b"m a=.".to_vec(), 5, number("a", ".")),
        (b"m a=1x".to_vec(), 5, number("a", "1x")),
        (b"m a=1ii".to_vec(), 5, number("a", "1ii")),
        (b"m a=1i2".to_vec(), 5, number("a", "1i2")),
        (b"m a=-1u".to_vec(), 5, number("a", "-1u")),
        (b"m a=1.5i".to_vec(), 5, number("a", "1.5i")),
        (b"m a=1e5i".to_vec(), 5, number("a", "1e5i")),
        (b"m a=-i".to_vec(), 5, number("a", "-i")),
        (b"m a=0x10".to_vec(), 5, number("a", "0x10")),
        (b"m a=1\t2".to_vec(), 5, number("a", "1\t2")),
        (b"m a=1\"".to_vec(), 5, number("a", "1\"")),
        (
            b"m a=1e400".to_vec(),
            5,
            FloatOutOfRange {
                field: field("a"),
                value: "1e400".to_owned(),
            },
        ),
        (
            b"m a=9223372036854775808i".to_vec(),
            5,
            IntegerOutOfRange {
                field: field("a"),
                value: "9223372036854775808i".to_owned(),
            },
        ),
        (
            b"m a=-9223372036854775809i".to_vec(),
            5,
            IntegerOutOfRange {
                field: field("a"),
                value: "-9223372036854775809i".to_owned(),
            },
        ),
        (
            b"m a=18446744073709551616u".to_vec(),
            5,
            UnsignedOutOfRange {
                field: field("a"),
                value: "18446744073709551616u".to_owned(),
            },
        ),
        (
            b"m a=tru".to_vec(),
            5,
            InvalidBoolean {
                field: field("a"),
                value: "tru".to_owned(),
            },
        ),
        (
            b"m a=tRUE".to_vec(),
            5,
            InvalidBoolean {
                field: field("a"),
                value: "tRUE".to_owned(),
            },
        ),
        (
            b"m a=truex,b=1".to_vec(),
            5,
            InvalidBoolean {
                field: field("a"),
                value: "truex".to_owned(),
            },
        ),
        (
            b"m a=abc".to_vec(),
            5,
            InvalidFieldValue {
                field: field("a"),
                value: "abc".to_owned(),
            },
        ),
        (
            b"m a=+1".to_vec(),
            5,
            InvalidFieldValue {
                field: field("a"),
                value: "+1".to_owned(),
            },
        ),
        (
            b"m a=inf".to_vec(),
            5,
            InvalidFieldValue {
                field: field("a"),
                value: "inf".to_owned(),
            },
        ),
        (
            b"m a=\"abc".to_vec(),
            5,
            UnterminatedString { field: field("a") },
        ),
        (
            br#"m a="abc\""#.to_vec(),
            5,
            UnterminatedString { field: field("a") },
        ),
        (
            br#"m a="abc\"#.to_vec(),
            5,
            UnterminatedString { field: field("a") },
        ),
        (
            b"m a=\"abc\"x".to_vec(),
            10,
            TrailingAfterString { field: field("a") },
        ),
        (
            b"m a=\"\"\"\"".to_vec(),
            7,
            TrailingAfterString { field: field("a") },
        ),
        (b"m a=1 12x".to_vec(), 9, InvalidTimestamp),
        (b"m a=1 -".to_vec(), 7, InvalidTimestamp),
        (b"m a=1 --1".to_vec(), 8, InvalidTimestamp),
        (b"m a=1 1.5".to_vec(), 8, InvalidTimestamp),
        (b"m a=1 +1".to_vec(), 7, InvalidTimestamp),
        (b"m a=1 123\t".to_vec(), 10, InvalidTimestamp),
        (b"m a=1 \"1\"".to_vec(), 7, InvalidTimestamp),
        (
            b"m a=1 9223372036854775808".to_vec(),
            7,
            TimestampOutOfRange,
        ),
        (
            b"m a=1 -9223372036854775809".to_vec(),
            7,
            TimestampOutOfRange,
        ),
        (b"m a=1 123 456".to_vec(), 11, TrailingContent),
        (b"m a=1 123  x".to_vec(), 12, TrailingContent),
        (long_measurement.into_bytes(), 1, KeyTooLong { len: 65536 }),
        (long_field.into_bytes(), 65532, KeyTooLong { len: 65538 }),
    ];
    let mut seen = [false; KIND_COUNT];
    for (input, column, kind) in cases {
        let mut out = ParsedLine::default();
        let got = parse_line(&input, 7, &mut out);
        let shown = String::from_utf8_lossy(&input[..input.len().min(60)]).into_owned();
        assert_eq!(
            got,
            Err(ParseError {
                line: 7,
                column,
                kind: kind.clone()
            }),
            "input: {shown:?}"
        );
        seen[kind_index(&kind)] = true;
    }
    assert!(
        seen.iter().all(|&s| s),
        "error kinds without a case: {:?}",
        seen.iter()
            .enumerate()
            .filter(|(_, &s)| !s)
            .map(|(i, _)| i)
            .collect::<Vec<_>>()
    );
}

#[test]
fn many_tags_and_fields() {
    for n in [2usize, 4, 5, 10, 64, 65, 100] {
        // Unsorted, distinct keys of equal length: no duplicates.
        let tags: Vec<String> = (0..n).rev().map(|i| format!("t{i:03}=v")).collect();
        let fields: Vec<String> = (0..n).rev().map(|i| format!("f{i:03}={i}i")).collect();
        let input = format!("m,{} {}", tags.join(","), fields.join(","));
        let got = parse(&input).unwrap();
        assert_eq!(got.tags.len(), n);
        assert_eq!(got.fields.len(), n);

        // A repeated tag key is reported at its second occurrence.
        let mut dup_tags = tags.clone();
        dup_tags.push(tags[n / 2].clone());
        dup_tags.push(tags[0].clone());
        let input = format!("m,{} f=1", dup_tags.join(","));
        // "m," then the tags before the duplicate (index n), each followed by ','.
        let column = 2 + dup_tags[..n].iter().map(|t| t.len() + 1).sum::<usize>() + 1;
        assert_eq!(
            parse(&input),
            Err(ParseError {
                line: 1,
                column,
                kind: ParseErrorKind::DuplicateTag {
                    key: format!("t{:03}", n - 1 - n / 2)
                }
            }),
            "n={n}"
        );

        // Repeated field keys: the last value wins, at its position.
        let mut dup_fields = fields.clone();
        dup_fields.insert(0, format!("f{:03}=\"first\"", n - 1));
        dup_fields.push("f000=t".to_owned());
        let input = format!("m {}", dup_fields.join(","));
        let got = parse(&input).unwrap();
        assert_eq!(got.fields.len(), n, "n={n}");
        assert_eq!(
            got.fields[0],
            (format!("f{:03}", n - 1), V::I(n as i64 - 1))
        );
        assert_eq!(got.fields[n - 1], ("f000".to_owned(), V::B(true)));
    }
    // Field keys that differ only in escaping are the same key.
    assert_eq!(
        parse(r#"m a"b=1,a\"b=2,c=3,d=4,e=5"#),
        Ok(line(
            "m",
            &[],
            &[
                ("a\"b", f(2.0)),
                ("c", f(3.0)),
                ("d", f(4.0)),
                ("e", f(5.0))
            ],
            None
        ))
    );
}

#[test]
fn error_messages() {
    let err = parse("m,t=a f=abc").unwrap_err();
    assert_eq!(
        err.to_string(),
        "line 1, column 9: invalid field value abc for field \"f\": expected a float (1.5), an \
         integer (1i), an unsigned integer (1u), a boolean (true, false) or a double-quoted string"
    );
    assert_eq!(
        parse("m").unwrap_err().to_string(),
        "line 1, column 2: missing fields"
    );
    assert_eq!(
        parse("m f=\"x").unwrap_err().to_string(),
        "line 1, column 5: unbalanced quotes: the string value of field \"f\" has no closing \
         double quote (write a quote inside a string as \\\")"
    );
    assert_eq!(
        parse("m f=1 x").unwrap_err().to_string(),
        "line 1, column 7: bad timestamp: must be an integer"
    );
    // Long values are shortened in messages.
    let long = format!("m f={}x", "1".repeat(100));
    match parse(&long).unwrap_err().kind {
        ParseErrorKind::InvalidNumber { value, .. } => {
            assert_eq!(value, format!("{}...", "1".repeat(64)))
        }
        other => panic!("{other:?}"),
    }
}

/// Parses a body with `parse_body`, returning `(line, result)` pairs.
fn parse_all(body: &str) -> Vec<Result<Line, ParseError>> {
    let mut res = Vec::new();
    parse_body(body.as_bytes(), |r| res.push(r.map(owned)));
    res
}

#[test]
fn bodies_line_numbers_crlf_comments_blank_lines() {
    let body = "a f=1\r\n\r\n# comment \"with=quote\n  \t \nb,t=x f=2i 5\n  c f=\"x\ny\"\nd f=\n\n# last\r\ne g=t";
    let got = parse_all(body);
    assert_eq!(
        got,
        vec![
            Ok(simple("a", "f", f(1.0))),
            Ok(line("b", &[("t", "x")], &[("f", V::I(2))], Some(5))),
            Ok(simple("c", "f", s("x\ny"))),
            Err(ParseError {
                line: 8,
                column: 5,
                kind: ParseErrorKind::MissingFieldValue { field: field("f") }
            }),
            Ok(simple("e", "g", V::B(true))),
        ]
    );
    let numbers: Vec<usize> = lines(body.as_bytes()).map(|(n, _)| n).collect();
    assert_eq!(numbers, vec![1, 5, 6, 8, 11]);
}

#[test]
fn lines_iterator() {
    let collect = |body: &[u8]| -> Vec<(usize, Vec<u8>)> {
        lines(body).map(|(n, l)| (n, l.to_vec())).collect()
    };
    assert_eq!(collect(b""), vec![]);
    assert_eq!(collect(b"\n\r\n \t\0\n#x\n   # y"), vec![]);
    // Leading blanks are kept (columns refer to the physical line); one trailing \r is dropped.
    assert_eq!(
        collect(b"  m f=1\r\nn f=2\r"),
        vec![(1, b"  m f=1".to_vec()), (2, b"n f=2".to_vec())]
    );
    // A \r that does not end the line stays.
    assert_eq!(collect(b"m f=1\r\r\n"), vec![(1, b"m f=1\r".to_vec())]);
    // Newlines inside string values do not end the line; escaped quotes don't close strings.
    assert_eq!(
        collect(b"m f=\"a\nb\\\"\nc\" 1\nn f=1"),
        vec![
            (1, b"m f=\"a\nb\\\"\nc\" 1".to_vec()),
            (4, b"n f=1".to_vec())
        ]
    );
    // A quote in the key section or in a field key does not start a string.
    assert_eq!(
        collect(b"m\",t=\"x \"k\"=1\nn f=1"),
        vec![(1, b"m\",t=\"x \"k\"=1".to_vec()), (2, b"n f=1".to_vec())]
    );
    // A backslash escapes a newline (InfluxDB's scanner); \\ does not.
    assert_eq!(
        collect(b"m,t=a\\\nb f=1\nn f=\"\\\\\"\no f=1"),
        vec![
            (1, b"m,t=a\\\nb f=1".to_vec()),
            (3, b"n f=\"\\\\\"".to_vec()),
            (4, b"o f=1".to_vec())
        ]
    );
    // An unterminated string swallows the rest of the body, as in InfluxDB.
    assert_eq!(
        collect(b"m f=\"x\nn f=1\n"),
        vec![(1, b"m f=\"x\nn f=1".to_vec())]
    );
    // A comment always ends at the newline, even with quotes or a trailing backslash.
    assert_eq!(
        collect(b"# a=\"b\nm f=1\n# c:\\\nn f=2"),
        vec![(2, b"m f=1".to_vec()), (4, b"n f=2".to_vec())]
    );
}

#[test]
fn errors_in_multi_line_strings_report_the_physical_line() {
    let body = "x f=1\nm f=\"a\nb\" 12x\nn f=2";
    let got = parse_all(body);
    assert_eq!(
        got,
        vec![
            Ok(simple("x", "f", f(1.0))),
            Err(ParseError {
                line: 3,
                column: 6,
                kind: ParseErrorKind::InvalidTimestamp
            }),
            Ok(simple("n", "f", f(2.0))),
        ]
    );
    // Errors before the newline stay on the first line.
    let got = parse_all("m,t=a=b f=\"a\nb\"");
    assert_eq!(
        got,
        vec![Err(ParseError {
            line: 1,
            column: 6,
            kind: ParseErrorKind::InvalidTagFormat
        })]
    );
}

#[test]
fn parsed_line_is_reused_and_cleared() {
    let body = b"a,t=1,u=2 f=1,g=2,h=3 10\nb x=1";
    let mut out = ParsedLine::default();
    let mut it = lines(body);
    let (n, l) = it.next().unwrap();
    parse_line(l, n, &mut out).unwrap();
    assert_eq!(out.tags.len(), 2);
    assert_eq!(out.fields.len(), 3);
    let cap = out.fields.capacity();
    let (n, l) = it.next().unwrap();
    parse_line(l, n, &mut out).unwrap();
    assert_eq!(owned(&out), simple("b", "x", f(1.0)));
    assert_eq!(out.fields.capacity(), cap);
    // A failed parse leaves `out` in a cleared-or-partial state; the next parse clears it.
    assert!(parse_line(b"c,t=1 x=", 3, &mut out).is_err());
    parse_line(b"d y=2", 4, &mut out).unwrap();
    assert_eq!(owned(&out), simple("d", "y", f(2.0)));
}

#[test]
fn escaped_str_api() {
    let mut out = ParsedLine::default();
    parse_line(br#"m\ 1,t\=k=v\,1 f\ k="a\"b",g="plain" 1"#, 1, &mut out).unwrap();
    assert_eq!(out.measurement.raw(), r"m\ 1");
    assert!(out.measurement.has_escapes());
    assert_eq!(out.measurement.unescaped(), "m 1");
    assert_eq!(out.measurement.to_string(), "m 1");
    let (k, v) = out.tags[0];
    assert_eq!((k.raw(), v.raw()), (r"t\=k", r"v\,1"));
    assert_eq!((&*k.unescaped(), &*v.unescaped()), ("t=k", "v,1"));
    let (fk, fv) = out.fields[0];
    assert_eq!(fk.unescaped(), "f k");
    assert_eq!(fv.type_name(), "string");
    match fv {
        FieldValue::String(sv) => {
            assert_eq!(sv.raw(), r#"a\"b"#);
            assert!(sv.has_escapes());
            assert_eq!(sv.unescaped(), "a\"b");
        }
        other => panic!("{other:?}"),
    }
    match out.fields[1].1 {
        FieldValue::String(sv) => {
            assert!(!sv.has_escapes());
            assert!(matches!(
                sv.unescaped(),
                std::borrow::Cow::Borrowed("plain")
            ));
        }
        other => panic!("{other:?}"),
    }
    // A literal backslash is not an escape.
    parse_line(br"m\x f=1", 1, &mut out).unwrap();
    assert!(!out.measurement.has_escapes());
    assert_eq!(out.measurement.unescaped(), r"m\x");
    assert_eq!(EscapedStr::default().raw(), "");
}

#[test]
fn type_names() {
    assert_eq!(FieldValue::Float(1.0).type_name(), "float");
    assert_eq!(FieldValue::Integer(1).type_name(), "integer");
    assert_eq!(FieldValue::UInteger(1).type_name(), "unsigned");
    assert_eq!(FieldValue::Boolean(true).type_name(), "boolean");
}

#[test]
fn precision() {
    assert_eq!(Precision::parse("ms"), Ok(Precision::Milliseconds));
    assert_eq!(Precision::parse("µ"), Ok(Precision::Microseconds));
    assert_eq!(Precision::parse(""), Ok(Precision::Nanoseconds));
    assert_eq!(
        Precision::parse("d").unwrap_err().to_string(),
        "unknown precision \"d\": expected one of n, ns, u, us, µ, µs, ms, s, m, h"
    );
    assert_eq!(Precision::Minutes.to_nanos(2), Some(120_000_000_000));
    assert_eq!(Precision::Hours.nanos_per_unit(), 3_600_000_000_000);
    assert_eq!(Precision::Seconds.to_nanos(i64::MAX), None);
}

/// Bytes that matter to the parser, to make random inputs interesting.
fn lp_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        3 => prop::sample::select(b" ,=\\\"\n\r\t#-.0123456789eEiuftTF".to_vec()),
        1 => any::<u8>(),
        1 => prop::sample::select(b"abcmxyz".to_vec()),
    ]
}

fn check_no_panic(body: &[u8]) {
    let mut out = ParsedLine::default();
    for (n, l) in lines(body) {
        assert!(n >= 1);
        assert!(!l.is_empty());
        match parse_line(l, n, &mut out) {
            Ok(()) => {
                assert!(!out.fields.is_empty());
                assert!(!out.measurement.raw().is_empty());
                let _ = out.measurement.unescaped();
                for (k, v) in &out.tags {
                    let _ = (k.unescaped(), v.unescaped());
                }
                for (k, v) in &out.fields {
                    let _ = (k.unescaped(), v.type_name());
                    if let FieldValue::String(s) = v {
                        let _ = s.unescaped();
                    }
                }
            }
            Err(e) => {
                let physical_lines = body.iter().filter(|&&b| b == b'\n').count() + 1;
                assert!(e.line >= n && e.line <= physical_lines, "{e:?}");
                assert!(e.column >= 1 && e.column <= l.len() + 1, "{e:?}");
                let _ = e.to_string();
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..300)) {
        check_no_panic(&body);
    }

    #[test]
    fn line_protocol_like_bytes_never_panic(body in prop::collection::vec(lp_byte(), 0..300)) {
        check_no_panic(&body);
    }

    #[test]
    fn mutated_valid_lines_never_panic(
        edits in prop::collection::vec((any::<prop::sample::Index>(), lp_byte(), 0u8..3), 0..6)
    ) {
        let mut body = br#"cpu,host=a\ b,t==x f=1.5,g=-2i,h=3u,s="x\"y\\z",b=t 1700000000000000000"#.to_vec();
        for (idx, byte, op) in edits {
            let at = idx.index(body.len() + 1);
            match op {
                0 => body.insert(at, byte),
                1 if at < body.len() => { body.remove(at); }
                _ if at < body.len() => body[at] = byte,
                _ => {}
            }
        }
        check_no_panic(&body);
    }
}
