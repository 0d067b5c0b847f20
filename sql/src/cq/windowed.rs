//! Windowed continuous queries: aggregates per (tumbling window, group), emitted when the
//! task clock closes a window (SPEC §3.2).
//!
//! - A window `[s, s+I)` first emits when the clock reaches `s + I + lateness` (with `RESAMPLE`,
//!   when it reaches `s + I`), and is dropped when the clock reaches `s + I + lateness` (with
//!   `RESAMPLE FOR d`, `s + d`); until then late points re-open it and it is emitted again
//!   (InfluxDB overwrites the point). `RESAMPLE EVERY e` emits partial results every `e`.
//! - `fill()`: every group seen and not expired gets a row for each window from its first
//!   point on; per column, a null result is filled (`null` writes nothing, a number, the
//!   previous value, or the linear interpolation once the next value is known).
//! - Transformations of aggregates (`derivative(mean(x))`) keep their state per group and see
//!   the group's rows in time order, after fill, as InfluxDB applies them.
//! - `holt_winters()`: the group's rows feed its history instead of being written; at the end
//!   of each close the groups that took a value are refitted and their forecasts written.

use datafusion::arrow::array::{Array, BooleanArray};
use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

use crate::ast::Fill;
use crate::eval::{Acc, Transform, Value};
use weir_engine::lp_encode::{escape_into, KEY_SPECIAL, MEASUREMENT_SPECIAL};
use weir_engine::window::window_start;

use super::columnar::{columnar_fns, ColAcc, ColFn, Values};
use super::encode;
use super::expr::{eval, Resolve};
use super::intern::{IdBuilder, Interned, Interner};
use super::plan::{CqPlan, FieldSel, OutExpr, WindowedPlan};
use super::series::KeyTags;
use super::subseries::Subseries;
use super::view::{Col, View};
use super::{CqSettings, Output};

/// At most this many empty windows are filled in one gap of a group (a clock jump of a year
/// over 1 s windows must not write 31 M rows per series).
const MAX_FILL_WINDOWS: i64 = 100_000;
/// `fill(linear)` holds rows until the next value; a group holds at most this many.
const MAX_LINEAR_PENDING: usize = 10_000;

/// The state of one aggregate call in one (window, group).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
enum AggState {
    One(Acc),
    /// `f(*)` / `f(/re/)`: one accumulator per field.
    PerField(BTreeMap<String, Acc>),
}

/// One aggregate's result in one row.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
enum AggVal {
    One(Option<Value>),
    PerField(BTreeMap<String, Value>),
}

/// Hashes a series id (dense, assigned by the task, so a multiply spreads them well).
#[derive(Debug, Default, Clone, Copy)]
struct IdHash(u64);

impl Hasher for IdHash {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u32(&mut self, i: u32) {
        self.0 = u64::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type IdMap<V> = HashMap<u32, V, BuildHasherDefault<IdHash>>;

/// One window: the accumulators of its groups, columnar (`accs[slot * n .. slot * n + n]`
/// are the `n` aggregates of the group `ids[slot]`).
#[derive(Debug, Default)]
struct Window {
    /// Series id → slot.
    slots: IdMap<u32>,
    /// Slot → series id.
    ids: Vec<u32>,
    accs: Vec<AggState>,
    /// Instead of `accs`, when every aggregate of the query is one DataFusion's accumulators
    /// compute as `Acc` does ([`columnar_fns`]): one columnar accumulator per aggregate, over
    /// the slots.
    cols: Vec<ColAcc>,
    /// Emitted at least once.
    emitted: bool,
    /// Changed since it was last emitted.
    dirty: bool,
    /// Clock time of the last emission (or of creation), for `RESAMPLE EVERY`.
    last_emit: i64,
}

/// A group across windows.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Group {
    /// Start of the window of its first point: windows before it are not filled.
    first_window: i64,
    /// Largest event time seen, for `series_ttl`.
    last_seen: i64,
    /// The rest, only for queries that need it (fill previous/linear, wildcards, integral,
    /// transformations): most groups of most queries are two numbers.
    more: Option<Box<GroupMore>>,
}

impl Group {
    /// The group's fill, transformation and integral state, created on first use.
    fn more(&mut self, w: &WindowedPlan) -> &mut GroupMore {
        self.more.get_or_insert_with(|| {
            let n = w.aggs.len();
            Box::new(GroupMore {
                last: if matches!(w.fill, Fill::Previous | Fill::Linear) {
                    vec![None; n]
                } else {
                    Vec::new()
                },
                last_wild: BTreeMap::new(),
                transforms: w.transforms.iter().map(Transform::new).collect(),
                pending: VecDeque::new(),
                integral_prev: if w.aggs.iter().any(|a| a.spec.name() == "integral") {
                    vec![None; n]
                } else {
                    Vec::new()
                },
                held: VecDeque::new(),
                integral_last: Vec::new(),
                linear_wild: Vec::new(),
                history: VecDeque::new(),
                forecast_due: false,
            })
        })
    }
}

/// Whether groups of this query keep more than their first window and last time.
fn needs_more(w: &WindowedPlan) -> bool {
    !w.transforms.is_empty()
        || w.predictor.is_some()
        || matches!(w.fill, Fill::Previous | Fill::Linear)
        || w.aggs
            .iter()
            .any(|a| !matches!(a.field, FieldSel::Name(_)) || a.spec.name() == "integral")
}

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct GroupMore {
    /// Last non-null value per single-field aggregate, with its window start.
    last: Vec<Option<(i64, Value)>>,
    /// Last value per (wildcard aggregate, field), for `fill(previous)`.
    last_wild: BTreeMap<(usize, String), Value>,
    /// Transformation states.
    transforms: Vec<Transform>,
    /// Rows held by `fill(linear)` until their nulls can be interpolated.
    pending: VecDeque<(i64, Vec<AggVal>)>,
    /// Per `integral()` call, the last point of the group's previous window: InfluxDB
    /// integrates across window edges when a query spans several windows.
    integral_prev: Vec<Option<(i64, f64)>>,
    /// Rows whose `integral()` waits for the group's next point, and the rows after them.
    held: VecDeque<Held>,
    /// The integral values of the last rows released, for fill(previous).
    #[serde(default)]
    integral_last: Vec<Option<Value>>,
    /// `fill(linear)` of `f(*)` / `f(/re/)`: per aggregate, the last value of each field with
    /// its window start (each expanded field is interpolated on its own, as InfluxDB runs one
    /// fill per expanded call).
    #[serde(default)]
    linear_wild: Vec<BTreeMap<String, (i64, Value)>>,
    /// `holt_winters()`: the aggregate's value per window start, the model's input (absent
    /// from checkpoints of earlier builds, which had no predictor).
    #[serde(default)]
    history: VecDeque<(i64, f64)>,
    /// The history took a value since the model was last fitted.
    #[serde(default)]
    forecast_due: bool,
}

/// A row held until the group's next point is known: InfluxDB interpolates the series at
/// the window's end from the next point after the window, wherever it is.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Held {
    start: i64,
    vals: Vec<AggVal>,
    waiting: Vec<Waiting>,
    /// Already written with the values a range ending here gives (the integral stops at the
    /// window's last point, as InfluxDB's does at the end of a query); written again, with the
    /// interpolation to the next point, once that point arrives. The values last written.
    #[serde(default)]
    written: Option<Vec<AggVal>>,
}

