//! Every write to the dead-letters table: a delivery's or a workflow run's dead letter
//! stored, and a replay's mark set or taken back. It depends on the message types only, not
//! on a queue, so the embedded queue stores its dead letters here in its own transaction.

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

use crate::db::entities::dead_letter::{self, DeadLetterKind};
use crate::db::entities::workflow_run;
use crate::domain::{new_id, now_ms};
use crate::messages::DeadLetterRecord;

/// Stores (or, for a delivery that died again after a replay, refreshes) a dead letter.
pub async fn store<C: ConnectionTrait>(db: &C, record: &DeadLetterRecord) -> Result<(), DbErr> {
    let m = &record.message;
    let row = dead_letter::ActiveModel {
        id: Set(new_id("dl_")),
        delivery_id: Set(m.delivery_id.clone()),
        integration_id: Set(m.integration_id.clone()),
        provider: Set(m.provider.as_str().to_owned()),
        event_type: Set(m.event_type.clone()),
        idempotency_key: Set(m.idempotency_key.clone()),
        received_at: Set(m.received_at_ms),
        body: Set(m.body.to_vec()),
        error: Set(record.error.clone()),
        attempts: Set(i32::try_from(record.attempts).unwrap_or(i32::MAX)),
        first_failed_at: Set(record.first_failed_at_ms),
        last_failed_at: Set(record.last_failed_at_ms),
        dead_at: Set(now_ms()),
        replayed_at: Set(None),
        replay_count: Set(0),
    };
    upsert(
        db,
        row,
        &[
            dead_letter::Column::Error,
            dead_letter::Column::Attempts,
            dead_letter::Column::LastFailedAt,
            dead_letter::Column::DeadAt,
            dead_letter::Column::ReplayedAt,
        ],
    )
    .await
}

/// Stores a workflow run whose step failed for good (a send the SMTP server keeps refusing,
/// say), so it is listed and replayed like a dead-lettered delivery.
pub async fn store_run<C: ConnectionTrait>(
    db: &C,
    run: &workflow_run::Model,
    error: &str,
    attempts: i32,
) -> Result<(), DbErr> {
    let now = now_ms();
    let body = serde_json::json!({
        "runId": run.id,
        "workflowId": run.workflow_id,
        "contactId": run.contact_id,
        "step": run.step,
    });
    let row = dead_letter::ActiveModel {
        id: Set(new_id("dl_")),
        delivery_id: Set(run.id.clone()),
        integration_id: Set(run.workflow_id.clone()),
        provider: Set(DeadLetterKind::WORKFLOW_RUN.to_owned()),
        event_type: Set(run.event_name.clone()),
        idempotency_key: Set(format!("{}:{}", run.id, run.step)),
        received_at: Set(run.created_at),
        body: Set(body.to_string().into_bytes()),
        error: Set(error.to_owned()),
        attempts: Set(attempts),
        first_failed_at: Set(run.first_failed_at.unwrap_or(now)),
        last_failed_at: Set(now),
        dead_at: Set(now),
        replayed_at: Set(None),
        replay_count: Set(0),
    };
    // A run dead again after a replay is at a later step, with a new body and key.
    upsert(
        db,
        row,
        &[
            dead_letter::Column::IdempotencyKey,
            dead_letter::Column::Body,
            dead_letter::Column::Error,
            dead_letter::Column::Attempts,
            dead_letter::Column::FirstFailedAt,
            dead_letter::Column::LastFailedAt,
            dead_letter::Column::DeadAt,
            dead_letter::Column::ReplayedAt,
        ],
    )
    .await
}

/// Inserts a dead letter, or, when its delivery (or run) is dead already, updates `columns`
/// of the row it has: one row per delivery, however often it dies.
async fn upsert<C: ConnectionTrait>(
    db: &C,
    row: dead_letter::ActiveModel,
    columns: &[dead_letter::Column],
) -> Result<(), DbErr> {
    dead_letter::Entity::insert(row)
        .on_conflict(
            OnConflict::column(dead_letter::Column::DeliveryId)
                .update_columns(columns.iter().copied())
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Marks a dead letter replayed unless someone else did first; true when this call did.
pub async fn mark_replayed<C: ConnectionTrait>(
    db: &C,
    row: &dead_letter::Model,
) -> Result<bool, DbErr> {
    let marked = dead_letter::Entity::update_many()
        .col_expr(dead_letter::Column::ReplayedAt, Expr::value(now_ms()))
        .col_expr(
            dead_letter::Column::ReplayCount,
            Expr::value(row.replay_count.saturating_add(1)),
        )
        .filter(dead_letter::Column::Id.eq(row.id.as_str()))
        .filter(dead_letter::Column::ReplayedAt.is_null())
        .exec(db)
        .await?;
    Ok(marked.rows_affected > 0)
}

/// Takes a replay's mark back (its publish failed), restoring the count it had.
pub async fn unmark_replayed<C: ConnectionTrait>(
    db: &C,
    row: &dead_letter::Model,
) -> Result<(), DbErr> {
    dead_letter::Entity::update_many()
        .col_expr(
            dead_letter::Column::ReplayedAt,
            Expr::value(Option::<i64>::None),
        )
        .col_expr(
            dead_letter::Column::ReplayCount,
            Expr::value(row.replay_count),
        )
        .filter(dead_letter::Column::Id.eq(row.id.as_str()))
        .exec(db)
        .await?;
    Ok(())
}
