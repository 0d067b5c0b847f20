//! Concatenating batches of one measurement whose column sets differ.
//!
//! A measurement's schema only grows (new tags and fields appear, types never change, the
//! registry sees to that), so the union of the batches' columns is always well-typed.

use std::sync::Arc;

use arrow::array::{new_null_array, ArrayRef};
use arrow::compute::concat_batches;
use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;

use crate::schema::{COLUMN_KIND_KEY, TIME_COLUMN};

/// The union of the schemas: `time` first, then tags, then fields, each sorted by name.
pub fn union_schema<'a>(
    schemas: impl IntoIterator<Item = &'a SchemaRef>,
) -> Result<SchemaRef, ArrowError> {
    let mut fields: Vec<Arc<Field>> = Vec::new();
    for schema in schemas {
        for f in schema.fields() {
            match fields.iter().find(|e| e.name() == f.name()) {
                Some(existing) if existing.data_type() != f.data_type() => {
                    return Err(ArrowError::SchemaError(format!(
                        "column \"{}\" has type {} in one batch and {} in another",
                        f.name(),
                        existing.data_type(),
                        f.data_type()
                    )))
                }
                Some(_) => {}
                None => fields.push(Arc::clone(f)),
            }
        }
    }
    fields.sort_by(|a, b| sort_key(a).cmp(&sort_key(b)));
    Ok(Arc::new(Schema::new(fields)))
}

fn sort_key(f: &Field) -> (u8, &str) {
    let group = if f.name() == TIME_COLUMN {
        0
    } else {
        match f.metadata().get(COLUMN_KIND_KEY).map(String::as_str) {
            Some("tag") => 1,
            _ => 2,
        }
    };
    (group, f.name().as_str())
}

/// Re-shapes `batch` to `schema` (a superset of its columns), filling missing columns with nulls.
pub fn conform(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, ArrowError> {
    if batch.schema().fields() == schema.fields() {
        return Ok(batch.clone());
    }
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|f| match batch.column_by_name(f.name()) {
            Some(c) => Arc::clone(c),
            None => new_null_array(f.data_type(), batch.num_rows()),
        })
        .collect();
    RecordBatch::try_new(Arc::clone(schema), columns)
}

/// Concatenates batches of one measurement into one batch with the union schema.
pub fn concat_unified(batches: &[RecordBatch]) -> Result<RecordBatch, ArrowError> {
    let schemas: Vec<SchemaRef> = batches.iter().map(RecordBatch::schema).collect();
    let schema = union_schema(schemas.iter())?;
    if batches.len() == 1 {
        return conform(&batches[0], &schema);
    }
    let conformed = batches
        .iter()
        .map(|b| conform(b, &schema))
        .collect::<Result<Vec<_>, _>>()?;
    concat_batches(&schema, &conformed)
}
