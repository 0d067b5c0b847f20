//! SQL over the archive: every `<db>/<rp>/<measurement>` directory under the root is a
//! DataFusion table `db.rp.measurement` (catalog, schema, table).
//!
//! - Schemas are unified by name across files: `time` (nanoseconds, UTC) first, then every
//!   column any file has, sorted by name; a file lacking a column reads as nulls.
//! - Partition pruning: the scan reads the `time` bounds of the query's filters (after
//!   DataFusion folded `now() - interval '1 hour'` to a literal) and only opens files whose
//!   `date=`/`hour=` partition overlaps them; row-group statistics prune further.
//! - Compaction leftovers are never read twice: a file named in the `weir.replaces` metadata
//!   of another file of its directory is skipped (see [`crate::compact`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{
    DataType, Field, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, Schema,
    SchemaRef, TimeUnit, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use async_trait::async_trait;
use datafusion::catalog::{
    CatalogProvider, MemoryCatalogProvider, MemorySchemaProvider, SchemaProvider, Session,
    TableProvider,
};
use datafusion::common::{project_schema, ScalarValue};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::{
    BinaryExpr, Expr, Operator, TableProviderFilterPushDown, TableType,
};
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use object_store::path::Path;
use object_store::ObjectMeta;
use parking_lot::Mutex;
use weir_engine::schema::TIME_COLUMN;

use crate::compact::{read_footer, replaced_names};
use crate::layout::{partition_range, rfc3339_nanos};
use crate::store::ArchiveRoot;
use crate::ArchiveError;

const STORE_URL: &str = "weir-archive://root/";

#[derive(Debug, Clone)]
struct Footer {
    schema: SchemaRef,
    replaces: Vec<String>,
}

/// Runs SQL over one archive root. Keep one per root: it caches file footers.
#[derive(Debug)]
pub struct ArchiveQuery {
    root: ArchiveRoot,
    footers: Mutex<HashMap<(Path, u64), Footer>>,
}

/// One file of a table, with its partition's time range.
#[derive(Debug, Clone)]
struct TableFile {
    meta: ObjectMeta,
    range: Option<(i64, i64)>,
}

/// What a scoped context ([`ArchiveQuery::context_for`]) registers: the tables of one
/// database, of one retention policy or all, of the measurements `measurement` keeps, with
/// the files of the partitions that overlap `[lo, hi]` (ns, inclusive) only.
pub struct Scope<'a> {
    pub db: &'a str,
    pub rp: Option<&'a str>,
    pub measurement: &'a (dyn Fn(&str) -> bool + Sync),
    pub lo: i64,
    pub hi: i64,
}

/// A query result.
#[derive(Debug, Clone)]
pub struct QueryResult {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
}

impl ArchiveQuery {
    pub fn new(root: ArchiveRoot) -> Self {
        Self {
            root,
            footers: Mutex::new(HashMap::new()),
        }
    }

    /// The root queried.
    pub fn root(&self) -> &ArchiveRoot {
        &self.root
    }

    /// A session with every archived measurement registered as `db.rp.measurement`.
    pub async fn context(&self) -> Result<SessionContext, ArchiveError> {
        self.context_in(None).await
    }

    /// A session with the tables of `scope` only: what a batch query's run reads. Only the
    /// directories on the way to the partitions that overlap the range are listed (the
    /// database's, the retention policies', the measurements' and, for hourly partitions,
    /// the days that overlap), and only their files' footers are read, so the cost of a run
    /// follows its range, not the size of the archive.
    pub async fn context_for(&self, scope: &Scope<'_>) -> Result<SessionContext, ArchiveError> {
        self.context_in(Some(scope)).await
    }

    async fn context_in(&self, scope: Option<&Scope<'_>>) -> Result<SessionContext, ArchiveError> {
        let ctx =
            SessionContext::new_with_config(SessionConfig::new().with_information_schema(true));
        let url = ObjectStoreUrl::parse(STORE_URL)?;
        ctx.register_object_store(url.as_ref(), Arc::clone(&self.root.store));
        for (db, rps) in self.tables(scope).await? {
            let catalog = Arc::new(MemoryCatalogProvider::new());
            for (rp, tables) in rps {
                let schema = Arc::new(MemorySchemaProvider::new());
                for (m, files) in tables {
                    if let Some(table) = self.table(files).await? {
                        schema.register_table(m, Arc::new(table))?;
                    }
                }
                catalog.register_schema(&rp, schema)?;
            }
            ctx.register_catalog(db, catalog);
        }
        Ok(ctx)
    }

