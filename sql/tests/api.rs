//! The public API around the parser: error fields, options, helpers.

use weir_sql::ast::*;
use weir_sql::functions::{self, FunctionKind};
use weir_sql::template::Template;
use weir_sql::{
    parse_expr, parse_select, parse_select_with, parse_statements, parse_statements_with, Duration,
    ErrorKind, ParseOptions, QueryContext,
};

#[test]
fn error_fields() {
    let text = "SHOW TASKS;\nCREATE CONTINUOUS QUERY q ON db BEGIN\n  SELECT mean(x) INTO o FROM m\n  GROUP BY time(foo)\nEND; SHOW TOPICS";
    let err = parse_statements(text).expect_err("bad interval");
    assert_eq!(err.statement, 1);
    assert_eq!(err.line, 4);
    assert_eq!(err.column, 17);
    assert_eq!(err.kind, ErrorKind::Syntax);
    assert_eq!(err.reason, "expected GROUP BY time interval, found 'foo'");
    assert_eq!(
        err.to_string(),
        "line 4, column 17: expected GROUP BY time interval, found 'foo'"
    );
    assert_eq!(&text[err.offset..err.offset + 3], "foo");
    assert_eq!(
        err.statement_text,
        "CREATE CONTINUOUS QUERY q ON db BEGIN\n  SELECT mean(x) INTO o FROM m\n  GROUP BY time(foo)\nEND"
    );
}

#[test]
fn error_kinds() {
    let lexical = parse_statements("SHOW TASKS; SHOW 'x").expect_err("unterminated");
    assert_eq!(lexical.kind, ErrorKind::Lexical);
    assert_eq!(lexical.statement, 1);
    assert_eq!(lexical.statement_text, "SHOW 'x");

    let invalid = parse_statements(
        "CREATE CONTINUOUS QUERY q ON db BEGIN SELECT mean(x), y INTO o FROM m GROUP BY time(1m) END",
    )
    .expect_err("mixing");
    assert_eq!(invalid.kind, ErrorKind::Invalid);
    assert_eq!(
        invalid.reason,
        "mixing aggregate and non-aggregate queries is not supported"
    );
}

#[test]
fn statement_text_stops_at_the_semicolon_after_the_error() {
    let text = "CREATE ALERT a ON db BEGIN SELECT last(x) AS v FROM m WHERE s = 'a;b' GROUP BY time(1m) END CRIT WHEN v > ; SHOW TASKS";
    let err = parse_statements(text).expect_err("missing operand");
    assert_eq!(
        err.statement_text,
        "CREATE ALERT a ON db BEGIN SELECT last(x) AS v FROM m WHERE s = 'a;b' GROUP BY time(1m) END CRIT WHEN v >"
    );
}

#[test]
fn udfs_from_options() {
    let create = match parse_statements(
        "CREATE FUNCTION mad(x float, k float) RETURNS float LANGUAGE process AS 'mad'",
    )
    .expect("function")
    .pop()
    {
        Some(Statement::CreateFunction(f)) => f,
        other => panic!("unexpected {other:?}"),
    };
    let cq = "CREATE CONTINUOUS QUERY q ON db BEGIN SELECT mad(x, 3) INTO o FROM m GROUP BY time(1m) END";
    let err = parse_statements(cq).expect_err("unknown without options");
    assert_eq!(err.reason, "undefined function mad()");
    let options = ParseOptions::default().with_function(&create);
    let stmts = parse_statements_with(cq, &options).expect("known with options");
    assert_eq!(stmts.len(), 1);
    // Case-insensitive call.
    parse_statements_with(&cq.replace("mad(", "MAD("), &options).expect("upper case call");
}

#[test]
fn select_with_context() {
    let text = "SELECT mean(x) INTO o FROM m";
    parse_select(text).expect("a plain SELECT may aggregate without GROUP BY time");
    let err = parse_select_with(
        text,
        QueryContext::ContinuousQuery,
        &ParseOptions::default(),
    )
    .expect_err("stream rule");
    assert!(
        err.reason.contains("requires GROUP BY time"),
        "{}",
        err.reason
    );
    let err = parse_select_with(
        "SELECT mean(x) FROM m GROUP BY time(1m)",
        QueryContext::BatchQuery,
        &ParseOptions::default(),
    )
    .expect_err("batch needs INTO");
    assert_eq!(err.reason, "expected INTO, found 'FROM'");
}

#[test]
fn statement_helpers() {
    let stmts = parse_statements(
        "CREATE CONTINUOUS QUERY q ON db BEGIN SELECT mean(x) INTO o FROM m GROUP BY time(1m, 30s), host END; \
         CREATE ARCHIVE a ON db AS SELECT x FROM m; CREATE ARCHIVE b ON db FROM m; SHOW TASKS; ENABLE TASK q",
    )
    .expect("parse");
    let select = stmts[0].select().expect("cq select");
    assert_eq!(
        select.group_by_time(),
        Some((Duration::MINUTE, Some(Duration::from_nanos(30_000_000_000))))
    );
    assert!(!select.is_raw());
    assert_eq!(stmts[0].name(), Some("q"));
    assert!(stmts[1].select().is_some_and(|s| s.is_raw()));
    assert!(stmts[2].select().is_none());
    assert_eq!(stmts[3].name(), None);
    assert_eq!(stmts[4].name(), Some("q"));
}

