//! A workflow run's life, the one writer of `workflow_runs` rows' status, step and lease:
//! every change is a named transition here, with its guard (the status and lease-token
//! conditions it is made under), so the scheduler, the runner and the send step only say
//! which transition they make. (A contact's deletion deletes its runs with it, in
//! `contacts`.)
//!
//! ```text
//!           start
//!             │
//!             ▼
//!   ┌────► pending ◄─────────────────────────┐ unclaim (from leased), or the lease expired;
//!   │         │                              │ advance to a next step (due at next_at);
//!   │       claim                            │ retry_later (the attempt counted, due
//!   │         ▼                              │ after a backoff)
//!   │      leased ──take──► taken ───────────┘
//!   │                         ├── advance past the last step, or complete ───► completed
//!   │                         ├── cancel (a reason) ─────────────────────────► cancelled
//!   │                         └── fail (the attempt counted, a dead letter) ─► failed
//!   │                                                                            │
//!   └─────────────────────── resume (a dead-letter replay) ◄─────────────────────┘
//! ```
//!
//! A graph workflow's run moves node to node (`nodes`): [`advance_to`] a node's seq
//! (recording the node it passed), [`start_timer`] and [`postpone`] (pending at the same
//! node, due later), [`complete_with`] (an exit, or a filter it left at) and
//! [`finish_at_exit`] (its last node done, the exit after it); pending runs are
//! also cancelled in bulk, whoever holds them: [`cancel_pending_of_contact`] when an event
//! they exit on arrives, [`discard`] for the API's edits (nodes deleted, the workflow
//! deleted, its mailing list changed).
//!
//! `leased` and `taken` are `pending` runs holding a lease (`lease_token`, valid until
//! `lease_until`): [`claim`] sets a fresh token on due runs whose lease is absent or
//! expired, and [`take`] renews it for the token's holder only. Every transition out of
//! `taken` is guarded by that token and gives the lease up, so once a lease expired and the
//! run was claimed anew, its former holder — a step message that came twice, or late —
//! changes nothing: a (run, step) moves on once. `completed` and `cancelled` are final;
//! `failed` only leaves by [`resume`].

use std::ops::Deref;
use std::time::Duration;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, UpdateMany,
};

use crate::db::entities::{contact, workflow, workflow_run};
use crate::dead_letters;
use crate::domain::{new_id, now_ms};
use crate::messages::{StepJob, TraceContext};

mod nodes;
mod queued;

pub use nodes::{
    Leaving, advance_to, cancel_pending_of_contact, complete_with, finish_at_exit, postpone,
    start_timer,
};
pub use queued::{Queued, count_queued, discard};

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    /// Its next step is due at `next_at` (or queued, or running, under a lease).
    Pending,
    /// Every step ran.
    Completed,
    /// Stopped early: the contact unsubscribed or was deleted, or the workflow is gone.
    Cancelled,
    /// A step failed for good; the run is in the dead letters until replayed.
    Failed,
}

impl RunStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
            Self::Failed => "failed",
        }
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// start: a new run of `workflow` for `contact`, its first step due now. `trace` is the
/// trace context of what started it, which its email sends continue.
pub(super) async fn start<C: ConnectionTrait>(
    db: &C,
    workflow: &workflow::Model,
    contact: &contact::Model,
    event_name: &str,
    event_properties: &str,
    trace: &TraceContext,
) -> Result<(), DbErr> {
    insert_pending(
        db,
        &workflow.id,
        &contact.id,
        event_name,
        event_properties,
        trace,
    )
    .await
    .map(|_| ())
}

/// The event name of a transactional send's run (`crate::transactional`). Custom events
/// cannot contain `:` and platform events start with their platform, so no event is ever
/// named this.
pub const TRANSACTIONAL_EVENT: &str = "inlet:transactional";

/// start, for a transactional send (`crate::transactional`): a one-step run of
/// `transactional_id` for `contact_id` (`""` when the recipient is no contact), carrying
/// its payload as event properties, due now. Returns the run's id.
pub async fn start_transactional<C: ConnectionTrait>(
    db: &C,
    transactional_id: &str,
    contact_id: &str,
    payload: &str,
    trace: &TraceContext,
) -> Result<String, DbErr> {
    insert_pending(
        db,
        transactional_id,
        contact_id,
        TRANSACTIONAL_EVENT,
        payload,
        trace,
    )
    .await
}

