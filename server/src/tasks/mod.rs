//! Task management: statements in, persisted definitions and running tasks out.
//!
//! Every definition is validated fully — parsed, then planned and started by its kind's
//! [`Runner`] — before anything is stored, so the store only ever holds definitions that ran.
//! On start every enabled task is resumed from the store.

pub mod alert_runner;
pub mod archive_query;
pub mod archive_runner;
pub mod batch_alert;
pub mod batch_archive;
pub mod batch_runner;
pub mod cq_runner;
mod influx;
pub(crate) use influx::urlencode;
pub mod model;
pub mod runtime;
pub mod stream_loop;

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::{json, Value};
use weir_engine::router::Router;
use weir_engine::store::{Change, Store, StoreError, Table};
use weir_sql::ast::{ObjectKind, OptionValue, Show};
use weir_sql::{ParseError, Statement};

use crate::topics::Topics;
use model::{FunctionDef, HandlerDef, Status, TaskDef, TaskKind, TaskStats};
use runtime::{Runner, Running, StartContext};
use weir_connectors::handlers::{Dispatcher, HandlerSpec};
use weir_connectors::udf_process::{UdfProcessConfig, UdfRegistry};
use weir_engine::udf::UdfRuntime;
use weir_sql::ParseOptions;

/// Why a statement or request failed.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("statement {}, line {}, column {}: {}", .0.statement + 1, .0.line, .0.column, .0.reason)]
    Parse(ParseError),
    #[error("statement {}: {reason}", .index + 1)]
    Invalid { index: usize, reason: String },
    #[error("statement {}: {reason}", .index + 1)]
    Conflict { index: usize, reason: String },
    #[error("{what} {name:?} does not exist")]
    NotFound { what: &'static str, name: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ExecError {
    /// The HTTP status that fits.
    pub fn http_status(&self) -> u16 {
        match self {
            ExecError::Parse(_) | ExecError::Invalid { .. } => 400,
            ExecError::Conflict { .. } => 409,
            ExecError::NotFound { .. } => 404,
            ExecError::Store(_) => 500,
        }
    }
}

/// A failed request: the error plus the results of the statements applied before it.
#[derive(Debug)]
pub struct ExecFailure {
    pub error: ExecError,
    pub statement_text: Option<String>,
    pub applied: Vec<Value>,
}

#[derive(Debug)]
struct Active {
    running: Box<dyn Running>,
}

