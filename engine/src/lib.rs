//! The weir runtime.
//!
//! Data flows one way through this crate: request bodies are parsed by [`line_protocol`],
//! checked against the per-measurement [`schema`] registry and turned into Arrow record
//! batches by [`batch`], made durable by the [`wal`], accumulated by the [`batcher`] and handed
//! to subscribers (tasks, archives) by the [`router`]. [`pipeline`] ties these together so the
//! HTTP layer only has to call one function per write request.

pub mod alert;
pub mod batch;
pub mod batcher;
pub mod clock;
pub mod fold_gate;
pub mod line_protocol;
pub mod lp_encode;
pub mod pipeline;
pub mod router;
pub mod schema;
pub mod seq;
pub mod store;
pub mod time_text;
pub mod udf;
pub mod wal;
pub mod window;

pub use pipeline::{IngestPipeline, PipelineConfig, WriteOutcome, WriteRequest};
