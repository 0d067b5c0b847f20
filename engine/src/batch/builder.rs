//! Per-request columnar builders.

use std::fmt;
use std::sync::Arc;

use arrow::array::{ArrayRef, TimestampNanosecondArray};
use arrow::datatypes::{Field, Schema};
use arrow::record_batch::RecordBatch;

use super::columns::{kind_of, ColumnValues};
use crate::line_protocol::{EscapedStr, ParsedLine, Precision};
use crate::schema::{arrow_field, time_field, ColumnKind, SchemaConflict, SchemaRegistry};

/// Why one line of a request was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineRejection {
    /// 1-based line number within the request body.
    pub line: usize,
    /// 1-based column, when the problem is at a position in the line.
    pub column: Option<usize>,
    /// What is wrong, in words a user can act on.
    pub reason: String,
}

impl fmt::Display for LineRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.column {
            Some(c) => write!(f, "line {}, column {}: {}", self.line, c, self.reason),
            None => write!(f, "line {}: {}", self.line, self.reason),
        }
    }
}

/// The rows of one measurement from one request.
#[derive(Debug, Clone)]
pub struct BuiltMeasurement {
    /// The measurement name, unescaped.
    pub measurement: Arc<str>,
    /// `time`, then tags, then fields, each group sorted by name.
    pub batch: RecordBatch,
}

#[derive(Debug)]
struct Column {
    name: String,
    kind: ColumnKind,
    values: ColumnValues,
    /// The line stamp of the last line that wrote this column, to catch duplicate keys.
    stamp: u64,
}

#[derive(Debug)]
struct MeasurementBuilder {
    name: String,
    times: Vec<i64>,
    columns: Vec<Column>,
}

impl MeasurementBuilder {
    fn find(&self, key: &str, hint: usize) -> Option<usize> {
        if let Some(c) = self.columns.get(hint) {
            if c.name == key {
                return Some(hint);
            }
        }
        self.columns.iter().position(|c| c.name == key)
    }

    fn finish(mut self) -> Result<BuiltMeasurement, arrow::error::ArrowError> {
        let rows = self.times.len();
        self.columns.sort_by(|a, b| {
            let group = |k: ColumnKind| u8::from(!matches!(k, ColumnKind::Tag));
            (group(a.kind), &a.name).cmp(&(group(b.kind), &b.name))
        });
        let mut fields: Vec<Field> = Vec::with_capacity(self.columns.len() + 1);
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.columns.len() + 1);
        fields.push(time_field());
        arrays.push(Arc::new(
            TimestampNanosecondArray::from(std::mem::take(&mut self.times)).with_timezone("UTC"),
        ));
        for mut col in self.columns {
            col.values.pad_to(rows);
            fields.push(arrow_field(&col.name, col.kind));
            arrays.push(col.values.finish());
        }
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?;
        Ok(BuiltMeasurement {
            measurement: Arc::from(self.name.as_str()),
            batch,
        })
    }
}

/// Where a key of the line being added goes.
#[derive(Debug)]
enum Slot {
    Existing(usize),
    New(String, ColumnKind),
}

/// Builds the record batches of one write request, line by line.
#[derive(Debug)]
pub struct RequestBuilder<'r> {
    db: &'r str,
    registry: &'r SchemaRegistry,
    precision: Precision,
    default_time_ns: i64,
    measurements: Vec<MeasurementBuilder>,
    last_measurement: usize,
    stamp: u64,
    slots: Vec<Slot>,
    registry_changed: bool,
    capacity_hint: usize,
}

impl<'r> RequestBuilder<'r> {
    /// A builder for a request to `db` whose lines without a timestamp get `default_time_ns`.
    pub fn new(
        db: &'r str,
        registry: &'r SchemaRegistry,
        precision: Precision,
        default_time_ns: i64,
        capacity_hint: usize,
    ) -> Self {
        Self {
            db,
            registry,
            precision,
            default_time_ns,
            measurements: Vec::new(),
            last_measurement: 0,
            stamp: 0,
            slots: Vec::new(),
            registry_changed: false,
            capacity_hint,
        }
    }

    /// Whether a column was registered for the first time (the registry must be persisted
    /// before the request is acknowledged).
    pub fn registry_changed(&self) -> bool {
        self.registry_changed
    }

