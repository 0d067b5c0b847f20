//! Timestamp precision of a write request.

/// The earliest time InfluxDB accepts, in ns since the epoch (1677-09-21T00:12:43.145224194Z).
/// InfluxDB reserves the two lowest `i64` values as sentinels.
pub const MIN_NANO_TIME: i64 = i64::MIN + 2;
/// The latest time InfluxDB accepts, in ns since the epoch (2262-04-11T23:47:16.854775806Z).
pub const MAX_NANO_TIME: i64 = i64::MAX - 1;

/// Timestamp precision of a write request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// `n`, `ns` (the default).
    Nanoseconds,
    /// `u`, `us`, `µ`, `µs`.
    Microseconds,
    /// `ms`.
    Milliseconds,
    /// `s`.
    Seconds,
    /// `m`.
    Minutes,
    /// `h`.
    Hours,
}

/// A `precision` parameter weir does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown precision \"{0}\": expected one of n, ns, u, us, µ, µs, ms, s, m, h")]
pub struct UnknownPrecision(pub String);

impl Precision {
    /// Parses what InfluxDB 1.x and 2.x clients send: `n`/`ns`, `u`/`us`/`µ`/`µs` (the micro
    /// sign U+00B5 or the Greek mu U+03BC), `ms`, `s`, `m`, `h`. The empty string means
    /// nanoseconds.
    pub fn parse(s: &str) -> Result<Precision, UnknownPrecision> {
        Ok(match s {
            "" | "n" | "ns" => Precision::Nanoseconds,
            "u" | "us" | "\u{b5}" | "\u{b5}s" | "\u{3bc}" | "\u{3bc}s" => Precision::Microseconds,
            "ms" => Precision::Milliseconds,
            "s" => Precision::Seconds,
            "m" => Precision::Minutes,
            "h" => Precision::Hours,
            other => return Err(UnknownPrecision(other.to_owned())),
        })
    }

    /// How many nanoseconds one unit is.
    pub fn nanos_per_unit(self) -> i64 {
        match self {
            Precision::Nanoseconds => 1,
            Precision::Microseconds => 1_000,
            Precision::Milliseconds => 1_000_000,
            Precision::Seconds => 1_000_000_000,
            Precision::Minutes => 60_000_000_000,
            Precision::Hours => 3_600_000_000_000,
        }
    }

    /// Scales a raw timestamp to nanoseconds since the epoch. `None` when the result overflows
    /// or lies outside InfluxDB's time range [`MIN_NANO_TIME`]..=[`MAX_NANO_TIME`] (InfluxDB
    /// answers "time outside range").
    pub fn to_nanos(self, raw: i64) -> Option<i64> {
        raw.checked_mul(self.nanos_per_unit())
            .filter(|ns| (MIN_NANO_TIME..=MAX_NANO_TIME).contains(ns))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_all() {
        for (s, p) in [
            ("", Precision::Nanoseconds),
            ("n", Precision::Nanoseconds),
            ("ns", Precision::Nanoseconds),
            ("u", Precision::Microseconds),
            ("us", Precision::Microseconds),
            ("µ", Precision::Microseconds),
            ("µs", Precision::Microseconds),
            ("μ", Precision::Microseconds),
            ("ms", Precision::Milliseconds),
            ("s", Precision::Seconds),
            ("m", Precision::Minutes),
            ("h", Precision::Hours),
        ] {
            assert_eq!(Precision::parse(s), Ok(p), "{s:?}");
        }
        for s in ["x", "NS", "sec", " s", "d", "mu"] {
            assert_eq!(Precision::parse(s), Err(UnknownPrecision(s.to_owned())));
        }
    }

    #[test]
    fn to_nanos() {
        assert_eq!(Precision::Seconds.to_nanos(1), Some(1_000_000_000));
        assert_eq!(Precision::Hours.to_nanos(-2), Some(-7_200_000_000_000));
        assert_eq!(Precision::Nanoseconds.to_nanos(i64::MAX), None);
        assert_eq!(
            Precision::Nanoseconds.to_nanos(i64::MAX - 1),
            Some(i64::MAX - 1)
        );
        assert_eq!(Precision::Nanoseconds.to_nanos(i64::MIN + 1), None);
        assert_eq!(
            Precision::Nanoseconds.to_nanos(i64::MIN + 2),
            Some(i64::MIN + 2)
        );
        assert_eq!(Precision::Seconds.to_nanos(10_000_000_000), None);
        assert_eq!(Precision::Milliseconds.to_nanos(i64::MIN / 1000), None);
    }
}
