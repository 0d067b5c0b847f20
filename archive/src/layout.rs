//! Where files go: hive-style partition directories, file names, and UTC calendar arithmetic
//! (no time-zone library needed: partitions are UTC days and hours).

use object_store::path::{Path, PathPart};

use crate::spec::Partition;

const NANOS_PER_DAY: i64 = 86_400_000_000_000;
const NANOS_PER_HOUR: i64 = 3_600_000_000_000;

pub use weir_engine::time_text::{civil_from_days, days_from_civil, rfc3339_nanos};

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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

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