    /// Adds one parsed line, or says why it is rejected; a rejected line leaves no trace.
    pub fn add_line(&mut self, line_no: usize, line: &ParsedLine<'_>) -> Result<(), LineRejection> {
        let reject = |reason: String| LineRejection {
            line: line_no,
            column: None,
            reason,
        };
        let time = match line.timestamp {
            Some(raw) => self.precision.to_nanos(raw).ok_or_else(|| {
                reject(format!(
                    "timestamp {raw} is out of range for precision {:?}",
                    self.precision
                ))
            })?,
            None => self.default_time_ns,
        };
        let name = unescape(&line.measurement);
        let m_idx = self.measurement_index(&name);
        self.stamp += 1;
        let stamp = self.stamp;
        self.slots.clear();

        // Phase 1: resolve every key to a column, checking kinds; nothing is written yet.
        let m = &mut self.measurements[m_idx];
        let keys = line
            .tags
            .iter()
            .enumerate()
            .map(|(i, (k, _))| (i, k, ColumnKind::Tag))
            .chain(
                line.fields
                    .iter()
                    .enumerate()
                    .map(|(i, (k, v))| (line.tags.len() + i, k, kind_of(v))),
            );
        for (position, key, kind) in keys {
            let key = unescape(key);
            match m.find(&key, position) {
                Some(idx) => {
                    let col = &mut m.columns[idx];
                    if col.kind != kind {
                        let conflict = conflict(&m.name, &key, col.kind, kind);
                        return Err(reject(conflict.to_string()));
                    }
                    if col.stamp == stamp {
                        return Err(reject(duplicate_key(kind, &key)));
                    }
                    col.stamp = stamp;
                    self.slots.push(Slot::Existing(idx));
                }
                None => {
                    if self
                        .slots
                        .iter()
                        .any(|s| matches!(s, Slot::New(n, _) if *n == *key))
                    {
                        return Err(reject(duplicate_key(kind, &key)));
                    }
                    if let Some(existing) = self.registry.lookup(self.db, &m.name, &key) {
                        if existing != kind {
                            return Err(reject(
                                conflict(&m.name, &key, existing, kind).to_string(),
                            ));
                        }
                    } else if key == crate::schema::TIME_COLUMN {
                        return Err(reject(
                            SchemaConflict::TimeKey {
                                measurement: m.name.clone(),
                            }
                            .to_string(),
                        ));
                    }
                    self.slots.push(Slot::New(key.into_owned(), kind));
                }
            }
        }

        // Phase 2: register new columns (another request may have raced us to a conflicting type).
        for slot in &mut self.slots {
            if let Slot::New(key, kind) = slot {
                match self
                    .registry
                    .check_or_register(self.db, &m.name, key, *kind)
                {
                    Ok(changed) => self.registry_changed |= changed,
                    Err(conflict) => return Err(reject(conflict.to_string())),
                }
            }
        }

        // Phase 3: append.
        let row = m.times.len();
        m.times.push(time);
        let values = line
            .tags
            .iter()
            .map(|(_, v)| Value::Tag(v))
            .chain(line.fields.iter().map(|(_, v)| Value::Field(v)));
        for (slot, value) in self.slots.drain(..).zip(values) {
            let idx = match slot {
                Slot::Existing(idx) => idx,
                Slot::New(name, kind) => {
                    m.columns.push(Column {
                        name,
                        kind,
                        values: ColumnValues::new(kind, self.capacity_hint),
                        stamp,
                    });
                    m.columns.len() - 1
                }
            };
            let col = &mut m.columns[idx].values;
            col.pad_to(row);
            match value {
                Value::Tag(v) => col.append_tag(&unescape(v)),
                Value::Field(v) => col.append_field(v),
            }
        }
        Ok(())
    }

    /// Finishes the request: one batch per measurement, in order of first appearance.
    pub fn finish(self) -> Result<Vec<BuiltMeasurement>, arrow::error::ArrowError> {
        self.measurements
            .into_iter()
            .filter(|m| !m.times.is_empty())
            .map(MeasurementBuilder::finish)
            .collect()
    }

    fn measurement_index(&mut self, name: &str) -> usize {
        if let Some(m) = self.measurements.get(self.last_measurement) {
            if m.name == name {
                return self.last_measurement;
            }
        }
        let idx = match self.measurements.iter().position(|m| m.name == name) {
            Some(idx) => idx,
            None => {
                self.measurements.push(MeasurementBuilder {
                    name: name.to_string(),
                    times: Vec::with_capacity(self.capacity_hint),
                    columns: Vec::new(),
                });
                self.measurements.len() - 1
            }
        };
        self.last_measurement = idx;
        idx
    }
}

enum Value<'a, 'b> {
    Tag(&'b EscapedStr<'a>),
    Field(&'b crate::line_protocol::FieldValue<'a>),
}

fn unescape<'a>(s: &EscapedStr<'a>) -> std::borrow::Cow<'a, str> {
    s.unescaped()
}

fn conflict(measurement: &str, key: &str, existing: ColumnKind, new: ColumnKind) -> SchemaConflict {
    match (existing, new) {
        (ColumnKind::Field(existing), ColumnKind::Field(new)) => SchemaConflict::FieldType {
            measurement: measurement.to_string(),
            column: key.to_string(),
            existing,
            new,
        },
        _ => SchemaConflict::Kind {
            measurement: measurement.to_string(),
            column: key.to_string(),
            existing: existing.describe(),
            new: new.describe(),
        },
    }
}

fn duplicate_key(kind: ColumnKind, key: &str) -> String {
    match kind {
        ColumnKind::Tag => format!("duplicate tag key \"{key}\""),
        ColumnKind::Field(_) => format!("duplicate field key \"{key}\""),
    }
}
