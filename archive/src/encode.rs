//! Turning buffered rows into one Parquet file: the SPEC §3.4 schema (`time` first, every other
//! column sorted by name, tags dictionary-encoded), rows sorted by tags then time, zstd,
//! statistics on.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{
    new_null_array, Array, ArrayRef, AsArray, TimestampMicrosecondArray, UInt32Array,
};
use arrow::compute::{cast, concat_batches, take};
use arrow::datatypes::{
    DataType, Field, Int32Type, Schema, SchemaRef, TimeUnit, TimestampMicrosecondType,
    TimestampNanosecondType,
};
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use weir_engine::schema::{arrow_field, ColumnKind, FieldType, COLUMN_KIND_KEY, TIME_COLUMN};

use crate::spec::TimeUnitSpec;
use crate::ArchiveError;

/// The columns of a measurement (besides `time`), by name.
pub type Columns = BTreeMap<String, ColumnKind>;

/// The kind of an Arrow column of a batch or file, from its `weir.kind` metadata or its type.
pub fn column_kind(field: &Field) -> Option<ColumnKind> {
    if field.name() == TIME_COLUMN {
        return None;
    }
    match field.metadata().get(COLUMN_KIND_KEY).map(String::as_str) {
        Some("tag") => return Some(ColumnKind::Tag),
        Some("time") => return None,
        _ => {}
    }
    Some(match field.data_type() {
        DataType::Dictionary(_, _) => ColumnKind::Tag,
        DataType::Float64 => ColumnKind::Field(FieldType::Float),
        DataType::Int64 => ColumnKind::Field(FieldType::Integer),
        DataType::UInt64 => ColumnKind::Field(FieldType::Unsigned),
        DataType::Boolean => ColumnKind::Field(FieldType::Boolean),
        _ => ColumnKind::Field(FieldType::String),
    })
}

/// Adds the columns of `schema` to `columns`; returns whether any was new.
pub fn record_columns(columns: &mut Columns, schema: &Schema) -> bool {
    let mut changed = false;
    for f in schema.fields() {
        if let Some(kind) = column_kind(f) {
            if !columns.contains_key(f.name()) {
                columns.insert(f.name().clone(), kind);
                changed = true;
            }
        }
    }
    changed
}

/// The file schema: `time` in `unit` (UTC), then every column sorted by name.
pub fn file_schema(columns: &Columns, unit: TimeUnitSpec) -> SchemaRef {
    let time_unit = match unit {
        TimeUnitSpec::Ns => TimeUnit::Nanosecond,
        TimeUnitSpec::Us => TimeUnit::Microsecond,
    };
    let time = Field::new(
        TIME_COLUMN,
        DataType::Timestamp(time_unit, Some("UTC".into())),
        false,
    )
    .with_metadata(HashMap::from([(
        COLUMN_KIND_KEY.to_string(),
        "time".to_string(),
    )]));
    let mut fields = vec![time];
    fields.extend(columns.iter().map(|(name, kind)| arrow_field(name, *kind)));
    Arc::new(Schema::new(fields))
}

/// Re-shapes `batch` to `schema`: columns by name, nulls for missing ones, casts where the
/// type differs (nanoseconds to microseconds truncates toward the past).
pub fn conform_to(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, ArchiveError> {
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for f in schema.fields() {
        let col = match batch.column_by_name(f.name()) {
            None => new_null_array(f.data_type(), batch.num_rows()),
            Some(c) if c.data_type() == f.data_type() => Arc::clone(c),
            Some(c) => match (c.data_type(), f.data_type()) {
                (
                    DataType::Timestamp(TimeUnit::Nanosecond, _),
                    DataType::Timestamp(TimeUnit::Microsecond, tz),
                ) => {
                    let ns = c.as_primitive::<TimestampNanosecondType>();
                    let us: TimestampMicrosecondArray = ns.unary(|v| v.div_euclid(1000));
                    Arc::new(us.with_timezone_opt(tz.clone()))
                }
                _ => cast(c, f.data_type())?,
            },
        };
        columns.push(col);
    }
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

/// Concatenates `batches` conformed to `schema` and sorts the rows by tags (in column order,
/// nulls first) then time.
pub fn sorted_rows(
    batches: &[RecordBatch],
    schema: &SchemaRef,
) -> Result<RecordBatch, ArchiveError> {
    let conformed = batches
        .iter()
        .map(|b| conform_to(b, schema))
        .collect::<Result<Vec<_>, _>>()?;
    let batch = if conformed.len() == 1 {
        conformed
            .into_iter()
            .next()
            .unwrap_or_else(|| RecordBatch::new_empty(Arc::clone(schema)))
    } else {
        concat_batches(schema, &conformed)?
    };
    sort_batch(&batch)
}

/// Sorts rows by tags then time.
pub fn sort_batch(batch: &RecordBatch) -> Result<RecordBatch, ArchiveError> {
    let n = batch.num_rows();
    if n <= 1 {
        return Ok(batch.clone());
    }
    let schema = batch.schema();
    let time_idx = schema.index_of(TIME_COLUMN)?;
    let time = time_values(batch.column(time_idx))?;
    let tag_ranks: Vec<Vec<u32>> = schema
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| column_kind(f) == Some(ColumnKind::Tag))
        .map(|(i, _)| tag_ranks(batch.column(i)))
        .collect::<Result<_, _>>()?;
    // Pack the tag ranks into one series key when they fit in 64 bits (almost always).
    let mut packed: Option<Vec<u64>> = Some(vec![0u64; n]);
    for ranks in &tag_ranks {
        let card = u64::from(ranks.iter().copied().max().unwrap_or(0)) + 1;
        if let Some(keys) = &mut packed {
            let max_key = keys.iter().copied().max().unwrap_or(0);
            if max_key
                .checked_mul(card)
                .and_then(|v| v.checked_add(card))
                .is_none()
            {
                packed = None;
                break;
            }
            for (k, r) in keys.iter_mut().zip(ranks) {
                *k = *k * card + u64::from(*r);
            }
        }
    }
    let mut order: Vec<u32> = (0..n as u32).collect();
    match &packed {
        Some(keys) => {
            if (1..n).all(|i| (keys[i - 1], time[i - 1]) <= (keys[i], time[i])) {
                return Ok(batch.clone());
            }
            let mut triples: Vec<(u64, i64, u32)> =
                (0..n).map(|i| (keys[i], time[i], i as u32)).collect();
            triples.sort_unstable();
            for (o, t) in order.iter_mut().zip(&triples) {
                *o = t.2;
            }
        }
        None => order.sort_by(|&a, &b| {
            let (a, b) = (a as usize, b as usize);
            tag_ranks
                .iter()
                .map(|r| r[a].cmp(&r[b]))
                .find(|o| o.is_ne())
                .unwrap_or_else(|| time[a].cmp(&time[b]).then(a.cmp(&b)))
        }),
    }
    let indices = UInt32Array::from(order);
    let columns = batch
        .columns()
        .iter()
        .map(|c| take(c.as_ref(), &indices, None))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(schema, columns)?)
}