/// Inserts a run at its first step, due now; returns its id.
async fn insert_pending<C: ConnectionTrait>(
    db: &C,
    workflow_id: &str,
    contact_id: &str,
    event_name: &str,
    event_properties: &str,
    trace: &TraceContext,
) -> Result<String, DbErr> {
    let now = now_ms();
    let id = new_id("run_");
    let run = workflow_run::ActiveModel {
        id: Set(id.clone()),
        workflow_id: Set(workflow_id.to_owned()),
        contact_id: Set(contact_id.to_owned()),
        event_name: Set(event_name.to_owned()),
        event_properties: Set(event_properties.to_owned()),
        step: Set(0),
        status: Set(RunStatus::Pending.as_str().to_owned()),
        next_at: Set(now),
        lease_until: Set(None),
        lease_token: Set(None),
        attempts: Set(0),
        first_failed_at: Set(None),
        last_error: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        traceparent: Set(trace.traceparent.clone()),
        tracestate: Set(trace.tracestate.clone()),
        wait_until: Set(None),
    };
    workflow_run::Entity::insert(run)
        .exec_without_returning(db)
        .await?;
    Ok(id)
}

/// Clears a transactional run's payload (its attachments, its data) once it is no longer
/// needed: the email was sent, or will not be. Guarded by the lease like a transition, and
/// made before the one that ends the run, in the same transaction.
pub async fn forget_payload<C: ConnectionTrait>(db: &C, run: &Taken) -> Result<(), DbErr> {
    workflow_run::Entity::update_many()
        .col_expr(workflow_run::Column::EventProperties, Expr::value("{}"))
        .filter(workflow_run::Column::Id.eq(run.id.as_str()))
        .filter(workflow_run::Column::LeaseToken.eq(run.lease.as_str()))
        .exec(db)
        .await?;
    Ok(())
}

/// pending → leased: claims up to `limit` due runs under one fresh lease token, valid for
/// `lease`. Two schedulers racing for a run claim it once.
pub async fn claim<C: ConnectionTrait>(
    db: &C,
    limit: u64,
    lease: Duration,
) -> Result<Vec<StepJob>, DbErr> {
    let now = now_ms();
    let due = || {
        Condition::all()
            .add(workflow_run::Column::Status.eq(RunStatus::Pending.as_str()))
            .add(workflow_run::Column::NextAt.lte(now))
            .add(
                Condition::any()
                    .add(workflow_run::Column::LeaseUntil.is_null())
                    .add(workflow_run::Column::LeaseUntil.lt(now)),
            )
    };
    // Read first, so an idle poll writes nothing.
    let ids: Vec<String> = workflow_run::Entity::find()
        .select_only()
        .column(workflow_run::Column::Id)
        .filter(due())
        .order_by_asc(workflow_run::Column::NextAt)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let token = uuid::Uuid::new_v4().simple().to_string();
    // The due condition is repeated, so a run another scheduler claimed since is left out.
    workflow_run::Entity::update_many()
        .col_expr(
            workflow_run::Column::LeaseUntil,
            Expr::value(now + millis(lease)),
        )
        .col_expr(workflow_run::Column::LeaseToken, Expr::value(token.clone()))
        .filter(workflow_run::Column::Id.is_in(ids))
        .filter(due())
        .exec(db)
        .await?;
    let claimed = workflow_run::Entity::find()
        .filter(workflow_run::Column::LeaseToken.eq(token.as_str()))
        .all(db)
        .await?;
    Ok(claimed
        .into_iter()
        .map(|r| StepJob {
            run_id: r.id,
            step: r.step,
            lease: token.clone(),
        })
        .collect())
}

/// leased → pending: gives a claimed run back at once (its step could not be queued), if
/// `job` still holds its lease. True when it did.
pub async fn unclaim<C: ConnectionTrait>(db: &C, job: &StepJob) -> Result<bool, DbErr> {
    let released = released(&job.run_id, &job.lease).exec(db).await?;
    Ok(released.rows_affected > 0)
}

