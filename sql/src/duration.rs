//! InfluxQL durations.
//!
//! Every interval in weir's language (`GROUP BY time(1m)`, `RESAMPLE FOR 2m`,
//! `EVERY 1h OFFSET 5m`, `ROLL EVERY 10s`, `now() - 1h`) is an InfluxQL duration
//! literal. They are kept as a signed count of nanoseconds, the resolution of
//! InfluxDB timestamps, so window arithmetic on event times is exact.

use std::fmt;
use std::str::FromStr;

/// A signed span of time in nanoseconds, written with InfluxQL's units.
///
/// Units: `ns`, `u`/`µ` (also `us`/`µs`), `ms`, `s`, `m`, `h`, `d`, `w`; several
/// may be combined (`1h30m`). [`Display`](fmt::Display) prints InfluxDB's
/// canonical form (the largest unit that divides the value exactly: `90m`,
/// `1w`, `1500ms`), which InfluxDB itself accepts, so a stored definition can
/// be sent to InfluxDB unchanged in meaning.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(i64);

impl fmt::Debug for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Duration({self})")
    }
}

/// Why a duration literal was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// The text is not a sequence of `<digits><unit>` pairs.
    #[error("invalid duration")]
    Invalid,
    /// The value does not fit in 64-bit nanoseconds (about 292 years).
    #[error("overflowed duration {0}: choose a smaller duration")]
    Overflow(String),
}

const NS: i64 = 1;
const US: i64 = 1_000;
const MS: i64 = 1_000_000;
const S: i64 = 1_000_000_000;
const M: i64 = 60 * S;
const H: i64 = 60 * M;
const D: i64 = 24 * H;
const W: i64 = 7 * D;

impl Duration {
    /// Zero length.
    pub const ZERO: Duration = Duration(0);
    /// One nanosecond.
    pub const NANOSECOND: Duration = Duration(NS);
    /// One microsecond.
    pub const MICROSECOND: Duration = Duration(US);
    /// One millisecond.
    pub const MILLISECOND: Duration = Duration(MS);
    /// One second.
    pub const SECOND: Duration = Duration(S);
    /// One minute.
    pub const MINUTE: Duration = Duration(M);
    /// One hour.
    pub const HOUR: Duration = Duration(H);
    /// One day (24h; InfluxQL days have no calendar meaning).
    pub const DAY: Duration = Duration(D);
    /// One week (7d).
    pub const WEEK: Duration = Duration(W);

    /// A duration of `nanos` nanoseconds.
    pub const fn from_nanos(nanos: i64) -> Self {
        Duration(nanos)
    }

    /// The length in nanoseconds.
    pub const fn as_nanos(self) -> i64 {
        self.0
    }

    /// True when strictly greater than zero (window lengths must be).
    pub const fn is_positive(self) -> bool {
        self.0 > 0
    }

    /// True when strictly less than zero (only offsets may be).
    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// The negated duration, `None` for the one value that has no negation.
    pub const fn checked_neg(self) -> Option<Self> {
        match self.0.checked_neg() {
            Some(n) => Some(Duration(n)),
            None => None,
        }
    }

    /// As a `std::time::Duration`, for timers; `None` when negative.
    pub fn to_std(self) -> Option<std::time::Duration> {
        u64::try_from(self.0)
            .ok()
            .map(std::time::Duration::from_nanos)
    }

    /// Parses an InfluxQL duration literal such as `10s`, `1h30m`, `-5m`.
    pub fn parse(text: &str) -> Result<Self, DurationError> {
        let (negative, body) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let magnitude = parse_magnitude(body)?;
        let value = if negative { -magnitude } else { magnitude };
        i64::try_from(value)
            .map(Duration)
            .map_err(|_| DurationError::Overflow(text.to_string()))
    }
}

