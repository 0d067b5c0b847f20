//! Per-point continuous queries (no `GROUP BY time()`): each point that passes `WHERE` is
//! evaluated as it arrives and written at its own time; nothing is ever late.
//!
//! Transformations (`derivative(f)`, `difference(f)`, ...) keep their state per series. The
//! written tags are the `GROUP BY` tags, and without `GROUP BY` every tag of the point, so
//! points of different series never overwrite each other in the target (InfluxDB's `INTO`
//! would turn them into fields and merge the series; weir keeps them apart, as Kapacitor does).

use datafusion::arrow::array::Array;
use std::collections::HashMap;
use std::sync::Arc;

use crate::eval::{Transform, Value};

use super::encode;
use super::expr::{eval, Resolve};
use super::plan::{CqPlan, Kind};
use super::series::{KeyBuilder, KeyTags, SeriesKey};
use super::view::{Col, View};
use super::{CqSettings, Output};

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Series {
    transforms: Vec<Transform>,
    last_seen: i64,
}

/// The per-point operator. Checkpointed without its setting, like the windowed one.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct PerPoint {
    #[serde(skip)]
    ttl: i64,
    #[serde(with = "super::snapshot::arc_keys")]
    series: HashMap<Arc<SeriesKey>, Series>,
}

struct Point<'v, 'a> {
    view: &'v View<'a>,
    row: usize,
}

impl Resolve for Point<'_, '_> {
    fn agg(&self, _i: usize) -> Option<Value> {
        None
    }

    fn field(&self, name: &str) -> Option<Value> {
        match self.view.field(name, self.row) {
            Some(v) => Some(Value::from_input(v)),
            None => self
                .view
                .tag(name, self.row)
                .filter(|s| !s.is_empty())
                .map(|s| Value::Str(s.to_string())),
        }
    }
}

impl PerPoint {
    pub(crate) fn new(settings: CqSettings) -> PerPoint {
        PerPoint {
            ttl: settings.series_ttl.max(1),
            series: HashMap::new(),
        }
    }

    /// Takes the series states of a checkpointed operator, keeping this one's setting.
    pub(crate) fn restore(&mut self, saved: PerPoint) {
        self.series = saved.series;
    }

    pub(crate) fn series(&self) -> usize {
        self.series.len()
    }

    /// Evaluates every kept point of the batch.
    pub(crate) fn ingest(&mut self, plan: &CqPlan, measurement: &str, view: &View<'_>) -> Output {
        let mut out = Output::default();
        let Kind::PerPoint(p) = &plan.kind else {
            return out;
        };
        let mut keys = KeyBuilder::new(view, measurement, KeyTags::per_point(&plan.group));
        let mut field_names: Vec<&str> = view
            .cols
            .iter()
            .filter(|(_, c)| !matches!(c, Col::Tag(..)))
            .map(|(n, _)| *n)
            .collect();
        field_names.sort_unstable();
        let target = plan.target_measurement.as_deref().unwrap_or(measurement);
        let mut fields: Vec<(String, Value)> = Vec::new();
        for row in 0..view.time.len() {
            if !view.time.is_valid(row) {
                continue;
            }
            if let Some(cond) = &plan.cond {
                if !super::cond::eval(cond, view, row) {
                    continue;
                }
            }
            let t = view.time.value(row);
            let key = keys.key(row);
            fields.clear();
            if p.all_fields {
                for name in &field_names {
                    if let Some(v) = view.field(name, row) {
                        fields.push(((*name).to_string(), Value::from_input(v)));
                    }
                }
            }
            if !p.outputs.is_empty() {
                let point = Point { view, row };
                let series = if p.transforms.is_empty() {
                    None
                } else {
                    if !self.series.contains_key(key) {
                        self.series.insert(
                            Arc::clone(key),
                            Series {
                                transforms: p.transforms.iter().map(Transform::new).collect(),
                                last_seen: t,
                            },
                        );
                    }
                    self.series.get_mut(key)
                };
                let mut none: Vec<Transform> = Vec::new();
                let states = match series {
                    Some(s) => {
                        s.last_seen = s.last_seen.max(t);
                        &mut s.transforms
                    }
                    None => &mut none,
                };
                for f in &p.outputs {
                    if let Some(v) = eval(&f.expr, &point, t, &p.transforms, states) {
                        fields.push((f.name.clone(), v));
                    }
                }
            }
            if encode::line(
                &mut out.body,
                target,
                &key.tags,
                fields.iter().map(|(n, v)| (n.as_str(), v)),
                t,
            ) {
                out.lines += 1;
            }
        }
        out
    }

    /// Forgets series not seen for `series_ttl` before `now`.
    pub(crate) fn expire(&mut self, now: i64) {
        let horizon = now.saturating_sub(self.ttl);
        self.series.retain(|_, s| s.last_seen >= horizon);
    }
}