/// An `integral()` of a held row: (aggregate index, its accumulator, the point before the
/// window).
type Waiting = (usize, Acc, Option<(i64, f64)>);

/// The windowed operator.
///
/// Series keys are interned to dense ids (one interner per task): groups are a vector
/// indexed by id, windows map ids to columnar accumulator slots, and lines are written from
/// each key's pre-escaped line-protocol bytes.
///
/// Serialized for checkpoints (through [`Snap`]) without its settings: those come from the
/// plan and the engine's configuration when the task starts again, see [`Windowed::restore`].
#[derive(Debug)]
pub(crate) struct Windowed {
    interval: i64,
    offset: i64,
    /// How long after its end a window first emits.
    emit_delay: i64,
    /// How long after its start a window is kept for late points.
    retain: i64,
    ttl: i64,
    /// Aggregates per group and window (`accs` stride of the windows).
    naggs: usize,
    windows: BTreeMap<i64, Window>,
    /// Windows starting before this are gone: their points are late.
    accept_from: i64,
    /// Windows starting before this have had their first emission.
    next_emit: i64,
    keys: Interner,
    /// By series id.
    groups: Vec<Option<Group>>,
    /// Groups that are `Some`.
    live: usize,
    /// At most the smallest `last_seen` of the live groups: until the TTL horizon passes
    /// it, no group can expire and the close skips the scan over every group.
    oldest_seen: i64,
    /// Write rows still waiting for their group's next point now, and again when final
    /// ([`CqSettings::provisional`]).
    provisional: bool,
    /// Groups that hold such rows after this close's windows, written at its end (so a row
    /// settled by a later window of the same close is written once).
    provisional_due: Vec<u32>,
    /// Ids of expired groups whose key some window still holds: freed once none does.
    orphans: Vec<u32>,
    /// The type each single-field aggregate produced last (for typing fill values).
    agg_types: Vec<Option<Value>>,
    /// A batch run (`FROM ARCHIVE`): the first and last window start of its time range.
    /// `fill()` then covers exactly these windows for every group, as InfluxDB's `SELECT`.
    batch_range: Option<(i64, i64)>,
    /// The aggregates, when windows hold them columnar ([`Window::cols`]).
    columnar: Option<Vec<ColFn>>,
    /// What DataFusion's accumulators last refused, for the task's errors (cannot happen
    /// with the types weir's batches have; reported rather than dropped).
    error: Option<String>,
}

/// The rows of one batch that fall into one window, for its columnar accumulators.
struct Touch {
    start: i64,
    /// Per row of the batch, its slot in the window (0 for rows not kept).
    groups: Vec<usize>,
    keep: Vec<bool>,
}

/// A window in a checkpoint.
#[derive(serde::Serialize, serde::Deserialize)]
struct WindowSnap<A> {
    /// `(series id, its accumulators)`.
    groups: Vec<(u32, A)>,
    emitted: bool,
    dirty: bool,
    last_emit: i64,
}

/// A checkpoint of [`Windowed`]: series keys by id, windows and groups referring to ids.
#[derive(serde::Serialize, serde::Deserialize)]
struct Snap<K, A, G> {
    keys: Vec<(u32, K)>,
    windows: Vec<(i64, WindowSnap<A>)>,
    accept_from: i64,
    next_emit: i64,
    groups: Vec<(u32, G)>,
    orphans: Vec<u32>,
    agg_types: Vec<Option<Value>>,
}

impl serde::Serialize for Windowed {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let n = self.naggs;
        let mut windows = Vec::with_capacity(self.windows.len());
        for (start, win) in &self.windows {
            // Columnar windows are checkpointed as the row path's accumulators, so either
            // build reads the other's checkpoints.
            let cols: Vec<Values<'_>> = win
                .cols
                .iter()
                .map(ColAcc::values)
                .collect::<Result<_, _>>()
                .map_err(|e| serde::ser::Error::custom(e.to_string()))?;
            let groups = win
                .ids
                .iter()
                .enumerate()
                .map(|(slot, id)| {
                    let accs: Cow<'_, [AggState]> = if cols.is_empty() {
                        Cow::Borrowed(win.accs.get(slot * n..slot * n + n).unwrap_or_default())
                    } else {
                        Cow::Owned(
                            cols.iter()
                                .map(|c| AggState::One(c.acc(slot, *start)))
                                .collect(),
                        )
                    };
                    (*id, accs)
                })
                .collect();
            windows.push((
                *start,
                WindowSnap {
                    groups,
                    emitted: win.emitted,
                    dirty: win.dirty,
                    last_emit: win.last_emit,
                },
            ));
        }
        let snap: Snap<&Interned, Cow<'_, [AggState]>, &Group> = Snap {
            keys: self.keys.entries().collect(),
            windows,
            accept_from: self.accept_from,
            next_emit: self.next_emit,
            groups: self
                .groups
                .iter()
                .enumerate()
                .filter_map(|(id, g)| Some((u32::try_from(id).ok()?, g.as_ref()?)))
                .collect(),
            orphans: self.orphans.clone(),
            agg_types: self.agg_types.clone(),
        };
        snap.serialize(s)
    }
}

/// A checkpoint read back, to be checked against the query by [`Windowed::restore`].
#[derive(Debug)]
pub(crate) struct Saved(Snap<Interned, Vec<AggState>, Group>);

impl std::fmt::Debug for Snap<Interned, Vec<AggState>, Group> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snap")
            .field("keys", &self.keys.len())
            .field("windows", &self.windows.len())
            .field("groups", &self.groups.len())
            .finish()
    }
}

impl<'de> serde::Deserialize<'de> for Saved {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Saved(Snap::deserialize(d)?))
    }
}

impl Windowed {
    pub(crate) fn new(w: &WindowedPlan, _plan: &CqPlan, settings: CqSettings) -> Windowed {
        let lateness = settings.lateness.max(0);
        let (emit_delay, retain) = match w.resample {
            None => (lateness, w.interval.saturating_add(lateness)),
            Some(r) => (0, r.for_.max(w.interval)),
        };
        Windowed {
            interval: w.interval,
            offset: w.offset,
            emit_delay,
            retain,
            ttl: settings.series_ttl.max(1),
            naggs: w.aggs.len(),
            windows: BTreeMap::new(),
            accept_from: i64::MIN,
            next_emit: i64::MIN,
            keys: Interner::default(),
            groups: Vec::new(),
            live: 0,
            oldest_seen: i64::MAX,
            provisional: settings.provisional,
            provisional_due: Vec::new(),
            orphans: Vec::new(),
            agg_types: vec![None; w.aggs.len()],
            batch_range: None,
            columnar: columnar_fns(w),
            error: None,
        }
    }

    /// The last window start a group last seen at `last_seen` is filled for: the windows due
    /// (`s + interval + emit delay`) while the group is known, i.e. before `series_ttl` has
    /// passed since its last point. Judged by the window's due time, not by when a close
    /// happens to run, so a late tick or a restart fills the same windows.
    fn filled_until(&self, last_seen: i64) -> i64 {
        last_seen.saturating_add(self.fill_span())
    }

    /// [`Self::filled_until`] less `last_seen`.
    fn fill_span(&self) -> i64 {
        self.ttl
            .saturating_sub(self.interval.saturating_add(self.emit_delay))
    }

    /// Keeps every window on the row path (tests compare the two).
    #[cfg(test)]
    pub(crate) fn use_row_path(&mut self) {
        self.columnar = None;
    }

