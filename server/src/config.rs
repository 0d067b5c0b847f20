//! The daemon's configuration: embedded defaults, a TOML file, then `WEIR_<SECTION>_<KEY>`
//! environment variables, each overriding the one before.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The effective configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub http: HttpConfig,
    pub storage: StorageConfig,
    pub influxdb: InfluxdbConfig,
    pub engine: EngineConfig,
    pub archive: ArchiveConfig,
    pub wal: WalSection,
    pub log: LogConfig,
    pub debug: DebugConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Address the HTTP API listens on.
    pub bind: String,
    /// Largest accepted request body in bytes (after decompression); InfluxDB's default.
    pub max_body_size: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:9092".into(),
            max_body_size: 25_000_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// State directory (task store, write-ahead log, alert state). Relative paths elsewhere
    /// in the config resolve against it.
    pub dir: PathBuf,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("./weir-data"),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct InfluxdbConfig {
    /// e.g. `http://127.0.0.1:8086`; empty means no InfluxDB is configured.
    pub url: String,
    pub username: String,
    pub password: String,
    pub token: String,
    /// Create InfluxDB subscriptions for the databases tasks read.
    pub subscribe: bool,
    /// Compress writes to InfluxDB (`Content-Encoding: gzip`).
    pub gzip: bool,
    /// Bytes of output each task keeps on disk while InfluxDB is unreachable; when full, the
    /// task (and through back-pressure, ingest) waits instead of dropping anything.
    pub max_backlog_size: u64,
    /// Name of the subscriptions weir creates (and the only ones it ever drops); give each
    /// weir instance that shares an InfluxDB its own.
    pub subscription_name: String,
    /// The URL InfluxDB sends points to (it appends `/write`). Left empty, it is
    /// `http://<[http] bind>` with `0.0.0.0` / `[::]` read as loopback.
    pub subscription_url: String,
    /// How often the subscriptions are checked against the tasks, besides at start-up and
    /// whenever a task is created, dropped, enabled or disabled (so an InfluxDB that was
    /// down gets them once it is up).
    #[serde(with = "humantime_serde_compat")]
    pub subscription_sync_interval: Duration,
}

impl Default for InfluxdbConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            username: String::new(),
            password: String::new(),
            token: String::new(),
            subscribe: false,
            gzip: true,
            max_backlog_size: 1024 * 1024 * 1024,
            subscription_name: "weir".into(),
            subscription_url: String::new(),
            subscription_sync_interval: Duration::from_secs(60),
        }
    }
}

/// `http://<bind>`, with an unspecified address (`0.0.0.0`, `[::]`) replaced by loopback:
/// the URL a local InfluxDB can reach weir at.
pub fn url_for_bind(bind: std::net::SocketAddr) -> String {
    let ip = match bind.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => {
            std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
        }
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => {
            std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)
        }
        ip => ip,
    };
    format!("http://{}", std::net::SocketAddr::new(ip, bind.port()))
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// How long a window stays open after its end for late points.
    #[serde(with = "humantime_serde_compat")]
    pub lateness: Duration,
    /// Series not seen for this long are forgotten.
    #[serde(with = "humantime_serde_compat")]
    pub series_ttl: Duration,
    /// Rows per batch handed to tasks, at most.
    pub batch_rows: usize,
    /// How long rows wait for a batch to fill.
    #[serde(with = "humantime_serde_compat")]
    pub batch_linger: Duration,
    /// How often tasks record their window state, so a restart resumes it (the write-ahead
    /// log keeps what came after the last checkpoint).
    #[serde(with = "humantime_serde_compat")]
    pub checkpoint_interval: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            lateness: Duration::from_secs(5),
            series_ttl: Duration::from_secs(24 * 3600),
            batch_rows: 8192,
            batch_linger: Duration::from_millis(100),
            checkpoint_interval: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ArchiveConfig {
    /// Default archive root; a relative path resolves against `[storage] dir`.
    pub url: String,
    /// S3-compatible endpoint (e.g. MinIO), when not AWS itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_access_key: Option<String>,
    /// Allow plain-HTTP endpoints (local S3-compatible servers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_http: Option<bool>,
}

impl Default for ArchiveConfig {
    fn default() -> Self {
        Self {
            url: "archive".into(),
            endpoint: None,
            region: None,
            access_key_id: None,
            secret_access_key: None,
            allow_http: None,
        }
    }
}

