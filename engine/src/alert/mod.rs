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
