//! Property tests: no input makes the parser panic (or overflow its stack),
//! and whatever parses round-trips through its canonical text.

use proptest::prelude::*;
use weir_sql::{parse_expr, parse_select, parse_statements};

/// Words and symbols of the language, so random sequences reach deep into
/// the grammar instead of failing on the first token.
const VOCAB: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP",
    "BY",
    "INTO",
    "AS",
    "AND",
    "OR",
    "fill",
    "(",
    ")",
    ",",
    ";",
    ".",
    "..",
    ":",
    "::",
    ":MEASUREMENT",
    "*",
    "/",
    "+",
    "-",
    "%",
    "=",
    "!=",
    "<>",
    "<",
    "<=",
    ">",
    ">=",
    "=~",
    "!~",
    "/re/",
    "/a\\/b/",
    "'str'",
    "'a;b'",
    "\"q id\"",
    "x",
    "y",
    "host",
    "time",
    "time(1m)",
    "time(1h, -5m)",
    "now()",
    "mean",
    "mean(x)",
    "max",
    "count",
    "distinct",
    "DISTINCT",
    "derivative",
    "top",
    "percentile",
    "moving_average",
    "abs",
    "pow",
    "1",
    "0",
    "-1",
    "3.5",
    ".5",
    "1h",
    "1h30m",
    "10s",
    "1u",
    "1µ",
    "0s",
    "true",
    "false",
    "null",
    "none",
    "previous",
    "linear",
    "ORDER",
    "time",
    "DESC",
    "LIMIT",
    "OFFSET",
    "SLIMIT",
    "SOFFSET",
    "tz",
    "ARCHIVE",
    "CREATE",
    "OR",
    "REPLACE",
    "CONTINUOUS",
    "QUERY",
    "ON",
    "db",
    "RESAMPLE",
    "EVERY",
    "FOR",
    "BEGIN",
    "END",
    "ALERT",
    "INFO",
    "WARN",
    "CRIT",
    "WHEN",
    "ID",
    "MESSAGE",
    "DETAILS",
    "'{{host}}'",
    "STATE",
    "CHANGES",
    "ONLY",
    "FLAPPING",
    "0.2",
    "0.8",
    "HISTORY",
    "21",
    "ALL",
    "OK",
    "NO",
    "RECOVERIES",
    "TOPIC",
    "HANDLER",
    "KIND",
    "slack",
    "log",
    "WITH",
    "url",
    "[",
    "]",
    "ARCHIVE",
    "TO",
    "'file:///x'",
    "PARTITION",
    "hour",
    "day",
    "ROLL",
    "TIME",
    "UNIT",
    "us",
    "ns",
    "BATCH",
    "CRON",
    "'* * * * *'",
    "FUNCTION",
    "f",
    "RETURNS",
    "float",
    "LANGUAGE",
    "process",
    "'cmd'",
    "DROP",
    "TASK",
    "ENABLE",
    "DISABLE",
    "SHOW",
    "TASKS",
    "TOPICS",
    "HANDLERS",
    "QUERIES",
    "IF",
    "EXISTS",
    "--",
    "/*",
    "*/",
    "\n",
    "#",
    "'",
    "\"",
    "\\",
    "9223372036854775808",
    "-9223372036854775808",
    "99999999999999999999w",
];

fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(VOCAB), 0..40).prop_map(|words| words.join(" "))
}