/// A run as the holder of its lease took it ([`take`]): what every transition out of
/// `taken` starts from, each changing the run only while this lease is still its own.
#[derive(Debug, Clone)]
pub struct Taken {
    run: workflow_run::Model,
    lease: String,
}

impl Deref for Taken {
    type Target = workflow_run::Model;

    fn deref(&self) -> &workflow_run::Model {
        &self.run
    }
}

/// leased → taken: renews the lease for another `lease`, only while `job` holds it and the
/// run is pending at the job's step; then reads the run. `None`: the step is someone
/// else's, or done.
pub async fn take<C: ConnectionTrait>(
    db: &C,
    job: &StepJob,
    lease: Duration,
) -> Result<Option<Taken>, DbErr> {
    let renewed = workflow_run::Entity::update_many()
        .col_expr(
            workflow_run::Column::LeaseUntil,
            Expr::value(now_ms() + millis(lease)),
        )
        .filter(workflow_run::Column::Id.eq(job.run_id.as_str()))
        .filter(workflow_run::Column::LeaseToken.eq(job.lease.as_str()))
        .filter(workflow_run::Column::Step.eq(job.step))
        .filter(workflow_run::Column::Status.eq(RunStatus::Pending.as_str()))
        .exec(db)
        .await?;
    if renewed.rows_affected == 0 {
        return Ok(None);
    }
    let run = workflow_run::Entity::find_by_id(job.run_id.clone())
        .one(db)
        .await?;
    Ok(run.map(|run| Taken {
        run,
        lease: job.lease.clone(),
    }))
}

/// The guard of every transition out of `taken` (and of [`unclaim`]): an update of the run
/// held under `lease` that gives the lease up.
/// `update` with the failures of the step the run is at forgotten (a new step starts with
/// none).
fn fresh(update: UpdateMany<workflow_run::Entity>) -> UpdateMany<workflow_run::Entity> {
    update
        .col_expr(workflow_run::Column::Attempts, Expr::value(0))
        .col_expr(
            workflow_run::Column::FirstFailedAt,
            Expr::value(Option::<i64>::None),
        )
        .col_expr(
            workflow_run::Column::LastError,
            Expr::value(Option::<String>::None),
        )
}

fn released(run_id: &str, lease: &str) -> UpdateMany<workflow_run::Entity> {
    workflow_run::Entity::update_many()
        .col_expr(
            workflow_run::Column::LeaseUntil,
            Expr::value(Option::<i64>::None),
        )
        .col_expr(
            workflow_run::Column::LeaseToken,
            Expr::value(Option::<String>::None),
        )
        .col_expr(workflow_run::Column::UpdatedAt, Expr::value(now_ms()))
        .filter(workflow_run::Column::Id.eq(run_id))
        .filter(workflow_run::Column::LeaseToken.eq(lease))
}

/// taken → pending at the next step, due at `next_at`, its failures forgotten; or →
/// completed when that was the last of `total` steps. True when the lease still held.
pub async fn advance<C: ConnectionTrait>(
    db: &C,
    run: &Taken,
    total: usize,
    next_at: i64,
) -> Result<bool, DbErr> {
    let next = run.step.saturating_add(1);
    let done = usize::try_from(next).unwrap_or(usize::MAX) >= total;
    let status = if done {
        RunStatus::Completed
    } else {
        RunStatus::Pending
    };
    let advanced = fresh(released(&run.id, &run.lease))
        .col_expr(workflow_run::Column::Step, Expr::value(next))
        .col_expr(workflow_run::Column::Status, Expr::value(status.as_str()))
        .col_expr(workflow_run::Column::NextAt, Expr::value(next_at))
        .exec(db)
        .await?;
    Ok(advanced.rows_affected > 0)
}

/// taken → completed, at its current step (no step left: the workflow lost steps since).
pub async fn complete<C: ConnectionTrait>(db: &C, run: &Taken) -> Result<bool, DbErr> {
    let completed = released(&run.id, &run.lease)
        .col_expr(
            workflow_run::Column::Status,
            Expr::value(RunStatus::Completed.as_str()),
        )
        .col_expr(
            workflow_run::Column::LastError,
            Expr::value(Option::<String>::None),
        )
        .exec(db)
        .await?;
    Ok(completed.rows_affected > 0)
}

