//! weir's connections to the outside world.
//!
//! - [`handlers`]: alert handlers (Slack, PagerDuty, webhooks, email, MQTT, ...) and the
//!   dispatcher that queues and retries alert events for them.
//! - [`http_write`]: the InfluxDB-compatible write endpoints (`/write`, `/api/v2/write`,
//!   `/kapacitor/v1/write`).
//! - [`influx_writer`]: writing results to InfluxDB 1.x `/write` through an on-disk outbox.
//! - [`influx_subscriptions`]: InfluxDB 1.x subscriptions, so InfluxDB pushes its points to
//!   weir's `/write`.
//! - [`udf_process`]: user-defined functions run as programs speaking Arrow IPC.

pub mod handlers;
pub mod http_write;
pub mod influx_subscriptions;
pub mod influx_writer;
pub mod udf_process;
