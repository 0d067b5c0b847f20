//! `[influxdb] subscribe = true`: keeps InfluxDB's subscriptions in line with the tasks, so
//! the points written to InfluxDB reach weir's `/write` (InfluxDB 1.x pushes them).
//!
//! Each database (and retention policy) that an enabled stream task reads — continuous
//! queries, stream alerts, archives; batch queries query InfluxDB themselves — gets one
//! subscription named `[influxdb] subscription_name` with `[influxdb] subscription_url` as its
//! only destination. A task that names no retention policy gets the database's default one.
//! Subscriptions of that name on databases no task reads any more, or with another
//! destination, are dropped; subscriptions of other names are never touched. On shutdown the
//! subscriptions are kept, so nothing written while weir restarts is routed elsewhere.
//!
//! The check runs at start-up, after every task change and every
//! `[influxdb] subscription_sync_interval`. InfluxDB being unreachable or a database not
//! existing yet is logged and shown at `GET /api/v1/subscriptions`, then retried; it never
//! stops the daemon or a task.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use parking_lot::Mutex;
use serde_json::{json, Value};
use weir_connectors::influx_subscriptions::{plan, Action, Auth, InfluxError, SubscriptionClient};
use weir_sql::ast::{ArchiveSource, Select, Source};
use weir_sql::Statement;

use crate::config::InfluxdbConfig;
use crate::tasks::model::TaskDef;
use crate::tasks::TaskManager;

/// What the last check found, for `GET /api/v1/subscriptions`.
#[derive(Debug, Default)]
struct SyncState {
    /// RFC 3339 time the last check ended.
    last_sync: Option<String>,
    /// `(database, retention policy)` pairs weir's subscription is on, as of the last check
    /// that reached InfluxDB.
    subscribed: BTreeSet<(String, String)>,
    /// What kept the last check from doing everything.
    problems: Vec<String>,
}

/// Handle on the subscription keeper: its status, and the background loop while it runs.
#[derive(Debug, Clone)]
pub struct Subscriptions {
    enabled: bool,
    name: String,
    destination: String,
    influxdb: String,
    interval: Duration,
    state: Arc<Mutex<SyncState>>,
}

/// Starts keeping the subscriptions when `[influxdb] subscribe` is on. `destination` is the
/// URL InfluxDB is told to send points to. Returns the status handle and the loop to abort
/// on shutdown.
pub fn start(
    config: &InfluxdbConfig,
    destination: String,
    tasks: Arc<TaskManager>,
) -> (Subscriptions, Option<tokio::task::JoinHandle<()>>) {
    let handle = Subscriptions {
        enabled: config.subscribe,
        name: config.subscription_name.clone(),
        destination: destination.trim_end_matches('/').to_string(),
        influxdb: config.url.trim_end_matches('/').to_string(),
        interval: config.subscription_sync_interval,
        state: Arc::default(),
    };
    if !config.subscribe {
        return (handle, None);
    }
    let problem = if config.url.trim().is_empty() {
        Some("[influxdb] subscribe = true needs [influxdb] url".to_string())
    } else {
        None
    };
    let auth = Auth::from_config(&config.username, &config.password, &config.token);
    let client = match problem {
        Some(p) => Err(p),
        None => SubscriptionClient::new(&handle.influxdb, auth, Duration::from_secs(10))
            .map_err(|e| e.to_string()),
    };
    let client = match client {
        Ok(c) => c,
        Err(p) => {
            tracing::error!(problem = %p, "InfluxDB subscriptions are off");
            handle.state.lock().problems = vec![p];
            return (handle, None);
        }
    };
    tracing::info!(
        name = %handle.name,
        destination = %handle.destination,
        influxdb = %handle.influxdb,
        "keeping InfluxDB subscriptions for the databases tasks read"
    );
    let keeper = Keeper {
        handle: handle.clone(),
        client,
        tasks,
    };
    (handle, Some(tokio::spawn(keeper.run())))
}

impl Subscriptions {
    /// `GET /api/v1/subscriptions`.
    pub fn routes(self) -> Router {
        Router::new()
            .route("/api/v1/subscriptions", get(status))
            .with_state(self)
    }

    fn to_json(&self) -> Value {
        let state = self.state.lock();
        json!({
            "enabled": self.enabled,
            "name": self.name,
            "destination": self.destination,
            "influxdb": self.influxdb,
            "sync_interval": humantime::format_duration(self.interval).to_string(),
            "last_sync": state.last_sync,
            "subscriptions": state
                .subscribed
                .iter()
                .map(|(db, rp)| json!({ "database": db, "retention_policy": rp }))
                .collect::<Vec<_>>(),
            "problems": state.problems,
        })
    }
}

async fn status(State(s): State<Subscriptions>) -> Json<Value> {
    Json(s.to_json())
}

/// The background loop.
struct Keeper {
    handle: Subscriptions,
    client: SubscriptionClient,
    tasks: Arc<TaskManager>,
}

