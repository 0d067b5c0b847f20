//! UTC calendar arithmetic and RFC 3339 text for nanosecond timestamps, without a time-zone
//! library: everything weir prints (archive partitions, query answers, alert events) is UTC.

const NANOS_PER_DAY: i64 = 86_400_000_000_000;

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) to days since 1970-01-01.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DDTHH:MM:SS` and the nanoseconds of the second.
fn split(ns: i64) -> (String, i64) {
    let days = ns.div_euclid(NANOS_PER_DAY);
    let rem = ns.rem_euclid(NANOS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    let secs = rem / 1_000_000_000;
    let text = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    );
    (text, rem % 1_000_000_000)
}

/// RFC 3339 in UTC with all nine fraction digits: `2024-01-02T03:04:05.123456789Z`
/// (fixed width, so the text sorts as the time does).
pub fn rfc3339_nanos(ns: i64) -> String {
    let (text, frac) = split(ns);
    format!("{text}.{frac:09}Z")
}

/// RFC 3339 as Go's `time.RFC3339Nano` prints it, which is what InfluxDB and Kapacitor send:
/// trailing zeros of the fraction dropped, no fraction at all on a whole second
/// (`2024-01-02T03:04:05Z`, `2024-01-02T03:04:05.5Z`).
pub fn rfc3339_go(ns: i64) -> String {
    let (text, frac) = split(ns);
    if frac == 0 {
        return format!("{text}Z");
    }
    let digits = format!("{frac:09}");
    format!("{text}.{}Z", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_round_trips() {
        for days in [-800_000i64, -1, 0, 1, 59, 365, 10_957, 19_723, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
    }

    #[test]
    fn texts() {
        assert_eq!(
            rfc3339_nanos(1_704_067_200_000_000_001),
            "2024-01-01T00:00:00.000000001Z"
        );
        assert_eq!(rfc3339_nanos(-1), "1969-12-31T23:59:59.999999999Z");
        assert_eq!(
            rfc3339_go(1_704_067_200_000_000_000),
            "2024-01-01T00:00:00Z"
        );
        assert_eq!(
            rfc3339_go(1_704_067_200_500_000_000),
            "2024-01-01T00:00:00.5Z"
        );
        assert_eq!(
            rfc3339_go(1_704_067_200_000_000_120),
            "2024-01-01T00:00:00.00000012Z"
        );
    }
}
