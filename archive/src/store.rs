//! Opening an archive root (`file://`, `s3://` or a plain path) as an object store and a
//! prefix inside it.

use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::ObjectStore;

use crate::spec::StoreConfig;
use crate::ArchiveError;

/// An archive root: the store and the prefix under which `<db>/<rp>/<measurement>/...` live.
#[derive(Debug, Clone)]
pub struct ArchiveRoot {
    pub store: Arc<dyn ObjectStore>,
    pub prefix: Path,
    /// The URL it was opened from, for messages.
    pub url: String,
}

impl ArchiveRoot {
    /// Opens `url`: `s3://bucket[/prefix]`, `file:///abs/dir` or a plain directory path
    /// (created if missing).
    pub fn open(url: &str, config: &StoreConfig) -> Result<Self, ArchiveError> {
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(ArchiveError::Config(format!(
                    "archive URL {url:?} has no bucket"
                )));
            }
            let store = s3_builder(config).with_bucket_name(bucket).build()?;
            return Ok(Self {
                store: Arc::new(store),
                prefix: Path::from(prefix.trim_matches('/')),
                url: url.to_string(),
            });
        }
        let dir = match url.strip_prefix("file://") {
            Some(p) => p,
            None if url.contains("://") => {
                return Err(ArchiveError::Config(format!(
                    "archive URL {url:?}: only file:// and s3:// (or a plain path) are supported"
                )))
            }
            None => url,
        };
        if dir.is_empty() {
            return Err(ArchiveError::Config("archive URL is empty".into()));
        }
        std::fs::create_dir_all(dir).map_err(|e| {
            ArchiveError::Config(format!("cannot create archive directory {dir}: {e}"))
        })?;
        let store = LocalFileSystem::new_with_prefix(dir)?.with_automatic_cleanup(true);
        Ok(Self {
            store: Arc::new(store),
            prefix: Path::default(),
            url: url.to_string(),
        })
    }
}

fn s3_builder(config: &StoreConfig) -> AmazonS3Builder {
    let mut b = AmazonS3Builder::from_env();
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let endpoint = config
        .endpoint
        .clone()
        .or_else(|| env("AWS_ENDPOINT_URL_S3"))
        .or_else(|| env("AWS_ENDPOINT_URL"));
    if let Some(e) = &endpoint {
        b = b.with_endpoint(e);
        if e.starts_with("http://")
            && config.allow_http.is_none()
            && env("AWS_ALLOW_HTTP").is_none()
        {
            // An explicit plain-http endpoint is a local S3-compatible store.
            b = b.with_allow_http(true);
        }
    }
    if let Some(r) = config
        .region
        .clone()
        .or_else(|| env("AWS_REGION"))
        .or_else(|| env("AWS_DEFAULT_REGION"))
    {
        b = b.with_region(r);
    }
    if let Some(k) = &config.access_key_id {
        b = b.with_access_key_id(k);
    }
    if let Some(k) = &config.secret_access_key {
        b = b.with_secret_access_key(k);
    }
    if let Some(t) = &config.session_token {
        b = b.with_token(t);
    }
    if let Some(h) = config.allow_http {
        b = b.with_allow_http(h);
    }
    let path_style = config.path_style.unwrap_or(endpoint.is_some());
    b.with_virtual_hosted_style_request(!path_style)
}
