//! Series keys of one windowed task, interned to dense `u32` ids.
//!
//! Each key is stored once, as one allocation holding two encodings of it:
//!
//! - an order-preserving byte string (measurement, then each `tag key, value`, each string
//!   terminated by `0x00`, with `0x00`/`0x01` inside a string escaped as `0x01 0x01`/`0x01
//!   0x02`): comparing two of these byte-wise orders keys exactly as comparing the
//!   `(measurement, [(tag, value)])` tuples would, so output stays in series-key order;
//! - the line-protocol series key (`cpu,host=a`), escaped, so writing a line copies it.
//!
//! A batch maps its rows to ids through [`IdBuilder`], which caches the id per combination of
//! dictionary keys of the grouping tag columns: rows of a known combination cost one lookup in
//! a vector (one tag column) or a hash map probed with a borrowed slice, and no allocation.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};

use datafusion::arrow::array::Array;
use hashbrown::HashTable;
use weir_engine::lp_encode::{escape_into, KEY_SPECIAL, MEASUREMENT_SPECIAL};

use super::series::KeyTags;
use super::view::{Col, View};

/// One interned key: `bytes[..split]` is the ordered encoding, `bytes[split..]` the
/// line-protocol key, whose first `meas` bytes are the escaped measurement.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Interned {
    bytes: Box<[u8]>,
    split: u32,
    meas: u32,
}

impl Interned {
    /// The order-preserving encoding.
    pub(crate) fn ordered(&self) -> &[u8] {
        self.bytes.get(..self.split as usize).unwrap_or_default()
    }

    /// The escaped line-protocol series key, measurement included.
    pub(crate) fn line(&self) -> &[u8] {
        self.bytes.get(self.split as usize..).unwrap_or_default()
    }

    /// The key's tags, decoded from the ordered encoding (what a user-defined function is told
    /// about its group; not on any hot path).
    pub(crate) fn tags(&self) -> Vec<(String, String)> {
        let mut strings = Vec::new();
        let mut cur = Vec::new();
        let mut bytes = self.ordered().iter();
        while let Some(&b) = bytes.next() {
            match b {
                0x00 => {
                    strings.push(String::from_utf8_lossy(&std::mem::take(&mut cur)).into_owned())
                }
                0x01 => match bytes.next() {
                    Some(0x01) => cur.push(0x00),
                    _ => cur.push(0x01),
                },
                _ => cur.push(b),
            }
        }
        // The measurement first, then key, value pairs.
        let mut pairs = strings.into_iter().skip(1);
        let mut tags = Vec::new();
        while let (Some(k), Some(v)) = (pairs.next(), pairs.next()) {
            tags.push((k, v));
        }
        tags
    }

    /// The escaped tags only (`,host=a`), for a target measurement of the query's own.
    pub(crate) fn line_tags(&self) -> &[u8] {
        self.line().get(self.meas as usize..).unwrap_or_default()
    }
}

/// The interner of one task.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    /// Ids, hashed by their key's ordered encoding.
    table: HashTable<u32>,
    /// By id; `None` for a freed id.
    keys: Vec<Option<Interned>>,
    /// Freed ids, handed out again lowest first (sorted descending when `free_unsorted` is
    /// false): the ids, hence the order lines are written in, do not depend on the order
    /// series expired, and a task restored from a checkpoint hands out the same ids.
    free: Vec<u32>,
    free_unsorted: bool,
    hasher: RandomState,
}

impl Interner {
    /// The key of `id` (a live id).
    pub(crate) fn get(&self, id: u32) -> Option<&Interned> {
        self.keys.get(id as usize).and_then(Option::as_ref)
    }

    /// The ordered encoding of `id`'s key (empty for a freed id).
    pub(crate) fn ordered(&self, id: u32) -> &[u8] {
        self.get(id).map(Interned::ordered).unwrap_or_default()
    }