    /// Runs one SQL statement and collects its result.
    pub async fn sql(&self, sql: &str) -> Result<QueryResult, ArchiveError> {
        let ctx = self.context().await?;
        let df = ctx.sql(sql).await?;
        let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
        let batches = df.collect().await?;
        Ok(QueryResult { schema, batches })
    }

    async fn list_dirs(&self, dir: &Path) -> Result<(Vec<Path>, Vec<ObjectMeta>), ArchiveError> {
        let l = self.root.store.list_with_delimiter(Some(dir)).await?;
        Ok((l.common_prefixes, l.objects))
    }

    /// db -> rp -> measurement -> files.
    #[allow(clippy::type_complexity)]
    async fn tables(
        &self,
        scope: Option<&Scope<'_>>,
    ) -> Result<BTreeMap<String, BTreeMap<String, BTreeMap<String, Vec<TableFile>>>>, ArchiveError>
    {
        let mut out: BTreeMap<String, BTreeMap<String, BTreeMap<String, Vec<TableFile>>>> =
            BTreeMap::new();
        let name = |p: &Path| p.filename().map(decode).unwrap_or_default();
        let (dbs, _) = self.list_dirs(&self.root.prefix).await?;
        for db in dbs {
            if scope.is_some_and(|s| name(&db) != s.db) {
                continue;
            }
            let (rps, _) = self.list_dirs(&db).await?;
            for rp in rps {
                if scope.is_some_and(|s| s.rp.is_some_and(|r| name(&rp) != r)) {
                    continue;
                }
                let (ms, _) = self.list_dirs(&rp).await?;
                for m in ms {
                    if scope.is_some_and(|s| !(s.measurement)(&name(&m))) {
                        continue;
                    }
                    let mut files = Vec::new();
                    let mut stack = vec![m.clone()];
                    while let Some(dir) = stack.pop() {
                        let (subdirs, objects) = self.list_dirs(&dir).await?;
                        // Partitions (days, hours) outside the range are not entered.
                        stack.extend(subdirs.into_iter().filter(|d| {
                            match (scope, partition_range(d)) {
                                (Some(s), Some((start, end))) => start <= s.hi && end > s.lo,
                                _ => true,
                            }
                        }));
                        files.extend(
                            objects
                                .into_iter()
                                .filter(|o| o.location.extension() == Some("parquet"))
                                .map(|meta| TableFile {
                                    range: partition_range(&meta.location),
                                    meta,
                                }),
                        );
                    }
                    if files.is_empty() {
                        continue;
                    }
                    out.entry(name(&db))
                        .or_default()
                        .entry(name(&rp))
                        .or_default()
                        .insert(name(&m), files);
                }
            }
        }
        Ok(out)
    }

    async fn footer(&self, meta: &ObjectMeta) -> Result<Footer, ArchiveError> {
        let key = (meta.location.clone(), meta.size);
        if let Some(f) = self.footers.lock().get(&key) {
            return Ok(f.clone());
        }
        let (schema, kv) = read_footer(&self.root, meta).await?;
        let f = Footer {
            schema,
            replaces: replaced_names(&kv),
        };
        let mut cache = self.footers.lock();
        if cache.len() > 100_000 {
            cache.clear();
        }
        cache.insert(key, f.clone());
        Ok(f)
    }

    async fn table(&self, files: Vec<TableFile>) -> Result<Option<ArchiveTable>, ArchiveError> {
        let mut footers = Vec::with_capacity(files.len());
        for f in &files {
            footers.push(self.footer(&f.meta).await?);
        }
        // Files replaced by a compacted file of the same directory are not read.
        let mut replaced: Vec<(Option<Path>, String)> = Vec::new();
        for (f, footer) in files.iter().zip(&footers) {
            for r in &footer.replaces {
                replaced.push((parent(&f.meta.location), r.clone()));
            }
        }
        let mut kept = Vec::new();
        let mut fields: BTreeMap<String, Field> = BTreeMap::new();
        for (f, footer) in files.into_iter().zip(footers) {
            let dir = parent(&f.meta.location);
            let name = f.meta.location.filename().unwrap_or("");
            if replaced.iter().any(|(d, r)| *d == dir && *r == name) {
                continue;
            }
            for field in footer.schema.fields() {
                if field.name() != TIME_COLUMN && !fields.contains_key(field.name()) {
                    fields.insert(field.name().clone(), field.as_ref().clone());
                }
            }
            kept.push(f);
        }
        if kept.is_empty() {
            return Ok(None);
        }
        let mut all = vec![Field::new(
            TIME_COLUMN,
            weir_engine::schema::time_type(),
            false,
        )];
        all.extend(fields.into_values());
        Ok(Some(ArchiveTable {
            schema: Arc::new(Schema::new(all)),
            files: kept,
        }))
    }
}

