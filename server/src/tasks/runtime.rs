//! Starting and stopping task runtimes.
//!
//! Each task kind has a [`Runner`] that validates a definition fully (planning it) and starts
//! it against the router. The manager owns lifecycle and persistence; runners own execution.

use std::sync::Arc;

use weir_engine::router::Router;
use weir_engine::store::Store;
use weir_engine::udf::UdfRuntime;
use weir_sql::Statement;

use super::model::{TaskDef, TaskStats};

/// A running task.
pub trait Running: Send + Sync + std::fmt::Debug {
    /// The plan, as text, for `GET /api/v1/tasks/{name}`.
    fn plan(&self) -> String;
    /// Kind-specific counters, shown under `stats` in the task's view.
    fn extra_stats(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
    /// Copies counters the runtime keeps itself into the task's stats (called before they
    /// are shown).
    fn refresh_stats(&self) {}
    /// Stops the task; its subscription is removed, state that must survive is kept.
    fn stop(&self);
}

/// What a runner gets to start a task.
#[derive(Debug, Clone)]
pub struct StartContext {
    pub router: Arc<Router>,
    pub stats: Arc<TaskStats>,
    /// Where a task records what it needs to resume (checkpoints).
    pub store: Arc<Store>,
    /// The user-defined functions a task's SELECT may call.
    pub udfs: Arc<dyn UdfRuntime>,
    /// Their signatures.
    pub functions: weir_sql::Functions,
}

impl StartContext {
    /// The functions as the planner takes them.
    pub fn planner_udfs(&self) -> weir_sql::cq::Udfs {
        weir_sql::cq::Udfs {
            signatures: self.functions.clone(),
            runtime: Some(Arc::clone(&self.udfs)),
        }
    }
}

/// Starts tasks of one kind.
pub trait Runner: Send + Sync + std::fmt::Debug {
    /// Validates and starts `stmt`. An error means the definition is not acceptable (nothing
    /// is stored), with a message for the user.
    fn start(
        &self,
        def: &TaskDef,
        stmt: &Statement,
        ctx: &StartContext,
    ) -> Result<Box<dyn Running>, String>;

    /// Deletes what a dropped task kept outside the store (files). Called after it stopped.
    fn forget(&self, name: &str) {
        let _ = name;
    }
}