    /// Sorts ids in series-key order.
    ///
    /// Comparing keys directly reads two scattered heap keys per comparison (~17 per id for
    /// 100k ids): in arrival order that is a cache miss each. Instead each key is read once,
    /// for the 16 bytes after the prefix all keys share (compared as one big-endian integer,
    /// which orders as the bytes do); only ids equal on those bytes compare whole keys.
    pub(crate) fn sort(&self, ids: &mut [u32]) {
        const SMALL: usize = 32;
        if ids.len() <= SMALL {
            ids.sort_unstable_by(|a, b| self.ordered(*a).cmp(self.ordered(*b)));
            return;
        }
        let Some(first) = ids.first().map(|id| self.ordered(*id)) else {
            return;
        };
        let mut shared = first.len();
        for id in ids.iter() {
            shared = first
                .iter()
                .zip(self.ordered(*id))
                .take(shared)
                .take_while(|(a, b)| a == b)
                .count();
        }
        let mut keyed: Vec<(u128, u32)> = ids
            .iter()
            .map(|id| (prefix16(self.ordered(*id), shared), *id))
            .collect();
        keyed.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| self.ordered(a.1).cmp(self.ordered(b.1)))
        });
        for (slot, (_, id)) in ids.iter_mut().zip(keyed) {
            *slot = id;
        }
    }

    /// One past the largest id handed out.
    pub(crate) fn capacity(&self) -> usize {
        self.keys.len()
    }

    /// The id of the key whose ordered encoding is `ordered`; `line` and `meas` build it when
    /// it is new.
    fn intern(&mut self, ordered: &[u8], line: &[u8], meas: usize) -> u32 {
        let hash = self.hasher.hash_one(ordered);
        let keys = &self.keys;
        let found = self.table.find(hash, |&id| {
            keys.get(id as usize)
                .and_then(Option::as_ref)
                .is_some_and(|k| k.ordered() == ordered)
        });
        if let Some(&id) = found {
            return id;
        }
        let mut bytes = Vec::with_capacity(ordered.len() + line.len());
        bytes.extend_from_slice(ordered);
        bytes.extend_from_slice(line);
        let key = Interned {
            bytes: bytes.into_boxed_slice(),
            split: u32::try_from(ordered.len()).unwrap_or(u32::MAX),
            meas: u32::try_from(meas).unwrap_or(u32::MAX),
        };
        self.insert_key(hash, key)
    }

    fn insert_key(&mut self, hash: u64, key: Interned) -> u32 {
        if self.free_unsorted {
            // Once after a run of removals, not per removal (100k series may expire at once).
            self.free.sort_unstable_by(|a, b| b.cmp(a));
            self.free_unsorted = false;
        }
        let id = match self.free.pop() {
            Some(id) => {
                if let Some(slot) = self.keys.get_mut(id as usize) {
                    *slot = Some(key);
                }
                id
            }
            None => {
                self.keys.push(Some(key));
                u32::try_from(self.keys.len() - 1).unwrap_or(u32::MAX)
            }
        };
        self.index(hash, id);
        id
    }

    /// Enters `id` (whose key is in place) into the hash table; growing the table rehashes
    /// the other ids from their keys.
    fn index(&mut self, hash: u64, id: u32) {
        let (keys, hasher) = (&self.keys, &self.hasher);
        self.table.insert_unique(hash, id, |&other| {
            hasher.hash_one(
                keys.get(other as usize)
                    .and_then(Option::as_ref)
                    .map(Interned::ordered)
                    .unwrap_or_default(),
            )
        });
    }

    /// Forgets `id`'s key; the id may be handed out again.
    pub(crate) fn remove(&mut self, id: u32) {
        let Some(key) = self.keys.get_mut(id as usize).and_then(Option::take) else {
            return;
        };
        let hash = self.hasher.hash_one(key.ordered());
        if let Ok(entry) = self.table.find_entry(hash, |&other| other == id) {
            entry.remove();
        }
        self.free.push(id);
        self.free_unsorted = true;
    }

    /// Live ids with their keys, in id order (for checkpoints).
    pub(crate) fn entries(&self) -> impl Iterator<Item = (u32, &Interned)> {
        self.keys
            .iter()
            .enumerate()
            .filter_map(|(i, k)| Some((u32::try_from(i).ok()?, k.as_ref()?)))
    }

    /// Rebuilds an interner from checkpointed entries.
    pub(crate) fn from_entries(entries: Vec<(u32, Interned)>) -> Result<Interner, String> {
        let mut me = Interner::default();
        let len = entries
            .iter()
            .map(|(id, _)| *id as usize + 1)
            .max()
            .unwrap_or(0);
        me.keys = vec![None; len];
        for (id, key) in entries {
            if key.split as usize > key.bytes.len()
                || key.meas as usize > key.bytes.len() - key.split as usize
            {
                return Err(format!("series key {id} is malformed"));
            }
            let hash = me.hasher.hash_one(key.ordered());
            let slot = me
                .keys
                .get_mut(id as usize)
                .ok_or_else(|| format!("series id {id} out of range"))?;
            if slot.is_some() {
                return Err(format!("series id {id} appears twice"));
            }
            *slot = Some(key);
            me.index(hash, id);
        }
        me.free = (0..len)
            .rev()
            .filter(|i| me.keys.get(*i).is_some_and(Option::is_none))
            .filter_map(|i| u32::try_from(i).ok())
            .collect();
        Ok(me)
    }
}