fn parent(p: &Path) -> Option<Path> {
    let parts: Vec<_> = p.parts().collect();
    let n = parts.len().checked_sub(1)?;
    Some(Path::from_iter(parts.into_iter().take(n)))
}

/// Path segments are percent-encoded by object_store for a few characters; table names are
/// the measurement names.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_string())
}

/// One measurement of the archive.
#[derive(Debug)]
struct ArchiveTable {
    schema: SchemaRef,
    files: Vec<TableFile>,
}

#[async_trait]
impl TableProvider for ArchiveTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> datafusion::common::Result<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> datafusion::common::Result<Arc<dyn ExecutionPlan>> {
        let (lo, hi) = filters
            .iter()
            .map(time_bounds)
            .fold((i64::MIN, i64::MAX), |(l, h), (l2, h2)| {
                (l.max(l2), h.min(h2))
            });
        let urls = self
            .files
            .iter()
            .filter(|f| match f.range {
                Some((s, e)) => s <= hi && e > lo,
                None => true,
            })
            .map(|f| ListingTableUrl::parse(format!("{STORE_URL}{}", f.meta.location)))
            .collect::<datafusion::common::Result<Vec<_>>>()?;
        if urls.is_empty() {
            return Ok(Arc::new(EmptyExec::new(project_schema(
                &self.schema,
                projection,
            )?)));
        }
        let options =
            ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
        let config = ListingTableConfig::new_with_multi_paths(urls)
            .with_listing_options(options)
            .with_schema(Arc::clone(&self.schema));
        ListingTable::try_new(config)?
            .scan(state, projection, filters, limit)
            .await
    }
}

/// `[lo, hi]` bounds (ns, inclusive, conservative) a filter puts on `time`.
fn time_bounds(e: &Expr) -> (i64, i64) {
    const ALL: (i64, i64) = (i64::MIN, i64::MAX);
    match e {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => match op {
            Operator::And => {
                let (a, b) = (time_bounds(left), time_bounds(right));
                (a.0.max(b.0), a.1.min(b.1))
            }
            Operator::Or => {
                let (a, b) = (time_bounds(left), time_bounds(right));
                (a.0.min(b.0), a.1.max(b.1))
            }
            _ => {
                let (op, v) = match (
                    is_time(left),
                    literal_ns(right),
                    is_time(right),
                    literal_ns(left),
                ) {
                    (true, Some(v), _, _) => (*op, v),
                    (_, _, true, Some(v)) => match op.swap() {
                        Some(o) => (o, v),
                        None => return ALL,
                    },
                    _ => return ALL,
                };
                match op {
                    Operator::Gt => (v.saturating_add(1), i64::MAX),
                    Operator::GtEq => (v, i64::MAX),
                    Operator::Lt => (i64::MIN, v.saturating_sub(1)),
                    Operator::LtEq => (i64::MIN, v),
                    Operator::Eq => (v, v),
                    _ => ALL,
                }
            }
        },
        Expr::Between(b) if !b.negated && is_time(&b.expr) => {
            match (literal_ns(&b.low), literal_ns(&b.high)) {
                (Some(l), Some(h)) => (l, h),
                _ => ALL,
            }
        }
        _ => ALL,
    }
}

fn is_time(e: &Expr) -> bool {
    match e {
        Expr::Column(c) => c.name == TIME_COLUMN,
        Expr::Cast(c) => is_time(&c.expr),
        Expr::TryCast(c) => is_time(&c.expr),
        _ => false,
    }
}