impl ArchiveConfig {
    /// Object store settings; unset keys fall back to the usual `AWS_*` variables.
    pub fn store_config(&self) -> weir_archive::StoreConfig {
        weir_archive::StoreConfig {
            endpoint: self.endpoint.clone(),
            region: self.region.clone(),
            access_key_id: self.access_key_id.clone(),
            secret_access_key: self.secret_access_key.clone(),
            allow_http: self.allow_http,
            ..Default::default()
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FsyncMode {
    Always,
    Interval,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct WalSection {
    /// `always`: fsync before every acknowledgement (group commit). `interval`: every
    /// `fsync_interval` (survives a crash of weir, not of the host).
    pub fsync: FsyncMode,
    #[serde(with = "humantime_serde_compat")]
    pub fsync_interval: Duration,
    /// Segment size in bytes.
    pub segment_size: u64,
}

impl Default for WalSection {
    fn default() -> Self {
        Self {
            fsync: FsyncMode::Always,
            fsync_interval: Duration::from_millis(100),
            segment_size: 64 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `error`, `warn`, `info`, `debug`, `trace`, or a tracing filter directive.
    pub level: String,
    /// `text` or `json`.
    pub format: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: "text".into(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DebugConfig {
    /// If set, every point delivered by the router is appended to this file as line protocol
    /// (exactly once, across crashes). For diagnosing what weir received.
    pub tap: String,
}

/// Configuration problems, named so the user can fix them.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("invalid environment variable {var}: {reason}")]
    Env { var: String, reason: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

const SECTIONS: &[&str] = &[
    "http", "storage", "influxdb", "engine", "archive", "wal", "log", "debug",
];

impl Config {
    /// Loads defaults, then `path` if given, then the environment.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load_with_env(path, std::env::vars())
    }

    /// As [`Config::load`], with the environment passed in (for tests).
    pub fn load_with_env(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut table = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                text.parse::<toml::Table>()
                    .map_err(|source| ConfigError::Parse {
                        path: path.to_path_buf(),
                        source,
                    })?
            }
            None => toml::Table::new(),
        };
        let mut env: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("WEIR_"))
            .collect();
        env.sort();
        for (var, value) in env {
            let rest = &var["WEIR_".len()..];
            let lower = rest.to_ascii_lowercase();
            let Some(section) = SECTIONS
                .iter()
                .find(|s| lower.starts_with(&format!("{s}_")))
            else {
                // Not a config variable (e.g. WEIR_URL for the client).
                continue;
            };
            let key = lower[section.len() + 1..].to_string();
            let entry = table
                .entry(section.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            let toml::Value::Table(section_table) = entry else {
                return Err(ConfigError::Env {
                    var,
                    reason: format!("[{section}] in the config file is not a table"),
                });
            };
            section_table.insert(key, env_value(&value));
        }
        let mut config: Config = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Invalid(e.message().to_string()))?;
        config.validate()?;
        if config.influxdb.subscription_url.trim().is_empty() {
            if let Ok(bind) = config.http.bind.parse() {
                config.influxdb.subscription_url = url_for_bind(bind);
            }
        }
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.http.bind.parse::<std::net::SocketAddr>().is_err() {
            return Err(ConfigError::Invalid(format!(
                "[http] bind = {:?} is not an address like 127.0.0.1:9092",
                self.http.bind
            )));
        }
        if self.http.max_body_size == 0 {
            return Err(ConfigError::Invalid(
                "[http] max_body_size must be positive".into(),
            ));
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            return Err(ConfigError::Invalid(format!(
                "[log] format = {:?}: expected \"text\" or \"json\"",
                self.log.format
            )));
        }
        if self.engine.checkpoint_interval.is_zero() {
            return Err(ConfigError::Invalid(
                "[engine] checkpoint_interval must be positive".into(),
            ));
        }
        if self.influxdb.subscription_name.trim().is_empty() {
            return Err(ConfigError::Invalid(
                "[influxdb] subscription_name must not be empty".into(),
            ));
        }
        let sub_url = self.influxdb.subscription_url.trim();
        if !sub_url.is_empty()
            && !sub_url.starts_with("http://")
            && !sub_url.starts_with("https://")
        {
            return Err(ConfigError::Invalid(format!(
                "[influxdb] subscription_url = {sub_url:?}: expected an http:// or https:// URL \
                 at which InfluxDB reaches weir"
            )));
        }
        if self.influxdb.subscription_sync_interval.is_zero() {
            return Err(ConfigError::Invalid(
                "[influxdb] subscription_sync_interval must be positive".into(),
            ));
        }
        if self.engine.batch_rows == 0 {
            return Err(ConfigError::Invalid(
                "[engine] batch_rows must be positive".into(),
            ));
        }
        Ok(())
    }

    /// `path` if absolute, else `[storage] dir / path`.
    pub fn resolve(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.storage.dir.join(p)
        }
    }

    /// The effective configuration as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render config: {e}\n"))
    }
}

/// Environment values are typed the way TOML would read them when they look like TOML
/// scalars (`true`, `42`), otherwise taken as strings.
fn env_value(raw: &str) -> toml::Value {
    if let Ok(b) = raw.parse::<bool>() {
        return toml::Value::Boolean(b);
    }
    if let Ok(i) = raw.parse::<i64>() {
        return toml::Value::Integer(i);
    }
    toml::Value::String(raw.to_string())
}

/// Durations as human strings (`5s`, `24h`, `100ms`), as InfluxDB and Kapacitor configs write them.
mod humantime_serde_compat {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s).map_err(|e| {
            serde::de::Error::custom(format!(
                "invalid duration {s:?} ({e}); write e.g. \"5s\", \"100ms\", \"24h\""
            ))
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = Config::load_with_env(None, Vec::new()).unwrap();
        assert_eq!(c.http.bind, "127.0.0.1:9092");
        assert_eq!(c.storage.dir, PathBuf::from("./weir-data"));
        assert_eq!(c.engine.lateness, Duration::from_secs(5));
        assert_eq!(c.engine.series_ttl, Duration::from_secs(86400));
        assert_eq!(c.http.max_body_size, 25_000_000);
        assert_eq!(c.wal.fsync, FsyncMode::Always);
        assert_eq!(
            c.resolve(&c.archive.url),
            PathBuf::from("./weir-data/archive")
        );
    }

    #[test]
    fn file_then_env_override() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("weir.toml");
        std::fs::write(
            &path,
            "[http]\nbind = \"127.0.0.1:1234\"\n[influxdb]\nurl = \"http://a:8086\"\n[engine]\nlateness = \"10s\"\n",
        )
        .unwrap();
        let env = vec![
            ("WEIR_INFLUXDB_URL".to_string(), "http://b:8086".to_string()),
            ("WEIR_INFLUXDB_SUBSCRIBE".to_string(), "true".to_string()),
            ("WEIR_WAL_FSYNC".to_string(), "interval".to_string()),
            ("WEIR_URL".to_string(), "http://client-only".to_string()),
        ];
        let c = Config::load_with_env(Some(&path), env).unwrap();
        assert_eq!(c.http.bind, "127.0.0.1:1234");
        assert_eq!(c.influxdb.url, "http://b:8086");
        assert!(c.influxdb.subscribe);
        assert_eq!(c.engine.lateness, Duration::from_secs(10));
        assert_eq!(c.wal.fsync, FsyncMode::Interval);
        // The printed config reads back to the same config.
        let printed = c.to_toml();
        let back: Config = toml::from_str(&printed).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn errors_name_the_problem() {
        let env = vec![("WEIR_ENGINE_LATENESS".to_string(), "soon".to_string())];
        let err = Config::load_with_env(None, env).unwrap_err().to_string();
        assert!(err.contains("invalid duration \"soon\""), "{err}");
        let env = vec![("WEIR_HTTP_BINDD".to_string(), "x".to_string())];
        let err = Config::load_with_env(None, env).unwrap_err().to_string();
        assert!(err.contains("unknown field `bindd`"), "{err}");
        let env = vec![(
            "WEIR_INFLUXDB_SUBSCRIPTION_URL".to_string(),
            "127.0.0.1:9092".to_string(),
        )];
        let err = Config::load_with_env(None, env).unwrap_err().to_string();
        assert!(err.contains("subscription_url"), "{err}");
    }

    #[test]
    fn subscription_defaults_follow_the_bind_address() {
        let c = Config::load_with_env(None, Vec::new()).unwrap();
        assert!(!c.influxdb.subscribe);
        assert_eq!(c.influxdb.subscription_name, "weir");
        assert_eq!(c.influxdb.subscription_url, "http://127.0.0.1:9092");
        assert_eq!(
            c.influxdb.subscription_sync_interval,
            Duration::from_secs(60)
        );
        let env = vec![
            ("WEIR_HTTP_BIND".to_string(), "0.0.0.0:9100".to_string()),
            (
                "WEIR_INFLUXDB_SUBSCRIPTION_NAME".to_string(),
                "weir-a".to_string(),
            ),
            (
                "WEIR_INFLUXDB_SUBSCRIPTION_SYNC_INTERVAL".to_string(),
                "5s".to_string(),
            ),
        ];
        let c = Config::load_with_env(None, env).unwrap();
        assert_eq!(c.influxdb.subscription_url, "http://127.0.0.1:9100");
        assert_eq!(c.influxdb.subscription_name, "weir-a");
        assert_eq!(
            c.influxdb.subscription_sync_interval,
            Duration::from_secs(5)
        );
        assert_eq!(
            url_for_bind("[::]:9092".parse().unwrap()),
            "http://[::1]:9092"
        );
        let env = vec![(
            "WEIR_INFLUXDB_SUBSCRIPTION_URL".to_string(),
            "http://weir.example:9092".to_string(),
        )];
        let c = Config::load_with_env(None, env).unwrap();
        assert_eq!(c.influxdb.subscription_url, "http://weir.example:9092");
    }
}
