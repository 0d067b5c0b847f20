//! Turning parsed lines into Arrow record batches.
//!
//! [`RequestBuilder`] collects the lines of one write request into one columnar builder per
//! measurement, checking every new column against the [`SchemaRegistry`](crate::schema::SchemaRegistry)
//! so a line with a conflicting field type is rejected before anything of it is stored.
//! [`unify`] concatenates batches whose schemas differ (a measurement gains columns over time).

mod builder;
mod columns;
pub mod unify;

pub use builder::{BuiltMeasurement, LineRejection, RequestBuilder};
