//! weir's connections to the outside world.
//!
//! - [`http_write`]: the InfluxDB-compatible write endpoints (`/write`, `/api/v2/write`,
//!   `/kapacitor/v1/write`).

pub mod http_write;