/// taken → cancelled, `reason` kept as its last error (the contact unsubscribed or is
/// gone, the workflow was deleted).
pub async fn cancel<C: ConnectionTrait>(db: &C, run: &Taken, reason: &str) -> Result<bool, DbErr> {
    tracing::info!(reason, "Workflow run cancelled.");
    let cancelled = released(&run.id, &run.lease)
        .col_expr(
            workflow_run::Column::Status,
            Expr::value(RunStatus::Cancelled.as_str()),
        )
        .col_expr(workflow_run::Column::LastError, Expr::value(reason))
        .exec(db)
        .await?;
    Ok(cancelled.rows_affected > 0)
}

/// The attempt a failure of the run's current step is (1 for its first), which the
/// runner's retry policy judges.
pub fn attempt(run: &Taken) -> u32 {
    u32::try_from(run.attempts.saturating_add(1)).unwrap_or(u32::MAX)
}

/// taken → pending at the same step, due again after `delay`: the failed attempt is
/// counted, the first failure's time and the last error kept.
pub async fn retry_later<C: ConnectionTrait>(
    db: &C,
    run: &Taken,
    error: &str,
    delay: Duration,
) -> Result<bool, DbErr> {
    let now = now_ms();
    let retried = released(&run.id, &run.lease)
        .col_expr(
            workflow_run::Column::Attempts,
            Expr::value(run.attempts.saturating_add(1)),
        )
        .col_expr(
            workflow_run::Column::FirstFailedAt,
            Expr::value(run.first_failed_at.unwrap_or(now)),
        )
        .col_expr(workflow_run::Column::LastError, Expr::value(error))
        .col_expr(
            workflow_run::Column::NextAt,
            Expr::value(now.saturating_add(millis(delay))),
        )
        .exec(db)
        .await?;
    Ok(retried.rows_affected > 0)
}

/// taken → failed for good, the failed attempt counted, and the run stored in the dead
/// letters (in `db`'s transaction: call it inside one), from where [`resume`] takes it
/// back. A stale lease changes nothing and stores no dead letter.
pub async fn fail<C: ConnectionTrait>(db: &C, run: &Taken, error: &str) -> Result<bool, DbErr> {
    let attempts = run.attempts.saturating_add(1);
    let first_failed = run.first_failed_at.unwrap_or_else(now_ms);
    let failed = released(&run.id, &run.lease)
        .col_expr(
            workflow_run::Column::Status,
            Expr::value(RunStatus::Failed.as_str()),
        )
        .col_expr(workflow_run::Column::Attempts, Expr::value(attempts))
        .col_expr(
            workflow_run::Column::FirstFailedAt,
            Expr::value(first_failed),
        )
        .col_expr(workflow_run::Column::LastError, Expr::value(error))
        .exec(db)
        .await?;
    if failed.rows_affected == 0 {
        return Ok(false);
    }
    let dead = workflow_run::Model {
        first_failed_at: Some(first_failed),
        ..run.run.clone()
    };
    dead_letters::store_run(db, &dead, error, attempts).await?;
    Ok(true)
}

/// failed → pending (a dead-letter replay): the failed step is due again now, with its
/// attempts reset. False when the run is gone or not failed.
pub async fn resume<C: ConnectionTrait>(db: &C, run_id: &str) -> Result<bool, DbErr> {
    let now = now_ms();
    let updated = workflow_run::Entity::update_many()
        .col_expr(
            workflow_run::Column::Status,
            Expr::value(RunStatus::Pending.as_str()),
        )
        .col_expr(workflow_run::Column::NextAt, Expr::value(now))
        .col_expr(workflow_run::Column::Attempts, Expr::value(0))
        .col_expr(
            workflow_run::Column::FirstFailedAt,
            Expr::value(Option::<i64>::None),
        )
        .col_expr(
            workflow_run::Column::LeaseUntil,
            Expr::value(Option::<i64>::None),
        )
        .col_expr(
            workflow_run::Column::LeaseToken,
            Expr::value(Option::<String>::None),
        )
        .col_expr(workflow_run::Column::UpdatedAt, Expr::value(now))
        .filter(workflow_run::Column::Id.eq(run_id))
        .filter(workflow_run::Column::Status.eq(RunStatus::Failed.as_str()))
        .exec(db)
        .await?;
    Ok(updated.rows_affected > 0)
}