    /// What DataFusion's accumulators refused since the last call, if anything.
    pub(crate) fn take_error(&mut self) -> Option<String> {
        self.error.take()
    }

    /// Makes this a batch run over the windows starting from `first` to `last` (inclusive).
    pub(crate) fn set_batch_range(&mut self, first: i64, last: i64) {
        self.batch_range = Some((first, last));
    }

    /// Whether empty windows get rows: with a fill value, and in a batch run with
    /// `fill(null)` when there is a `count()` (InfluxDB fills `count()` with 0 then).
    fn fills_windows(&self, w: &WindowedPlan) -> bool {
        if w.multi_row {
            return false;
        }
        match w.fill {
            Fill::None => false,
            Fill::Null => self.batch_range.is_some() && w.aggs.iter().any(is_count),
            _ => true,
        }
    }

    /// Takes the progress of a checkpointed operator (windows, groups, what was emitted),
    /// keeping this one's settings. Keys shared between windows and groups are shared again.
    pub(crate) fn restore(&mut self, saved: Saved) -> Result<(), String> {
        let saved = saved.0;
        if saved.agg_types.len() != self.agg_types.len() {
            return Err(format!(
                "the checkpoint has {} aggregates, the query {}",
                saved.agg_types.len(),
                self.agg_types.len()
            ));
        }
        let keys = Interner::from_entries(saved.keys)?;
        let known = |id: u32| {
            if keys.get(id).is_some() {
                Ok(())
            } else {
                Err(format!("the checkpoint refers to an unknown series {id}"))
            }
        };
        let mut groups: Vec<Option<Group>> = Vec::new();
        groups.resize_with(keys.capacity(), || None);
        let mut live = 0;
        for (id, g) in saved.groups {
            known(id)?;
            if let Some(slot) = groups.get_mut(id as usize) {
                live += usize::from(slot.is_none());
                *slot = Some(g);
            }
        }
        let n = self.naggs;
        // A mean that has told series apart has no columnar form: such a checkpoint keeps the
        // row path.
        let columnar_form = saved.windows.iter().all(|(_, snap)| {
            snap.groups.iter().all(|(_, accs)| {
                accs.iter()
                    .all(|a| matches!(a, AggState::One(acc) if acc.partial().is_some()))
            })
        });
        if !columnar_form {
            self.columnar = None;
        }
        let mut windows = BTreeMap::new();
        for (start, snap) in saved.windows {
            let mut win = Window {
                emitted: snap.emitted,
                dirty: snap.dirty,
                last_emit: snap.last_emit,
                ..Window::default()
            };
            for (id, accs) in snap.groups {
                known(id)?;
                if accs.len() != n {
                    return Err(format!(
                        "the checkpoint has {} accumulators per group, the query {n}",
                        accs.len()
                    ));
                }
                let slot = u32::try_from(win.ids.len()).map_err(|e| e.to_string())?;
                if win.slots.insert(id, slot).is_some() {
                    return Err(format!("series {id} appears twice in window {start}"));
                }
                win.ids.push(id);
                win.accs.extend(accs);
            }
            if let Some(fns) = &self.columnar {
                win.cols = to_columnar(fns, &win.accs)?;
                win.accs = Vec::new();
            }
            windows.insert(start, win);
        }
        for id in &saved.orphans {
            known(*id)?;
        }
        self.keys = keys;
        self.groups = groups;
        self.live = live;
        // Unknown until the next close scans the groups.
        self.oldest_seen = i64::MIN;
        self.windows = windows;
        self.orphans = saved.orphans;
        self.accept_from = saved.accept_from;
        self.next_emit = saved.next_emit;
        self.agg_types = saved.agg_types;
        Ok(())
    }

    fn wplan(plan: &CqPlan) -> Option<&WindowedPlan> {
        match &plan.kind {
            super::plan::Kind::Windowed(w) => Some(w),
            super::plan::Kind::PerPoint(_) => None,
        }
    }

    pub(crate) fn sizes(&self) -> (usize, usize) {
        (self.windows.len(), self.live)
    }

