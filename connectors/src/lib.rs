//! weir's connections to the outside world.
//!
//! - [`http_write`]: the InfluxDB-compatible write endpoints (`/write`, `/api/v2/write`,
//!   `/kapacitor/v1/write`).
//! - [`influx_subscriptions`]: InfluxDB 1.x subscriptions, so InfluxDB pushes its points to
//!   weir's `/write`.

pub mod http_write;
pub mod influx_subscriptions;
