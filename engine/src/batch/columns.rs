//! Column builders that pad with nulls, so rows that lack a tag or field stay aligned.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder, StringDictionaryBuilder,
    UInt64Builder,
};
use arrow::datatypes::Int32Type;

use crate::line_protocol::FieldValue;
use crate::schema::{ColumnKind, FieldType};

/// The values of one column of a measurement builder.
pub(crate) enum ColumnValues {
    Tag(StringDictionaryBuilder<Int32Type>),
    Float(Float64Builder),
    Integer(Int64Builder),
    Unsigned(UInt64Builder),
    Boolean(BooleanBuilder),
    String(StringBuilder),
}

impl std::fmt::Debug for ColumnValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ColumnValues({} rows)", self.len())
    }
}

impl ColumnValues {
    pub(crate) fn new(kind: ColumnKind, capacity: usize) -> Self {
        match kind {
            ColumnKind::Tag => ColumnValues::Tag(StringDictionaryBuilder::new()),
            ColumnKind::Field(FieldType::Float) => {
                ColumnValues::Float(Float64Builder::with_capacity(capacity))
            }
            ColumnKind::Field(FieldType::Integer) => {
                ColumnValues::Integer(Int64Builder::with_capacity(capacity))
            }
            ColumnKind::Field(FieldType::Unsigned) => {
                ColumnValues::Unsigned(UInt64Builder::with_capacity(capacity))
            }
            ColumnKind::Field(FieldType::Boolean) => {
                ColumnValues::Boolean(BooleanBuilder::with_capacity(capacity))
            }
            ColumnKind::Field(FieldType::String) => {
                ColumnValues::String(StringBuilder::with_capacity(capacity, capacity * 8))
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        use arrow::array::ArrayBuilder;
        match self {
            ColumnValues::Tag(b) => b.len(),
            ColumnValues::Float(b) => b.len(),
            ColumnValues::Integer(b) => b.len(),
            ColumnValues::Unsigned(b) => b.len(),
            ColumnValues::Boolean(b) => b.len(),
            ColumnValues::String(b) => b.len(),
        }
    }

    /// Appends nulls until the column has `rows` values.
    pub(crate) fn pad_to(&mut self, rows: usize) {
        let missing = rows.saturating_sub(self.len());
        if missing == 0 {
            return;
        }
        match self {
            ColumnValues::Tag(b) => {
                for _ in 0..missing {
                    b.append_null();
                }
            }
            ColumnValues::Float(b) => b.append_nulls(missing),
            ColumnValues::Integer(b) => b.append_nulls(missing),
            ColumnValues::Unsigned(b) => b.append_nulls(missing),
            ColumnValues::Boolean(b) => b.append_nulls(missing),
            ColumnValues::String(b) => {
                for _ in 0..missing {
                    b.append_null();
                }
            }
        }
    }

    pub(crate) fn append_tag(&mut self, value: &str) {
        if let ColumnValues::Tag(b) = self {
            // The dictionary has i32 keys: more than 2^31 distinct values in one batch is
            // impossible within the batch row limit, so an overflow would be a logic error.
            if b.append(value).is_err() {
                b.append_null();
            }
        }
    }

    /// Appends a field value; the caller has checked the type matches.
    pub(crate) fn append_field(&mut self, value: &FieldValue<'_>) {
        match (self, value) {
            (ColumnValues::Float(b), FieldValue::Float(v)) => b.append_value(*v),
            (ColumnValues::Integer(b), FieldValue::Integer(v)) => b.append_value(*v),
            (ColumnValues::Unsigned(b), FieldValue::UInteger(v)) => b.append_value(*v),
            (ColumnValues::Boolean(b), FieldValue::Boolean(v)) => b.append_value(*v),
            (ColumnValues::String(b), FieldValue::String(v)) => b.append_value(v.unescaped()),
            (other, _) => other.pad_to(other.len() + 1),
        }
    }

    pub(crate) fn finish(&mut self) -> ArrayRef {
        match self {
            ColumnValues::Tag(b) => Arc::new(b.finish()),
            ColumnValues::Float(b) => Arc::new(b.finish()),
            ColumnValues::Integer(b) => Arc::new(b.finish()),
            ColumnValues::Unsigned(b) => Arc::new(b.finish()),
            ColumnValues::Boolean(b) => Arc::new(b.finish()),
            ColumnValues::String(b) => Arc::new(b.finish()),
        }
    }
}

/// The registry kind of a parsed field value.
pub(crate) fn kind_of(value: &FieldValue<'_>) -> ColumnKind {
    ColumnKind::Field(match value {
        FieldValue::Float(_) => FieldType::Float,
        FieldValue::Integer(_) => FieldType::Integer,
        FieldValue::UInteger(_) => FieldType::Unsigned,
        FieldValue::Boolean(_) => FieldType::Boolean,
        FieldValue::String(_) => FieldType::String,
    })
}