    /// Folds a batch in; returns the number of late points.
    pub(crate) fn ingest(&mut self, plan: &CqPlan, measurement: &str, view: &View<'_>) -> u64 {
        let Some(w) = Self::wplan(plan) else {
            return 0;
        };
        let mut ids = IdBuilder::new(view, measurement, KeyTags::grouping(&plan.group));
        let n = self.naggs;
        // Resolve each aggregate's field columns once per batch.
        let fields: Vec<Vec<(&str, &Col<'_>)>> = w
            .aggs
            .iter()
            .map(|a| {
                view.cols
                    .iter()
                    .filter(|(n, c)| {
                        !matches!(c, Col::Tag(..))
                            && match &a.field {
                                FieldSel::Name(f) => f == *n,
                                FieldSel::All => true,
                                FieldSel::Regex(re) => re.is_match(n),
                            }
                    })
                    .map(|(n, c)| (*n, c))
                    .collect()
            })
            .collect();
        // mean() of integers reduces each series of a group on its own (as InfluxDB): the rows
        // then say which series they are from, and the windows leave DataFusion's accumulators
        // (which hold one sum per group) for the row path's.
        let subseries = if int_mean(w, view) {
            Subseries::of(view, &plan.group)
        } else {
            None
        };
        if subseries.is_some() {
            self.leave_columnar();
        }
        let mut late = 0;
        let rows = view.time.len();
        let columnar = self.columnar.as_deref();
        let mut touched: Vec<Touch> = Vec::new();
        for row in 0..rows {
            if !view.time.is_valid(row) {
                continue;
            }
            if let Some(cond) = &plan.cond {
                if !super::cond::eval(cond, view, row) {
                    continue;
                }
            }
            let t = view.time.value(row);
            let start = window_start(t, self.interval, self.offset);
            if start < self.accept_from {
                late += 1;
                continue;
            }
            let id = ids.id(row, &mut self.keys);
            let idx = id as usize;
            if self.groups.len() <= idx {
                self.groups.resize_with(idx + 1, || None);
            }
            match &mut self.groups[idx] {
                Some(g) => {
                    g.last_seen = g.last_seen.max(t);
                    g.first_window = g.first_window.min(start);
                }
                slot @ None => {
                    *slot = Some(Group {
                        first_window: start,
                        last_seen: t,
                        more: None,
                    });
                    self.live += 1;
                    self.oldest_seen = self.oldest_seen.min(t);
                }
            }
            let window = self.windows.entry(start).or_insert_with(|| Window {
                last_emit: t,
                cols: columnar
                    .unwrap_or_default()
                    .iter()
                    .map(|f| ColAcc::new(*f))
                    .collect(),
                ..Window::default()
            });
            window.dirty = true;
            let slot = match window.slots.entry(id) {
                Entry::Occupied(e) => *e.get() as usize,
                Entry::Vacant(e) => {
                    let slot = window.ids.len();
                    e.insert(u32::try_from(slot).unwrap_or(u32::MAX));
                    window.ids.push(id);
                    if columnar.is_none() {
                        window.accs.extend(w.aggs.iter().map(|a| match a.field {
                            FieldSel::Name(_) => AggState::One(Acc::new(&a.spec)),
                            _ => AggState::PerField(BTreeMap::new()),
                        }));
                    }
                    slot
                }
            };
            if columnar.is_some() {
                // Most batches fall into one window: look at the last one first.
                let i = match touched.iter().rposition(|t| t.start == start) {
                    Some(i) => i,
                    None => {
                        touched.push(Touch {
                            start,
                            groups: vec![0; rows],
                            keep: vec![false; rows],
                        });
                        touched.len() - 1
                    }
                };
                if let Some(touch) = touched.get_mut(i) {
                    touch.groups[row] = slot;
                    touch.keep[row] = true;
                }
                continue;
            }
            let Some(accs) = window.accs.get_mut(slot * n..slot * n + n) else {
                continue;
            };
            let series = subseries.as_ref().map_or(0, |s| s.at(row));
            for ((state, call), cols) in accs.iter_mut().zip(&w.aggs).zip(&fields) {
                for (name, col) in cols {
                    let Some(v) = col.value(row) else { continue };
                    match state {
                        AggState::One(acc) if call.spec.by_tags().is_empty() => {
                            acc.add_in_series(&call.spec, t, v, series);
                        }
                        AggState::One(acc) => {
                            let tags: Vec<&str> = call
                                .spec
                                .by_tags()
                                .iter()
                                .map(|k| view.tag(k, row).unwrap_or(""))
                                .collect();
                            acc.add_tagged(&call.spec, t, v, &tags);
                        }
                        AggState::PerField(map) => {
                            if let Some(acc) = map.get_mut(*name) {
                                acc.add_in_series(&call.spec, t, v, series);
                            } else {
                                let mut acc = Acc::new(&call.spec);
                                acc.add_in_series(&call.spec, t, v, series);
                                map.insert((*name).to_string(), acc);
                            }
                        }
                    }
                }
            }
        }
        // The columnar accumulators take each window's rows a column at a time.
        for touch in touched {
            let Some(win) = self.windows.get_mut(&touch.start) else {
                continue;
            };
            let total = win.ids.len();
            let filter = BooleanArray::from(touch.keep);
            for (acc, call) in win.cols.iter_mut().zip(&w.aggs) {
                let FieldSel::Name(name) = &call.field else {
                    continue;
                };
                let Some(values) = view.field_array(name) else {
                    continue;
                };
                if let Err(e) = acc.update(values, &touch.groups, &filter, total) {
                    self.error = Some(format!("window aggregate {}(): {e}", call.spec.name()));
                }
            }
        }
        late
    }

    /// Moves every window from DataFusion's accumulators to the row path's, for good (this
    /// task): what a query does once a mean() of integers meets a group of several series.
    fn leave_columnar(&mut self) {
        if self.columnar.take().is_none() {
            return;
        }
        for (start, win) in &mut self.windows {
            let cols: Result<Vec<Values<'_>>, _> = win.cols.iter().map(ColAcc::values).collect();
            match cols {
                Ok(cols) => {
                    win.accs = (0..win.ids.len())
                        .flat_map(|slot| {
                            cols.iter().map(move |c| AggState::One(c.acc(slot, *start)))
                        })
                        .collect();
                }
                Err(e) => self.error = Some(format!("window at {start}: {e}")),
            }
            win.cols = Vec::new();
        }
    }

    /// Emits what is due at clock time `now`.
    pub(crate) fn close(&mut self, plan: &CqPlan, now: i64) -> Output {
        let Some(w) = Self::wplan(plan) else {
            return Output::default();
        };
        let mut out = Output::default();
        // First emissions, in window order (fill needs every window, data or not).
        // Window s first emits once s + I + delay <= now: every window before `boundary`.
        let boundary = window_start(
            now.saturating_sub(self.emit_delay),
            self.interval,
            self.offset,
        );
        let fills = self.fills_windows(w);
        let mut due: Vec<i64> = if boundary > self.next_emit {
            self.windows
                .range(self.next_emit..boundary)
                .map(|(s, _)| *s)
                .collect()
        } else {
            Vec::new()
        };
        if fills && self.live > 0 {
            // Every window from the earliest group's first one to the last one a group is
            // still known in (seen within series_ttl), data or not.
            let (first, last) = match self.batch_range {
                Some((first, last)) => (Some(first), Some(last)),
                None => (
                    self.groups.iter().flatten().map(|g| g.first_window).min(),
                    self.groups
                        .iter()
                        .flatten()
                        .map(|g| self.filled_until(g.last_seen))
                        .max(),
                ),
            };
            if let (Some(first), Some(last)) = (first, last) {
                let mut s = self.next_emit.max(first);
                let end = boundary.min(last.saturating_add(1));
                let mut filled = 0;
                while s < end && filled < MAX_FILL_WINDOWS {
                    if !self.windows.contains_key(&s) {
                        due.push(s);
                        filled += 1;
                    }
                    s = s.saturating_add(self.interval);
                }
                due.sort_unstable();
                due.dedup();
            }
        }
        // Forecasts are due only after a window was emitted (most ticks emit none, and the
        // forecast pass looks at every group).
        let emitted = !due.is_empty();
        for s in due {
            self.emit_window(w, plan, s, now, true, &mut out);
        }
        self.next_emit = self.next_emit.max(boundary);

        let mut reemitted = false;
        if w.resample.is_some() {
            let starts: Vec<i64> = self.windows.keys().copied().collect();
            for s in starts {
                let Some(win) = self.windows.get(&s) else {
                    continue;
                };
                if !win.dirty {
                    continue;
                }
                let every_due = w
                    .resample
                    .and_then(|r| r.every)
                    .is_some_and(|e| now.saturating_sub(win.last_emit) >= e);
                if win.emitted || (s >= boundary && every_due) {
                    // Re-emission of a window that took late points, or a partial result.
                    self.emit_window(w, plan, s, now, false, &mut out);
                    reemitted = true;
                }
            }
        }

        if emitted || reemitted {
            self.write_forecasts(w, plan, &mut out);
        }

        // Drop windows no longer open to late points.
        let accept_from = window_start(now.saturating_sub(self.retain), self.interval, self.offset)
            .saturating_add(self.interval);
        if accept_from > self.accept_from {
            self.accept_from = accept_from;
        }
        let keep = self
            .windows
            .split_off(&self.accept_from.min(self.next_emit));
        self.windows = keep;

        // Rows still waiting for their group's next point, as a range ending now gives them.
        let mut due = std::mem::take(&mut self.provisional_due);
        due.sort_unstable();
        due.dedup();
        for id in due {
            let (Some(key), Some(Some(g))) = (self.keys.get(id), self.groups.get_mut(id as usize))
            else {
                continue;
            };
            if let Some(more) = g.more.as_deref_mut() {
                write_provisional(w, plan, key, more, &mut out);
            }
        }

        // Forget groups not seen for series_ttl.
        let horizon = now.saturating_sub(self.ttl);
        let mut expired: Vec<u32> = Vec::new();
        if horizon > self.oldest_seen {
            let mut oldest = i64::MAX;
            for (id, g) in self.groups.iter().enumerate() {
                let Some(g) = g else { continue };
                if g.last_seen < horizon {
                    expired.extend(u32::try_from(id).ok());
                } else {
                    oldest = oldest.min(g.last_seen);
                }
            }
            self.oldest_seen = oldest;
        }
        if !expired.is_empty() {
            self.keys.sort(&mut expired);
            for id in expired {
                let Some(mut g) = self.groups.get_mut(id as usize).and_then(Option::take) else {
                    continue;
                };
                self.live -= 1;
                self.orphans.push(id);
                let (Some(key), Some(more)) = (self.keys.get(id), g.more.as_deref_mut()) else {
                    continue;
                };
                release_held(w, plan, key, more, &mut out, true);
                // Rows still held for fill(linear) are written without the missing values.
                while let Some((s, vals)) = more.pending.pop_front() {
                    write_row(w, plan, key, more, s, &vals, &mut out);
                }
            }
        }
        self.free_orphans();
        out
    }

    /// `holt_winters()`: refits the model of every group whose history took a value in this
    /// close and writes its points. Once per close, after its last window: when several
    /// windows close at once (catching up), the forecasts after the earlier ones would be
    /// rewritten or outdated at once.
    fn write_forecasts(&mut self, w: &WindowedPlan, plan: &CqPlan, out: &mut Output) {
        let Some(p) = &w.predictor else {
            return;
        };
        let mut ids: Vec<u32> = self
            .groups
            .iter()
            .enumerate()
            .filter(|(_, g)| {
                g.as_ref()
                    .and_then(|g| g.more.as_ref())
                    .is_some_and(|m| m.forecast_due)
            })
            .filter_map(|(id, _)| u32::try_from(id).ok())
            .collect();
        self.keys.sort(&mut ids);
        let name = w.outputs[0].name.as_str();
        for id in ids {
            let (Some(key), Some(Some(g))) = (self.keys.get(id), self.groups.get_mut(id as usize))
            else {
                continue;
            };
            let Some(more) = g.more.as_deref_mut() else {
                continue;
            };
            more.forecast_due = false;
            for (t, v) in p.spec.forecast_history(&more.history) {
                let v = Value::Float(v);
                if encode::line_key(&mut out.body, |b| key_into(b, plan, key), [(name, &v)], t) {
                    out.lines += 1;
                }
            }
        }
    }

    /// Frees the ids of expired groups that no window holds any more (a group seen again
    /// since it expired keeps its id).
    fn free_orphans(&mut self) {
        if self.orphans.is_empty() {
            return;
        }
        let mut orphans = std::mem::take(&mut self.orphans);
        orphans.sort_unstable();
        orphans.dedup();
        orphans.retain(|&id| {
            if self.groups.get(id as usize).is_some_and(Option::is_some) {
                return false;
            }
            if self.windows.values().any(|win| win.slots.contains_key(&id)) {
                return true;
            }
            self.keys.remove(id);
            false
        });
        self.orphans = orphans;
    }

    /// Emits window `s`: every group with data, and with `fill_groups` every known group
    /// from its first window on.
    fn emit_window(
        &mut self,
        w: &WindowedPlan,
        plan: &CqPlan,
        s: i64,
        now: i64,
        first: bool,
        out: &mut Output,
    ) {
        let lines_before = out.lines;
        let fills = self.fills_windows(w);
        let n = self.naggs;
        let empty = Window::default();
        // integral(): the first point of each group's next window, if it has arrived.
        let has_integral = w.aggs.iter().any(|a| a.spec.name() == "integral");
        let next_edges: IdMap<Vec<Option<(i64, f64)>>> = if has_integral {
            self.windows
                .get(&s.saturating_add(self.interval))
                .map(|next| {
                    next.ids
                        .iter()
                        .enumerate()
                        .map(|(slot, id)| {
                            let edges = next
                                .accs
                                .get(slot * n..slot * n + n)
                                .unwrap_or_default()
                                .iter()
                                .map(|a| match a {
                                    AggState::One(acc) => acc.edge_points().map(|(first, _)| first),
                                    AggState::PerField(_) => None,
                                })
                                .collect();
                            (*id, edges)
                        })
                        .collect()
                })
                .unwrap_or_default()
        } else {
            IdMap::default()
        };
        let fill_span = self.fill_span();
        let window = self.windows.get_mut(&s);
        let data: &Window = match window {
            Some(win) => {
                if !first && !win.dirty {
                    return;
                }
                win.dirty = false;
                win.emitted = true;
                win.last_emit = now;
                win
            }
            None => &empty,
        };
        // Columnar windows: every aggregate's results, read slot by slot below.
        let col_vals: Vec<Values<'_>> = match data.cols.iter().map(ColAcc::values).collect() {
            Ok(v) => v,
            Err(e) => {
                self.error = Some(format!("window at {s}: {e}"));
                Vec::new()
            }
        };
        // Groups with data, plus (with fill) every known group from its first window on,
        // in series-id order.
        // (id, slot in this window's accumulators, NO_SLOT without data).
        const NO_SLOT: u32 = u32::MAX;
        let mut ids: Vec<(u32, u32)> = if fills {
            self.groups
                .iter()
                .enumerate()
                .filter_map(|(id, g)| Some((u32::try_from(id).ok()?, g.as_ref()?)))
                .filter_map(|(id, g)| {
                    let slot = data.slots.get(&id).copied();
                    let known = match self.batch_range {
                        Some((first, last)) => first <= s && s <= last,
                        None => g.first_window <= s && s <= g.last_seen.saturating_add(fill_span),
                    };
                    (slot.is_some() || known).then_some((id, slot.unwrap_or(NO_SLOT)))
                })
                .collect()
        } else {
            (0u32..)
                .zip(&data.ids)
                .map(|(slot, id)| (*id, slot))
                .collect()
        };
        // Lines in series-id order: the order series first arrived in, the same on every run
        // over the same input (ids are checkpointed). Not key order: sorting 100k keys that
        // arrived scrambled costs more than the rest of the close, and InfluxDB stores
        // points, not their order. Ids of one window are nearly always ascending already.
        ids.sort_unstable_by_key(|p| p.0);
        let needs_more = needs_more(w);
        let mut scratch = GroupMore::default();
        // The row's values, reused from group to group when a row is written at once.
        let mut row: Vec<AggVal> = Vec::with_capacity(n);
        // One line per group, about as long as the lines written so far (no regrowing copies
        // of a body of megabytes).
        let per_line = out.body.len().checked_div(out.lines).unwrap_or(64);
        out.body.reserve(ids.len().saturating_mul(per_line));
        for (id, slot) in ids {
            let Some(key) = self.keys.get(id) else {
                continue;
            };
            let accs = if slot == NO_SLOT {
                None
            } else {
                let at = slot as usize * n;
                data.accs.get(at..at + n)
            };
            if w.multi_row {
                let spec = &w.aggs[0].spec;
                if let (Some(AggState::One(acc)), false) =
                    (accs.and_then(|a| a.first()), spec.by_tags().is_empty())
                {
                    // top/bottom(field, tag, ..., N): InfluxDB's INTO writes the tags'
                    // values as tags of each row's series.
                    for (t, v, values) in acc.finish_tagged(spec, s) {
                        let name = w.outputs[0].name.as_str();
                        if encode::line_key(
                            &mut out.body,
                            |b| tagged_key_into(b, plan, key, spec.by_tags(), &values),
                            [(name, &v)],
                            t,
                        ) {
                            out.lines += 1;
                        }
                    }
                    continue;
                }
                if let Some(AggState::One(acc)) = accs.and_then(|a| a.first()) {
                    let rows = if w.aggs[0].spec.is_udf() {
                        acc.finish_in_group(&w.aggs[0].spec, s, &key.tags())
                    } else {
                        acc.finish(&w.aggs[0].spec, s)
                    };
                    for (t, v) in rows {
                        let name = w.outputs[0].name.as_str();
                        if encode::line_key(
                            &mut out.body,
                            |b| key_into(b, plan, key),
                            [(name, &v)],
                            t,
                        ) {
                            out.lines += 1;
                        }
                    }
                }
                continue;
            }
            let mut group = self.groups.get_mut(id as usize).and_then(Option::as_mut);
            let group_edges = if has_integral {
                group.as_mut().map(|g| g.more(w).integral_prev.clone())
            } else {
                None
            };
            let mut vals = std::mem::take(&mut row);
            vals.clear();
            let columnar = !data.cols.is_empty() && slot != NO_SLOT;
            match accs {
                _ if columnar && col_vals.len() == n => {
                    vals.extend(col_vals.iter().map(|c| AggVal::One(c.value(slot as usize))));
                }
                Some(accs) => {
                    vals.extend(accs.iter().zip(&w.aggs).enumerate().map(|(i, (st, call))| {
                        match st {
                            AggState::One(acc) if call.spec.name() == "integral" => {
                                let prev = group_edges
                                    .as_ref()
                                    .and_then(|e| e.get(i).copied().flatten());
                                let next = next_edges
                                    .get(&id)
                                    .and_then(|e| e.get(i).copied().flatten());
                                AggVal::One(
                                    acc.finish_with_neighbors(&call.spec, s, prev, next)
                                        .into_iter()
                                        .next()
                                        .map(|r| r.1),
                                )
                            }
                            AggState::One(acc) if call.spec.is_udf() => AggVal::One(
                                acc.finish_in_group(&call.spec, s, &key.tags())
                                    .into_iter()
                                    .next()
                                    .map(|r| r.1),
                            ),
                            AggState::One(acc) => AggVal::One(acc.finish_first(&call.spec, s)),
                            AggState::PerField(map) => AggVal::PerField(
                                map.iter()
                                    .filter_map(|(f, acc)| {
                                        acc.finish_first(&call.spec, s).map(|v| (f.clone(), v))
                                    })
                                    .collect(),
                            ),
                        }
                    }))
                }
                _ => vals.extend(w.aggs.iter().map(|a| match a.field {
                    FieldSel::Name(_) => AggVal::One(None),
                    _ => AggVal::PerField(BTreeMap::new()),
                })),
            }
            // The type of each column, for fill numbers (a value is kept only when the type
            // changes).
            for (i, v) in vals.iter().enumerate() {
                if let AggVal::One(Some(v)) = v {
                    let known = self.agg_types[i]
                        .as_ref()
                        .is_some_and(|t| std::mem::discriminant(t) == std::mem::discriminant(v));
                    if !known {
                        self.agg_types[i] = Some(v.clone());
                    }
                }
            }
            let Some(group) = group else {
                continue;
            };
            let more: &mut GroupMore = if needs_more {
                group.more(w)
            } else {
                &mut scratch
            };
            if has_integral {
                if let Some(accs) = accs {
                    for (i, st) in accs.iter().enumerate() {
                        if let AggState::One(acc) = st {
                            if let Some((_, last)) = acc.edge_points() {
                                if let Some(slot) = more.integral_prev.get_mut(i) {
                                    *slot = Some(last);
                                }
                            }
                        }
                    }
                }
            }
            match w.fill {
                Fill::Null if self.batch_range.is_some() => {
                    // InfluxDB's SELECT fills count() with 0 when the fill is null.
                    for (i, v) in vals.iter_mut().enumerate() {
                        if !is_count(&w.aggs[i]) {
                            continue;
                        }
                        match v {
                            AggVal::One(slot @ None) => *slot = Some(Value::Int(0)),
                            AggVal::PerField(map) => {
                                for (j, f) in more.last_wild.keys() {
                                    if *j == i && !map.contains_key(f) {
                                        map.insert(f.clone(), Value::Int(0));
                                    }
                                }
                            }
                            AggVal::One(Some(_)) => {}
                        }
                    }
                }
                Fill::Null | Fill::None => {}
                Fill::Integer(_) | Fill::Float(_) => {
                    for (i, v) in vals.iter_mut().enumerate() {
                        match v {
                            AggVal::One(_) if is_integral(&w.aggs[i]) => {}
                            AggVal::One(slot @ None) => {
                                *slot = Some(fill_number(
                                    w.fill,
                                    self.agg_types[i].as_ref(),
                                    &w.aggs[i].spec,
                                ));
                            }
                            AggVal::PerField(map) => {
                                for ((j, f), prev) in &more.last_wild {
                                    if *j == i && !map.contains_key(f) && !is_integral(&w.aggs[i]) {
                                        let n = fill_number(w.fill, Some(prev), &w.aggs[i].spec);
                                        map.insert(f.clone(), n);
                                    }
                                }
                            }
                            AggVal::One(Some(_)) => {}
                        }
                    }
                }
                Fill::Previous => {
                    for (i, v) in vals.iter_mut().enumerate() {
                        match v {
                            AggVal::One(_) if is_integral(&w.aggs[i]) => {}
                            AggVal::One(slot @ None) => {
                                *slot = more
                                    .last
                                    .get(i)
                                    .and_then(|l| l.as_ref())
                                    .map(|(_, v)| v.clone());
                            }
                            AggVal::PerField(map) => {
                                for ((j, f), prev) in &more.last_wild {
                                    if *j == i && !map.contains_key(f) && !is_integral(&w.aggs[i]) {
                                        map.insert(f.clone(), prev.clone());
                                    }
                                }
                            }
                            AggVal::One(Some(_)) => {}
                        }
                    }
                }
                Fill::Linear => {}
            }
            // Remember last values (fill(previous), fill(linear), wildcard typing).
            for (i, v) in vals.iter().enumerate() {
                match v {
                    AggVal::One(Some(v)) if w.fill == Fill::Previous => {
                        if let Some(slot) = more.last.get_mut(i) {
                            *slot = Some((s, v.clone()));
                        }
                    }
                    AggVal::PerField(map) => {
                        for (f, v) in map {
                            more.last_wild.insert((i, f.clone()), v.clone());
                        }
                    }
                    _ => {}
                }
            }
            if has_integral {
                // This window's first points settle the integrals held before it.
                if let Some(accs) = accs {
                    for h in more.held.iter_mut() {
                        let start = h.start;
                        let vals = &mut h.vals;
                        h.waiting.retain(|(i, acc, prev)| {
                            let next = match accs.get(*i) {
                                Some(AggState::One(a)) => a.edge_points().map(|(first, _)| first),
                                _ => None,
                            };
                            let Some(next) = next else { return true };
                            vals[*i] = AggVal::One(
                                acc.finish_with_neighbors(
                                    &w.aggs[*i].spec,
                                    start,
                                    *prev,
                                    Some(next),
                                )
                                .into_iter()
                                .next()
                                .map(|r| r.1),
                            );
                            false
                        });
                    }
                }
                // This row's integrals wait when the next window has no point of the group yet.
                let mut waiting = Vec::new();
                if let Some(accs) = accs {
                    for (i, st) in accs.iter().enumerate() {
                        let AggState::One(acc) = st else { continue };
                        if w.aggs[i].spec.name() != "integral" || acc.edge_points().is_none() {
                            continue;
                        }
                        let next = next_edges
                            .get(&id)
                            .and_then(|e| e.get(i).copied().flatten());
                        if next.is_none() {
                            let prev = group_edges
                                .as_ref()
                                .and_then(|e| e.get(i).copied().flatten());
                            waiting.push((i, acc.clone(), prev));
                            vals[i] = AggVal::One(None);
                        }
                    }
                }
                more.held.push_back(Held {
                    start: s,
                    vals,
                    waiting,
                    written: None,
                });
                release_held(w, plan, key, more, out, false);
                if self.provisional && !more.held.is_empty() {
                    self.provisional_due.push(id);
                }
            } else if w.fill == Fill::Linear {
                linear(w, plan, key, more, s, vals, out);
            } else {
                write_row(w, plan, key, more, s, &vals, out);
                row = vals;
            }
        }
        if out.lines > lines_before {
            out.windows += 1;
        }
    }
}

