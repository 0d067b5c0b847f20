//! Queries whose results feed another sink than `INTO` (an alert, an archive): the SELECT is
//! planned exactly as a continuous query whose output keeps the source measurement's name in
//! the task's database, so the same windows, groups and functions produce its rows.

use crate::ast::{CreateContinuousQuery, Select, Target, TargetMeasurement};
use crate::Statement;

use super::{plan_with, CqError, CqPlan, Udfs};

/// Plans `select` of task `name` on `database` as a continuous query. A SELECT with `INTO`
/// keeps it (an archive may name its output measurement).
pub fn plan_derived(
    name: &str,
    database: &str,
    select: &Select,
    udfs: &Udfs,
) -> Result<CqPlan, CqError> {
    let mut select = select.clone();
    if select.target.is_none() {
        select.target = Some(Target {
            database: Some(database.to_string()),
            retention_policy: None,
            measurement: TargetMeasurement::Source,
        });
    }
    plan_with(
        &Statement::CreateContinuousQuery(CreateContinuousQuery {
            or_replace: false,
            name: name.to_string(),
            database: database.to_string(),
            resample: None,
            select,
        }),
        udfs,
    )
}
