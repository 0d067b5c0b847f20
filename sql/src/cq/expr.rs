//! Evaluating SELECT expressions over aggregate results or point values, with InfluxQL's
//! arithmetic: integers stay integers under `+ - * %` and bit operators, `/` gives a float,
//! division by zero gives 0 (as InfluxDB's), and anything involving a null is null.

use crate::ast::BinaryOp;
use crate::eval::{math, Transform, TransformSpec, Value};

use super::plan::OutExpr;

/// Where an expression's references come from.
pub(crate) trait Resolve {
    /// The value of aggregate call `i` in the row being evaluated.
    fn agg(&self, i: usize) -> Option<Value>;
    /// The value of a field (or tag) of the point being evaluated.
    fn field(&self, name: &str) -> Option<Value>;
}

/// Evaluates `e` at time `t`, feeding transformations their series' next value.
pub(crate) fn eval(
    e: &OutExpr,
    r: &dyn Resolve,
    t: i64,
    specs: &[TransformSpec],
    states: &mut [Transform],
) -> Option<Value> {
    match e {
        OutExpr::Agg(i) => r.agg(*i),
        OutExpr::Field(name) => r.field(name),
        OutExpr::Lit(v) => Some(v.clone()),
        OutExpr::Binary(op, a, b) => {
            let a = eval(a, r, t, specs, states)?;
            let b = eval(b, r, t, specs, states)?;
            binary(*op, &a, &b)
        }
        OutExpr::Math(name, args) => {
            let mut vals = Vec::with_capacity(args.len());
            for a in args {
                vals.push(eval(a, r, t, specs, states)?);
            }
            math(name, &vals)
        }
        OutExpr::Transform(slot, inner) => {
            let v = eval(inner, r, t, specs, states)?;
            let (spec, state) = (specs.get(*slot)?, states.get_mut(*slot)?);
            state.push(spec, t, &v).map(|(_, v)| v)
        }
    }
}

/// InfluxQL's binary arithmetic.
pub(crate) fn binary(op: BinaryOp, a: &Value, b: &Value) -> Option<Value> {
    use Value::{Bool, Float, Int, UInt};
    let int = |v: &Value| match v {
        Int(i) => Some(*i),
        UInt(u) => i64::try_from(*u).ok(),
        _ => None,
    };
    match (a, b) {
        (Bool(x), Bool(y)) => match op {
            BinaryOp::BitAnd => Some(Bool(x & y)),
            BinaryOp::BitOr => Some(Bool(x | y)),
            BinaryOp::BitXor => Some(Bool(x ^ y)),
            _ => None,
        },
        (Int(_) | UInt(_), Int(_) | UInt(_)) => {
            let (x, y) = (int(a)?, int(b)?);
            Some(match op {
                BinaryOp::Add => Int(x.wrapping_add(y)),
                BinaryOp::Sub => Int(x.wrapping_sub(y)),
                BinaryOp::Mul => Int(x.wrapping_mul(y)),
                BinaryOp::Div => {
                    if y == 0 {
                        Float(0.0)
                    } else {
                        Float(x as f64 / y as f64)
                    }
                }
                BinaryOp::Mod => {
                    if y == 0 {
                        Int(0)
                    } else {
                        Int(x.wrapping_rem(y))
                    }
                }
                BinaryOp::BitAnd => Int(x & y),
                BinaryOp::BitOr => Int(x | y),
                BinaryOp::BitXor => Int(x ^ y),
                _ => return None,
            })
        }
        _ => {
            let (x, y) = (a.as_f64()?, b.as_f64()?);
            Some(Float(match op {
                BinaryOp::Add => x + y,
                BinaryOp::Sub => x - y,
                BinaryOp::Mul => x * y,
                BinaryOp::Div => {
                    if y == 0.0 {
                        0.0
                    } else {
                        x / y
                    }
                }
                BinaryOp::Mod => {
                    if y == 0.0 {
                        0.0
                    } else {
                        x % y
                    }
                }
                _ => return None,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_follows_influxql() {
        use Value::{Float, Int};
        assert_eq!(binary(BinaryOp::Add, &Int(2), &Int(3)), Some(Int(5)));
        assert_eq!(binary(BinaryOp::Div, &Int(3), &Int(2)), Some(Float(1.5)));
        assert_eq!(
            binary(BinaryOp::Div, &Float(3.0), &Int(0)),
            Some(Float(0.0))
        );
        assert_eq!(
            binary(BinaryOp::Mul, &Float(1.5), &Int(2)),
            Some(Float(3.0))
        );
        assert_eq!(binary(BinaryOp::Mod, &Int(7), &Int(4)), Some(Int(3)));
        assert_eq!(binary(BinaryOp::BitAnd, &Int(6), &Int(3)), Some(Int(2)));
        assert_eq!(binary(BinaryOp::BitAnd, &Float(6.0), &Int(3)), None);
        assert_eq!(
            binary(BinaryOp::Add, &Value::Str("a".into()), &Int(1)),
            None
        );
    }
}