/// Bytes `from .. from + 16` of `key` as a big-endian integer, zero-padded: two keys whose
/// integers differ order as their bytes do (equal integers say nothing).
fn prefix16(key: &[u8], from: usize) -> u128 {
    let mut buf = [0u8; 16];
    let tail = key.get(from..).unwrap_or_default();
    let n = tail.len().min(16);
    buf[..n].copy_from_slice(&tail[..n]);
    u128::from_be_bytes(buf)
}

/// Appends `s`, order-preservingly escaped, and its terminator.
fn push_ordered(out: &mut Vec<u8>, s: &str) {
    for &b in s.as_bytes() {
        match b {
            0 => out.extend_from_slice(&[1, 1]),
            1 => out.extend_from_slice(&[1, 2]),
            b => out.push(b),
        }
    }
    out.push(0);
}

/// A tag column of the key: its dictionary keys and values.
type TagCol<'a> = (
    &'a str,
    Option<(
        &'a datafusion::arrow::array::Int32Array,
        &'a datafusion::arrow::array::StringArray,
    )>,
);

/// Maps the rows of one batch to series ids.
pub(crate) struct IdBuilder<'a> {
    measurement: &'a str,
    /// The tag columns that make the key, in key order.
    columns: Vec<TagCol<'a>>,
    /// One column: id per dictionary key + 1 (0 = null), `u32::MAX` = not yet known.
    single: Vec<u32>,
    /// Several columns: id per combination of dictionary keys.
    multi: HashMap<Vec<i32>, u32>,
    sig: Vec<i32>,
    ordered: Vec<u8>,
    line: Vec<u8>,
}