fn literal_ns(e: &Expr) -> Option<i64> {
    let Expr::Literal(v, _) = e else {
        return None;
    };
    match v {
        ScalarValue::TimestampNanosecond(Some(v), _) => Some(*v),
        ScalarValue::TimestampMicrosecond(Some(v), _) => v.checked_mul(1_000),
        ScalarValue::TimestampMillisecond(Some(v), _) => v.checked_mul(1_000_000),
        ScalarValue::TimestampSecond(Some(v), _) => v.checked_mul(1_000_000_000),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------
// Output formats

/// The user-facing name of a column type in JSON answers.
pub fn type_name(t: &DataType) -> String {
    match t {
        DataType::Timestamp(_, _) => "timestamp".into(),
        DataType::Float64 | DataType::Float32 => "float64".into(),
        DataType::Int64 | DataType::Int32 | DataType::Int16 | DataType::Int8 => "int64".into(),
        DataType::UInt64 | DataType::UInt32 | DataType::UInt16 | DataType::UInt8 => "uint64".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "string".into(),
        DataType::Dictionary(_, v) => type_name(v),
        other => other.to_string().to_lowercase(),
    }
}

/// A column made easy to read value by value: dictionaries decoded, views made plain.
fn plain(col: &ArrayRef) -> Result<ArrayRef, ArchiveError> {
    Ok(match col.data_type() {
        DataType::Dictionary(_, v) => plain(&cast(col, v)?)?,
        DataType::Utf8View | DataType::LargeUtf8 => cast(col, &DataType::Utf8)?,
        _ => Arc::clone(col),
    })
}

fn timestamp_ns(col: &ArrayRef, i: usize) -> Option<i64> {
    use arrow::datatypes::{
        TimestampMicrosecondType as Us, TimestampMillisecondType as Ms,
        TimestampNanosecondType as Ns, TimestampSecondType as S,
    };
    match col.data_type() {
        DataType::Timestamp(TimeUnit::Nanosecond, _) => Some(col.as_primitive::<Ns>().value(i)),
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            col.as_primitive::<Us>().value(i).checked_mul(1_000)
        }
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            col.as_primitive::<Ms>().value(i).checked_mul(1_000_000)
        }
        DataType::Timestamp(TimeUnit::Second, _) => {
            col.as_primitive::<S>().value(i).checked_mul(1_000_000_000)
        }
        _ => None,
    }
}

fn float_json(v: f64) -> serde_json::Value {
    match serde_json::Number::from_f64(v) {
        Some(n) => serde_json::Value::Number(n),
        None if v.is_nan() => "NaN".into(),
        None if v > 0.0 => "Infinity".into(),
        None => "-Infinity".into(),
    }
}

fn json_value(col: &ArrayRef, fmt: &ArrayFormatter<'_>, i: usize) -> serde_json::Value {
    use serde_json::Value;
    if col.is_null(i) {
        return Value::Null;
    }
    match col.data_type() {
        DataType::Int8 => col.as_primitive::<Int8Type>().value(i).into(),
        DataType::Int16 => col.as_primitive::<Int16Type>().value(i).into(),
        DataType::Int32 => col.as_primitive::<Int32Type>().value(i).into(),
        DataType::Int64 => col.as_primitive::<Int64Type>().value(i).into(),
        DataType::UInt8 => col.as_primitive::<UInt8Type>().value(i).into(),
        DataType::UInt16 => col.as_primitive::<UInt16Type>().value(i).into(),
        DataType::UInt32 => col.as_primitive::<UInt32Type>().value(i).into(),
        DataType::UInt64 => col.as_primitive::<UInt64Type>().value(i).into(),
        DataType::Float32 => float_json(f64::from(col.as_primitive::<Float32Type>().value(i))),
        DataType::Float64 => float_json(col.as_primitive::<Float64Type>().value(i)),
        DataType::Boolean => col.as_boolean().value(i).into(),
        DataType::Utf8 => col.as_string::<i32>().value(i).into(),
        DataType::Timestamp(_, _) => match timestamp_ns(col, i) {
            Some(ns) => rfc3339_nanos(ns).into(),
            None => fmt.value(i).to_string().into(),
        },
        _ => fmt.value(i).to_string().into(),
    }
}

/// `{"columns": [{"name", "type"}], "rows": [[...]]}`; timestamps as RFC 3339 with
/// nanoseconds, NaN and infinities as the strings `"NaN"`, `"Infinity"`, `"-Infinity"`.
pub fn to_json(result: &QueryResult) -> Result<serde_json::Value, ArchiveError> {
    let columns: Vec<serde_json::Value> = result
        .schema
        .fields()
        .iter()
        .map(|f| serde_json::json!({"name": f.name(), "type": type_name(f.data_type())}))
        .collect();
    let mut rows = Vec::new();
    let opts = FormatOptions::default();
    for b in &result.batches {
        let cols = b
            .columns()
            .iter()
            .map(plain)
            .collect::<Result<Vec<_>, _>>()?;
        let fmts = cols
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts))
            .collect::<Result<Vec<_>, _>>()?;
        for i in 0..b.num_rows() {
            rows.push(serde_json::Value::Array(
                cols.iter()
                    .zip(&fmts)
                    .map(|(c, f)| json_value(c, f, i))
                    .collect(),
            ));
        }
    }
    Ok(serde_json::json!({"columns": columns, "rows": rows}))
}