/// Whether a `mean()` of the query reads an integer column of `view` (see [`Subseries`]).
fn int_mean(w: &WindowedPlan, view: &View<'_>) -> bool {
    let int_col = |c: &Col<'_>| matches!(c, Col::Int(_) | Col::UInt(_));
    w.aggs
        .iter()
        .filter(|a| a.spec.name() == "mean")
        .any(|a| match &a.field {
            FieldSel::Name(f) => view.cols.get(f.as_str()).is_some_and(int_col),
            FieldSel::All => view.cols.values().any(int_col),
            FieldSel::Regex(re) => view.cols.iter().any(|(n, c)| int_col(c) && re.is_match(n)),
        })
}

/// A window's row-path accumulators (`accs`, slot-major) as columnar ones: how a checkpoint is
/// read into a query whose windows are columnar.
fn to_columnar(fns: &[ColFn], accs: &[AggState]) -> Result<Vec<ColAcc>, String> {
    let n = fns.len();
    fns.iter()
        .enumerate()
        .map(|(i, f)| {
            let partials = accs
                .iter()
                .skip(i)
                .step_by(n.max(1))
                .map(|st| match st {
                    AggState::One(acc) => acc
                        .partial()
                        .ok_or_else(|| format!("the checkpoint holds another function than {f:?}")),
                    AggState::PerField(_) => Err(
                        "the checkpoint holds a wildcard aggregate where the query has a field"
                            .to_string(),
                    ),
                })
                .collect::<Result<Vec<_>, _>>()?;
            ColAcc::from_partials(*f, &partials).map_err(|e| e.to_string())
        })
        .collect()
}

