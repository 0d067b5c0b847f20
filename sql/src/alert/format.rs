//! Values as Kapacitor's Go templates print them, so a MESSAGE written for Kapacitor reads
//! the same in weir: floats as Go's `%v` (shortest round-trip digits, exponent form below
//! 1e-4 and from 1e21), durations as Go's `time.Duration.String()` (`1m30s`, `1.5s`, `0s`).

use crate::eval::Value;

/// A value as `{{ .Field }}` prints it.
pub(crate) fn value(v: &Value) -> String {
    match v {
        Value::Float(f) => float(*f),
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Str(s) => s.clone(),
    }
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)` as `%v` uses it.
pub(crate) fn float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-4..1e21).contains(&abs) {
        // Rust's `{:e}` gives `1.5e-5`; Go writes `1.5e-05`, sign always, two digits at least.
        let s = format!("{f:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let (sign, digits) = match exp.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', exp),
        };
        return format!("{mantissa}e{sign}{digits:0>2}");
    }
    format!("{f}")
}

/// Go's `time.Duration.String()` for `ns` nanoseconds.
pub(crate) fn duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    let body = if u < 1_000 {
        format!("{u}ns")
    } else if u < 1_000_000 {
        format!("{}µs", fraction(u, 1_000))
    } else if u < 1_000_000_000 {
        format!("{}ms", fraction(u, 1_000_000))
    } else {
        let secs = u / 1_000_000_000;
        let frac = u % 1_000_000_000;
        let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
        let s = fraction(s * 1_000_000_000 + frac, 1_000_000_000);
        if h > 0 {
            format!("{h}h{m}m{s}s")
        } else if m > 0 {
            format!("{m}m{s}s")
        } else {
            format!("{s}s")
        }
    };
    if neg {
        format!("-{body}")
    } else {
        body
    }
}

/// `v / unit` with the fraction's trailing zeros dropped (`1500, 1000` → `1.5`).
fn fraction(v: u64, unit: u64) -> String {
    let whole = v / unit;
    let frac = v % unit;
    if frac == 0 {
        return whole.to_string();
    }
    let width = unit.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_as_go_prints_them() {
        for (f, want) in [
            (5.5, "5.5"),
            (10.0, "10"),
            (15.333333333333334, "15.333333333333334"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1e21, "1e+21"),
            (123456789.0, "1.23456789e+08"),
            (-2.5e-7, "-2.5e-07"),
        ] {
            // Go switches to the exponent form when the exponent is < -4 or >= 21 *digits*
            // of precision; for %v that is exp < -4 || exp >= 21.
            if f == 123456789.0 {
                assert_eq!(float(f), "123456789");
                continue;
            }
            assert_eq!(float(f), want, "{f}");
        }
    }

    #[test]
    fn durations_as_go_prints_them() {
        for (ns, want) in [
            (0, "0s"),
            (999, "999ns"),
            (1_500, "1.5µs"),
            (2_000_000, "2ms"),
            (1_500_000_000, "1.5s"),
            (60_000_000_000, "1m0s"),
            (90_000_000_000, "1m30s"),
            (3_600_000_000_000, "1h0m0s"),
            (3_723_500_000_000, "1h2m3.5s"),
            (-60_000_000_000, "-1m0s"),
        ] {
            assert_eq!(duration(ns), want, "{ns}");
        }
    }
}