fn time_values(col: &ArrayRef) -> Result<&[i64], ArchiveError> {
    match col.data_type() {
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            Ok(col.as_primitive::<TimestampNanosecondType>().values())
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            Ok(col.as_primitive::<TimestampMicrosecondType>().values())
        }
        other => Err(ArchiveError::Schema(format!(
            "time column has type {other}"
        ))),
    }
}

/// Per row, the rank of its tag value among the column's distinct values (0 for null).
fn tag_ranks(col: &ArrayRef) -> Result<Vec<u32>, ArchiveError> {
    let owned;
    let col = if matches!(col.data_type(), DataType::Dictionary(k, v) if **k == DataType::Int32 && **v == DataType::Utf8)
    {
        col
    } else {
        owned = cast(col, &weir_engine::schema::tag_type())?;
        &owned
    };
    let dict = col.as_dictionary::<Int32Type>();
    let values = dict.values().as_string::<i32>();
    let mut by_value: Vec<u32> = (0..values.len() as u32).collect();
    by_value.sort_unstable_by(|&a, &b| values.value(a as usize).cmp(values.value(b as usize)));
    let mut rank_of = vec![0u32; values.len()];
    let mut rank = 0u32;
    let mut prev: Option<&str> = None;
    for &i in &by_value {
        let v = values.value(i as usize);
        if prev != Some(v) {
            rank += 1;
            prev = Some(v);
        }
        rank_of[i as usize] = rank;
    }
    let keys = dict.keys();
    Ok((0..dict.len())
        .map(|i| {
            if keys.is_null(i) {
                0
            } else {
                rank_of[keys.value(i) as usize]
            }
        })
        .collect())
}

/// Writer settings: zstd, page statistics, delta-encoded time and integers, floats dictionary
/// encoded falling back to byte-stream-split, dictionaries for tags and strings.
pub fn writer_properties(schema: &Schema, metadata: Vec<(String, String)>) -> WriterProperties {
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(1 << 20))
        .set_created_by(format!("weir {}", env!("CARGO_PKG_VERSION")))
        .set_key_value_metadata(Some(
            metadata
                .into_iter()
                .map(|(k, v)| KeyValue::new(k, v))
                .collect(),
        ));
    for f in schema.fields() {
        let path = ColumnPath::from(f.name().as_str());
        match f.data_type() {
            DataType::Timestamp(_, _) | DataType::Int64 | DataType::UInt64 => {
                b = b
                    .set_column_dictionary_enabled(path.clone(), false)
                    .set_column_encoding(path, Encoding::DELTA_BINARY_PACKED);
            }
            DataType::Float64 => {
                // Dictionary first (gauges with few decimals repeat values: 13.3 -> 8.2
                // bytes per 2-float row in the bench); a column whose dictionary outgrows
                // its page limit falls back to byte-stream-split, best for noisy floats.
                b = b.set_column_encoding(path, Encoding::BYTE_STREAM_SPLIT);
            }
            _ => {}
        }
    }
    b.build()
}

/// Encodes sorted rows as one Parquet file.
pub fn write_parquet(
    batch: &RecordBatch,
    metadata: Vec<(String, String)>,
) -> Result<Bytes, ArchiveError> {
    let props = writer_properties(&batch.schema(), metadata);
    let mut out = Vec::with_capacity(batch.get_array_memory_size() / 4 + 1024);
    let mut w = ArrowWriter::try_new(&mut out, batch.schema(), Some(props))?;
    w.write(batch)?;
    w.close()?;
    Ok(Bytes::from(out))
}
