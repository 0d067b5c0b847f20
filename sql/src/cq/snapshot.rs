//! Checkpoints of a continuous query's state, so a restart resumes its open windows, the
//! per-series state of its transformations and fills, and what it has already emitted.
//!
//! A checkpoint is CBOR (self-describing): a checkpoint written by another build is read when
//! its shape still fits and refused with a message otherwise, never misread. The operators'
//! settings (interval, lateness, TTL) are not in it: they come from the plan and the engine's
//! configuration of the run that restores it.

use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::per_point::PerPoint;
use super::series::SeriesKey;
use super::windowed::{Saved, Windowed};

/// Bumped when the meaning of a checkpoint's fields changes.
pub(crate) const VERSION: u32 = 2;

/// Why a checkpoint cannot be taken or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("cannot encode the checkpoint: {0}")]
    Encode(String),
    #[error("the checkpoint is unreadable: {0}")]
    Decode(String),
    #[error("the checkpoint has format version {found}; this build reads version {expected}")]
    Version { found: u32, expected: u32 },
    #[error("the checkpoint does not fit this query: {0}")]
    Mismatch(String),
}

/// What is written.
#[derive(Serialize)]
pub(crate) struct SnapshotRef<'a> {
    pub(crate) version: u32,
    /// Largest event time the task had seen.
    pub(crate) max_event: Option<i64>,
    pub(crate) kind: KindRef<'a>,
}

#[derive(Serialize)]
pub(crate) enum KindRef<'a> {
    Windowed(&'a Windowed),
    PerPoint(&'a PerPoint),
}

/// What is read back: the same shape, owned (the version was checked first).
#[derive(Deserialize)]
pub(crate) struct Snapshot {
    pub(crate) max_event: Option<i64>,
    pub(crate) kind: Kind,
}

#[derive(Deserialize)]
pub(crate) enum Kind {
    Windowed(Saved),
    PerPoint(PerPoint),
}

pub(crate) fn encode(snapshot: &SnapshotRef<'_>) -> Result<Vec<u8>, CheckpointError> {
    let mut out = Vec::new();
    ciborium::into_writer(snapshot, &mut out)
        .map_err(|e| CheckpointError::Encode(e.to_string()))?;
    Ok(out)
}

pub(crate) fn decode(bytes: &[u8]) -> Result<Snapshot, CheckpointError> {
    // Read the version first, so an incompatible layout is reported as such.
    #[derive(Deserialize)]
    struct Head {
        version: u32,
    }
    let head: Head =
        ciborium::from_reader(bytes).map_err(|e| CheckpointError::Decode(e.to_string()))?;
    if head.version != VERSION {
        return Err(CheckpointError::Version {
            found: head.version,
            expected: VERSION,
        });
    }
    ciborium::from_reader(bytes).map_err(|e| CheckpointError::Decode(e.to_string()))
}

/// `#[serde(with)]` for maps keyed by shared series keys: written as a sequence of
/// `(key, value)` pairs (the keys are not strings), read back with fresh `Arc`s.
pub(crate) mod arc_keys {
    use super::*;

    pub(crate) fn serialize<M, V, S>(map: &M, s: S) -> Result<S::Ok, S::Error>
    where
        for<'a> &'a M: IntoIterator<Item = (&'a Arc<SeriesKey>, &'a V)>,
        V: Serialize,
        S: Serializer,
    {
        s.collect_seq(map.into_iter().map(|(k, v)| (&**k, v)))
    }

    pub(crate) fn deserialize<'de, M, V, D>(d: D) -> Result<M, D::Error>
    where
        M: FromIterator<(Arc<SeriesKey>, V)>,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        let pairs = Vec::<(SeriesKey, V)>::deserialize(d)?;
        Ok(pairs.into_iter().map(|(k, v)| (Arc::new(k), v)).collect())
    }
}
