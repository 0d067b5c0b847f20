//! `WHERE` of a continuous query, compiled once and evaluated per point.
//!
//! InfluxQL decides per name whether it is a tag or a field, and an absent tag compares as
//! the empty string; a condition is therefore resolved against each batch's columns.

use crate::ast::{BinaryOp, Expr};
use crate::eval::Input;
use weir_engine::schema::TIME_COLUMN;

use super::view::View;
use super::CqError;

/// A compiled `WHERE`.
pub(crate) enum Cond {
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    /// `name op literal` (or `literal op name`, normalised); tags or fields, decided per batch.
    Cmp {
        name: String,
        op: BinaryOp,
        lit: Lit,
    },
    Regex {
        name: String,
        negate: bool,
        re: RegexFn,
    },
}

type RegexFn = Box<dyn Fn(&str) -> bool + Send + Sync>;

impl std::fmt::Debug for Cond {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cond::And(a, b) => write!(f, "({a:?} AND {b:?})"),
            Cond::Or(a, b) => write!(f, "({a:?} OR {b:?})"),
            Cond::Cmp { name, op, lit } => write!(f, "{name} {} {lit:?}", op.as_str()),
            Cond::Regex { name, negate, .. } => {
                write!(f, "{name} {} /re/", if *negate { "!~" } else { "=~" })
            }
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Lit {
    Num(f64),
    Str(String),
    Bool(bool),
}

/// How groups are formed besides time.
pub(crate) fn compile_cond(name: &str, e: &Expr) -> Result<Cond, CqError> {
    let Expr::Binary { op, lhs, rhs } = e else {
        return Err(CqError::unsupported(name, format!("WHERE {e}")));
    };
    match op {
        BinaryOp::And => Ok(Cond::And(
            Box::new(compile_cond(name, lhs)?),
            Box::new(compile_cond(name, rhs)?),
        )),
        BinaryOp::Or => Ok(Cond::Or(
            Box::new(compile_cond(name, lhs)?),
            Box::new(compile_cond(name, rhs)?),
        )),
        BinaryOp::EqRegex | BinaryOp::NeqRegex => {
            let (Expr::VarRef(v), Expr::Regex(re)) = (lhs.as_ref(), rhs.as_ref()) else {
                return Err(CqError::unsupported(name, format!("WHERE {e}")));
            };
            if v.name == TIME_COLUMN {
                return Err(CqError::unsupported(name, "a time condition in WHERE"));
            }
            let re = re.compile().map_err(|err| CqError::Invalid {
                name: name.to_string(),
                reason: format!("invalid regex in WHERE: {err}"),
            })?;
            Ok(Cond::Regex {
                name: v.name.clone(),
                negate: *op == BinaryOp::NeqRegex,
                re: Box::new(move |s| re.is_match(s)),
            })
        }
        op if op.is_comparison() => {
            let (var, lit, op) = match (lhs.as_ref(), rhs.as_ref()) {
                (Expr::VarRef(v), l) => (v, l, *op),
                (l, Expr::VarRef(v)) => (v, l, flip(*op)),
                _ => return Err(CqError::unsupported(name, format!("WHERE {e}"))),
            };
            if var.name == TIME_COLUMN {
                return Err(CqError::unsupported(name, "a time condition in WHERE"));
            }
            let lit = match lit {
                Expr::Integer(i) => Lit::Num(*i as f64),
                Expr::Unsigned(u) => Lit::Num(*u as f64),
                Expr::Float(f) => Lit::Num(*f),
                Expr::String(s) => Lit::Str(s.clone()),
                Expr::Boolean(b) => Lit::Bool(*b),
                _ => return Err(CqError::unsupported(name, format!("WHERE {e}"))),
            };
            Ok(Cond::Cmp {
                name: var.name.clone(),
                op,
                lit,
            })
        }
        _ => Err(CqError::unsupported(name, format!("WHERE {e}"))),
    }
}

pub(crate) fn flip(op: BinaryOp) -> BinaryOp {
    match op {
        BinaryOp::Lt => BinaryOp::Gt,
        BinaryOp::Lte => BinaryOp::Gte,
        BinaryOp::Gt => BinaryOp::Lt,
        BinaryOp::Gte => BinaryOp::Lte,
        other => other,
    }
}

pub(crate) fn eval(cond: &Cond, v: &View<'_>, row: usize) -> bool {
    match cond {
        Cond::And(a, b) => eval(a, v, row) && eval(b, v, row),
        Cond::Or(a, b) => eval(a, v, row) || eval(b, v, row),
        Cond::Regex { name, negate, re } => {
            let s = if v.is_tag(name) {
                v.tag(name, row).unwrap_or("")
            } else {
                match v.field(name, row) {
                    Some(Input::Str(s)) => s,
                    // A field that is absent or not a string matches nothing.
                    Some(_) => return false,
                    None if v.cols.contains_key(name.as_str()) => return false,
                    // Neither tag nor field in this batch: an absent tag, value "".
                    None => "",
                }
            };
            re(s) != *negate
        }
        Cond::Cmp { name, op, lit } => {
            if v.is_tag(name) || !v.cols.contains_key(name.as_str()) {
                // A tag (absent tags compare as ""); only string equality applies.
                let s = v.tag(name, row).unwrap_or("");
                return match (op, lit) {
                    (BinaryOp::Eq, Lit::Str(l)) => s == l,
                    (BinaryOp::Neq, Lit::Str(l)) => s != l,
                    (op, Lit::Str(l)) => cmp_ord(*op, s.cmp(l.as_str())),
                    _ => false,
                };
            }
            let Some(val) = v.field(name, row) else {
                return false;
            };
            match (val, lit) {
                (Input::Float(x), Lit::Num(l)) => cmp_f(*op, x, *l),
                (Input::Int(x), Lit::Num(l)) => cmp_f(*op, x as f64, *l),
                (Input::UInt(x), Lit::Num(l)) => cmp_f(*op, x as f64, *l),
                (Input::Str(x), Lit::Str(l)) => cmp_ord(*op, x.cmp(l.as_str())),
                (Input::Bool(x), Lit::Bool(l)) => match op {
                    BinaryOp::Eq => x == *l,
                    BinaryOp::Neq => x != *l,
                    _ => false,
                },
                _ => false,
            }
        }
    }
}

pub(crate) fn cmp_f(op: BinaryOp, x: f64, l: f64) -> bool {
    match x.partial_cmp(&l) {
        Some(o) => cmp_ord(op, o),
        None => op == BinaryOp::Neq,
    }
}

pub(crate) fn cmp_ord(op: BinaryOp, o: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::{Equal, Greater, Less};
    match op {
        BinaryOp::Eq => o == Equal,
        BinaryOp::Neq => o != Equal,
        BinaryOp::Lt => o == Less,
        BinaryOp::Lte => o != Greater,
        BinaryOp::Gt => o == Greater,
        BinaryOp::Gte => o != Less,
        _ => false,
    }
}
