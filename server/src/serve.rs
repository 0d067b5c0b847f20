//! `weir serve`: the daemon.

use std::sync::Arc;

use weir_engine::batcher::BatcherConfig;
use weir_engine::clock::SystemClock;
use weir_engine::pipeline::StartError;
use weir_engine::wal::FsyncPolicy;
use weir_engine::{IngestPipeline, PipelineConfig};

use crate::config::{Config, FsyncMode};
use crate::http::{app, ApiState};
use weir_connectors::handlers::{DispatchConfig, Dispatcher};
use weir_connectors::udf_process::UdfRegistry;

use crate::tasks::alert_runner::AlertRunner;
use crate::tasks::archive_runner::ArchiveRunner;
use crate::tasks::batch_runner::BatchRunner;
use crate::tasks::cq_runner::CqRunner;
use crate::tasks::model::TaskKind;
use crate::tasks::runtime::Runner;
use crate::tasks::TaskManager;
use crate::topics::{Deliver, Topics};

/// The runners of the task kinds this build can run.
fn runners(
    config: &Config,
    topics: &Arc<Topics>,
    pipeline: &Arc<IngestPipeline>,
) -> Vec<(TaskKind, Arc<dyn Runner>)> {
    let default_url = config.resolve(&config.archive.url).display().to_string();
    let mut archive = ArchiveRunner {
        default_url,
        state_dir: config.storage.dir.join("archives"),
        store: config.archive.store_config(),
        cq_settings: weir_sql::cq::CqSettings {
            lateness: i64::try_from(config.engine.lateness.as_nanos()).unwrap_or(i64::MAX),
            series_ttl: i64::try_from(config.engine.series_ttl.as_nanos()).unwrap_or(i64::MAX),
            // Derived archives keep every row: rows once, final.
            provisional: false,
        },
        batch: None,
    };
    let cq = CqRunner {
        influxdb_url: config.influxdb.url.clone(),
        username: config.influxdb.username.clone(),
        password: config.influxdb.password.clone(),
        token: config.influxdb.token.clone(),
        gzip: config.influxdb.gzip,
        max_backlog_bytes: config.influxdb.max_backlog_size,
        lateness: config.engine.lateness,
        series_ttl: config.engine.series_ttl,
        checkpoint_interval: config.engine.checkpoint_interval,
        state_dir: config.storage.dir.join("tasks"),
        pipeline: Some(Arc::clone(pipeline)),
    };
    let batch_runner = BatchRunner {
        influxdb_url: config.influxdb.url.clone(),
        username: config.influxdb.username.clone(),
        password: config.influxdb.password.clone(),
        archive: match crate::query_api::archive() {
            Ok(a) => Some(a),
            Err(e) => {
                tracing::warn!(error = %e, "the archive cannot be opened: FROM ARCHIVE batch queries will not start");
                None
            }
        },
        topics: Arc::clone(topics),
    };
    archive.batch = Some(batch_runner.clone());
    let batch: Arc<dyn Runner> = Arc::new(batch_runner);
    let alert = AlertRunner {
        topics: Arc::clone(topics),
        lateness: config.engine.lateness,
        series_ttl: config.engine.series_ttl,
        checkpoint_interval: config.engine.checkpoint_interval,
        batch: Some(Arc::clone(&batch)),
    };
    vec![
        (TaskKind::Archive, Arc::new(archive) as Arc<dyn Runner>),
        (TaskKind::ContinuousQuery, Arc::new(cq) as Arc<dyn Runner>),
        (TaskKind::Alert, Arc::new(alert) as Arc<dyn Runner>),
        (TaskKind::BatchQuery, batch),
    ]
}

/// Why the daemon could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Start(#[from] StartError),
    #[error(transparent)]
    Tap(#[from] crate::tap::TapError),
    #[error("cannot listen on {bind}: {source}")]
    Bind {
        bind: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] weir_engine::store::StoreError),
    #[error("archive: {0}")]
    Archive(#[from] weir_archive::ArchiveError),
    #[error("HTTP server failed: {0}")]
    Http(std::io::Error),
}

