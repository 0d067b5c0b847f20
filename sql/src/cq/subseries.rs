//! Which series of its group a row is from, for the aggregates InfluxDB reduces per series.
//!
//! A group is the measurement and the `GROUP BY` tags; its series also differ by the tags the
//! query does not group on. InfluxDB reduces `mean()` per series before merging the series
//! (see [`crate::eval::Acc::add_in_series`]), so a windowed query needs to tell them apart,
//! but only there: a value per row computed from the tags outside the group (0 when a row has
//! none), not a second interned key. Batches whose tag columns are all grouped on (`GROUP BY
//! *`, or series with no other tags) build nothing.
//!
//! The value is a 64-bit hash of the `(tag, value)` pairs, stable across builds and restarts
//! (it is checkpointed): FNV-1a per pair, mixed, and summed over the pairs (a pair's hash has
//! its tag's name in it, so the sum does not depend on the column order). Two series of one
//! group collide with odds of about 2^-64 per pair of series; their points would then be
//! reduced together, as weir did before it told series apart.

use datafusion::arrow::array::{Array, DictionaryArray};
use datafusion::arrow::datatypes::Int32Type;

use super::plan::GroupTags;
use super::view::{Col, View};

/// The series discriminators of one batch's rows.
pub(crate) struct Subseries<'a> {
    /// Per tag column outside the group: the column and the hash of each dictionary value.
    columns: Vec<(&'a DictionaryArray<Int32Type>, Vec<u64>)>,
}

impl<'a> Subseries<'a> {
    /// The discriminators of `view`'s rows for a query grouping on `group`; `None` when every
    /// row's group is its series (no tag column outside the group).
    pub(crate) fn of(view: &View<'a>, group: &GroupTags) -> Option<Subseries<'a>> {
        let GroupTags::Keys(keys) = group else {
            return None;
        };
        let columns: Vec<(&'a DictionaryArray<Int32Type>, Vec<u64>)> = view
            .tag_names
            .iter()
            .filter(|n| !keys.iter().any(|k| k == *n))
            .filter_map(|name| match view.cols.get(name) {
                Some(Col::Tag(dict, values)) => {
                    let hashes = (0..values.len())
                        .map(|k| {
                            let v = if values.is_valid(k) {
                                values.value(k)
                            } else {
                                ""
                            };
                            // An empty value is no tag, as in the series key.
                            if v.is_empty() {
                                0
                            } else {
                                pair_hash(name, v)
                            }
                        })
                        .collect();
                    Some((*dict, hashes))
                }
                _ => None,
            })
            .collect();
        (!columns.is_empty()).then_some(Subseries { columns })
    }

    /// The discriminator of `row`: 0 when it has none of the tags outside the group.
    pub(crate) fn at(&self, row: usize) -> u64 {
        self.columns.iter().fold(0u64, |acc, (dict, hashes)| {
            let h = if dict.is_valid(row) {
                usize::try_from(dict.keys().value(row))
                    .ok()
                    .and_then(|k| hashes.get(k).copied())
                    .unwrap_or(0)
            } else {
                0
            };
            acc.wrapping_add(h)
        })
    }
}

/// FNV-1a over `name`, a separator and `value`, then a finalizer (FNV alone mixes the last
/// bytes poorly for a sum of hashes).
fn pair_hash(name: &str, value: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes().chain([0xff]).chain(value.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // splitmix64's finalizer.
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    // Never 0, which means "no other tag".
    h.max(1)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn pairs_hash_by_name_and_value() {
        assert_ne!(pair_hash("a", "b"), pair_hash("b", "a"));
        assert_ne!(pair_hash("ab", "c"), pair_hash("a", "bc"));
        // Stable across builds: checkpoints hold these values.
        assert_eq!(pair_hash("path", "/"), pair_hash("path", "/"));
        assert_ne!(pair_hash("path", "/"), 0);
        // Swapped values of two tags are two other series.
        assert_ne!(
            pair_hash("a", "1").wrapping_add(pair_hash("b", "2")),
            pair_hash("a", "2").wrapping_add(pair_hash("b", "1"))
        );
    }
}
