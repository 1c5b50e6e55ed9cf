//! The one writer of the webhook log (`webhook_log`) and of the requests kept beside it
//! for the console (`webhook_log_requests`): what ingest received, what the worker did with
//! it, a dead letter's mark, and the pruning of old requests.
//!
//! Two processes write the same rows. Ingest logs each delivery as it answers it, in
//! batches that wait up to 50 ms to fill; the worker writes the delivery's outcome in the
//! transaction that applies it, often before ingest's batch has gone. So ingest's insert
//! does nothing to a row that exists (the worker's outcome wins), and the worker's upserts
//! (status, message, attempts, the time; what ingest saw stays).
//!
//! Both take their rows in delivery-id order ([`write_received`], [`write_outcomes`]):
//! when the two insert the same ids at once, each waits for a row the other inserted
//! first, and in any other order each could hold one the other is waiting for (a deadlock,
//! which PostgreSQL breaks after a second by failing one of them: ingest's batch would be
//! lost, or the worker's redone).
//!
//! On PostgreSQL every batch is one [`bulk`] statement per table, whose text does not depend
//! on the batch size (prepared once per connection); SQLite takes sea-orm's multi-row
//! inserts.

use std::time::Duration;

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryFilter,
    TransactionTrait,
};

use crate::bulk;
use crate::db::entities::webhook_log::{self, DeliveryStatus};
use crate::db::entities::webhook_log_request;
use crate::domain::now_ms;
use crate::messages::QueueMessage;

/// How long a best-effort write ([`note`]) may hold up a failing delivery.
const NOTE_TIMEOUT: Duration = Duration::from_secs(1);

/// The worker's upsert of a row: its outcome replaces what was there ([`upsert`] as the
/// tail of a [`bulk`] insert).
const UPSERT: &str = "ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, \
    message = EXCLUDED.message, attempts = EXCLUDED.attempts, updated_at = EXCLUDED.updated_at";
/// Ingest's insert of a row: one the worker wrote first is left as it is.
const RECEIVED: &str = "ON CONFLICT (id) DO NOTHING";
/// A kept request is written once.
const KEPT: &str = "ON CONFLICT (delivery_id) DO NOTHING";

/// A delivery's row as the worker writes it: `status` and `text` after `attempt`s.
pub fn row(
    msg: &QueueMessage,
    status: DeliveryStatus,
    text: &str,
    attempt: u32,
) -> webhook_log::Model {
    webhook_log::Model {
        id: msg.delivery_id.clone(),
        integration_id: msg.integration_id.clone(),
        provider: msg.provider.as_str().to_owned(),
        event_type: Some(msg.event_type.clone()),
        idempotency_key: Some(msg.idempotency_key.clone()),
        status: status.as_str().to_owned(),
        message: text.to_owned(),
        attempts: i32::try_from(attempt).unwrap_or(i32::MAX),
        received_at: msg.received_at_ms,
        updated_at: now_ms(),
    }
}

/// Writes what ingest received, in one transaction (one commit, on SQLite too): the log
/// rows (a row the worker has already written is left alone) and the requests kept for the
/// console. Both go in delivery-id order (see the module's note on deadlocks).
pub async fn write_received(
    db: &DatabaseConnection,
    mut rows: Vec<webhook_log::Model>,
    mut requests: Vec<webhook_log_request::Model>,
) -> Result<(), DbErr> {
    if rows.is_empty() && requests.is_empty() {
        return Ok(());
    }
    rows.sort_unstable_by(|a, b| a.id.cmp(&b.id));
    requests.sort_unstable_by(|a, b| a.delivery_id.cmp(&b.delivery_id));
    let rows: Vec<webhook_log::ActiveModel> = rows.into_iter().map(Into::into).collect();
    let requests: Vec<webhook_log_request::ActiveModel> =
        requests.into_iter().map(Into::into).collect();
    let txn = db.begin().await?;
    if txn.get_database_backend() == DbBackend::Postgres {
        bulk::insert(&txn, rows, RECEIVED).await?;
        bulk::insert(&txn, requests, KEPT).await?;
        return txn.commit().await;
    }
    if !rows.is_empty() {
        webhook_log::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::column(webhook_log::Column::Id)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
    }
    if !requests.is_empty() {
        webhook_log_request::Entity::insert_many(requests)
            .on_conflict(
                OnConflict::column(webhook_log_request::Column::DeliveryId)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
    }
    txn.commit().await
}

/// Writes the worker's outcomes in one statement, inside the caller's transaction: the
/// last row of each delivery (an upsert may not touch a row twice), in delivery-id order
/// (see the module's note on deadlocks), each replacing the row's status, message,
/// attempts and time.
pub async fn write_outcomes<C: ConnectionTrait>(
    db: &C,
    mut rows: Vec<webhook_log::Model>,
) -> Result<(), DbErr> {
    // Newest per id: reversed, a stable sort puts each id's last row first, and `dedup`
    // keeps the first of a run.
    rows.reverse();
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    rows.dedup_by(|next, kept| next.id == kept.id);
    if rows.is_empty() {
        return Ok(());
    }
    let rows: Vec<webhook_log::ActiveModel> = rows.into_iter().map(Into::into).collect();
    if db.get_database_backend() == DbBackend::Postgres {
        return bulk::insert(db, rows, UPSERT).await;
    }
    webhook_log::Entity::insert_many(rows)
        .on_conflict(upsert())
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Best effort: writes one outcome (a failure, say) without letting a database that is
/// itself failing hold the caller for more than a second; a failure is only logged (the
/// queue keeps the delivery either way).
pub async fn note<C: ConnectionTrait>(db: &C, row: webhook_log::Model) {
    match tokio::time::timeout(NOTE_TIMEOUT, write_outcomes(db, vec![row])).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!(error = %e, "Could not log the failure in the webhook log."),
        Err(_) => tracing::debug!("Logging the failure in the webhook log timed out."),
    }
}

/// Marks a delivery dead (its dead letter stored) after `attempts`, failed with `error`.
pub async fn mark_dead<C: ConnectionTrait>(
    db: &C,
    delivery_id: &str,
    error: &str,
    attempts: u32,
) -> Result<(), DbErr> {
    webhook_log::Entity::update_many()
        .col_expr(
            webhook_log::Column::Status,
            Expr::value(DeliveryStatus::Dead.as_str()),
        )
        .col_expr(
            webhook_log::Column::Message,
            Expr::value(format!("Dead-lettered: {error}")),
        )
        .col_expr(
            webhook_log::Column::Attempts,
            Expr::value(i32::try_from(attempts).unwrap_or(i32::MAX)),
        )
        .col_expr(webhook_log::Column::UpdatedAt, Expr::value(now_ms()))
        .filter(webhook_log::Column::Id.eq(delivery_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Deletes the requests kept for deliveries received before `before` (epoch ms); their log
/// rows stay. Returns how many went.
pub async fn prune_requests<C: ConnectionTrait>(db: &C, before: i64) -> Result<u64, DbErr> {
    let result = webhook_log_request::Entity::delete_many()
        .filter(webhook_log_request::Column::ReceivedAt.lt(before))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// The worker's upsert on SQLite ([`UPSERT`] on PostgreSQL).
fn upsert() -> OnConflict {
    OnConflict::column(webhook_log::Column::Id)
        .update_columns([
            webhook_log::Column::Status,
            webhook_log::Column::Message,
            webhook_log::Column::Attempts,
            webhook_log::Column::UpdatedAt,
        ])
        .to_owned()
}

#[cfg(test)]
mod tests;