/// Writes the held rows that are final, in time order: those before the first row still
/// waiting for its group's next point; with `flush`, all of them (the group expired: the
/// integrals end at their last point). A row written provisionally is written again only
/// when its values changed.
fn release_held(
    w: &WindowedPlan,
    plan: &CqPlan,
    key: &Interned,
    group: &mut GroupMore,
    out: &mut Output,
    flush: bool,
) {
    let done = if flush {
        group.held.len()
    } else {
        group
            .held
            .iter()
            .position(|h| !h.waiting.is_empty())
            .unwrap_or(group.held.len())
    };
    for _ in 0..done {
        let Some(h) = group.held.pop_front() else {
            break;
        };
        let vals = held_values(w, &h, &mut group.integral_last);
        if h.written.as_ref() == Some(&vals) {
            continue;
        }
        if w.fill == Fill::Linear {
            linear(w, plan, key, group, h.start, vals, out);
        } else {
            write_row(w, plan, key, group, h.start, &vals, out);
        }
    }
}

/// Writes the rows still held as a range ending now gives them, so a series that stops (or
/// is filtered out for good) still gets its last windows: an integral waiting for its next
/// point runs to the window's last point, and later rows fill from it. When the next point
/// arrives the rows are written again at the same timestamps (InfluxDB keeps the later
/// write). Not with transformations, which must see each row once, nor with fill(linear),
/// whose rows wait for the next value anyway.
fn write_provisional(
    w: &WindowedPlan,
    plan: &CqPlan,
    key: &Interned,
    group: &mut GroupMore,
    out: &mut Output,
) {
    if !w.transforms.is_empty() || w.fill == Fill::Linear {
        return;
    }
    let mut last = group.integral_last.clone();
    let mut stateless = GroupMore::default();
    for h in group.held.iter_mut() {
        let vals = held_values(w, h, &mut last);
        if h.written.as_ref() != Some(&vals) {
            write_row(w, plan, key, &mut stateless, h.start, &vals, out);
            h.written = Some(vals);
        }
    }
}