/// The outcome of one check.
struct Pass {
    /// `None` when InfluxDB's subscriptions could not be listed.
    subscribed: Option<BTreeSet<(String, String)>>,
    problems: Vec<String>,
    changes: usize,
}

impl Keeper {
    async fn run(self) {
        let changes = self.tasks.changes();
        loop {
            let pass = self.check().await;
            self.record(pass);
            tokio::select! {
                _ = changes.notified() => {}
                _ = tokio::time::sleep(self.handle.interval) => {}
            }
        }
    }

    fn record(&self, pass: Pass) {
        let mut state = self.handle.state.lock();
        if pass.problems != state.problems {
            for p in &pass.problems {
                tracing::warn!(problem = %p, "InfluxDB subscriptions: will retry");
            }
            if pass.problems.is_empty() && !state.problems.is_empty() {
                tracing::info!("InfluxDB subscriptions are up to date again");
            }
        }
        tracing::debug!(
            changes = pass.changes,
            problems = pass.problems.len(),
            "checked InfluxDB subscriptions"
        );
        if let Some(s) = pass.subscribed {
            state.subscribed = s;
        }
        state.problems = pass.problems;
        state.last_sync =
            Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    }

    async fn check(&self) -> Pass {
        let failed = |problem: String| Pass {
            subscribed: None,
            problems: vec![problem],
            changes: 0,
        };
        let tasks = Arc::clone(&self.tasks);
        let defs = match tokio::task::spawn_blocking(move || tasks.enabled_definitions()).await {
            Ok(Ok(defs)) => defs,
            Ok(Err(e)) => return failed(format!("cannot read the task store: {e}")),
            Err(e) => return failed(format!("cannot read the task store: {e}")),
        };
        let reads = reads_of(&defs);
        let existing = match self.client.show_subscriptions().await {
            Ok(s) => s,
            Err(e) => return failed(e.to_string()),
        };
        let name = &self.handle.name;
        let mut problems = Vec::new();
        let mut wanted = BTreeSet::new();
        for ((db, rp), readers) in &reads {
            let rp = match rp {
                Some(rp) => rp.clone(),
                None => match self.client.default_retention_policy(db).await {
                    Ok(rp) => rp,
                    Err(InfluxError::DatabaseNotFound(_)) => {
                        problems.push(missing_db(db, readers, self.handle.interval));
                        continue;
                    }
                    // Likely InfluxDB itself: change nothing on a partial view.
                    Err(e) => return failed(e.to_string()),
                },
            };
            wanted.insert((db.clone(), rp));
        }
        let mut subscribed: BTreeSet<(String, String)> = existing
            .iter()
            .filter(|s| &s.name == name)
            .map(|s| (s.database.clone(), s.retention_policy.clone()))
            .collect();
        let actions = plan(name, &self.handle.destination, &wanted, &existing);
        let changes = actions.len();
        for action in actions {
            match action {
                Action::Drop {
                    database,
                    retention_policy,
                } => match self
                    .client
                    .drop_subscription(name, &database, &retention_policy)
                    .await
                {
                    Ok(()) | Err(InfluxError::NotFound | InfluxError::DatabaseNotFound(_)) => {
                        tracing::info!(
                            subscription = %name,
                            database = %database,
                            retention_policy = %retention_policy,
                            "dropped InfluxDB subscription"
                        );
                        subscribed.remove(&(database, retention_policy));
                    }
                    Err(e) => problems.push(format!(
                        "cannot drop subscription {name:?} on {database:?}.{retention_policy:?}: {e}"
                    )),
                },
                Action::Create {
                    database,
                    retention_policy,
                } => {
                    let dest = [self.handle.destination.clone()];
                    match self
                        .client
                        .create_subscription(name, &database, &retention_policy, &dest)
                        .await
                    {
                        Ok(()) => {
                            tracing::info!(
                                subscription = %name,
                                database = %database,
                                retention_policy = %retention_policy,
                                destination = %self.handle.destination,
                                "created InfluxDB subscription"
                            );
                            subscribed.insert((database, retention_policy));
                        }
                        Err(InfluxError::DatabaseNotFound(_)) => {
                            let readers = readers_of(&reads, &database);
                            problems.push(missing_db(&database, &readers, self.handle.interval));
                        }
                        Err(e) => problems.push(format!(
                            "cannot create subscription {name:?} on {database:?}.{retention_policy:?}: {e}"
                        )),
                    }
                }
            }
        }
        Pass {
            subscribed: Some(subscribed),
            problems,
            changes,
        }
    }
}

fn missing_db(db: &str, readers: &BTreeSet<String>, interval: Duration) -> String {
    let readers: Vec<&str> = readers.iter().map(String::as_str).collect();
    format!(
        "database {db:?} (read by {}) does not exist in InfluxDB; its subscription is created \
         once it does (checked every {})",
        readers.join(", "),
        humantime::format_duration(interval)
    )
}

