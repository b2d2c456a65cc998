//! Partition DDL: partition add / drop / truncate / reorganize, and EXCHANGE PARTITION.
//!
//! Guarantees: the table must be partitioned before and after the job; its partition set
//! becomes `binlog.TableInfo`'s, so the change lists the partition ids gained and lost.
//! EXCHANGE PARTITION (TiCDC `exchangePartition`) requires exactly one partition id gained and
//! one lost: the lost partition's id becomes the non-partitioned table's, whose old id
//! becomes the new partition; each table keeps its own schema.

use std::sync::Arc;

use super::{Draft, JobPlan, Op, Plan};
use crate::schema::error::SchemaError;
use crate::schema::query::exchange_query;
use crate::schema::version::{TableVersion, physical_ids};

/// Partition add / drop / truncate / reorganize: the partitioned table is `binlog.TableInfo`.
pub(super) fn replace(p: &JobPlan<'_>) -> Result<Plan, SchemaError> {
    let info = p.info()?;
    let old = partitioned(p, info.id, info.partition_info().is_some())?;
    let tv = p.version(old.schema_id, old.schema.clone(), info);
    Ok(p.put_table(Some(&old), tv))
}

/// EXCHANGE PARTITION: `binlog.TableInfo` is the partitioned table after the job; the
/// partition it lost becomes the id of the non-partitioned table (`job.table_id`), whose old
/// id becomes the new partition.
pub(super) fn exchange(p: &JobPlan<'_>) -> Result<Plan, SchemaError> {
    let job = p.job;
    let info = p.info()?;
    let pt = partitioned(p, info.id, info.partition_info().is_some())?;
    let new_ids = physical_ids(&info);
    let gained: Vec<i64> = new_ids
        .iter()
        .filter(|i| !pt.physical_ids.contains(i))
        .copied()
        .collect();
    let lost: Vec<i64> = pt
        .physical_ids
        .iter()
        .filter(|i| !new_ids.contains(i))
        .copied()
        .collect();
    let (&[normal_id], &[partition_id]) = (gained.as_slice(), lost.as_slice()) else {
        return Err(p.invalid(format!(
            "partitions gained {gained:?} and lost {lost:?}; exactly one of each expected"
        )));
    };
    let normal = p.table(normal_id)?;
    // The job's schema id is the non-partitioned table's; keep the partitioned table's own.
    let pt_after = p.version(pt.schema_id, pt.schema.clone(), info);
    let mut moved = (*normal.info).clone();
    moved.id = partition_id;
    let normal_after = p.version(normal.schema_id, normal.schema.clone(), Arc::new(moved));
    let q = exchange_query(
        &job.query,
        &pt.schema,
        &pt.table,
        &normal.schema,
        &normal.table,
    );
    let mut before_ids = pt.physical_ids.clone();
    before_ids.push(normal_id);
    let mut after_ids = pt_after.physical_ids.clone();
    after_ids.push(partition_id);
    let d = Draft {
        action: job.action,
        query: q,
        schema: pt.schema.to_string(),
        table: pt.table.to_string(),
        pre: Some((normal.schema.to_string(), normal.table.to_string())),
        after: Some(pt_after.clone()),
        before_ids,
        after_ids,
    };
    Ok((
        vec![
            Op::DropTable(normal_id),
            Op::PutTable(pt_after),
            Op::PutTable(normal_after),
        ],
        vec![d],
    ))
}

/// Table `table_id`, which must be partitioned and stay so (`still`).
fn partitioned(
    p: &JobPlan<'_>,
    table_id: i64,
    still: bool,
) -> Result<Arc<TableVersion>, SchemaError> {
    let old = p.table(table_id)?;
    if !old.is_partitioned() || !still {
        return Err(p.invalid(format!("table {table_id} is not partitioned")));
    }
    Ok(old)
}
