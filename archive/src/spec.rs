//! What an archive is: the settings of one `CREATE ARCHIVE` statement, and how to reach the
//! object store it writes to.

use std::time::Duration;

/// How files are grouped in directories (hive-style partitions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Partition {
    /// `date=YYYY-MM-DD/hour=HH`
    #[default]
    Hour,
    /// `date=YYYY-MM-DD`
    Day,
}

impl Partition {
    /// Length of one partition in nanoseconds.
    pub fn nanos(self) -> i64 {
        match self {
            Partition::Hour => 3_600_000_000_000,
            Partition::Day => 86_400_000_000_000,
        }
    }
}

/// Unit of the stored `time` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimeUnitSpec {
    /// Nanoseconds (the default; what line protocol carries).
    #[default]
    Ns,
    /// Microseconds, truncated (`TIME UNIT us`), for readers such as Spark that do not read
    /// nanosecond timestamps without options.
    Us,
}

/// The settings of one archive (one `CREATE ARCHIVE ... FROM m1, m2 TO 'url' ...`).
///
/// The statement parser fills this in; everything it does not say takes [`ArchiveSpec::new`]'s
/// defaults, which are the SPEC's (`PARTITION BY hour`, `ROLL EVERY 1m`, nanoseconds).
#[derive(Debug, Clone)]
pub struct ArchiveSpec {
    /// Archive name: names its subscription, its state file and prefixes its file names, so
    /// two archives writing the same measurement to the same root never clash.
    pub name: String,
    /// Database the archive reads (`ON db`).
    pub db: String,
    /// Measurements it reads (`FROM m1, m2`); with `patterns` empty too, every measurement
    /// of `db`.
    pub measurements: Vec<String>,
    /// `FROM /regex/`: measurements whose name matches one of these are read too.
    pub patterns: Vec<regex::Regex>,
    /// Root: `file:///abs/path`, `s3://bucket/prefix`, or a plain path (absolute, or resolved
    /// by the caller against the storage directory).
    pub url: String,
    pub partition: Partition,
    /// Files are closed this often (`ROLL EVERY d`).
    pub roll_every: Duration,
    pub time_unit: TimeUnitSpec,
    /// A file is closed at this many rows even before `roll_every`.
    pub max_file_rows: usize,
    /// ... or when the buffered rows take this many bytes in memory (Arrow size).
    pub max_file_bytes: usize,
    /// Compaction: once a partition's time range ended this long ago (wall clock), its small
    /// files are merged into one. `None` turns compaction off.
    pub compact_after: Option<Duration>,
    /// Test hook: stop a roll at this point as if killed.
    #[doc(hidden)]
    pub crash_at: Option<crate::sink::CrashPoint>,
}

impl ArchiveSpec {
    /// An archive of `measurements` of `db` to `url`, with the SPEC's defaults.
    pub fn new(name: impl Into<String>, db: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            db: db.into(),
            measurements: Vec::new(),
            patterns: Vec::new(),
            url: url.into(),
            partition: Partition::Hour,
            roll_every: Duration::from_secs(60),
            time_unit: TimeUnitSpec::Ns,
            max_file_rows: 1_000_000,
            max_file_bytes: 256 * 1024 * 1024,
            compact_after: Some(Duration::from_secs(300)),
            crash_at: None,
        }
    }

    /// Whether the archive reads this measurement of this database.
    pub fn wants(&self, db: &str, measurement: &str) -> bool {
        db == self.db
            && ((self.measurements.is_empty() && self.patterns.is_empty())
                || self.measurements.iter().any(|m| m == measurement)
                || self.patterns.iter().any(|p| p.is_match(measurement)))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn wants_names_and_patterns_of_its_database() {
        let mut spec = ArchiveSpec::new("a", "telegraf", "file:///tmp/x");
        assert!(spec.wants("telegraf", "anything"));
        assert!(!spec.wants("other", "anything"));
        spec.measurements.push("cpu".into());
        spec.patterns.push(regex::Regex::new("^disk").unwrap());
        assert!(spec.wants("telegraf", "cpu"));
        assert!(spec.wants("telegraf", "diskio"));
        assert!(!spec.wants("telegraf", "mem"));
        assert!(!spec.wants("telegraf", "cpu2"));
    }
}

/// Credentials and endpoint for `s3://` roots. Unset values come from the usual `AWS_*`
/// environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
/// `AWS_REGION`/`AWS_DEFAULT_REGION`, `AWS_ENDPOINT`/`AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`).
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(default)]
pub struct StoreConfig {
    /// S3-compatible endpoint, e.g. `http://127.0.0.1:9000` (MinIO, moto, Ceph ...).
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    /// Allow plain `http://` endpoints.
    pub allow_http: Option<bool>,
    /// Path-style requests (`endpoint/bucket/key`), which most S3-compatible servers need.
    /// Defaults to true when an endpoint is set.
    pub path_style: Option<bool>,
}
