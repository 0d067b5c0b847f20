//! Series (group) keys: the source measurement plus the grouping tags of a point.
//!
//! Keys are built once per distinct tag combination of a batch (the tag columns are
//! dictionary-encoded, so a batch of many points usually has few combinations), then looked
//! up by reference in the window and series maps.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::Array;

use super::plan::GroupTags;
use super::view::{Col, View};

/// A group: measurement and `(tag key, value)` pairs with non-empty values, in key order.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub(crate) struct SeriesKey {
    pub(crate) measurement: String,
    pub(crate) tags: Vec<(String, String)>,
}

/// Which tags make a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyTags<'a> {
    /// These keys (sorted).
    Keys(&'a [String]),
    /// Every tag of the point.
    All,
}

impl<'a> KeyTags<'a> {
    /// The tags a windowed query groups on.
    pub(crate) fn grouping(group: &'a GroupTags) -> KeyTags<'a> {
        match group {
            GroupTags::Keys(k) => KeyTags::Keys(k),
            GroupTags::All => KeyTags::All,
        }
    }

    /// The tags a per-point query writes: without `GROUP BY`, every tag of the point (so points
    /// of different series never overwrite each other in the target).
    pub(crate) fn per_point(group: &'a GroupTags) -> KeyTags<'a> {
        match group {
            GroupTags::Keys(k) if k.is_empty() => KeyTags::All,
            other => KeyTags::grouping(other),
        }
    }
}

/// Builds keys for the rows of one batch, caching them per dictionary-key combination.
pub(crate) struct KeyBuilder<'v, 'a> {
    view: &'v View<'a>,
    measurement: &'v str,
    /// The tag columns that make the key, in key order.
    columns: Vec<&'a str>,
    cache: HashMap<Vec<i32>, Arc<SeriesKey>>,
    sig: Vec<i32>,
}

impl<'v, 'a> KeyBuilder<'v, 'a> {
    pub(crate) fn new(view: &'v View<'a>, measurement: &'v str, tags: KeyTags<'_>) -> Self {
        let columns = match tags {
            KeyTags::All => view.tag_names.clone(),
            KeyTags::Keys(keys) => view
                .tag_names
                .iter()
                .copied()
                .filter(|n| keys.iter().any(|k| k == n))
                .collect(),
        };
        KeyBuilder {
            view,
            measurement,
            columns,
            cache: HashMap::new(),
            sig: Vec::new(),
        }
    }

    /// The key of `row`, shared (the window and series maps hold the same allocation).
    pub(crate) fn key(&mut self, row: usize) -> &Arc<SeriesKey> {
        self.sig.clear();
        for name in &self.columns {
            let k = match self.view.cols.get(name) {
                Some(Col::Tag(dict, _)) if dict.is_valid(row) => dict.keys().value(row),
                _ => -1,
            };
            self.sig.push(k);
        }
        if !self.cache.contains_key(&self.sig) {
            let mut tags = Vec::with_capacity(self.columns.len());
            for name in &self.columns {
                if let Some(v) = self.view.tag(name, row).filter(|v| !v.is_empty()) {
                    tags.push(((*name).to_string(), v.to_string()));
                }
            }
            let key = SeriesKey {
                measurement: self.measurement.to_string(),
                tags,
            };
            self.cache.insert(self.sig.clone(), Arc::new(key));
        }
        // Present: inserted just above when missing.
        &self.cache[&self.sig]
    }
}
