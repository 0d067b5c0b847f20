//! Number parsing for field values and timestamps.

/// Why a number could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NumError {
    /// Not a number of the expected form.
    Syntax,
    /// Well-formed but out of the type's range.
    Range,
}

/// Parses `[0-9]+` into a `u64`.
#[inline]
pub(crate) fn parse_u64(digits: &[u8]) -> Result<u64, NumError> {
    if digits.is_empty() {
        return Err(NumError::Syntax);
    }
    // 19 digits always fit in a u64.
    if digits.len() <= 19 {
        let mut v: u64 = 0;
        for &c in digits {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                return Err(NumError::Syntax);
            }
            v = v * 10 + u64::from(d);
        }
        return Ok(v);
    }
    let mut v: Option<u64> = Some(0);
    for &c in digits {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return Err(NumError::Syntax);
        }
        v = v
            .and_then(|v| v.checked_mul(10))
            .and_then(|v| v.checked_add(u64::from(d)));
    }
    v.ok_or(NumError::Range)
}

/// Parses `-?[0-9]+` into an `i64`.
#[inline]
pub(crate) fn parse_i64(s: &[u8]) -> Result<i64, NumError> {
    let (neg, digits) = match s {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, s),
    };
    let v = parse_u64(digits)?;
    if neg {
        if v <= i64::MAX as u64 {
            Ok(-(v as i64))
        } else if v == i64::MAX as u64 + 1 {
            Ok(i64::MIN)
        } else {
            Err(NumError::Range)
        }
    } else {
        i64::try_from(v).map_err(|_| NumError::Range)
    }
}

/// Exact powers of ten as `f64` (10^22 is the largest exactly representable one).
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Parses a float field value as InfluxDB does: `-?` digits with at most one `.`, and an
/// optional exponent (`e`/`E`, optional sign, digits); at least one digit before the exponent.
/// No `NaN`, `Inf` or leading `+`. Values that overflow `f64` are a [`NumError::Range`], as in
/// InfluxDB (Go's `ParseFloat` reports overflow; underflow rounds to zero in both).
///
/// The result is correctly rounded: plain decimals with at most 19 significant digits whose
/// mantissa fits in 53 bits take Clinger's fast path (one exact division); everything else goes
/// to the standard library's parser.
#[inline]
pub(crate) fn parse_f64(s: &str) -> Result<f64, NumError> {
    let b = s.as_bytes();
    let (neg, rest) = match b {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, b),
    };
    let mut mantissa: u64 = 0;
    let mut digits = 0usize;
    let mut i = 0;
    while i < rest.len() {
        let d = rest[i].wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        if digits < 19 {
            mantissa = mantissa * 10 + u64::from(d);
        }
        digits += 1;
        i += 1;
    }
    let mut frac_digits = 0usize;
    if i < rest.len() && rest[i] == b'.' {
        i += 1;
        while i < rest.len() {
            let d = rest[i].wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            if digits < 19 {
                mantissa = mantissa * 10 + u64::from(d);
            }
            digits += 1;
            frac_digits += 1;
            i += 1;
        }
    }
    if i == rest.len() && digits > 0 && digits <= 19 && mantissa <= (1 << 53) && frac_digits <= 22 {
        // Both operands are exact, and IEEE division rounds correctly.
        let v = mantissa as f64 / POW10[frac_digits];
        return Ok(if neg { -v } else { v });
    }
    parse_f64_slow(s)
}

#[cold]
fn parse_f64_slow(s: &str) -> Result<f64, NumError> {
    // The standard library also accepts "inf", "nan", "infinity" and a leading '+', which
    // InfluxDB does not.
    if !s
        .bytes()
        .all(|c| matches!(c, b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-'))
        || s.starts_with('+')
    {
        return Err(NumError::Syntax);
    }
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err(NumError::Range),
        Err(_) => Err(NumError::Syntax),
    }
}

/// A field value recognised by [`fast_field_number`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum FastNumber {
    Float(f64),
    Integer(i64),
    UInteger(u64),
}

/// Reads a run of decimal digits starting at `i`. Returns the value (meaningful only when
/// there are at most 19 digits), the number of digits and the index after them.
#[inline(always)]
fn digits(b: &[u8], mut i: usize, mut v: u64) -> (u64, usize, usize) {
    let start = i;
    while i < b.len() {
        let d = b[i].wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        v = v.wrapping_mul(10).wrapping_add(u64::from(d));
        i += 1;
    }
    (v, i - start, i)
}

#[inline(always)]
fn ends_value(b: &[u8], i: usize) -> bool {
    matches!(b.get(i), None | Some(b',' | b' '))
}

/// Parses the common shapes of a numeric field value starting at `i` in a single pass:
/// `-?D+`, `-?D*.D*` (floats), `-?D+i` and `D+u`, followed by `,`, a space or the end of the
/// line, with few enough digits that no range check is needed and the float is exact (see
/// [`parse_f64`]). Returns the value and the index after it, or `None` to use the general
/// path, which handles everything else (and all errors).
#[inline(always)]
pub(crate) fn fast_field_number(b: &[u8], i: usize) -> Option<(FastNumber, usize)> {
    let neg = b.get(i) == Some(&b'-');
    let (m, int_digits, p) = digits(b, i + usize::from(neg), 0);
    match b.get(p) {
        None | Some(b',' | b' ') => {
            if int_digits == 0 || int_digits > 19 || m > (1 << 53) {
                return None;
            }
            let v = m as f64;
            Some((FastNumber::Float(if neg { -v } else { v }), p))
        }
        Some(b'.') => {
            let (m, frac_digits, e) = digits(b, p + 1, m);
            let total = int_digits + frac_digits;
            if total == 0 || total > 19 || frac_digits > 22 || m > (1 << 53) || !ends_value(b, e) {
                return None;
            }
            // Both operands are exact, and IEEE division rounds correctly.
            let v = m as f64 / POW10[frac_digits];
            Some((FastNumber::Float(if neg { -v } else { v }), e))
        }
        Some(b'i') => {
            // 18 digits always fit in an i64.
            if int_digits == 0 || int_digits > 18 || !ends_value(b, p + 1) {
                return None;
            }
            let v = m as i64;
            Some((FastNumber::Integer(if neg { -v } else { v }), p + 1))
        }
        Some(b'u') => {
            if neg || int_digits == 0 || int_digits > 19 || !ends_value(b, p + 1) {
                return None;
            }
            Some((FastNumber::UInteger(m), p + 1))
        }
        _ => None,
    }
}