/// The task manager.
#[derive(Debug)]
pub struct TaskManager {
    store: Arc<Store>,
    router: Arc<Router>,
    runners: HashMap<&'static str, Arc<dyn Runner>>,
    topics: Arc<Topics>,
    /// The user-defined functions' programs.
    udfs: Arc<UdfRegistry>,
    /// The alert handlers, fed by the topics.
    handlers: Arc<Dispatcher>,
    active: Mutex<HashMap<String, Active>>,
    stats: Mutex<HashMap<String, Arc<TaskStats>>>,
    /// Statements are applied one request at a time.
    exec: Mutex<()>,
    /// Signalled whenever the set of enabled tasks may have changed (InfluxDB subscriptions
    /// follow it).
    changed: Arc<tokio::sync::Notify>,
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

impl TaskManager {
    /// A manager over `store`, starting tasks with `runners` (by kind).
    pub fn new(
        store: Arc<Store>,
        router: Arc<Router>,
        runners: Vec<(TaskKind, Arc<dyn Runner>)>,
        topics: Arc<Topics>,
        udfs: Arc<UdfRegistry>,
        handlers: Arc<Dispatcher>,
    ) -> Self {
        Self {
            store,
            router,
            runners: runners.into_iter().map(|(k, r)| (k.as_str(), r)).collect(),
            topics,
            udfs,
            handlers,
            active: Mutex::new(HashMap::new()),
            stats: Mutex::new(HashMap::new()),
            exec: Mutex::new(()),
            changed: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// Starts every enabled task from the store. A task that fails to start stays enabled,
    /// with the failure as its last error.
    pub fn resume(&self) -> Result<usize, StoreError> {
        self.load_functions()?;
        self.load_handlers()?;
        let mut started = 0;
        for (name, def) in self.store.list::<TaskDef>(Table::Tasks)? {
            if def.status != Status::Enabled {
                continue;
            }
            let stats = self.stats_for(&name);
            match self.parse(&def.statement) {
                Ok(stmts) if stmts.len() == 1 => match self.start(&def, &stmts[0], &stats) {
                    Ok(running) => {
                        self.active.lock().insert(name.clone(), Active { running });
                        started += 1;
                        tracing::info!(task = %name, kind = def.kind.as_str(), "task resumed");
                    }
                    Err(e) => {
                        tracing::error!(task = %name, error = %e, "task failed to resume");
                        stats.record_error(format!("failed to resume: {e}"));
                    }
                },
                Ok(_) => stats.record_error("stored statement is not a single statement"),
                Err(e) => {
                    tracing::error!(task = %name, error = %e, "stored task no longer parses");
                    stats.record_error(format!("stored statement no longer parses: {e}"));
                }
            }
        }
        Ok(started)
    }

    /// Signalled (one stored permit) whenever a task is created, dropped, enabled or disabled.
    pub fn changes(&self) -> Arc<tokio::sync::Notify> {
        Arc::clone(&self.changed)
    }

    /// Stored definitions of the enabled tasks, whether or not they are running.
    pub fn enabled_definitions(&self) -> Result<Vec<TaskDef>, StoreError> {
        Ok(self
            .store
            .list::<TaskDef>(Table::Tasks)?
            .into_iter()
            .map(|(_, def)| def)
            .filter(|def| def.status == Status::Enabled)
            .collect())
    }

    /// Stops every running task (shutdown).
    pub fn stop_all(&self) {
        for (name, active) in self.active.lock().drain() {
            tracing::debug!(task = %name, "stopping task");
            active.running.stop();
        }
    }

    fn stats_for(&self, name: &str) -> Arc<TaskStats> {
        Arc::clone(
            self.stats
                .lock()
                .entry(name.to_string())
                .or_insert_with(|| Arc::new(TaskStats::default())),
        )
    }

    fn start(
        &self,
        def: &TaskDef,
        stmt: &Statement,
        stats: &Arc<TaskStats>,
    ) -> Result<Box<dyn Running>, String> {
        let runner = self.runners.get(def.kind.as_str()).ok_or_else(|| {
            format!(
                "CREATE {} is parsed and validated, but this build of weir cannot run {} tasks yet",
                def.kind.keyword(),
                def.kind.as_str()
            )
        })?;
        runner.start(
            def,
            stmt,
            &StartContext {
                router: Arc::clone(&self.router),
                stats: Arc::clone(stats),
                store: Arc::clone(&self.store),
                udfs: Arc::clone(&self.udfs) as Arc<dyn UdfRuntime>,
                functions: self
                    .parse_options()
                    .map(|o| o.functions)
                    .unwrap_or_default(),
            },
        )
    }

    /// Executes `;`-separated statements in order. Stops at the first failing statement;
    /// the statements before it stay applied and are listed in the failure.
    pub fn execute(&self, text: &str) -> Result<Vec<Value>, Box<ExecFailure>> {
        let stmts = self.parse(text).map_err(|e| {
            Box::new(ExecFailure {
                statement_text: Some(e.statement_text.clone()),
                error: ExecError::Parse(e),
                applied: Vec::new(),
            })
        })?;
        let _serial = self.exec.lock();
        let mut results = Vec::with_capacity(stmts.len());
        for (index, stmt) in stmts.iter().enumerate() {
            match self.execute_one(index, stmt) {
                Ok(v) => results.push(v),
                Err(error) => {
                    return Err(Box::new(ExecFailure {
                        error,
                        statement_text: Some(stmt.to_string()),
                        applied: results,
                    }))
                }
            }
        }
        Ok(results)
    }

    fn execute_one(&self, index: usize, stmt: &Statement) -> Result<Value, ExecError> {
        match stmt {
            Statement::CreateContinuousQuery(s) => self.create_task(
                index,
                stmt,
                TaskKind::ContinuousQuery,
                &s.name,
                &s.database,
                s.or_replace,
            ),
            Statement::CreateAlert(s) => self.create_task(
                index,
                stmt,
                TaskKind::Alert,
                &s.name,
                &s.database,
                s.or_replace,
            ),
            Statement::CreateArchive(s) => self.create_task(
                index,
                stmt,
                TaskKind::Archive,
                &s.name,
                &s.database,
                s.or_replace,
            ),
            Statement::CreateBatchQuery(s) => self.create_task(
                index,
                stmt,
                TaskKind::BatchQuery,
                &s.name,
                &s.database,
                s.or_replace,
            ),
            Statement::CreateHandler(h) => {
                let existing: Option<HandlerDef> = self.store.get(Table::Handlers, &h.name)?;
                if existing.is_some() && !h.or_replace {
                    return Err(ExecError::Conflict {
                        index,
                        reason: format!(
                            "handler {:?} already exists (use CREATE OR REPLACE HANDLER)",
                            h.name
                        ),
                    });
                }
                let options: serde_json::Map<String, Value> = h
                    .options
                    .iter()
                    .map(|(k, v)| (k.clone(), option_json(v)))
                    .collect();
                weir_connectors::handlers::validate(&HandlerSpec {
                    name: h.name.clone(),
                    topic: h.topic.clone(),
                    kind: h.kind.clone(),
                    options: options.clone(),
                })
                .map_err(|e| ExecError::Invalid {
                    index,
                    reason: e.to_string(),
                })?;
                let now = now_rfc3339();
                let def = HandlerDef {
                    name: h.name.clone(),
                    topic: h.topic.clone(),
                    kind: h.kind.clone(),
                    options,
                    statement: stmt.to_string(),
                    created: existing
                        .as_ref()
                        .map_or_else(|| now.clone(), |e| e.created.clone()),
                    modified: now,
                };
                self.store.put(Table::Handlers, &h.name, &def)?;
                self.load_handlers()?;
                Ok(
                    json!({ if existing.is_some() { "replaced" } else { "created" }: h.name, "kind": "handler" }),
                )
            }
            Statement::CreateFunction(f) => self.create_function(index, stmt, f),
            Statement::Drop(d) => self.drop(index, d.kind, &d.name, d.if_exists),
            Statement::EnableTask(name) => self
                .set_status(name, Status::Enabled)
                .map(|def| json!({ "enabled": def.name })),
            Statement::DisableTask(name) => self
                .set_status(name, Status::Disabled)
                .map(|def| json!({ "disabled": def.name })),
            Statement::Show(show) => self.show(show),
        }
    }

    fn create_task(
        &self,
        index: usize,
        stmt: &Statement,
        kind: TaskKind,
        name: &str,
        database: &str,
        or_replace: bool,
    ) -> Result<Value, ExecError> {
        let existing: Option<TaskDef> = self.store.get(Table::Tasks, name)?;
        if let Some(e) = &existing {
            if !or_replace {
                return Err(ExecError::Conflict {
                    index,
                    reason: format!(
                        "a task named {name:?} already exists ({}); use CREATE OR REPLACE {} or DROP it first",
                        e.kind.as_str(),
                        kind.keyword()
                    ),
                });
            }
        }
        let now = now_rfc3339();
        let def = TaskDef {
            name: name.to_string(),
            kind,
            database: database.to_string(),
            statement: stmt.to_string(),
            status: Status::Enabled,
            created: existing
                .as_ref()
                .map_or_else(|| now.clone(), |e| e.created.clone()),
            modified: now,
        };
        // Stop the old version first: two runtimes of one task must never share a subscription.
        let previous = self.active.lock().remove(name);
        if let Some(p) = &previous {
            p.running.stop();
        }
        let stats = Arc::new(TaskStats::default());
        let running = match self.start(&def, stmt, &stats) {
            Ok(r) => r,
            Err(reason) => {
                self.restart_previous(existing.as_ref());
                return Err(ExecError::Invalid { index, reason });
            }
        };
        if let Err(e) = self.store.put(Table::Tasks, name, &def) {
            running.stop();
            self.restart_previous(existing.as_ref());
            return Err(e.into());
        }
        self.stats.lock().insert(name.to_string(), stats);
        self.active
            .lock()
            .insert(name.to_string(), Active { running });
        tracing::info!(task = %name, kind = kind.as_str(), "task created");
        self.changed.notify_one();
        Ok(
            json!({ if existing.is_some() { "replaced" } else { "created" }: name, "kind": kind.as_str() }),
        )
    }

    fn restart_previous(&self, previous: Option<&TaskDef>) {
        let Some(def) = previous else { return };
        if def.status != Status::Enabled {
            return;
        }
        if let Ok(stmts) = self.parse(&def.statement) {
            if let Some(stmt) = stmts.first() {
                let stats = self.stats_for(&def.name);
                if let Ok(running) = self.start(def, stmt, &stats) {
                    self.active
                        .lock()
                        .insert(def.name.clone(), Active { running });
                }
            }
        }
    }

    fn drop(
        &self,
        index: usize,
        kind: ObjectKind,
        name: &str,
        if_exists: bool,
    ) -> Result<Value, ExecError> {
        if kind == ObjectKind::Handler {
            let existing: Option<HandlerDef> = self.store.get(Table::Handlers, name)?;
            return match existing {
                Some(_) => {
                    self.store.delete(Table::Handlers, name)?;
                    self.load_handlers()?;
                    Ok(json!({ "dropped": name, "kind": "handler" }))
                }
                None if if_exists => Ok(json!({ "dropped": Value::Null })),
                None => Err(ExecError::NotFound {
                    what: "handler",
                    name: name.to_string(),
                }),
            };
        }
        if kind == ObjectKind::Function {
            return self.drop_function(index, name, if_exists);
        }
        let existing: Option<TaskDef> = self.store.get(Table::Tasks, name)?;
        let Some(def) = existing else {
            return if if_exists {
                Ok(json!({ "dropped": Value::Null }))
            } else {
                Err(ExecError::NotFound {
                    what: "task",
                    name: name.to_string(),
                })
            };
        };
        let wanted = match kind {
            ObjectKind::ContinuousQuery => Some(TaskKind::ContinuousQuery),
            ObjectKind::Alert => Some(TaskKind::Alert),
            ObjectKind::Archive => Some(TaskKind::Archive),
            ObjectKind::BatchQuery => Some(TaskKind::BatchQuery),
            _ => None,
        };
        if let Some(w) = wanted {
            if w != def.kind {
                return Err(ExecError::Invalid {
                    index,
                    reason: format!(
                        "{name:?} is a {}, not a {}; use DROP TASK {name}",
                        def.kind.as_str(),
                        w.as_str()
                    ),
                });
            }
        }
        self.delete_task(name)?;
        Ok(json!({ "dropped": name, "kind": def.kind.as_str() }))
    }

    /// Stops and deletes a task.
    pub fn delete_task(&self, name: &str) -> Result<(), ExecError> {
        let existing: Option<TaskDef> = self.store.get(Table::Tasks, name)?;
        if existing.is_none() {
            return Err(ExecError::NotFound {
                what: "task",
                name: name.to_string(),
            });
        }
        if let Some(active) = self.active.lock().remove(name) {
            active.running.stop();
        }
        // The definition and whatever the task kept to resume (checkpoints, outboxes) go
        // together: a task created later under the same name starts from nothing.
        self.store.apply(&[
            Change::Delete(Table::Tasks, name),
            Change::Delete(Table::Checkpoints, name),
            Change::Delete(Table::CheckpointData, name),
            Change::Delete(Table::BatchRuns, name),
        ])?;
        if let Some(def) = existing {
            if let Some(runner) = self.runners.get(def.kind.as_str()) {
                runner.forget(name);
            }
        }
        self.stats.lock().remove(name);
        tracing::info!(task = %name, "task dropped");
        self.changed.notify_one();
        Ok(())
    }

    /// Enables or disables a task.
    pub fn set_status(&self, name: &str, status: Status) -> Result<TaskDef, ExecError> {
        let mut def: TaskDef =
            self.store
                .get(Table::Tasks, name)?
                .ok_or_else(|| ExecError::NotFound {
                    what: "task",
                    name: name.to_string(),
                })?;
        if def.status == status {
            return Ok(def);
        }
        match status {
            Status::Disabled => {
                if let Some(active) = self.active.lock().remove(name) {
                    active.running.stop();
                }
                // Runs due while a batch query is disabled are not missed: it starts afresh
                // when enabled again.
                self.store.delete(Table::BatchRuns, name)?;
            }
            Status::Enabled => {
                let stmts = self.parse(&def.statement).map_err(ExecError::Parse)?;
                let stmt = stmts.first().ok_or_else(|| ExecError::Invalid {
                    index: 0,
                    reason: "stored statement is empty".into(),
                })?;
                let stats = self.stats_for(name);
                let running = self
                    .start(&def, stmt, &stats)
                    .map_err(|reason| ExecError::Invalid { index: 0, reason })?;
                self.active
                    .lock()
                    .insert(name.to_string(), Active { running });
            }
        }
        def.status = status;
        def.modified = now_rfc3339();
        self.store.put(Table::Tasks, name, &def)?;
        tracing::info!(task = %name, status = status.as_str(), "task status changed");
        self.changed.notify_one();
        Ok(def)
    }

    /// Summaries of every task.
    pub fn list(&self) -> Result<Vec<Value>, StoreError> {
        Ok(self
            .store
            .list::<TaskDef>(Table::Tasks)?
            .into_iter()
            .map(|(_, def)| self.summary(&def))
            .collect())
    }

    fn summary(&self, def: &TaskDef) -> Value {
        let running = self.active.lock().contains_key(&def.name);
        json!({
            "name": def.name,
            "kind": def.kind.as_str(),
            "database": def.database,
            "status": def.status.as_str(),
            "running": running,
            "created": def.created,
            "modified": def.modified,
        })
    }

    fn refresh_stats(&self) {
        for active in self.active.lock().values() {
            active.running.refresh_stats();
        }
    }

    /// The full view of one task: definition, status, stats, last error and plan.
    pub fn get(&self, name: &str) -> Result<Option<Value>, StoreError> {
        self.refresh_stats();
        let Some(def) = self.store.get::<TaskDef>(Table::Tasks, name)? else {
            return Ok(None);
        };
        let mut v = self.summary(&def);
        let stats = self.stats_for(name);
        let (plan, extra) = match self.active.lock().get(name) {
            Some(a) => (Some(a.running.plan()), a.running.extra_stats()),
            None => (None, Value::Null),
        };
        v["statement"] = json!(def.statement);
        v["stats"] = stats.to_json();
        if !extra.is_null() {
            v["stats"][def.kind.as_str()] = extra;
        }
        v["last_error"] = json!(stats.last_error());
        v["plan"] = json!(plan);
        Ok(Some(v))
    }

    /// Stats of running tasks, for `/metrics`.
    pub fn stats_snapshot(&self) -> Vec<(String, Arc<TaskStats>)> {
        self.refresh_stats();
        let mut v: Vec<_> = self
            .stats
            .lock()
            .iter()
            .map(|(k, s)| (k.clone(), Arc::clone(s)))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    fn show(&self, show: &Show) -> Result<Value, ExecError> {
        let tasks = self.store.list::<TaskDef>(Table::Tasks)?;
        let of_kind = |k: TaskKind| -> Vec<Value> {
            tasks
                .iter()
                .filter(|(_, d)| d.kind == k)
                .map(|(_, d)| json!([d.name, d.database, d.status.as_str(), d.statement]))
                .collect()
        };
        let table =
            |columns: &[&str], rows: Vec<Value>| json!({ "columns": columns, "rows": rows });
        Ok(match show {
            Show::Tasks => table(
                &[
                    "name", "kind", "database", "status", "running", "created", "modified",
                ],
                tasks
                    .iter()
                    .map(|(_, d)| {
                        let s = self.summary(d);
                        json!([
                            s["name"],
                            s["kind"],
                            s["database"],
                            s["status"],
                            s["running"],
                            s["created"],
                            s["modified"]
                        ])
                    })
                    .collect(),
            ),
            Show::Task(name) => self.get(name)?.ok_or_else(|| ExecError::NotFound {
                what: "task",
                name: name.clone(),
            })?,
            Show::ContinuousQueries => table(
                &["name", "database", "status", "query"],
                of_kind(TaskKind::ContinuousQuery),
            ),
            Show::Alerts => table(
                &["name", "database", "status", "query"],
                of_kind(TaskKind::Alert),
            ),
            Show::Archives => table(
                &["name", "database", "status", "query"],
                of_kind(TaskKind::Archive),
            ),
            Show::BatchQueries => table(
                &["name", "database", "status", "query"],
                of_kind(TaskKind::BatchQuery),
            ),
            Show::Handlers => {
                let handlers = self.store.list::<HandlerDef>(Table::Handlers)?;
                table(
                    &["name", "topic", "kind", "options", "created"],
                    handlers
                        .into_iter()
                        .map(|(_, h)| json!([h.name, h.topic, h.kind, h.options, h.created]))
                        .collect(),
                )
            }
            Show::Topics => table(
                &["topic", "level", "events", "handlers"],
                self.topics()?
                    .into_iter()
                    .map(|t| json!([t["topic"], t["level"], t["events"], t["handlers"]]))
                    .collect(),
            ),
            Show::Functions => {
                let stats: HashMap<String, _> = self.udfs.stats().into_iter().collect();
                let get =
                    |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
                table(
                    &[
                        "name",
                        "language",
                        "command",
                        "timeout",
                        "calls",
                        "failures",
                        "restarts",
                        "last_error",
                        "created",
                    ],
                    self.store
                        .list::<FunctionDef>(Table::Functions)?
                        .into_iter()
                        .map(|(_, f)| {
                            let s = stats.get(&f.name);
                            json!([
                                f.name,
                                f.language,
                                f.command,
                                humantime::format_duration(std::time::Duration::from_nanos(
                                    f.timeout_ns
                                ))
                                .to_string(),
                                s.map_or(0, |s| get(&s.calls)),
                                s.map_or(0, |s| get(&s.failures)),
                                s.map_or(0, |s| get(&s.restarts)),
                                s.and_then(|s| s.last_error()),
                                f.created
                            ])
                        })
                        .collect(),
                )
            }
        })
    }
}

impl TaskManager {
    /// Every topic: those events were published to and those handlers are subscribed to, with
    /// the level (the highest of its alert IDs' latest events), the number of IDs and the
    /// handlers.
    pub fn topics(&self) -> Result<Vec<Value>, StoreError> {
        let mut topics: std::collections::BTreeMap<String, Value> = self
            .topics
            .list()
            .into_iter()
            .filter_map(|t| Some((t["topic"].as_str()?.to_string(), t)))
            .collect();
        for (_, h) in self.store.list::<HandlerDef>(Table::Handlers)? {
            let t = topics
                .entry(h.topic.clone())
                .or_insert_with(|| json!({ "topic": h.topic, "level": "OK", "events": 0 }));
            match t.get_mut("handlers").and_then(Value::as_array_mut) {
                Some(list) => list.push(json!(h.name)),
                None => t["handlers"] = json!([h.name]),
            }
        }
        Ok(topics
            .into_values()
            .map(|mut t| {
                if t.get("handlers").is_none() {
                    t["handlers"] = json!([]);
                }
                t
            })
            .collect())
    }

    /// The latest event of every alert ID of `topic`; `None` for a topic nothing was published
    /// to and no handler names.
    pub fn topic_events(&self, topic: &str) -> Result<Option<Vec<Value>>, StoreError> {
        if let Some(events) = self.topics.events(topic) {
            return Ok(Some(events));
        }
        let handled = self
            .store
            .list::<HandlerDef>(Table::Handlers)?
            .into_iter()
            .any(|(_, h)| h.topic == topic);
        Ok(handled.then(Vec::new))
    }

    /// The handlers subscribed to `topic`, with their options.
    pub fn topic_handlers(&self, topic: &str) -> Result<Vec<Value>, StoreError> {
        Ok(self
            .store
            .list::<HandlerDef>(Table::Handlers)?
            .into_iter()
            .filter(|(_, h)| h.topic == topic)
            .map(|(_, h)| {
                let stats = self
                    .handlers
                    .stats()
                    .into_iter()
                    .find(|s| s.name == h.name)
                    .map(|s| json!(s));
                json!({
                    "name": h.name,
                    "kind": h.kind,
                    "options": h.options,
                    "created": h.created,
                    "modified": h.modified,
                    "stats": stats,
                })
            })
            .collect())
    }

    /// Forgets a topic's events (its handlers stay).
    pub fn delete_topic(&self, topic: &str) -> Result<bool, StoreError> {
        self.topics.delete(topic)
    }
}

/// Default time one call of a user-defined function may take.
const UDF_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl TaskManager {
    /// Parses statements knowing the stored user-defined functions.
    fn parse(&self, text: &str) -> Result<Vec<Statement>, weir_sql::ParseError> {
        let options = self.parse_options().unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot read the stored functions");
            ParseOptions::default()
        });
        weir_sql::parse_statements_with(text, &options)
    }

    fn parse_options(&self) -> Result<ParseOptions, StoreError> {
        let mut options = ParseOptions::default();
        for (_, f) in self.store.list::<FunctionDef>(Table::Functions)? {
            if let Ok(stmts) = weir_sql::parse_statements(&f.statement) {
                if let Some(Statement::CreateFunction(c)) = stmts.first() {
                    options = options.with_function(c);
                }
            }
        }
        Ok(options)
    }

    /// Hands the stored handlers to the dispatcher (unchanged ones keep their queues).
    fn load_handlers(&self) -> Result<(), StoreError> {
        let specs = self
            .store
            .list::<HandlerDef>(Table::Handlers)?
            .into_iter()
            .map(|(_, h)| HandlerSpec {
                name: h.name,
                topic: h.topic,
                kind: h.kind,
                options: h.options,
            })
            .collect();
        self.handlers.set_handlers(specs);
        Ok(())
    }

    /// Delivery counters of every handler, for `/metrics`.
    pub fn handler_stats(&self) -> Vec<weir_connectors::handlers::HandlerStats> {
        self.handlers.stats()
    }

    /// Call counters of every user-defined function, for `/metrics`.
    pub fn udf_stats(&self) -> Vec<(String, Arc<weir_connectors::udf_process::UdfStats>)> {
        self.udfs.stats()
    }

    /// Hands the stored functions to the registry (their programs start at the first call).
    fn load_functions(&self) -> Result<(), StoreError> {
        let configs = self
            .store
            .list::<FunctionDef>(Table::Functions)?
            .into_iter()
            .map(|(_, f)| UdfProcessConfig {
                name: f.name,
                command: f.command,
                timeout: std::time::Duration::from_nanos(f.timeout_ns),
            })
            .collect();
        self.udfs.set(configs);
        Ok(())
    }

    fn create_function(
        &self,
        index: usize,
        stmt: &Statement,
        f: &weir_sql::ast::CreateFunction,
    ) -> Result<Value, ExecError> {
        let invalid = |reason: String| ExecError::Invalid { index, reason };
        let mut timeout = UDF_TIMEOUT;
        for (k, v) in &f.options {
            match (k.as_str(), v) {
                ("timeout", OptionValue::Duration(d)) => {
                    timeout = d.to_std().filter(|t| !t.is_zero()).ok_or_else(|| {
                        invalid(format!(
                            "function {}: timeout must be positive, got {d}",
                            f.name
                        ))
                    })?;
                }
                ("timeout", other) => {
                    return Err(invalid(format!(
                        "function {}: timeout must be a duration such as 10s, got {other}",
                        f.name
                    )))
                }
                (other, _) => {
                    return Err(invalid(format!(
                        "function {}: unknown option {other:?} (known: timeout)",
                        f.name
                    )))
                }
            }
        }
        if f.command.trim().is_empty() {
            return Err(invalid(format!(
                "function {}: the command is empty",
                f.name
            )));
        }
        let existing: Option<FunctionDef> = self.store.get(Table::Functions, &f.name)?;
        if existing.is_some() && !f.or_replace {
            return Err(ExecError::Conflict {
                index,
                reason: format!(
                    "function {:?} already exists (use CREATE OR REPLACE FUNCTION)",
                    f.name
                ),
            });
        }
        let now = now_rfc3339();
        let def = FunctionDef {
            name: f.name.clone(),
            language: "process".into(),
            command: f.command.clone(),
            timeout_ns: u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX),
            statement: stmt.to_string(),
            created: existing
                .as_ref()
                .map_or_else(|| now.clone(), |e| e.created.clone()),
            modified: now,
        };
        self.store.put(Table::Functions, &f.name, &def)?;
        self.load_functions()?;
        tracing::info!(function = %f.name, command = %f.command, "function created");
        Ok(
            json!({ if existing.is_some() { "replaced" } else { "created" }: f.name, "kind": "function" }),
        )
    }

