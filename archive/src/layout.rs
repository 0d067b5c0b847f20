//! Where files go: hive-style partition directories, file names, and UTC calendar arithmetic
//! (no time-zone library needed: partitions are UTC days and hours).

use object_store::path::{Path, PathPart};

use crate::spec::Partition;

const NANOS_PER_DAY: i64 = 86_400_000_000_000;
const NANOS_PER_HOUR: i64 = 3_600_000_000_000;

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

/// Start (ns since the epoch) of the partition holding `t_ns`.
pub fn partition_start(t_ns: i64, partition: Partition) -> i64 {
    let len = partition.nanos();
    t_ns.div_euclid(len) * len
}

/// The partition directory's hive segments: `date=YYYY-MM-DD[/hour=HH]`.
pub fn partition_segments(start_ns: i64, partition: Partition) -> Vec<String> {
    let days = start_ns.div_euclid(NANOS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    let mut out = vec![format!("date={y:04}-{m:02}-{d:02}")];
    if partition == Partition::Hour {
        let hour = start_ns.rem_euclid(NANOS_PER_DAY) / NANOS_PER_HOUR;
        out.push(format!("hour={hour:02}"));
    }
    out
}

/// `<prefix>/<db>/<rp>/<measurement>`.
pub fn measurement_dir(prefix: &Path, db: &str, rp: &str, measurement: &str) -> Path {
    let mut parts: Vec<PathPart<'static>> = prefix
        .parts()
        .map(|p| PathPart::from(p.as_ref().to_string()))
        .collect();
    for name in [db, rp, measurement] {
        parts.push(PathPart::from(name.to_string()));
    }
    Path::from_iter(parts)
}

/// `<prefix>/<db>/<rp>/<measurement>/date=.../[hour=...]`.
pub fn partition_dir(
    prefix: &Path,
    db: &str,
    rp: &str,
    measurement: &str,
    start_ns: i64,
    partition: Partition,
) -> Path {
    let mut dir = measurement_dir(prefix, db, rp, measurement);
    for seg in partition_segments(start_ns, partition) {
        dir = dir.join(seg);
    }
    dir
}

/// Name of the `k`-th file written by flush number `flush` of archive `archive`.
///
/// Deterministic, so a retried flush overwrites what an interrupted attempt left.
pub fn data_file_name(archive: &str, flush: u64, k: usize) -> String {
    format!("{archive}-f{flush:012}-{k:04}.parquet")
}

/// Name of a compacted file; `flush` is the newest flush among its inputs.
pub fn compacted_file_name(archive: &str, flush: u64) -> String {
    format!("{archive}-c{flush:012}.parquet")
}

/// What kind of file a name is, for archive `archive`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Data { flush: u64 },
    Compacted { flush: u64 },
}

/// Parses a file name written by archive `archive` (None for other files).
pub fn parse_file_name(archive: &str, name: &str) -> Option<FileKind> {
    let rest = name
        .strip_prefix(archive)?
        .strip_prefix('-')?
        .strip_suffix(".parquet")?;
    if let Some(r) = rest.strip_prefix('c') {
        return r.parse().ok().map(|flush| FileKind::Compacted { flush });
    }
    let r = rest.strip_prefix('f')?;
    let (flush, k) = r.split_once('-')?;
    k.parse::<usize>().ok()?;
    flush.parse().ok().map(|flush| FileKind::Data { flush })
}

/// The time range `[start, end)` of a partition directory, from its hive segments
/// (`date=YYYY-MM-DD` and optionally `hour=HH`) anywhere in `path`.
pub fn partition_range(path: &Path) -> Option<(i64, i64)> {
    let mut day: Option<i64> = None;
    let mut hour: Option<i64> = None;
    for part in path.parts() {
        let s = part.as_ref();
        if let Some(v) = s.strip_prefix("date=") {
            let mut it = v.split('-');
            let y: i64 = it.next()?.parse().ok()?;
            let m: u32 = it.next()?.parse().ok()?;
            let d: u32 = it.next()?.parse().ok()?;
            day = Some(days_from_civil(y, m, d));
        } else if let Some(v) = s.strip_prefix("hour=") {
            hour = Some(v.parse().ok()?);
        }
    }
    let start = day? * NANOS_PER_DAY;
    Some(match hour {
        Some(h) => (start + h * NANOS_PER_HOUR, start + (h + 1) * NANOS_PER_HOUR),
        None => (start, start + NANOS_PER_DAY),
    })
}

/// RFC 3339 in UTC with nanoseconds: `2024-01-02T03:04:05.123456789Z`.
pub fn rfc3339_nanos(ns: i64) -> String {
    let days = ns.div_euclid(NANOS_PER_DAY);
    let rem = ns.rem_euclid(NANOS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    let secs = rem / 1_000_000_000;
    let frac = rem % 1_000_000_000;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:09}Z",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn calendar_round_trips() {
        for days in [-800_000i64, -1, 0, 1, 59, 365, 10_957, 19_723, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(
            rfc3339_nanos(1_704_067_200_000_000_001),
            "2024-01-01T00:00:00.000000001Z"
        );
        assert_eq!(rfc3339_nanos(-1), "1969-12-31T23:59:59.999999999Z");
    }

    #[test]
    fn partitions_and_names() {
        let t = 1_704_164_645_000_000_000; // 2024-01-02T03:04:05Z
        let s = partition_start(t, Partition::Hour);
        assert_eq!(
            partition_segments(s, Partition::Hour),
            ["date=2024-01-02", "hour=03"]
        );
        let dir = partition_dir(&Path::from("root"), "db", "rp", "m", s, Partition::Hour);
        assert_eq!(dir.as_ref(), "root/db/rp/m/date=2024-01-02/hour=03");
        assert_eq!(partition_range(&dir), Some((s, s + NANOS_PER_HOUR)));
        let day = partition_start(t, Partition::Day);
        let dir = partition_dir(&Path::default(), "db", "rp", "m", day, Partition::Day);
        assert_eq!(partition_range(&dir), Some((day, day + NANOS_PER_DAY)));
        assert_eq!(
            parse_file_name("a-b", &data_file_name("a-b", 7, 2)),
            Some(FileKind::Data { flush: 7 })
        );
        assert_eq!(
            parse_file_name("a-b", &compacted_file_name("a-b", 9)),
            Some(FileKind::Compacted { flush: 9 })
        );
        assert_eq!(parse_file_name("a", &data_file_name("a-b", 7, 2)), None);
    }
}
