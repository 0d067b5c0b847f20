//! Batch alerts (`CREATE ALERT ... EVERY d | CRON '...'`): the batch query's result rows of
//! each run are evaluated like a stream alert's, and the events published to the topic.
//!
//! The alert IDs' states are stored after every run (`Table::AlertState`), together with the
//! topic's events, so `STATE CHANGES ONLY` holds across restarts.

use std::sync::Arc;

use parking_lot::Mutex;
use weir_engine::store::{Change, Store, Table};
use weir_sql::alert::{rows_from_lines, AlertRules, AlertStates};
use weir_sql::ast::CreateAlert;

use super::alert_runner::count_events;
use super::model::TaskStats;
use crate::topics::Topics;

/// A batch alert's evaluation and where its events go.
#[derive(Debug)]
pub struct BatchAlert {
    rules: AlertRules,
    states: Mutex<AlertStates>,
    topics: Arc<Topics>,
    store: Arc<Store>,
    task: String,
}

impl BatchAlert {
    /// The alert's rules, with the states stored by earlier runs.
    pub fn open(
        a: &CreateAlert,
        topics: Arc<Topics>,
        store: Arc<Store>,
    ) -> Result<BatchAlert, String> {
        let rules = AlertRules::new(a).map_err(|e| e.to_string())?;
        let states = match store
            .get_bytes(Table::AlertState, &a.name)
            .map_err(|e| e.to_string())?
        {
            Some(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(task = %a.name, error = %e, "stored alert states are unreadable; starting from OK");
                AlertStates::default()
            }),
            None => AlertStates::default(),
        };
        Ok(BatchAlert {
            rules,
            states: Mutex::new(states),
            topics,
            store,
            task: a.name.clone(),
        })
    }

    /// The topic events go to.
    pub fn topic(&self) -> &str {
        self.rules.topic()
    }

    /// Evaluates one run's result rows (line protocol, ns) and publishes the events; returns
    /// the number of events.
    pub async fn deliver(
        self: &Arc<Self>,
        body: Vec<u8>,
        stats: &TaskStats,
    ) -> Result<u64, String> {
        let rows =
            rows_from_lines(&body).map_err(|e| format!("cannot read the query's rows: {e}"))?;
        let this = Arc::clone(self);
        let events = tokio::task::spawn_blocking(move || {
            let mut states = this.states.lock();
            let evaluated = this.rules.evaluate(&mut states, &rows);
            let bytes = serde_json::to_vec(&*states).map_err(|e| e.to_string())?;
            this.store
                .apply(&[Change::Put(Table::AlertState, &this.task, bytes)])
                .map_err(|e| format!("cannot store the alert states: {e}"))?;
            this.topics
                .publish(&evaluated.events)
                .map_err(|e| format!("cannot store the alert events: {e}"))?;
            Ok::<_, String>(evaluated.events)
        })
        .await
        .map_err(|e| format!("alert evaluation failed: {e}"))??;
        count_events(stats, &events);
        Ok(events.len() as u64)
    }
}
