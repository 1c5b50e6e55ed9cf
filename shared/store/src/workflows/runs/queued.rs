//! Pending runs an edit of their workflow leaves without a place (Loops' queued
//! contacts): counted for the API's previews and discarded when the edit is made.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

use super::RunStatus;
use crate::db::entities::workflow_run;
use crate::domain::now_ms;

/// Which of a workflow's pending runs an edit leaves without a place (queued contacts, in
/// Loops' words): those at some nodes, all of them, or those whose contact is not on the
/// mailing list the workflow now sends to.
#[derive(Debug, Clone, Copy)]
pub enum Queued<'a> {
    /// Runs at these nodes (their seqs).
    AtNodes(&'a [u32]),
    /// Every pending run.
    All,
    /// Runs whose contact is not on this list.
    OffList(&'a str),
}

fn queued(workflow_id: &str, which: Queued<'_>) -> Condition {
    use sea_orm::sea_query::Query;
    let base = Condition::all()
        .add(workflow_run::Column::WorkflowId.eq(workflow_id))
        .add(workflow_run::Column::Status.eq(RunStatus::Pending.as_str()));
    match which {
        Queued::AtNodes(seqs) => base.add(
            workflow_run::Column::Step.is_in(seqs.iter().map(|s| i32::try_from(*s).unwrap_or(-1))),
        ),
        Queued::All => base,
        Queued::OffList(list) => base.add(
            workflow_run::Column::ContactId.not_in_subquery(
                Query::select()
                    .column(crate::db::entities::contact_list::Column::ContactId)
                    .from(crate::db::entities::contact_list::Entity)
                    .and_where(crate::db::entities::contact_list::Column::ListId.eq(list))
                    .to_owned(),
            ),
        ),
    }
}

/// How many of the workflow's pending runs `which` names.
pub async fn count_queued<C: ConnectionTrait>(
    db: &C,
    workflow_id: &str,
    which: Queued<'_>,
) -> Result<u64, DbErr> {
    use sea_orm::PaginatorTrait;
    if matches!(which, Queued::AtNodes([])) {
        return Ok(0);
    }
    workflow_run::Entity::find()
        .filter(queued(workflow_id, which))
        .count(db)
        .await
}

/// pending (leased or not) → cancelled, for the runs `which` names: the queued contacts an
/// edit discards (`queuedContactPolicy: "discard"`, a confirmed delete), `reason` kept as
/// the last error. The lease is cleared too, so a runner holding one changes nothing after.
/// Returns how many.
pub async fn discard<C: ConnectionTrait>(
    db: &C,
    workflow_id: &str,
    which: Queued<'_>,
    reason: &str,
) -> Result<u64, DbErr> {
    if matches!(which, Queued::AtNodes([])) {
        return Ok(0);
    }
    let discarded = workflow_run::Entity::update_many()
        .col_expr(
            workflow_run::Column::Status,
            Expr::value(RunStatus::Cancelled.as_str()),
        )
        .col_expr(workflow_run::Column::LastError, Expr::value(reason))
        .col_expr(
            workflow_run::Column::LeaseUntil,
            Expr::value(Option::<i64>::None),
        )
        .col_expr(
            workflow_run::Column::LeaseToken,
            Expr::value(Option::<String>::None),
        )
        .col_expr(workflow_run::Column::UpdatedAt, Expr::value(now_ms()))
        .filter(queued(workflow_id, which))
        .exec(db)
        .await?;
    if discarded.rows_affected > 0 {
        tracing::info!(
            reason,
            count = discarded.rows_affected,
            "Queued workflow runs discarded."
        );
    }
    Ok(discarded.rows_affected)
}