/// `(database, retention policy or None for the default)` → names of the tasks reading it.
type Reads = BTreeMap<(String, Option<String>), BTreeSet<String>>;

fn readers_of(reads: &Reads, db: &str) -> BTreeSet<String> {
    reads
        .iter()
        .filter(|((d, _), _)| d == db)
        .flat_map(|(_, names)| names.iter().cloned())
        .collect()
}

/// What the stream tasks among `defs` read from weir's router.
fn reads_of(defs: &[TaskDef]) -> Reads {
    let mut reads = Reads::new();
    for def in defs {
        let Ok(stmts) = weir_sql::parse_statements(&def.statement) else {
            continue;
        };
        let mut out = Vec::new();
        for stmt in &stmts {
            stream_sources(stmt, &mut out);
        }
        for key in out {
            reads.entry(key).or_default().insert(def.name.clone());
        }
    }
    reads
}

/// The `(database, retention policy)` pairs a statement's stream task reads; none for batch
/// tasks, which query InfluxDB themselves.
fn stream_sources(stmt: &Statement, out: &mut Vec<(String, Option<String>)>) {
    match stmt {
        Statement::CreateContinuousQuery(cq) => select_sources(&cq.database, &cq.select, out),
        Statement::CreateAlert(a) if a.schedule.is_none() => {
            select_sources(&a.database, &a.select, out)
        }
        Statement::CreateArchive(a) => match &a.source {
            ArchiveSource::All => out.push((a.database.clone(), None)),
            ArchiveSource::Measurements(ms) => {
                for m in ms {
                    out.push((
                        m.database.clone().unwrap_or_else(|| a.database.clone()),
                        m.retention_policy.clone(),
                    ));
                }
            }
            // A scheduled archive is a batch task: it reads no stream.
            ArchiveSource::Select(_) if a.schedule.is_some() => {}
            ArchiveSource::Select(s) => select_sources(&a.database, s, out),
        },
        _ => {}
    }
}

fn select_sources(db: &str, select: &Select, out: &mut Vec<(String, Option<String>)>) {
    for source in &select.sources {
        match source {
            Source::Measurement(m) => out.push((
                m.database.clone().unwrap_or_else(|| db.to_string()),
                m.retention_policy.clone(),
            )),
            Source::Subquery(inner) => select_sources(db, inner, out),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::tasks::model::{Status, TaskKind};

    fn def(name: &str, kind: TaskKind, statement: &str) -> TaskDef {
        let stmt = weir_sql::parse_statements(statement).unwrap().remove(0);
        TaskDef {
            name: name.into(),
            kind,
            database: String::new(),
            statement: stmt.to_string(),
            status: Status::Enabled,
            created: String::new(),
            modified: String::new(),
        }
    }

    fn key(db: &str, rp: Option<&str>) -> (String, Option<String>) {
        (db.to_string(), rp.map(str::to_string))
    }

    #[test]
    fn stream_tasks_read_their_databases_and_batch_queries_none() {
        let defs = [
            def(
                "cpu_1m",
                TaskKind::ContinuousQuery,
                "CREATE CONTINUOUS QUERY cpu_1m ON telegraf BEGIN SELECT mean(usage_idle) INTO telegraf.autogen.cpu_1m FROM cpu GROUP BY time(1m) END",
            ),
            def(
                "other",
                TaskKind::ContinuousQuery,
                "CREATE CONTINUOUS QUERY other ON telegraf BEGIN SELECT max(v) INTO out..m FROM app.week.req GROUP BY time(1m) END",
            ),
            def(
                "raw",
                TaskKind::Archive,
                "CREATE ARCHIVE raw ON telegraf FROM cpu, mem PARTITION BY hour",
            ),
            def("everything", TaskKind::Archive, "CREATE ARCHIVE everything ON logs"),
            def(
                "hourly",
                TaskKind::BatchQuery,
                "CREATE BATCH QUERY hourly ON metrics EVERY 1h BEGIN SELECT mean(x) INTO metrics..h FROM m WHERE time > now() - 1h GROUP BY time(1h) END",
            ),
        ];
        let reads = reads_of(&defs);
        let keys: Vec<_> = reads.keys().cloned().collect();
        assert_eq!(
            keys,
            vec![
                key("app", Some("week")),
                key("logs", None),
                key("telegraf", None),
            ]
        );
        let readers: Vec<_> = reads[&key("telegraf", None)].iter().cloned().collect();
        assert_eq!(readers, vec!["cpu_1m", "raw"]);
        assert_eq!(
            readers_of(&reads, "telegraf")
                .into_iter()
                .collect::<Vec<_>>(),
            vec!["cpu_1m", "raw"]
        );
        assert!(missing_db(
            "telegraf",
            &reads[&key("telegraf", None)],
            Duration::from_secs(60)
        )
        .contains("\"telegraf\" (read by cpu_1m, raw) does not exist"));
    }
}
