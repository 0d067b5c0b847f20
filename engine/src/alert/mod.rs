//! Alerts in the runtime: the per-ID [`state`] machine that decides what is published, and the
//! [`event`] that is published to a topic and handed to every handler subscribed to it.
//!
//! Evaluating a task's rows into levels is the statement language's job (`weir_sql`); sending
//! events anywhere is the connectors' (`weir_connectors::handlers`). This module is what they
//! share.

pub mod event;
pub mod state;

pub use event::{Event, EventSeries};
pub use state::{AlertState, Level, Rules, Transition};

/// The alert handler kinds, as `CREATE HANDLER ... KIND k` names them: the statement
/// language accepts these and the connectors implement each.
pub const HANDLER_KINDS: &[&str] = &[
    "log",
    "post",
    "tcp",
    "exec",
    "smtp",
    "slack",
    "pagerduty2",
    "opsgenie2",
    "alerta",
    "sensu",
    "hipchat",
    "teams",
    "telegram",
    "victorops",
    "pushover",
    "discord",
    "mqtt",
];
