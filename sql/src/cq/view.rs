//! A typed view of one routed batch: the time column, tags and fields by name.
//!
//! Batches come from the router with one schema per measurement (time, dictionary-encoded
//! tags, typed fields). Reading them through this view keeps the CQ operators free of Arrow
//! downcasts and lets a condition ask "tag or field?" per batch, as InfluxQL resolves names.

use std::collections::HashMap;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, DictionaryArray, Float64Array, Int64Array, StringArray,
    TimestampNanosecondArray, UInt64Array,
};
use datafusion::arrow::datatypes::{DataType, Int32Type, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use weir_engine::schema::{COLUMN_KIND_KEY, TIME_COLUMN};

use crate::eval::Input;

pub(crate) enum Col<'a> {
    Tag(&'a DictionaryArray<Int32Type>, &'a StringArray),
    Float(&'a Float64Array),
    Int(&'a Int64Array),
    UInt(&'a UInt64Array),
    Bool(&'a BooleanArray),
    Str(&'a StringArray),
}
impl<'a> Col<'a> {
    /// The field value at `row`; `None` for a null or a tag column.
    pub(crate) fn value(&self, row: usize) -> Option<Input<'a>> {
        match self {
            Col::Tag(..) => None,
            Col::Float(a) => a.is_valid(row).then(|| Input::Float(a.value(row))),
            Col::Int(a) => a.is_valid(row).then(|| Input::Int(a.value(row))),
            Col::UInt(a) => a.is_valid(row).then(|| Input::UInt(a.value(row))),
            Col::Bool(a) => a.is_valid(row).then(|| Input::Bool(a.value(row))),
            Col::Str(a) => a.is_valid(row).then(|| Input::Str(a.value(row))),
        }
    }
}

pub(crate) struct View<'a> {
    pub(crate) time: &'a TimestampNanosecondArray,
    pub(crate) cols: HashMap<&'a str, Col<'a>>,
    /// Tag columns in name order (for `GROUP BY *`).
    pub(crate) tag_names: Vec<&'a str>,
    batch: &'a RecordBatch,
}

impl<'a> View<'a> {
    pub(crate) fn new(batch: &'a RecordBatch) -> Option<View<'a>> {
        let schema = batch.schema_ref();
        let mut time = None;
        let mut cols = HashMap::new();
        let mut tag_names = Vec::new();
        for (i, field) in schema.fields().iter().enumerate() {
            let name = field.name().as_str();
            let array = batch.column(i);
            if name == TIME_COLUMN {
                if let DataType::Timestamp(TimeUnit::Nanosecond, _) = field.data_type() {
                    time = array.as_any().downcast_ref::<TimestampNanosecondArray>();
                }
                continue;
            }
            let col = match field.data_type() {
                DataType::Dictionary(k, v) if **k == DataType::Int32 && **v == DataType::Utf8 => {
                    let dict = array.as_dictionary::<Int32Type>();
                    let Some(values) = dict.values().as_any().downcast_ref::<StringArray>() else {
                        continue;
                    };
                    let is_tag = field
                        .metadata()
                        .get(COLUMN_KIND_KEY)
                        .is_none_or(|k| k == "tag");
                    if !is_tag {
                        continue;
                    }
                    tag_names.push(name);
                    Col::Tag(dict, values)
                }
                DataType::Float64 => Col::Float(array.as_primitive()),
                DataType::Int64 => Col::Int(array.as_primitive()),
                DataType::UInt64 => Col::UInt(array.as_primitive()),
                DataType::Boolean => Col::Bool(array.as_boolean()),
                DataType::Utf8 => Col::Str(array.as_string::<i32>()),
                _ => continue,
            };
            cols.insert(name, col);
        }
        tag_names.sort_unstable();
        Some(View {
            time: time?,
            cols,
            tag_names,
            batch,
        })
    }

    /// The column of field `name` (not of a tag, nor of a type fields do not have), for
    /// operators that take whole columns.
    pub(crate) fn field_array(&self, name: &str) -> Option<&'a ArrayRef> {
        match self.cols.get(name)? {
            Col::Tag(..) => None,
            _ => self.batch.column_by_name(name),
        }
    }

    /// The tag's value ("" when absent), or `None` when `name` is not a tag.
    pub(crate) fn tag(&self, name: &str, row: usize) -> Option<&'a str> {
        match self.cols.get(name) {
            Some(Col::Tag(dict, values)) => Some(if dict.is_valid(row) {
                let k = usize::try_from(dict.keys().value(row)).unwrap_or(0);
                values.value(k)
            } else {
                ""
            }),
            _ => None,
        }
    }

    pub(crate) fn field(&self, name: &str, row: usize) -> Option<Input<'a>> {
        self.cols.get(name)?.value(row)
    }

    pub(crate) fn is_tag(&self, name: &str) -> bool {
        matches!(self.cols.get(name), Some(Col::Tag(..)))
    }
}