/// Parses `<digits><unit>...` into nanoseconds, allowing up to `2^63` so that
/// the caller can negate it into `i64::MIN`.
pub(crate) fn parse_magnitude(text: &str) -> Result<i128, DurationError> {
    let overflow = || DurationError::Overflow(text.to_string());
    let limit: i128 = 1i128 << 63;
    let mut total: i128 = 0;
    let mut rest = text;
    if rest.is_empty() {
        return Err(DurationError::Invalid);
    }
    while !rest.is_empty() {
        let digits_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits_len == 0 {
            return Err(DurationError::Invalid);
        }
        let (digits, tail) = rest.split_at(digits_len);
        let n: i128 = digits.parse::<u64>().map_err(|_| overflow())?.into();
        let (unit, tail) = split_unit(tail)?;
        total = n
            .checked_mul(unit.into())
            .and_then(|v| total.checked_add(v))
            .ok_or_else(overflow)?;
        if total > limit {
            return Err(overflow());
        }
        rest = tail;
    }
    Ok(total)
}

/// Splits the unit at the start of `text`, returning its length in nanoseconds.
fn split_unit(text: &str) -> Result<(i64, &str), DurationError> {
    // Longest units first so `ms` is not read as `m` followed by `s`.
    const UNITS: &[(&str, i64)] = &[
        ("ns", NS),
        ("us", US),
        ("µs", US),
        ("μs", US),
        ("ms", MS),
        ("u", US),
        ("µ", US),
        ("μ", US),
        ("s", S),
        ("m", M),
        ("h", H),
        ("d", D),
        ("w", W),
    ];
    for (name, nanos) in UNITS {
        if let Some(tail) = text.strip_prefix(name) {
            return Ok((*nanos, tail));
        }
    }
    Err(DurationError::Invalid)
}

impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Duration::parse(s)
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("0s");
        }
        if self.0 < 0 {
            f.write_str("-")?;
        }
        let n = self.0.unsigned_abs();
        const UNITS: &[(u64, &str)] = &[
            (W as u64, "w"),
            (D as u64, "d"),
            (H as u64, "h"),
            (M as u64, "m"),
            (S as u64, "s"),
            (MS as u64, "ms"),
            (US as u64, "u"),
        ];
        for (size, name) in UNITS {
            if n % size == 0 {
                return write!(f, "{}{}", n / size, name);
            }
        }
        write!(f, "{n}ns")
    }
}

impl From<Duration> for i64 {
    fn from(d: Duration) -> i64 {
        d.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        let cases = [
            ("1ns", 1),
            ("1u", US),
            ("1µ", US),
            ("1us", US),
            ("1ms", MS),
            ("500ms", 500 * MS),
            ("10s", 10 * S),
            ("1m", M),
            ("1h", H),
            ("1h30m", H + 30 * M),
            ("1d", D),
            ("1w", W),
            ("-5m", -5 * M),
            ("1m1ms", M + MS),
        ];
        for (text, nanos) in cases {
            assert_eq!(Duration::parse(text), Ok(Duration(nanos)), "{text}");
        }
    }

    #[test]
    fn rejects_bad() {
        for text in ["", "1", "m", "1x", "1h3", "1.5h", "-", "1n"] {
            assert_eq!(Duration::parse(text), Err(DurationError::Invalid), "{text}");
        }
        assert!(matches!(
            Duration::parse("100000w"),
            Err(DurationError::Overflow(_))
        ));
        assert!(matches!(
            Duration::parse("9223372036854775808ns"),
            Err(DurationError::Overflow(_))
        ));
        assert_eq!(
            Duration::parse("-9223372036854775808ns"),
            Ok(Duration(i64::MIN))
        );
    }

    #[test]
    fn displays_canonically() {
        let cases = [
            (0, "0s"),
            (W, "1w"),
            (2 * D, "2d"),
            (H + 30 * M, "90m"),
            (1500 * MS, "1500ms"),
            (US, "1u"),
            (1, "1ns"),
            (-H, "-1h"),
            (i64::MIN, "-9223372036854775808ns"),
        ];
        for (nanos, text) in cases {
            assert_eq!(Duration(nanos).to_string(), text);
            assert_eq!(Duration::parse(text), Ok(Duration(nanos)));
        }
    }
}
