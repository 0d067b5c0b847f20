//! Running `CREATE CONTINUOUS QUERY` tasks on the stream.
//!
//! The InfluxQL semantics — windows, groups, functions, fill, RESAMPLE, per-point queries —
//! live in [`weir_sql::cq`]; this runner subscribes the task to its source measurements,
//! feeds each delivery to the task's [`CqState`], ticks its clock, and writes what it emits
//! to InfluxDB's `/write` (`INTO`), retrying with backoff while InfluxDB is unreachable.
//!
//! Window state lives in memory: deliveries are acknowledged as soon as they are folded into
//! the state, so windows open at a restart are lost (their points are still in the archive).

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use super::influx::urlencode;
use parking_lot::Mutex;
use weir_engine::clock::{SharedClock, SystemClock};
use weir_engine::router::{Delivery, Router, SubscriptionSpec};
use weir_sql::cq::{CqPlan, CqSettings, CqState, Output};
use weir_sql::Statement;

use super::model::{TaskDef, TaskStats};
use super::runtime::{Runner, Running, StartContext};

/// Starts continuous queries.
#[derive(Debug, Clone)]
pub struct CqRunner {
    /// `[influxdb] url`; empty means none configured.
    pub influxdb_url: String,
    pub username: String,
    pub password: String,
    pub token: String,
    /// `[engine] lateness`.
    pub lateness: StdDuration,
    /// `[engine] series_ttl`.
    pub series_ttl: StdDuration,
}

fn plan(stmt: &Statement) -> Result<CqPlan, String> {
    weir_sql::cq::plan(stmt).map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------
// Writing to InfluxDB

#[derive(Debug, Clone)]
struct Writer {
    client: reqwest::Client,
    url: String,
    username: String,
    password: String,
    token: String,
    stats: Arc<TaskStats>,
}

impl Writer {
    /// Posts `body` until InfluxDB accepts it (backing off), or drops it on a 4xx.
    async fn write(&self, body: Vec<u8>, lines: usize) {
        let mut backoff = StdDuration::from_millis(100);
        loop {
            let mut req = self.client.post(&self.url).body(body.clone());
            if !self.username.is_empty() {
                req = req.basic_auth(&self.username, Some(&self.password));
            } else if !self.token.is_empty() {
                req = req.header("Authorization", format!("Token {}", self.token));
            }
            match req.send().await {
                Ok(r) if r.status().is_success() => {
                    self.stats.points_out.fetch_add(lines as u64, Relaxed);
                    return;
                }
                Ok(r) => {
                    let status = r.status();
                    let text = r.text().await.unwrap_or_default();
                    self.stats
                        .record_error(format!("InfluxDB write failed: {status}: {}", text.trim()));
                    if status.is_client_error() {
                        tracing::error!(%status, body = %text.trim(), "InfluxDB refused continuous query output; dropping it");
                        return;
                    }
                }
                Err(e) => self
                    .stats
                    .record_error(format!("InfluxDB write failed: {e}")),
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(StdDuration::from_secs(10));
        }
    }
}

// ---------------------------------------------------------------------------
// The runner

impl Runner for CqRunner {
    fn start(
        &self,
        def: &TaskDef,
        stmt: &Statement,
        ctx: &StartContext,
    ) -> Result<Box<dyn Running>, String> {
        let _ = def;
        let plan = Arc::new(plan(stmt)?);
        if self.influxdb_url.trim().is_empty() {
            return Err(format!(
                "continuous query {} writes INTO {}.{}.{}; configure [influxdb] url",
                plan.name,
                plan.target_db,
                plan.target_rp.as_deref().unwrap_or(""),
                plan.target_measurement.as_deref().unwrap_or(":MEASUREMENT")
            ));
        }
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|_| "continuous queries need the tokio runtime".to_string())?;
        let lateness = i64::try_from(self.lateness.as_nanos()).unwrap_or(i64::MAX);
        let settings = CqSettings {
            lateness,
            series_ttl: i64::try_from(self.series_ttl.as_nanos()).unwrap_or(i64::MAX),
        };
        let description = plan.describe(lateness);
        let mut url = format!(
            "{}/write?db={}&precision=ns",
            self.influxdb_url.trim_end_matches('/'),
            urlencode(&plan.target_db)
        );
        if let Some(rp) = &plan.target_rp {
            url.push_str("&rp=");
            url.push_str(&urlencode(rp));
        }
        let writer = Writer {
            client: reqwest::Client::builder()
                .timeout(StdDuration::from_secs(30))
                .build()
                .map_err(|e| format!("cannot build HTTP client: {e}"))?,
            url,
            username: self.username.clone(),
            password: self.password.clone(),
            token: self.token.clone(),
            stats: Arc::clone(&ctx.stats),
        };
        let sub_name = format!("cq:{}", plan.name);
        let filter_plan = Arc::clone(&plan);
        let mut sub = ctx.router.subscribe(SubscriptionSpec {
            name: sub_name.clone(),
            filter: Arc::new(move |d, r, meas| {
                d == filter_plan.db
                    && filter_plan.rp.as_deref().is_none_or(|want| want == r)
                    && filter_plan.sources.matches(meas)
            }),
            cursor: None,
            capacity: 64,
        });
        let wall: SharedClock = Arc::new(SystemClock);
        let mut state = CqState::new(Arc::clone(&plan), wall, settings);
        let stats = Arc::clone(&ctx.stats);
        let (out_tx, mut out_rx) = tokio::sync::mpsc::unbounded_channel::<(Vec<u8>, usize)>();
        let writer_task = handle.spawn(async move {
            while let Some((body, lines)) = out_rx.recv().await {
                writer.write(body, lines).await;
            }
        });
        let loop_task = handle.spawn(async move {
            let mut tick = tokio::time::interval(StdDuration::from_millis(100));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    d = sub.deliveries.recv() => {
                        let Some(Delivery { batch, ordinal }) = d else { break };
                        let r = state.ingest(&batch.measurement, &batch.batch);
                        // Window state is in memory: acknowledge at once.
                        sub.acker.durable_through(ordinal);
                        stats.points_in.fetch_add(r.points, Relaxed);
                        if r.late > 0 {
                            stats.points_late.fetch_add(r.late, Relaxed);
                        }
                        if let Some(e) = r.error {
                            stats.record_error(e);
                        }
                        if !send(&out_tx, &stats, r.output) {
                            break;
                        }
                    }
                    _ = tick.tick() => {}
                }
                if !send(&out_tx, &stats, state.close()) {
                    break;
                }
            }
        });
        Ok(Box::new(RunningCq {
            plan: description,
            router: Arc::clone(&ctx.router),
            sub_name,
            tasks: Mutex::new(vec![loop_task, writer_task]),
        }))
    }
}

#[derive(Debug)]
struct RunningCq {
    plan: String,
    router: Arc<Router>,
    sub_name: String,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Running for RunningCq {
    fn plan(&self) -> String {
        self.plan.clone()
    }

    fn stop(&self) {
        self.router.unsubscribe(&self.sub_name);
        for t in self.tasks.lock().drain(..) {
            t.abort();
        }
    }
}

/// Hands emitted lines to the writer; false when the writer is gone.
fn send(
    tx: &tokio::sync::mpsc::UnboundedSender<(Vec<u8>, usize)>,
    stats: &TaskStats,
    out: Output,
) -> bool {
    if out.windows > 0 {
        stats.windows_emitted.fetch_add(out.windows, Relaxed);
    }
    out.lines == 0 || tx.send((out.body, out.lines)).is_ok()
}