impl<'a> IdBuilder<'a> {
    pub(crate) fn new(view: &View<'a>, measurement: &'a str, tags: KeyTags<'_>) -> Self {
        let names: Vec<&'a str> = match tags {
            KeyTags::All => view.tag_names.clone(),
            KeyTags::Keys(keys) => view
                .tag_names
                .iter()
                .copied()
                .filter(|n| keys.iter().any(|k| k == n))
                .collect(),
        };
        let columns: Vec<TagCol<'a>> = names
            .into_iter()
            .map(|n| match view.cols.get(n) {
                Some(Col::Tag(dict, values)) => (n, Some((dict.keys(), *values))),
                _ => (n, None),
            })
            .collect();
        let single = match columns.as_slice() {
            [(_, Some((_, values)))] => vec![u32::MAX; values.len() + 1],
            _ => Vec::new(),
        };
        IdBuilder {
            measurement,
            columns,
            single,
            multi: HashMap::new(),
            sig: Vec::new(),
            ordered: Vec::new(),
            line: Vec::new(),
        }
    }

    fn dict_key(col: &TagCol<'_>, row: usize) -> i32 {
        match col.1 {
            Some((keys, _)) if keys.is_valid(row) => keys.value(row),
            _ => -1,
        }
    }

    /// The id of `row`'s series.
    pub(crate) fn id(&mut self, row: usize, interner: &mut Interner) -> u32 {
        if !self.single.is_empty() {
            let k = self.columns.first().map_or(-1, |c| Self::dict_key(c, row));
            let at = usize::try_from(k.saturating_add(1)).unwrap_or(0);
            if let Some(&id) = self.single.get(at) {
                if id != u32::MAX {
                    return id;
                }
                let id = self.build(row, interner);
                if let Some(slot) = self.single.get_mut(at) {
                    *slot = id;
                }
                return id;
            }
            return self.build(row, interner);
        }
        self.sig.clear();
        for c in &self.columns {
            self.sig.push(Self::dict_key(c, row));
        }
        if let Some(&id) = self.multi.get(self.sig.as_slice()) {
            return id;
        }
        let id = self.build(row, interner);
        self.multi.insert(self.sig.clone(), id);
        id
    }

    /// Encodes `row`'s key and interns it.
    fn build(&mut self, row: usize, interner: &mut Interner) -> u32 {
        self.ordered.clear();
        self.line.clear();
        push_ordered(&mut self.ordered, self.measurement);
        escape_into(&mut self.line, self.measurement, MEASUREMENT_SPECIAL);
        let meas = self.line.len();
        for (name, col) in &self.columns {
            let Some((keys, values)) = col else { continue };
            if !keys.is_valid(row) {
                continue;
            }
            let k = usize::try_from(keys.value(row)).unwrap_or(0);
            if k >= values.len() || !values.is_valid(k) {
                continue;
            }
            let v = values.value(k);
            if v.is_empty() {
                continue;
            }
            push_ordered(&mut self.ordered, name);
            push_ordered(&mut self.ordered, v);
            self.line.push(b',');
            escape_into(&mut self.line, name, KEY_SPECIAL);
            self.line.push(b'=');
            escape_into(&mut self.line, v, KEY_SPECIAL);
        }
        interner.intern(&self.ordered, &self.line, meas)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ordered(m: &str, tags: &[(&str, &str)]) -> Vec<u8> {
        let mut out = Vec::new();
        push_ordered(&mut out, m);
        for (k, v) in tags {
            push_ordered(&mut out, k);
            push_ordered(&mut out, v);
        }
        out
    }

    #[test]
    fn ordered_encoding_orders_like_the_tuples() {
        let keys: Vec<(&str, Vec<(&str, &str)>)> = vec![
            ("cpu", vec![]),
            ("cpu", vec![("a", "x")]),
            ("cpu", vec![("a", "x"), ("b", "1")]),
            ("cpu", vec![("a", "x!")]),
            ("cpu", vec![("a", "x\u{0}")]),
            ("cpu", vec![("a", "x\u{1}")]),
            ("cpu", vec![("a", "x\u{2}")]),
            ("cpu", vec![("ab", "x")]),
            ("cpu", vec![("a b", "x")]),
            ("cp", vec![("z", "z")]),
            ("cpu2", vec![]),
            ("cpu\u{0}", vec![]),
        ];
        for a in &keys {
            for b in &keys {
                let by_tuple = a.cmp(b);
                let by_bytes = ordered(a.0, &a.1).cmp(&ordered(b.0, &b.1));
                assert_eq!(by_tuple, by_bytes, "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn tags_decode_from_the_ordered_encoding() {
        // What a user-defined function is told about its group: the key's tags, exactly,
        // including bytes the encoding escapes (0 and 1) and empty values.
        let mut interner = Interner::default();
        for tags in [
            vec![],
            vec![("host", "a")],
            vec![("dc", "eu west"), ("host", "h,1=x")],
            vec![
                ("a", "\u{0}"),
                ("b", "\u{1}"),
                ("c", "x\u{1}\u{0}y"),
                ("d", ""),
            ],
        ] {
            let key = ordered("cpu", &tags);
            let id = interner.intern(&key, b"cpu", 3);
            let want: Vec<(String, String)> = tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            assert_eq!(interner.get(id).unwrap().tags(), want);
        }
    }

    #[test]
    fn sorting_by_prefix_orders_as_whole_keys() {
        // Keys sharing long prefixes, equal on the 16 bytes after them, shorter than the
        // shared prefix + 16, with 0/1 bytes (escaped), in scrambled arrival order.
        let mut interner = Interner::default();
        let mut ids = Vec::new();
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        for i in 0..3_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let host = match i % 4 {
                0 => format!("host-{:06}", x % 100_000),
                1 => format!("host-0000000000000000000{}", x % 7),
                2 => format!("h{}", x % 3),
                _ => format!("host-\u{0}{}\u{1}", x % 50),
            };
            let key = ordered("cpu", &[("dc", "eu"), ("host", &host)]);
            ids.push(interner.intern(&key, host.as_bytes(), 1));
        }
        let mut want = ids.clone();
        want.sort_by(|a, b| interner.ordered(*a).cmp(interner.ordered(*b)));
        let mut got = ids.clone();
        interner.sort(&mut got);
        let keys = |v: &[u32]| -> Vec<Vec<u8>> {
            v.iter().map(|id| interner.ordered(*id).to_vec()).collect()
        };
        assert_eq!(keys(&got), keys(&want));
        // Under the small-input threshold too.
        let mut few: Vec<u32> = ids.iter().copied().take(20).collect();
        let mut few_want = few.clone();
        few_want.sort_by(|a, b| interner.ordered(*a).cmp(interner.ordered(*b)));
        interner.sort(&mut few);
        assert_eq!(keys(&few), keys(&few_want));
    }

    #[test]
    fn ids_are_reused_after_removal_and_restored() {
        let mut i = Interner::default();
        let a = i.intern(b"a\0", b"a", 1);
        let b = i.intern(b"b\0", b"b", 1);
        assert_eq!(i.intern(b"a\0", b"a", 1), a);
        i.remove(a);
        assert!(i.get(a).is_none());
        let c = i.intern(b"c\0", b"c", 1);
        assert_eq!(c, a);
        let entries: Vec<(u32, Interned)> = i.entries().map(|(id, k)| (id, k.clone())).collect();
        let mut r = Interner::from_entries(entries).unwrap();
        assert_eq!(r.intern(b"b\0", b"b", 1), b);
        assert_eq!(r.intern(b"c\0", b"c", 1), c);
        assert_eq!(r.get(b).unwrap().line(), b"b");
    }
}