/// Runs the daemon until SIGINT or SIGTERM, then flushes and returns.
pub async fn serve(config: Config) -> Result<(), ServeError> {
    let pipeline = Arc::new(IngestPipeline::new(
        PipelineConfig {
            data_dir: config.storage.dir.clone(),
            fsync: match config.wal.fsync {
                FsyncMode::Always => FsyncPolicy::Always,
                FsyncMode::Interval => FsyncPolicy::Interval(config.wal.fsync_interval),
            },
            segment_bytes: config.wal.segment_size,
            batcher: BatcherConfig {
                max_rows: config.engine.batch_rows,
                linger: config.engine.batch_linger,
            },
        },
        Arc::new(SystemClock),
    )?);

    crate::query_api::configure(&config)?;

    // Subscribers first: replay delivers to them.
    let tap = if config.debug.tap.is_empty() {
        None
    } else {
        let path = config.resolve(&config.debug.tap);
        Some(crate::tap::start(pipeline.router(), &path)?)
    };
    let store = Arc::new(weir_engine::store::Store::open(
        &config.storage.dir.join("store.redb"),
    )?);
    // Handlers are started on this runtime; an event is queued for each one on its topic and
    // never waits for it.
    let handlers = Arc::new(Dispatcher::new(DispatchConfig::default()));
    let deliver: Deliver = {
        let handlers = Arc::clone(&handlers);
        Arc::new(move |e| handlers.publish(e))
    };
    let topics = Arc::new(Topics::open(Arc::clone(&store), deliver)?);
    let tasks = Arc::new(TaskManager::new(
        Arc::clone(&store),
        Arc::clone(pipeline.router()),
        runners(&config, &topics, &pipeline),
        Arc::clone(&topics),
        Arc::new(UdfRegistry::default()),
        Arc::clone(&handlers),
    ));
    let resumed = tokio::task::block_in_place(|| tasks.resume())?;
    if resumed > 0 {
        tracing::info!(tasks = resumed, "resumed tasks");
    }
    pipeline.start().await?;

    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let background = {
        let pipeline = Arc::clone(&pipeline);
        tokio::spawn(async move { pipeline.run_background(shutdown_rx).await })
    };

    let listener = tokio::net::TcpListener::bind(&config.http.bind)
        .await
        .map_err(|source| ServeError::Bind {
            bind: config.http.bind.clone(),
            source,
        })?;
    let local = listener.local_addr().map_err(ServeError::Http)?;
    tracing::info!(
        addr = %local,
        data_dir = %config.storage.dir.display(),
        version = env!("CARGO_PKG_VERSION"),
        "weir is listening"
    );
    // Subscriptions once the listener is up, so InfluxDB's first pushes find it.
    let (subscriptions, keeper) = crate::subscriptions::start(
        &config.influxdb,
        subscription_destination(&config, local),
        Arc::clone(&tasks),
    );
    let router = app(
        ApiState {
            pipeline: Arc::clone(&pipeline),
            tasks: Arc::clone(&tasks),
        },
        usize::try_from(config.http.max_body_size).unwrap_or(usize::MAX),
    )
    .merge(subscriptions.routes());
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(ServeError::Http)?;

    // The subscriptions stay in InfluxDB (SPEC §2): points keep coming once weir is back.
    if let Some(keeper) = keeper {
        keeper.abort();
    }
    tracing::info!("shutting down: flushing buffers and the write-ahead log");
    let _ = shutdown_tx.send(true);
    let _ = background.await;
    pipeline.shutdown().await;
    tokio::task::block_in_place(|| tasks.stop_all());
    // Events the tasks published last get a few seconds to reach their handlers.
    if !handlers.flush(std::time::Duration::from_secs(5)).await {
        tracing::warn!("some alert events were still queued for their handlers at shutdown");
    }
    // Closing the router's queues ends the subscribers once they drained them.
    pipeline.router().unsubscribe("debug-tap");
    if let Some(tap) = tap {
        let _ = tap.await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// `[influxdb] subscription_url`; when it was derived from a bind address with port 0, the
/// port actually bound.
fn subscription_destination(config: &Config, local: std::net::SocketAddr) -> String {
    let url = config.influxdb.subscription_url.clone();
    match config.http.bind.parse::<std::net::SocketAddr>() {
        Ok(bind) if bind.port() == 0 && url == crate::config::url_for_bind(bind) => {
            crate::config::url_for_bind(local)
        }
        _ => url,
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("received SIGINT"),
        _ = term => tracing::info!("received SIGTERM"),
    }
}