#[test]
fn field_names_follow_influxdb() {
    let select = parse_select(
        "SELECT mean(x), mean(y) AS m, x, x + mean(y) * 2, derivative(mean(x)) FROM cpu GROUP BY time(1m)",
    );
    // The query itself is invalid (mixing); names are computed on a valid one.
    assert!(select.is_err());
    let select = parse_select(
        "SELECT mean(x), mean(y) AS m, mean(x) + max(y) * 2, derivative(mean(x)) FROM cpu GROUP BY time(1m)",
    )
    .expect("valid");
    let names: Vec<String> = select.fields.iter().map(|f| f.name()).collect();
    assert_eq!(names, vec!["mean", "m", "mean_max", "derivative"]);
}

#[test]
fn spans_are_ignored_by_equality_but_kept() {
    let a = parse_expr("mean(x)").expect("a");
    let b = parse_expr("   mean( x )").expect("b");
    assert_eq!(a, b);
    match (a, b) {
        (Expr::Call(a), Expr::Call(b)) => {
            assert_eq!((a.span.start, a.span.end), (0, 7));
            assert_eq!((b.span.start, b.span.end), (3, 12));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn expressions_build_and_print() {
    let e = Expr::binary(
        BinaryOp::And,
        Expr::binary(BinaryOp::Or, Expr::var("a"), Expr::var("b")),
        Expr::binary(
            BinaryOp::Gt,
            Expr::call("abs", vec![Expr::var("c")]),
            Expr::Float(1.0),
        ),
    );
    assert_eq!(e.to_string(), "(a OR b) AND abs(c) > 1.0");
    assert_eq!(parse_expr(&e.to_string()).expect("reparse"), e);
}

#[test]
fn quoting() {
    assert_eq!(quote_ident("cpu_1m"), "cpu_1m");
    assert_eq!(quote_ident("from"), "\"from\"");
    assert_eq!(quote_ident("name"), "\"name\"");
    assert_eq!(quote_ident("topic"), "topic");
    assert_eq!(quote_ident("a \"b\"\\"), "\"a \\\"b\\\"\\\\\"");
    assert_eq!(quote_ident(""), "\"\"");
    assert_eq!(quote_ident("1m"), "\"1m\"");
    assert_eq!(quote_string("it's\n"), "'it\\'s\\n'");
    assert_eq!(format_float(2.0), "2.0");
    assert_eq!(format_float(1e21), "1000000000000000000000.0");
}

#[test]
fn every_function_is_covered_by_the_case_files() {
    let cases = include_str!("cases/functions.txt");
    for f in functions::FUNCTIONS {
        assert!(
            cases.contains(&format!("{}(", f.name)),
            "functions.txt has no call to {}",
            f.name
        );
    }
    assert_eq!(
        functions::lookup("mean").map(|f| f.kind),
        Some(FunctionKind::Aggregate)
    );
    assert!(functions::needs_window("top"));
    assert!(!functions::needs_window("derivative"));
    assert!(functions::is_math("atan2"));
}

#[test]
fn alert_helpers_and_templates() {
    let stmts = parse_statements(
        "CREATE ALERT a ON db BEGIN SELECT mean(x) AS idle FROM m GROUP BY time(1m), host END \
         CRIT WHEN idle < 10 WARN WHEN idle < 20 MESSAGE '{{host}} idle {{ idle }}%'",
    )
    .expect("alert");
    let Some(Statement::CreateAlert(alert)) = stmts.first() else {
        panic!("not an alert");
    };
    let levels: Vec<AlertLevel> = alert.conditions().iter().map(|(l, _)| *l).collect();
    assert_eq!(levels, vec![AlertLevel::Warn, AlertLevel::Crit]);
    assert!(AlertLevel::Ok < AlertLevel::Info && AlertLevel::Warn < AlertLevel::Crit);
    let tmpl = Template::parse(alert.message.as_deref().unwrap_or_default()).expect("template");
    let text = tmpl.render(&|name| match name {
        "host" => Some("web-1".to_string()),
        "idle" => Some("7.5".to_string()),
        _ => None,
    });
    assert_eq!(text, "web-1 idle 7.5%");
}

#[test]
fn durations() {
    assert_eq!(
        "1h30m".parse::<Duration>(),
        Ok(Duration::from_nanos(5_400_000_000_000))
    );
    assert_eq!(Duration::from_nanos(5_400_000_000_000).to_string(), "90m");
    assert_eq!(
        Duration::HOUR.to_std(),
        Some(std::time::Duration::from_secs(3600))
    );
    assert_eq!(Duration::from_nanos(-1).to_std(), None);
}