    /// Drops a function no stored task calls.
    fn drop_function(&self, index: usize, name: &str, if_exists: bool) -> Result<Value, ExecError> {
        let existing: Option<FunctionDef> = self.store.get(Table::Functions, name)?;
        if existing.is_none() {
            return if if_exists {
                Ok(json!({ "dropped": Value::Null }))
            } else {
                Err(ExecError::NotFound {
                    what: "function",
                    name: name.to_string(),
                })
            };
        }
        // A task calls it when its statement no longer parses without it.
        let mut without = self.parse_options()?;
        without.functions.remove(name);
        let users: Vec<String> = self
            .store
            .list::<TaskDef>(Table::Tasks)?
            .into_iter()
            .filter(|(_, d)| weir_sql::parse_statements_with(&d.statement, &without).is_err())
            .map(|(n, _)| n)
            .collect();
        if !users.is_empty() {
            return Err(ExecError::Invalid {
                index,
                reason: format!(
                    "function {name} is called by {}; drop or replace them first",
                    users.join(", ")
                ),
            });
        }
        self.store.delete(Table::Functions, name)?;
        self.load_functions()?;
        Ok(json!({ "dropped": name, "kind": "function" }))
    }
}

fn option_json(v: &OptionValue) -> Value {
    match v {
        OptionValue::String(s) => json!(s),
        OptionValue::Integer(i) => json!(i),
        OptionValue::Float(f) => json!(f),
        OptionValue::Boolean(b) => json!(b),
        OptionValue::Duration(d) => json!(d.to_string()),
        OptionValue::List(items) => Value::Array(items.iter().map(option_json).collect()),
    }
}
