//! The transitions of a run through a workflow's graph (its `step` is a node's `seq`):
//! moved on to a node with the node it leaves recorded as passed, held at a timer,
//! postponed while its workflow is paused, ended at an exit or a filter; and the bulk
//! cancels of pending runs (runs at deleted nodes, runs an event made leave).

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    TransactionSession, TransactionTrait,
};

use super::{RunStatus, Taken, fresh, released};
use crate::db::entities::{workflow_run, workflow_run_node};
use crate::domain::now_ms;

/// How a run leaves its workflow without being cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leaving<'a> {
    /// It reached an exit node (recorded as passed).
    Exited,
    /// A filter it is at (or passed, applying downstream) does not match it, or no path of
    /// a branch does: the reason is kept as its last error.
    Filtered(&'a str),
}

/// Records that `run` passed the node `seq` (once per (run, node)).
async fn passed<C: ConnectionTrait>(db: &C, run: &Taken, seq: i32, at: i64) -> Result<(), DbErr> {
    let row = workflow_run_node::ActiveModel {
        run_id: Set(run.id.clone()),
        node_seq: Set(seq),
        workflow_id: Set(run.workflow_id.clone()),
        passed_at: Set(at),
    };
    workflow_run_node::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([
                workflow_run_node::Column::RunId,
                workflow_run_node::Column::NodeSeq,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// taken → pending at node `next` (a seq), due at `next_at`, its failures and timer
/// forgotten; the node it leaves recorded as passed, in the same transaction. True when
/// the lease still held (nothing is recorded otherwise).
pub async fn advance_to<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    run: &Taken,
    next: u32,
    next_at: i64,
) -> Result<bool, DbErr> {
    // Before the run's `updated_at` (set by `released`), so that retention, which prunes
    // a run's passed nodes with it, finds them older than the run.
    let at = now_ms();
    let next = i32::try_from(next).unwrap_or(i32::MAX);
    let txn = db.begin().await?;
    let advanced = fresh(released(&run.id, &run.lease))
        .col_expr(workflow_run::Column::Step, Expr::value(next))
        .col_expr(
            workflow_run::Column::Status,
            Expr::value(RunStatus::Pending.as_str()),
        )
        .col_expr(workflow_run::Column::NextAt, Expr::value(next_at))
        .col_expr(
            workflow_run::Column::WaitUntil,
            Expr::value(Option::<i64>::None),
        )
        .exec(&txn)
        .await?
        .rows_affected
        > 0;
    if advanced {
        passed(&txn, run, run.step, at).await?;
    }
    txn.commit().await?;
    Ok(advanced)
}

/// taken → completed at the exit `exit` (a seq) that follows the node it is at: both
/// recorded as passed, in the same transaction (a path's last email completes its run at
/// once, with no further step to claim).
pub async fn finish_at_exit<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    run: &Taken,
    exit: u32,
) -> Result<bool, DbErr> {
    let at = now_ms();
    let exit = i32::try_from(exit).unwrap_or(i32::MAX);
    let txn = db.begin().await?;
    let finished = fresh(released(&run.id, &run.lease))
        .col_expr(workflow_run::Column::Step, Expr::value(exit))
        .col_expr(
            workflow_run::Column::Status,
            Expr::value(RunStatus::Completed.as_str()),
        )
        .col_expr(
            workflow_run::Column::WaitUntil,
            Expr::value(Option::<i64>::None),
        )
        .exec(&txn)
        .await?
        .rows_affected
        > 0;
    if finished {
        passed(&txn, run, run.step, at).await?;
        passed(&txn, run, exit, at).await?;
    }
    txn.commit().await?;
    Ok(finished)
}

/// taken → pending at the same node (a timer), due when its timer ends at `wait_until`.
pub async fn start_timer<C: ConnectionTrait>(
    db: &C,
    run: &Taken,
    wait_until: i64,
) -> Result<bool, DbErr> {
    let started = fresh(released(&run.id, &run.lease))
        .col_expr(workflow_run::Column::WaitUntil, Expr::value(wait_until))
        .col_expr(workflow_run::Column::NextAt, Expr::value(wait_until))
        .exec(db)
        .await?;
    Ok(started.rows_affected > 0)
}

/// taken → pending at the same node, due again at `next_at`, nothing else changed (its
/// workflow is paused: the run waits without moving on).
pub async fn postpone<C: ConnectionTrait>(
    db: &C,
    run: &Taken,
    next_at: i64,
) -> Result<bool, DbErr> {
    let postponed = released(&run.id, &run.lease)
        .col_expr(workflow_run::Column::NextAt, Expr::value(next_at))
        .exec(db)
        .await?;
    Ok(postponed.rows_affected > 0)
}

/// taken → completed at the node it is at: an exit (recorded as passed, in the same
/// transaction) or a filter it does not match (the reason kept).
pub async fn complete_with<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    run: &Taken,
    leaving: Leaving<'_>,
) -> Result<bool, DbErr> {
    let at = now_ms();
    let reason = match leaving {
        Leaving::Exited => None,
        Leaving::Filtered(reason) => Some(reason.to_owned()),
    };
    let txn = db.begin().await?;
    let completed = released(&run.id, &run.lease)
        .col_expr(
            workflow_run::Column::Status,
            Expr::value(RunStatus::Completed.as_str()),
        )
        .col_expr(
            workflow_run::Column::WaitUntil,
            Expr::value(Option::<i64>::None),
        )
        .col_expr(workflow_run::Column::LastError, Expr::value(reason))
        .exec(&txn)
        .await?
        .rows_affected
        > 0;
    if completed && leaving == Leaving::Exited {
        passed(&txn, run, run.step, at).await?;
    }
    txn.commit().await?;
    Ok(completed)
}

/// pending → cancelled, whatever their lease: the runs of `filter`, `reason` kept. A
/// holder of a lease taken away so changes nothing after (its transitions are guarded by
/// the token, cleared here). Returns how many.
async fn cancel_pending<C: ConnectionTrait>(
    db: &C,
    filter: sea_orm::Condition,
    reason: &str,
) -> Result<u64, DbErr> {
    let cancelled = workflow_run::Entity::update_many()
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
        .filter(workflow_run::Column::Status.eq(RunStatus::Pending.as_str()))
        .filter(filter)
        .exec(db)
        .await?;
    Ok(cancelled.rows_affected)
}

/// pending → cancelled: `contact_id`'s runs of `workflow_ids` (an event they exit on
/// reached the contact). Returns how many.
pub async fn cancel_pending_of_contact<C: ConnectionTrait>(
    db: &C,
    contact_id: &str,
    workflow_ids: &[String],
    reason: &str,
) -> Result<u64, DbErr> {
    if workflow_ids.is_empty() {
        return Ok(0);
    }
    let filter = sea_orm::Condition::all()
        .add(workflow_run::Column::ContactId.eq(contact_id))
        .add(workflow_run::Column::WorkflowId.is_in(workflow_ids.iter().cloned()));
    cancel_pending(db, filter, reason).await
}