/// Statements that are valid apart from one spliced-in random fragment.
fn mutated_statement() -> impl Strategy<Value = String> {
    const BASES: &[&str] = &[
        "CREATE CONTINUOUS QUERY q ON db BEGIN SELECT mean(x) AS m INTO db.rp.o FROM cpu WHERE host =~ /^a/ AND time > now() - 1h GROUP BY time(1m, 10s), host fill(0) END",
        "CREATE ALERT a ON db BEGIN SELECT mean(x) AS v FROM m GROUP BY time(1m), host END WARN WHEN v > 1 CRIT WHEN v > 2 ID '{{host}}' MESSAGE '{{id}}' STATE CHANGES ONLY FLAPPING 0.2 0.8 HISTORY 10 TOPIC t",
        "CREATE HANDLER h ON TOPIC t KIND slack WITH (url = 'http://x', channel = '#ops', n = 1, l = ['a', 2])",
        "CREATE ARCHIVE a ON db FROM cpu, mem TO 'file:///x' PARTITION BY hour ROLL EVERY 10s TIME UNIT us",
        "CREATE BATCH QUERY b ON db EVERY 1h OFFSET 5m BEGIN SELECT mean(x) INTO o FROM ARCHIVE cpu WHERE time > now() - 1h GROUP BY time(1h), host END",
        "SELECT derivative(mean(x), 1s), top(y, host, 3) FROM (SELECT * FROM m) GROUP BY time(1m) ORDER BY time DESC LIMIT 5",
    ];
    (
        prop::sample::select(BASES),
        any::<prop::sample::Index>(),
        token_soup(),
    )
        .prop_map(|(base, at, soup)| {
            let mut cut = at.index(base.len() + 1);
            while !base.is_char_boundary(cut) {
                cut -= 1;
            }
            format!("{}{}{}", &base[..cut], soup, &base[cut..])
        })
}

fn check_statements(text: &str) {
    if let Ok(stmts) = parse_statements(text) {
        let canonical: Vec<String> = stmts.iter().map(|s| s.to_string()).collect();
        let joined = canonical.join(";\n");
        match parse_statements(&joined) {
            Ok(again) => {
                assert_eq!(again, stmts, "round trip changed the tree for {joined:?}");
                let again_text: Vec<String> = again.iter().map(|s| s.to_string()).collect();
                assert_eq!(again_text, canonical, "display is not a fixed point");
            }
            Err(e) => panic!("canonical text {joined:?} of {text:?} does not parse: {e}"),
        }
    }
}

fn check_select(text: &str) {
    if let Ok(select) = parse_select(text) {
        let canonical = select.to_string();
        match parse_select(&canonical) {
            Ok(again) => assert_eq!(again, select, "round trip changed {canonical:?}"),
            Err(e) => panic!("canonical text {canonical:?} of {text:?} does not parse: {e}"),
        }
    }
}

