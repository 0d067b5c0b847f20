//! The per-value math functions.

use super::value::Value;

/// Applies InfluxQL math function `name` to `args`; `None` = null, as
/// InfluxDB returns it: for an unknown function or wrong arity, a
/// non-numeric argument, or a result that is not a finite number
/// (`sqrt(-1)`, `ln(0)`), which InfluxDB 1.6 outputs as null.
///
/// `abs`, `ceil`, `floor` and `round` keep integers unchanged: InfluxDB 1.6
/// returns an integer argument as is, so `abs(-1)` of an integer field is -1.
pub fn math(name: &str, args: &[Value]) -> Option<Value> {
    let out = match args {
        [a] => match name {
            "abs" | "ceil" | "floor" | "round" => {
                return match a {
                    Value::Int(_) | Value::UInt(_) => Some(a.clone()),
                    Value::Float(f) => finite(match name {
                        "abs" => f.abs(),
                        "ceil" => f.ceil(),
                        "floor" => f.floor(),
                        // Half away from zero, like InfluxDB's round().
                        _ => f.round(),
                    }),
                    Value::Bool(_) | Value::Str(_) => None,
                };
            }
            _ => {
                let x = a.as_f64()?;
                match name {
                    "sin" => x.sin(),
                    "cos" => x.cos(),
                    "tan" => x.tan(),
                    "asin" => x.asin(),
                    "acos" => x.acos(),
                    "atan" => x.atan(),
                    "exp" => x.exp(),
                    "ln" => x.ln(),
                    "log2" => x.log2(),
                    "log10" => x.log10(),
                    "sqrt" => x.sqrt(),
                    _ => return None,
                }
            }
        },
        [a, b] => {
            let (x, y) = (a.as_f64()?, b.as_f64()?);
            match name {
                "atan2" => x.atan2(y),
                "log" => x.ln() / y.ln(),
                "pow" => x.powf(y),
                _ => return None,
            }
        }
        _ => return None,
    };
    finite(out)
}

fn finite(x: f64) -> Option<Value> {
    x.is_finite().then_some(Value::Float(x))
}