/// Parses a timestamp `-?D{1,19}` starting at `i` that is followed by a space or the end of
/// the line and fits in an `i64`. `None` means: use the general path.
#[inline(always)]
pub(crate) fn fast_timestamp(b: &[u8], i: usize) -> Option<(i64, usize)> {
    let neg = b.get(i) == Some(&b'-');
    let (m, n, p) = digits(b, i + usize::from(neg), 0);
    if n == 0 || n > 19 || !matches!(b.get(p), None | Some(b' ')) {
        return None;
    }
    if neg {
        if m <= i64::MAX as u64 {
            Some((-(m as i64), p))
        } else if m == i64::MAX as u64 + 1 {
            Some((i64::MIN, p))
        } else {
            None
        }
    } else {
        i64::try_from(m).ok().map(|v| (v, p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers() {
        assert_eq!(parse_i64(b"0"), Ok(0));
        assert_eq!(parse_i64(b"-0"), Ok(0));
        assert_eq!(parse_i64(b"007"), Ok(7));
        assert_eq!(parse_i64(b"9223372036854775807"), Ok(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Ok(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775808"), Err(NumError::Range));
        assert_eq!(parse_i64(b"-9223372036854775809"), Err(NumError::Range));
        assert_eq!(parse_i64(b"99999999999999999999999"), Err(NumError::Range));
        assert_eq!(
            parse_i64(b"99999999999999999999999x"),
            Err(NumError::Syntax)
        );
        assert_eq!(parse_i64(b"-"), Err(NumError::Syntax));
        assert_eq!(parse_i64(b""), Err(NumError::Syntax));
        assert_eq!(parse_i64(b"--1"), Err(NumError::Syntax));
        assert_eq!(parse_i64(b"+1"), Err(NumError::Syntax));
        assert_eq!(parse_u64(b"18446744073709551615"), Ok(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), Err(NumError::Range));
        assert_eq!(parse_u64(b"00000000000000000000000001"), Ok(1));
        let fast = |s: &str| fast_field_number(s.as_bytes(), 0);
        assert_eq!(fast("12i,"), Some((FastNumber::Integer(12), 3)));
        assert_eq!(fast("-12i"), Some((FastNumber::Integer(-12), 4)));
        assert_eq!(fast("12u "), Some((FastNumber::UInteger(12), 3)));
        assert_eq!(fast("-12u"), None);
        assert_eq!(fast("12ix"), None);
        assert_eq!(fast("i"), None);
        assert_eq!(fast("-"), None);
        assert_eq!(fast("."), None);
        assert_eq!(fast("1.5.5"), None);
        assert_eq!(fast("1e5"), None);
        assert_eq!(
            fast("123456789012345678i"),
            Some((FastNumber::Integer(123456789012345678), 19))
        );
        assert_eq!(fast("1234567890123456789i"), None);
        assert_eq!(
            fast_timestamp(b"-9223372036854775808", 0),
            Some((i64::MIN, 20))
        );
        assert_eq!(
            fast_timestamp(b"9223372036854775807 ", 0),
            Some((i64::MAX, 19))
        );
        assert_eq!(fast_timestamp(b"9223372036854775808", 0), None);
        assert_eq!(fast_timestamp(b"12x", 0), None);
        assert_eq!(fast_timestamp(b"-", 0), None);
    }

    #[test]
    fn floats_match_std() {
        let cases = [
            "0",
            "-0",
            "1",
            "1.5",
            "-1.5",
            ".5",
            "5.",
            "-.5",
            "98.123456",
            "1.234567",
            "0.1",
            "0.3",
            "123456789012345678",
            "1234567890123456789",
            "12345678901234567890",
            "9007199254740993",
            "9007199254740992.5",
            "0.000000000000000000001",
            "1.7976931348623157e308",
            "1e10",
            "1E+10",
            "1e-10",
            "1.e5",
            "2.2250738585072014e-308",
            "1e-400",
            "0.30000000000000004",
        ];
        for c in cases {
            let want: f64 = c.parse().unwrap_or(f64::NAN);
            let got = parse_f64(c);
            assert_eq!(got.map(f64::to_bits), Ok(want.to_bits()), "{c}");
        }
        for bad in [
            "", "-", ".", "-.", "1.2.3", "1e", "1e+", "e5", "-e5", ".e5", "inf", "nan", "+1", "1-",
            "1e5e5", "NaN", "1,5", "0x10",
        ] {
            assert_eq!(parse_f64(bad), Err(NumError::Syntax), "{bad}");
        }
        assert_eq!(parse_f64("1e400"), Err(NumError::Range));
        for c in cases {
            if let Some((FastNumber::Float(v), end)) = fast_field_number(c.as_bytes(), 0) {
                assert_eq!(end, c.len(), "{c}");
                assert_eq!(Ok(v.to_bits()), parse_f64(c).map(f64::to_bits), "{c}");
            }
        }
        assert_eq!(parse_f64(&"9".repeat(400)), Err(NumError::Range));
    }
}