fn csv_cell(out: &mut String, s: &str) {
    if s.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&s.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(s);
    }
}

/// CSV with a header line; nulls are empty cells, timestamps RFC 3339 with nanoseconds.
pub fn to_csv(result: &QueryResult) -> Result<String, ArchiveError> {
    let mut out = String::new();
    for (i, f) in result.schema.fields().iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        csv_cell(&mut out, f.name());
    }
    out.push('\n');
    let opts = FormatOptions::default();
    for b in &result.batches {
        let cols = b
            .columns()
            .iter()
            .map(plain)
            .collect::<Result<Vec<_>, _>>()?;
        let fmts = cols
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts))
            .collect::<Result<Vec<_>, _>>()?;
        for i in 0..b.num_rows() {
            for (j, (c, f)) in cols.iter().zip(&fmts).enumerate() {
                if j > 0 {
                    out.push(',');
                }
                if c.is_null(i) {
                    continue;
                }
                let s = match json_value(c, f, i) {
                    serde_json::Value::String(s) => s,
                    v => v.to_string(),
                };
                csv_cell(&mut out, &s);
            }
            out.push('\n');
        }
    }
    Ok(out)
}

/// An Arrow IPC stream of the result, types as DataFusion produced them.
pub fn to_arrow_ipc(result: &QueryResult) -> Result<Vec<u8>, ArchiveError> {
    let mut out = Vec::new();
    {
        let mut w = arrow::ipc::writer::StreamWriter::try_new(&mut out, &result.schema)?;
        for b in &result.batches {
            w.write(b)?;
        }
        w.finish()?;
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::batch::{write_run, KnownColumns};
    use crate::sink::DerivedBatch;
    use crate::spec::{ArchiveSpec, Partition, StoreConfig};
    use arrow::array::{Float64Array, TimestampNanosecondArray};
    use object_store::{ObjectStoreExt, PutPayload};

    const H: i64 = 3_600_000_000_000;

    #[tokio::test]
    async fn a_scoped_context_lists_only_the_partitions_of_its_range() {
        let dir = tempfile::tempdir().unwrap();
        let url = dir.path().to_str().unwrap();
        let root = ArchiveRoot::open(url, &StoreConfig::default()).unwrap();
        let mut spec = ArchiveSpec::new("a", "db", url);
        spec.partition = Partition::Hour;
        let schema = Arc::new(Schema::new(vec![
            Field::new(TIME_COLUMN, weir_engine::schema::time_type(), false),
            Field::new("v", DataType::Float64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(
                    TimestampNanosecondArray::from(vec![10 * H + 1, 10 * H + 2])
                        .with_timezone("UTC"),
                ),
                Arc::new(Float64Array::from(vec![1.0, 2.0])),
            ],
        )
        .unwrap();
        let rows = |m: &str| DerivedBatch {
            db: "db".into(),
            rp: "autogen".into(),
            measurement: m.into(),
            batch: batch.clone(),
        };
        let mut known = KnownColumns::new();
        write_run(&root, &spec, 1, vec![rows("m"), rows("other")], &mut known)
            .await
            .unwrap();
        // Unreadable files in another hour, another day and another measurement: a run
        // that listed them would fail reading their footers.
        for p in [
            "db/autogen/m/date=1970-01-01/hour=03/x.parquet",
            "db/autogen/m/date=1970-01-05/hour=10/x.parquet",
            "db/autogen/skipped/date=1970-01-01/hour=10/x.parquet",
        ] {
            root.store
                .put(&Path::from(p), PutPayload::from_static(b"not parquet"))
                .await
                .unwrap();
        }
        let q = ArchiveQuery::new(root);
        assert!(q.context().await.is_err());
        let keep = |m: &str| m != "skipped";
        let scope = Scope {
            db: "db",
            rp: None,
            measurement: &keep,
            lo: 10 * H,
            hi: 11 * H - 1,
        };
        let ctx = q.context_for(&scope).await.unwrap();
        let n = ctx
            .sql("SELECT count(*) FROM db.autogen.m")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        assert_eq!(n[0].column(0).as_primitive::<Int64Type>().value(0), 2);
        assert!(ctx.table("db.autogen.other").await.is_ok());
        assert!(ctx.table("db.autogen.skipped").await.is_err());
    }
}
