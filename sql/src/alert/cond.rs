//! `INFO|WARN|CRIT WHEN <condition>`: compiled once, evaluated per result row.
//!
//! A condition compares output columns and tags (by name, a column first) with literals or
//! with each other, using InfluxQL's arithmetic and math functions. A name the row lacks (a
//! null column) makes the comparison false, so a missing value never raises an alert by itself
//! (use `fill()` in the query to decide what a missing value means, as the deadman example does).

use std::cmp::Ordering;

use crate::ast::{BinaryOp, Expr};
use crate::cq::binary;
use crate::eval::{math, Value};

use super::row::Row;

/// A compiled condition.
#[derive(Debug)]
pub(crate) enum Cond {
    Bool(BinaryOp, Box<Cond>, Box<Cond>),
    Cmp(BinaryOp, Operand, Operand),
    Regex {
        operand: Operand,
        negate: bool,
        re: regex::Regex,
    },
    Const(bool),
}

/// A value-producing expression.
#[derive(Debug)]
pub(crate) enum Operand {
    Name(String),
    Lit(Value),
    /// `now()`: the time of the row being evaluated.
    Now,
    Arith(BinaryOp, Box<Operand>, Box<Operand>),
    Math(String, Vec<Operand>),
}

/// Compiles a condition that `validate_alert_condition` accepted.
pub(crate) fn compile(e: &Expr) -> Result<Cond, String> {
    match e {
        Expr::Boolean(b) => Ok(Cond::Const(*b)),
        Expr::Binary { op, lhs, rhs } if matches!(op, BinaryOp::And | BinaryOp::Or) => Ok(
            Cond::Bool(*op, Box::new(compile(lhs)?), Box::new(compile(rhs)?)),
        ),
        Expr::Binary { op, lhs, rhs } if matches!(op, BinaryOp::EqRegex | BinaryOp::NeqRegex) => {
            let Expr::Regex(re) = &**rhs else {
                return Err(format!("{op} needs a /regex/ on its right, got {rhs}"));
            };
            Ok(Cond::Regex {
                operand: operand(lhs)?,
                negate: *op == BinaryOp::NeqRegex,
                re: re.compile().map_err(|e| e.to_string())?,
            })
        }
        Expr::Binary { op, lhs, rhs } if op.is_comparison() => {
            Ok(Cond::Cmp(*op, operand(lhs)?, operand(rhs)?))
        }
        other => Err(format!(
            "WHEN condition must be a comparison (such as idle < 10), got {other}"
        )),
    }
}

fn operand(e: &Expr) -> Result<Operand, String> {
    Ok(match e {
        Expr::VarRef(v) => Operand::Name(v.name.clone()),
        Expr::Integer(i) => Operand::Lit(Value::Int(*i)),
        Expr::Unsigned(u) => Operand::Lit(Value::UInt(*u)),
        Expr::Float(f) => Operand::Lit(Value::Float(*f)),
        Expr::String(s) => Operand::Lit(Value::Str(s.clone())),
        Expr::Boolean(b) => Operand::Lit(Value::Bool(*b)),
        Expr::Duration(d) => Operand::Lit(Value::Int(d.as_nanos())),
        Expr::Call(c) if c.name == "now" => Operand::Now,
        Expr::Call(c) => Operand::Math(
            c.name.clone(),
            c.args.iter().map(operand).collect::<Result<_, _>>()?,
        ),
        Expr::Binary { op, lhs, rhs } if !op.is_boolean() => {
            Operand::Arith(*op, Box::new(operand(lhs)?), Box::new(operand(rhs)?))
        }
        other => {
            return Err(format!(
                "{other} cannot be used as a value in a WHEN condition"
            ))
        }
    })
}

impl Cond {
    /// Whether the condition holds for `row`.
    pub(crate) fn holds(&self, row: &Row) -> bool {
        match self {
            Cond::Const(b) => *b,
            Cond::Bool(BinaryOp::And, a, b) => a.holds(row) && b.holds(row),
            Cond::Bool(_, a, b) => a.holds(row) || b.holds(row),
            Cond::Regex {
                operand,
                negate,
                re,
            } => match operand.value(row) {
                Some(Value::Str(s)) => re.is_match(&s) != *negate,
                _ => false,
            },
            Cond::Cmp(op, a, b) => {
                let (Some(a), Some(b)) = (a.value(row), b.value(row)) else {
                    return false;
                };
                let Some(ord) = compare(&a, &b) else {
                    return false;
                };
                match op {
                    BinaryOp::Eq => ord == Ordering::Equal,
                    BinaryOp::Neq => ord != Ordering::Equal,
                    BinaryOp::Lt => ord == Ordering::Less,
                    BinaryOp::Lte => ord != Ordering::Greater,
                    BinaryOp::Gt => ord == Ordering::Greater,
                    BinaryOp::Gte => ord != Ordering::Less,
                    _ => false,
                }
            }
        }
    }
}

impl Operand {
    fn value(&self, row: &Row) -> Option<Value> {
        match self {
            Operand::Name(n) => row.get(n),
            Operand::Lit(v) => Some(v.clone()),
            Operand::Now => Some(Value::Int(row.time)),
            Operand::Arith(op, a, b) => binary(*op, &a.value(row)?, &b.value(row)?),
            Operand::Math(name, args) => {
                let vals = args
                    .iter()
                    .map(|a| a.value(row))
                    .collect::<Option<Vec<_>>>()?;
                math(name, &vals)
            }
        }
    }
}

/// Numbers compare as numbers (integers exactly), strings and booleans with their own kind;
/// anything else is not comparable.
fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::UInt(x), Value::UInt(y)) => Some(x.cmp(y)),
        (Value::Int(x), Value::UInt(y)) => Some(i128::from(*x).cmp(&i128::from(*y))),
        (Value::UInt(x), Value::Int(y)) => Some(i128::from(*x).cmp(&i128::from(*y))),
        (Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn cond(text: &str) -> Cond {
        let stmt = format!(
            "CREATE ALERT a ON db BEGIN SELECT mean(x) AS idle FROM cpu GROUP BY time(1m) END CRIT WHEN {text}"
        );
        let parsed = crate::parse_statements(&stmt).unwrap().remove(0);
        let crate::Statement::CreateAlert(a) = parsed else {
            panic!("not an alert")
        };
        compile(a.crit.as_ref().unwrap()).unwrap()
    }

    fn row() -> Row {
        Row {
            measurement: "cpu".into(),
            tags: vec![("host".into(), "web-1".into())],
            fields: vec![
                ("idle".into(), Value::Float(15.0)),
                ("n".into(), Value::Int(0)),
            ],
            time: 0,
        }
    }

    #[test]
    fn conditions() {
        let r = row();
        for (text, want) in [
            ("idle < 20", true),
            ("idle < 10", false),
            ("n = 0", true),
            ("n = 0.0", true),
            ("idle < 20 AND host = 'web-1'", true),
            ("idle < 10 OR host =~ /^web/", true),
            ("host !~ /^web/", false),
            ("idle * 2 >= 30", true),
            ("abs(idle - 20) = 5", true),
            ("missing > 0", false),
            ("missing = 0 OR idle > 1", true),
            ("host > 5", false),
        ] {
            assert_eq!(cond(text).holds(&r), want, "{text}");
        }
    }
}