fn check_expr(text: &str) {
    if let Ok(expr) = parse_expr(text) {
        let canonical = expr.to_string();
        match parse_expr(&canonical) {
            Ok(again) => assert_eq!(again, expr, "round trip changed {canonical:?}"),
            Err(e) => panic!("canonical text {canonical:?} of {text:?} does not parse: {e}"),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_strings_never_panic(text in any::<String>()) {
        check_statements(&text);
        check_select(&text);
        check_expr(&text);
    }

    #[test]
    fn printable_strings_never_panic(text in "[ -~µé\n\t]{0,120}") {
        check_statements(&text);
        check_select(&text);
        check_expr(&text);
    }

    #[test]
    fn token_soup_never_panics_and_round_trips(text in token_soup()) {
        check_statements(&text);
        check_select(&format!("SELECT {text}"));
        check_expr(&text);
    }

    #[test]
    fn mutated_statements_never_panic_and_round_trip(text in mutated_statement()) {
        check_statements(&text);
    }
}

/// Expressions with random literals and operators round-trip exactly.
fn arb_expr() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(|v| v.to_string()),
        any::<u64>().prop_map(|v| v.to_string()),
        (-1e12f64..1e12).prop_map(|v| format!("{v}")),
        any::<i32>().prop_map(|v| format!("{}ms", v.unsigned_abs())),
        "[a-z_][a-z0-9_]{0,5}".prop_filter("not a keyword", |s| !weir_sql::ast::is_reserved(s)),
        "[ -~]{0,8}".prop_map(|s| weir_sql::ast::quote_string(&s)),
        "[ -~]{0,8}".prop_map(|s| weir_sql::ast::quote_ident(&s)),
    ];
    leaf.prop_recursive(6, 64, 4, |inner| {
        let op = prop::sample::select(vec![
            "+", "-", "*", "/", "%", "&", "|", "^", "AND", "OR", "=", "!=", "<", "<=", ">", ">=",
        ]);
        prop_oneof![
            (inner.clone(), op, inner.clone()).prop_map(|(a, o, b)| format!("{a} {o} {b}")),
            inner.clone().prop_map(|a| format!("({a})")),
            inner.clone().prop_map(|a| format!("-{a}")),
            (inner.clone(), inner).prop_map(|(a, b)| format!("pow({a}, {b})")),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn expressions_round_trip(text in arb_expr()) {
        check_expr(&text);
    }
}

/// Generated SELECTs covering every clause; most are valid, and every valid
/// one must round-trip.
fn arb_select() -> impl Strategy<Value = String> {
    let aggregate = prop::sample::select(vec![
        "mean(x)",
        "count(\"q id\")",
        "sum(/usage_.*/)",
        "mean(*)",
        "percentile(x, 95.5)",
        "derivative(mean(x), 1s)",
        "non_negative_difference(max(y))",
        "moving_average(mean(x), 3)",
        "count(distinct(h))",
        "integral(x, 1m)",
        "abs(mean(x)) * -2",
        "mean(x) + max(y) / 3",
        "holt_winters(mean(x), 5, 2)",
        "exponential_moving_average(mean(x), 5, 1, 'simple')",
    ]);
    let raw = prop::sample::select(vec![
        "x",
        "\"q id\"",
        "y::float",
        "h::tag",
        "*",
        "*::field",
        "x + y * 2",
        "-x",
        "pow(x, 2) % 7",
        "round(x - -1.5)",
        "x & y | z ^ 1",
        "\"name\"",
    ]);
    let target = prop::sample::select(vec![
        "",
        " INTO o",
        " INTO rp.o",
        " INTO db.rp.o",
        " INTO db..o",
        " INTO \"d b\".\"r p\".\"o o\"",
        " INTO db.rp.:MEASUREMENT",
        " INTO :MEASUREMENT",
    ]);
    let source = prop::sample::select(vec![
        "m",
        "rp.m",
        "db.rp.m",
        "db..m",
        "/^cpu/",
        "db.rp./x\\/y/",
        "\"archive\"",
        "(SELECT mean(x) AS x FROM m GROUP BY time(1m))",
    ]);
    let condition = prop::sample::select(vec![
        "",
        " WHERE host = 'a'",
        " WHERE host =~ /^w/ AND time > now() - 1h",
        " WHERE (a = 1 OR b != 2) AND c <> 'x;y'",
        " WHERE x > -5 AND y <= 3.25 OR z = true",
        " WHERE abs(x) >= 10 AND time < '2024-01-01T00:00:00Z'",
        " WHERE s !~ /a\\/b/",
    ]);
    let tags = prop::sample::select(vec![
        "",
        ", host",
        ", \"data center\"",
        ", *",
        ", /^h/",
        ", a, b",
    ]);
    let fill = prop::sample::select(vec![
        "",
        " fill(null)",
        " fill(none)",
        " fill(previous)",
        " fill(linear)",
        " fill(0)",
        " fill(-2.5)",
    ]);
    let tail = prop::sample::select(vec![
        "",
        " ORDER BY time DESC",
        " LIMIT 10",
        " LIMIT 10 OFFSET 2 SLIMIT 3 SOFFSET 1",
        " ORDER BY ASC tz('UTC')",
    ]);
    let interval = prop::sample::select(vec!["1m", "10s", "1h, 15m", "1d, -1h", "500ms", "1w"]);
    (
        any::<bool>(),
        prop::collection::vec(aggregate, 1..4),
        prop::collection::vec(raw, 1..4),
        target,
        any::<bool>(),
        prop::collection::vec(source, 1..3),
        condition,
        interval,
        tags,
        fill,
        tail,
    )
        .prop_map(
            |(agg, aggs, raws, target, archive, sources, cond, interval, tags, fill, tail)| {
                let fields: Vec<&str> = if agg { aggs } else { raws };
                let group = if agg {
                    format!(" GROUP BY time({interval}){tags}")
                } else if tags.is_empty() {
                    String::new()
                } else {
                    format!(" GROUP BY {}", &tags[2..])
                };
                format!(
                    "SELECT {}{target} FROM {}{}{cond}{group}{fill}{tail}",
                    fields.join(", "),
                    if archive { "ARCHIVE " } else { "" },
                    sources.join(", ")
                )
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn generated_selects_round_trip(text in arb_select()) {
        check_select(&text);
        check_statements(&format!("CREATE BATCH QUERY b ON db EVERY 1h BEGIN {text} END"));
        check_statements(&format!(
            "CREATE CONTINUOUS QUERY c ON db RESAMPLE EVERY 1m FOR 1h BEGIN {text} END"
        ));
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    for depth in [200usize, 10_000, 100_000] {
        let parens = format!("SELECT {}x{} FROM m", "(".repeat(depth), ")".repeat(depth));
        assert!(parse_select(&parens).is_err());
        let minus = format!("SELECT {}x{} FROM m", "-(".repeat(depth), ")".repeat(depth));
        assert!(parse_select(&minus).is_err());
        let chain = format!("SELECT x{} FROM m", " + x".repeat(depth));
        assert!(parse_select(&chain).is_err());
        let calls = format!(
            "SELECT {}x{} FROM m",
            "abs(".repeat(depth),
            ")".repeat(depth)
        );
        assert!(parse_select(&calls).is_err());
        let subqueries = format!(
            "SELECT x FROM {}m{}",
            "(SELECT x FROM ".repeat(depth),
            ")".repeat(depth)
        );
        assert!(parse_select(&subqueries).is_err());
        let lists = format!(
            "CREATE HANDLER h ON TOPIC t KIND log WITH (a = {}1{})",
            "[".repeat(depth),
            "]".repeat(depth)
        );
        assert!(parse_statements(&lists).is_err());
    }
    // Moderately deep input is fine.
    let ok = format!("SELECT {}x{} FROM m", "(".repeat(50), ")".repeat(50));
    assert!(parse_select(&ok).is_ok());
}

/// At the nesting limits, on a test thread's stack (2 MiB, as a server's worker threads): every
/// form parses or is refused, none overflows the stack.
#[test]
fn nesting_at_the_limits_fits_the_stack() {
    let n = weir_sql::parser::MAX_DEPTH;
    let forms = |k: usize| {
        vec![
            format!("SELECT {}x{} FROM m", "(".repeat(k), ")".repeat(k)),
            format!("SELECT {}x{} FROM m", "-(".repeat(k), ")".repeat(k)),
            format!("SELECT {}x FROM m", "- ".repeat(k)),
            format!("SELECT {}x{} FROM m", "abs(".repeat(k), ")".repeat(k)),
            format!("SELECT {}x{} FROM m", "x + (".repeat(k), ")".repeat(k)),
            format!("SELECT x{} FROM m", " + x".repeat(k)),
            format!("SELECT x FROM m WHERE {}", vec!["a = 1"; k].join(" OR ")),
        ]
    };
    for k in [n - 2, n - 1, n, n + 1, 2 * n, 1030, 5000] {
        for text in forms(k) {
            // Either answer is fine; reaching the end is the test.
            let _ = parse_select(&text);
        }
    }
    let parens = |k: usize| format!("SELECT {}x{} FROM m", "(".repeat(k), ")".repeat(k));
    assert!(parse_select(&parens(n)).is_ok());
    let refused = parse_select(&parens(n + 1))
        .expect_err("one level too deep")
        .to_string();
    assert!(refused.contains("nested too deeply"), "{refused}");
    let calls = format!(
        "SELECT {}x{} FROM m",
        "abs(".repeat(n - 1),
        ")".repeat(n - 1)
    );
    assert!(parse_select(&calls).is_ok());
    // A long OR list is not nesting: 100 alternatives parse.
    let hosts: Vec<String> = (0..100).map(|i| format!("host = 'h{i}'")).collect();
    let text = format!("SELECT x FROM m WHERE {}", hosts.join(" OR "));
    assert!(
        parse_select(&text).is_ok(),
        "{:?}",
        parse_select(&text).err()
    );
}