/// A held row's values as written now: waiting integrals end at the window's last point,
/// and integral columns without a value are filled (`last`: the group's previous integral
/// values, updated).
fn held_values(w: &WindowedPlan, h: &Held, last: &mut Vec<Option<Value>>) -> Vec<AggVal> {
    let mut vals = h.vals.clone();
    for (i, acc, prev) in &h.waiting {
        if let Some(slot) = vals.get_mut(*i) {
            *slot = AggVal::One(
                acc.finish_with_neighbors(&w.aggs[*i].spec, h.start, *prev, None)
                    .into_iter()
                    .next()
                    .map(|r| r.1),
            );
        }
    }
    fill_integrals(w, &mut vals, last);
    vals
}

/// InfluxDB's integral iterator emits no filled points: a window without an integral gets
/// no row from it. When other columns of the query give the row, the empty integral column
/// is filled with the fill number or the previous integral (fill(linear) leaves it null).
fn fill_integrals(w: &WindowedPlan, vals: &mut [AggVal], last: &mut Vec<Option<Value>>) {
    if last.len() < vals.len() {
        last.resize(vals.len(), None);
    }
    let row_from_others = w.aggs.iter().any(|a| !is_integral(a));
    for (i, v) in vals.iter_mut().enumerate() {
        let Some(call) = w.aggs.get(i) else { continue };
        if !is_integral(call) {
            continue;
        }
        match v {
            AggVal::One(Some(x)) => last[i] = Some(x.clone()),
            AggVal::One(slot @ None) if row_from_others => match w.fill {
                Fill::Previous => *slot = last[i].clone(),
                Fill::Integer(_) | Fill::Float(_) => {
                    *slot = Some(fill_number(w.fill, Some(&Value::Float(0.0)), &call.spec));
                }
                Fill::Null | Fill::None | Fill::Linear => {}
            },
            _ => {}
        }
    }
}

