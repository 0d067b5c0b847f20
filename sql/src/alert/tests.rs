#![allow(clippy::unwrap_used)]

use super::*;
use crate::Statement;

fn rules(text: &str) -> Result<AlertRules, String> {
    let stmt = crate::parse_statements(text)
        .map_err(|e| e.to_string())?
        .remove(0);
    let Statement::CreateAlert(a) = stmt else {
        panic!("not an alert")
    };
    AlertRules::new(&a).map_err(|e| e.to_string())
}

const SPEC: &str = "CREATE ALERT cpu_idle ON telegraf
BEGIN
  SELECT mean(usage_idle) AS idle FROM cpu GROUP BY time(1m), host
END
WARN WHEN idle < 20
CRIT WHEN idle < 10
ID 'cpu:{{host}}'
MESSAGE '{{id}} is {{level}}: idle {{idle}}%'
STATE CHANGES ONLY
TOPIC cpu";

fn row(host: &str, idle: f64, minute: i64) -> Row {
    Row {
        measurement: "cpu".into(),
        tags: vec![("host".into(), host.into())],
        fields: vec![("idle".into(), Value::Float(idle))],
        time: minute * 60_000_000_000,
    }
}

#[test]
fn spec_example_levels_templates_and_state_changes() {
    let r = rules(SPEC).unwrap();
    assert_eq!(r.topic(), "cpu");
    let mut states = AlertStates::default();
    let rows = [
        row("a", 50.0, 0),
        row("a", 15.5, 1),
        row("b", 5.0, 1),
        row("a", 15.0, 2),
        row("a", 9.25, 3),
        row("a", 60.0, 4),
    ];
    let out = r.evaluate(&mut states, &rows);
    let got: Vec<_> = out
        .events
        .iter()
        .map(|e| {
            (
                e.id.as_str(),
                e.level,
                e.previous_level,
                e.message.as_str(),
                e.duration,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "cpu:a",
                Level::Warning,
                Level::Ok,
                "cpu:a is WARNING: idle 15.5%",
                0
            ),
            (
                "cpu:b",
                Level::Critical,
                Level::Ok,
                "cpu:b is CRITICAL: idle 5%",
                0
            ),
            (
                "cpu:a",
                Level::Critical,
                Level::Warning,
                "cpu:a is CRITICAL: idle 9.25%",
                0
            ),
            (
                "cpu:a",
                Level::Ok,
                Level::Critical,
                "cpu:a is OK: idle 60%",
                0
            ),
        ]
    );
    assert_eq!(out.evaluations, [2, 0, 2, 2]);
    assert_eq!(states.states["cpu:a"].level, Level::Ok);
    assert_eq!(states.states["cpu:b"].level, Level::Critical);
    let e = &out.events[1];
    assert_eq!(e.topic, "cpu");
    assert_eq!(e.task, "cpu_idle");
    assert_eq!(
        e.kapacitor_json()["data"],
        serde_json::json!({"series": [{"name": "cpu", "tags": {"host": "b"}, "columns": ["time", "idle"], "values": [["1970-01-01T00:01:00Z", 5.0]]}]})
    );
}

#[test]
fn without_state_changes_only_every_non_ok_evaluation_is_published() {
    let r = rules(&SPEC.replace("STATE CHANGES ONLY\n", "")).unwrap();
    let mut states = AlertStates::default();
    let out = r.evaluate(
        &mut states,
        &[
            row("a", 15.0, 0),
            row("a", 16.0, 1),
            row("a", 50.0, 2),
            row("a", 50.0, 3),
        ],
    );
    let levels: Vec<_> = out.events.iter().map(|e| (e.level, e.duration)).collect();
    assert_eq!(
        levels,
        vec![
            (Level::Warning, 0),
            (Level::Warning, 60_000_000_000),
            (Level::Ok, 0)
        ]
    );
}

#[test]
fn defaults_follow_kapacitor() {
    let r = rules(
        "CREATE ALERT dead ON telegraf BEGIN SELECT count(usage_idle) AS n FROM cpu GROUP BY time(1m), host fill(0) END CRIT WHEN n = 0 DETAILS '{{message}} for {{duration}} ({{task}}/{{measurement}}, was {{previous_level}})'",
    )
    .unwrap();
    assert_eq!(r.topic(), "dead");
    let mut states = AlertStates::default();
    let mk = |n: i64, minute: i64| Row {
        measurement: "cpu".into(),
        tags: vec![("host".into(), "a".into()), ("dc".into(), "x".into())],
        fields: vec![("n".into(), Value::Int(n))],
        time: minute * 60_000_000_000,
    };
    let out = r.evaluate(&mut states, &[mk(3, 0), mk(0, 1), mk(0, 3)]);
    assert_eq!(out.events.len(), 2);
    assert_eq!(out.events[0].id, "cpu:host=a,dc=x");
    assert_eq!(out.events[0].message, "cpu:host=a,dc=x is CRITICAL");
    assert_eq!(
        out.events[1].details,
        "cpu:host=a,dc=x is CRITICAL for 2m0s (dead/cpu, was CRITICAL)"
    );
    let untagged = Row {
        tags: vec![],
        ..mk(0, 0)
    };
    let out = r.evaluate(&mut AlertStates::default(), &[untagged]);
    assert_eq!(out.events[0].id, "cpu:nil");
}

#[test]
fn refusals_name_the_clause() {
    for (text, want) in [
        (
            "CREATE ALERT a ON db BEGIN SELECT mean(x) AS v FROM m GROUP BY time(1m) END CRIT WHEN v",
            "WHEN condition must be a comparison",
        ),
        (
            "CREATE ALERT a ON db BEGIN SELECT mean(x) AS v FROM m GROUP BY time(1m) END CRIT WHEN v > 1 HISTORY 1",
            "HISTORY must be at least 2",
        ),
        (
            "CREATE ALERT a ON db BEGIN SELECT mean(x) AS v FROM m GROUP BY time(1m) END CRIT WHEN v > 1 FLAPPING 0.5 0.2",
            "FLAPPING thresholds must satisfy 0 < low < high < 1",
        ),
    ] {
        let e = match rules(text) {
            Err(e) => e,
            Ok(_) => panic!("{text} accepted"),
        };
        assert!(e.contains(want), "{e}");
    }
}