/// `fill(linear)`: holds the row while a null in it can still be interpolated, and writes
/// every held row that is complete. A wildcard call's fields are filled one by one: a field
/// the group has not had yet leaves the row's column empty (no earlier value), as does one
/// whose next value never comes (the row is written without it when the group expires).
fn linear(
    w: &WindowedPlan,
    plan: &CqPlan,
    key: &Interned,
    group: &mut GroupMore,
    s: i64,
    vals: Vec<AggVal>,
    out: &mut Output,
) {
    // This row's values resolve earlier nulls (integrals are never filled).
    for (i, v) in vals.iter().enumerate() {
        match v {
            _ if is_integral(&w.aggs[i]) => {}
            AggVal::One(Some(next)) => {
                if let Some((pt, prev)) = group.last[i].clone() {
                    for (ps, pvals) in group.pending.iter_mut() {
                        if let AggVal::One(slot @ None) = &mut pvals[i] {
                            if *ps > pt {
                                *slot = interpolate(w.interval, *ps, pt, s, &prev, next);
                            }
                        }
                    }
                }
                group.last[i] = Some((s, next.clone()));
            }
            AggVal::PerField(map) => {
                if group.linear_wild.len() <= i {
                    group.linear_wild.resize_with(i + 1, BTreeMap::new);
                }
                let Some(lasts) = group.linear_wild.get_mut(i) else {
                    continue;
                };
                for (f, next) in map {
                    if let Some((pt, prev)) = lasts.get(f) {
                        for (ps, pvals) in group.pending.iter_mut() {
                            let Some(AggVal::PerField(pm)) = pvals.get_mut(i) else {
                                continue;
                            };
                            if *ps > *pt && !pm.contains_key(f) {
                                if let Some(x) = interpolate(w.interval, *ps, *pt, s, prev, next) {
                                    pm.insert(f.clone(), x);
                                }
                            }
                        }
                    }
                    lasts.insert(f.clone(), (s, next.clone()));
                }
            }
            AggVal::One(None) => {}
        }
    }
    group.pending.push_back((s, vals));
    // Write the complete prefix: a row is complete when each null has no earlier value to
    // interpolate from (a leading null) or has been filled.
    while let Some((ps, pvals)) = group.pending.front() {
        let waiting = pvals.iter().enumerate().any(|(i, v)| match v {
            AggVal::One(None) => group.last[i].as_ref().is_some_and(|(lt, _)| lt < ps),
            AggVal::One(Some(_)) => false,
            AggVal::PerField(map) => group.linear_wild.get(i).is_some_and(|lasts| {
                lasts
                    .iter()
                    .any(|(f, (lt, _))| lt < ps && !map.contains_key(f))
            }),
        });
        if waiting && group.pending.len() <= MAX_LINEAR_PENDING {
            break;
        }
        if let Some((ps, pvals)) = group.pending.pop_front() {
            write_row(w, plan, key, group, ps, &pvals, out);
        }
    }
}

/// InfluxDB's linear fill at window `t` between the windows `(pt, prev)` and `(nt, next)`:
/// on window numbers (times divided by the interval, as Go divides), so that integers
/// truncate exactly as InfluxDB's `int64(m*x + b)` does.
fn interpolate(
    interval: i64,
    t: i64,
    pt: i64,
    nt: i64,
    prev: &Value,
    next: &Value,
) -> Option<Value> {
    let (t, pt, nt) = (
        t.checked_div(interval)?,
        pt.checked_div(interval)?,
        nt.checked_div(interval)?,
    );
    let span = nt.checked_sub(pt)? as f64;
    if span <= 0.0 {
        return None;
    }
    let x = t.checked_sub(pt)? as f64;
    match (prev, next) {
        (Value::Int(a), Value::Int(b)) => {
            let m = b.wrapping_sub(*a) as f64 / span;
            Some(Value::Int((m * x + *a as f64) as i64))
        }
        (Value::UInt(a), Value::UInt(b)) => {
            let m = b.wrapping_sub(*a) as f64 / span;
            Some(Value::UInt((m * x + *a as f64) as u64))
        }
        _ => {
            let (a, b) = (prev.as_f64()?, next.as_f64()?);
            let m = (b - a) / span;
            Some(Value::Float(m * x + a))
        }
    }
}

fn is_count(a: &super::plan::AggCall) -> bool {
    a.spec.name() == "count"
}

/// InfluxDB never fills an `integral()` column: windows without points of the group get no
/// value from any fill() (other columns of the row are filled).
fn is_integral(a: &super::plan::AggCall) -> bool {
    a.spec.name() == "integral"
}

/// The fill number typed like the column: integer columns get integers, the rest floats.
fn fill_number(fill: Fill, like: Option<&Value>, spec: &crate::eval::AggSpec) -> Value {
    let int_column = match like {
        Some(Value::Int(_) | Value::UInt(_)) => true,
        Some(_) => false,
        None => spec.name() == "count",
    };
    match (fill, int_column) {
        (Fill::Integer(i), true) => Value::Int(i),
        (Fill::Float(f), true) => Value::Int(f as i64),
        (Fill::Integer(i), false) => Value::Float(i as f64),
        (Fill::Float(f), false) => Value::Float(f),
        _ => Value::Float(0.0),
    }
}

struct RowValues<'a>(&'a [AggVal], Option<&'a str>);

impl Resolve for RowValues<'_> {
    fn agg(&self, i: usize) -> Option<Value> {
        match self.0.get(i)? {
            AggVal::One(v) => v.clone(),
            AggVal::PerField(map) => self.1.and_then(|f| map.get(f).cloned()),
        }
    }

    fn field(&self, _name: &str) -> Option<Value> {
        None
    }
}

/// Writes the series key of a line: the target measurement (or the source one, for
/// `:MEASUREMENT`) and the key's escaped tags.
fn key_into(out: &mut Vec<u8>, plan: &CqPlan, key: &Interned) {
    match &plan.target_measurement {
        Some(m) => {
            escape_into(out, m, MEASUREMENT_SPECIAL);
            out.extend_from_slice(key.line_tags());
        }
        None => out.extend_from_slice(key.line()),
    }
}

/// The series key of a `top/bottom(field, tag, ..., N)` row: the group's tags and the call's
/// tags with the row's `values` (a tag the point lacked is left out, as InfluxDB does not
/// store empty tags), in tag order.
fn tagged_key_into(
    out: &mut Vec<u8>,
    plan: &CqPlan,
    key: &Interned,
    names: &[String],
    values: &[String],
) {
    let mut tags = key.tags();
    for (k, v) in names.iter().zip(values) {
        if !v.is_empty() && !tags.iter().any(|(have, _)| have == k) {
            tags.push((k.clone(), v.clone()));
        }
    }
    tags.sort();
    match &plan.target_measurement {
        Some(m) => escape_into(out, m, MEASUREMENT_SPECIAL),
        None => {
            let line = key.line();
            let meas = line.len().saturating_sub(key.line_tags().len());
            out.extend_from_slice(line.get(..meas).unwrap_or_default());
        }
    }
    for (k, v) in &tags {
        out.push(b',');
        escape_into(out, k, KEY_SPECIAL);
        out.push(b'=');
        escape_into(out, v, KEY_SPECIAL);
    }
}

/// Evaluates the SELECT over one row of aggregate values and writes its line, field by field
/// into the body (a plain aggregate column is written from the row without a copy).
fn write_row(
    w: &WindowedPlan,
    plan: &CqPlan,
    key: &Interned,
    group: &mut GroupMore,
    s: i64,
    vals: &[AggVal],
    out: &mut Output,
) {
    if let Some(p) = &w.predictor {
        // holt_winters(): the row's value joins the group's history; the refitted model's
        // points are written instead of the row, at the end of the close
        // (`Windowed::write_forecasts`).
        let Some(v) = RowValues(vals, None).agg(p.agg).and_then(|v| v.as_f64()) else {
            return;
        };
        p.spec.remember(&mut group.history, s, v);
        group.forecast_due = true;
        return;
    }
    let mut line = encode::Line::start(&mut out.body, |b| key_into(b, plan, key));
    for f in &w.outputs {
        match (f.wildcard, &f.expr) {
            (Some(i), _) => {
                if let Some(AggVal::PerField(map)) = vals.get(i) {
                    for (field, v) in map {
                        line.field_joined(&f.name, field, v);
                    }
                }
            }
            (None, OutExpr::Agg(i)) => {
                if let Some(AggVal::One(Some(v))) = vals.get(*i) {
                    line.field(&f.name, v);
                }
            }
            (None, expr) => {
                let r = RowValues(vals, None);
                if let Some(v) = eval(expr, &r, s, &w.transforms, &mut group.transforms) {
                    line.field(&f.name, &v);
                }
            }
        }
    }
    if line.finish(s) {
        out.lines += 1;
    }
}
