//! The one writer of the webhook log (`webhook_log`) and of the requests kept beside it
//! for the console (`webhook_log_requests`): what ingest decided without enqueueing
//! (ignored and rejected deliveries), what the worker did with an accepted one, a dead
//! letter's mark. Old rows go by retention (`crate::retention`).
//!
//! Ingest writes nothing for an accepted delivery: its message carries what the log needs
//! (the kept headers included), and the worker writes the row and the kept request in the
//! transaction that applies it ([`write_outcomes`]). Until then the delivery is counted
//! in the queue's depth, which the console shows beside the log. Ingest's own rows
//! ([`write_received`]) are of deliveries no worker sees, so the two writers touch
//! different rows; both still take theirs in delivery-id order, as every writer of a
//! table should (two batches inserting the same ids in different orders can each hold a
//! row the other waits for: a deadlock).
//!
//! On PostgreSQL every batch is one [`bulk`] statement per table, whose text does not depend
//! on the batch size (prepared once per connection); SQLite takes sea-orm's multi-row
//! inserts.

use std::time::Duration;

use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, TransactionTrait,
};

use crate::bulk;
use crate::db::entities::webhook_log::{self, DeliveryStatus};
use crate::db::entities::webhook_log_request;
use crate::domain::now_ms;
use crate::messages::QueueMessage;

/// How long a best-effort write ([`note`]) may hold up a failing delivery.
const NOTE_TIMEOUT: Duration = Duration::from_secs(1);

/// The worker's upsert of a row: a retry's outcome replaces the earlier attempt's
/// ([`upsert`] as the tail of a [`bulk`] insert).
/// The log and its requests are partitioned by `received_at` (migration 0014), which every
/// attempt of a delivery carries unchanged, so it is part of each key.
const UPSERT: &str = "ON CONFLICT (id, received_at) DO UPDATE SET status = EXCLUDED.status, \
    message = EXCLUDED.message, attempts = EXCLUDED.attempts, updated_at = EXCLUDED.updated_at";
/// Ingest's insert of a row: written once.
const RECEIVED: &str = "ON CONFLICT (id, received_at) DO NOTHING";
/// A kept request is written once (every attempt of a delivery carries it).
const KEPT: &str = "ON CONFLICT (delivery_id, received_at) DO NOTHING";

/// Bytes of a signed delivery's body kept for the console.
pub const BODY_KEPT: usize = 64 * 1024;

/// What the worker writes for a delivery: its row, and the request kept for the console
/// when the message carries its headers.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The log row.
    pub row: webhook_log::Model,
    /// The kept request (headers from the message, the first [`BODY_KEPT`] bytes of its
    /// body).
    pub request: Option<webhook_log_request::Model>,
}

/// A delivery's outcome as the worker writes it: `status` and `text` after `attempt`s.
pub fn outcome(msg: &QueueMessage, status: DeliveryStatus, text: &str, attempt: u32) -> Outcome {
    let row = webhook_log::Model {
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
    };
    let request = msg
        .kept_headers
        .as_ref()
        .map(|headers| webhook_log_request::Model {
            delivery_id: msg.delivery_id.clone(),
            headers: headers.as_json().to_owned(),
            body: msg.body.get(..BODY_KEPT).unwrap_or(&msg.body).to_vec(),
            body_truncated: msg.body.len() > BODY_KEPT,
            received_at: msg.received_at_ms,
        });
    Outcome { row, request }
}

/// Writes what ingest decided without enqueueing, in one transaction (one commit, on
/// SQLite too): the log rows and the requests kept for the console, both in delivery-id
/// order (see the module's note on deadlocks).
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
            .on_conflict(kept())
            .exec_without_returning(&txn)
            .await?;
    }
    txn.commit().await
}

/// Writes the worker's outcomes inside the caller's transaction, one statement per table:
/// the last row of each delivery (an upsert may not touch a row twice), each replacing an
/// earlier attempt's status, message, attempts and time, and the kept requests not yet
/// written; both in delivery-id order (see the module's note on deadlocks).
pub async fn write_outcomes<C: ConnectionTrait>(
    db: &C,
    outcomes: Vec<Outcome>,
) -> Result<(), DbErr> {
    let mut rows = Vec::with_capacity(outcomes.len());
    let mut requests = Vec::new();
    for outcome in outcomes {
        rows.push(outcome.row);
        requests.extend(outcome.request);
    }
    // Newest per id: reversed, a stable sort puts each id's last row first, and `dedup`
    // keeps the first of a run. Requests of one delivery are all the same.
    rows.reverse();
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    rows.dedup_by(|next, kept| next.id == kept.id);
    requests.sort_unstable_by(|a, b| a.delivery_id.cmp(&b.delivery_id));
    requests.dedup_by(|next, kept| next.delivery_id == kept.delivery_id);
    if rows.is_empty() {
        return Ok(());
    }
    let rows: Vec<webhook_log::ActiveModel> = rows.into_iter().map(Into::into).collect();
    let requests: Vec<webhook_log_request::ActiveModel> =
        requests.into_iter().map(Into::into).collect();
    if db.get_database_backend() == DbBackend::Postgres {
        bulk::insert(db, rows, UPSERT).await?;
        return bulk::insert(db, requests, KEPT).await;
    }
    webhook_log::Entity::insert_many(rows)
        .on_conflict(upsert())
        .exec_without_returning(db)
        .await?;
    if !requests.is_empty() {
        webhook_log_request::Entity::insert_many(requests)
            .on_conflict(kept())
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// Best effort: writes one outcome (a failure, say) without letting a database that is
/// itself failing hold the caller for more than a second; a failure is only logged (the
/// queue keeps the delivery either way).
pub async fn note<C: ConnectionTrait>(db: &C, outcome: Outcome) {
    match tokio::time::timeout(NOTE_TIMEOUT, write_outcomes(db, vec![outcome])).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!(error = %e, "Could not log the failure in the webhook log."),
        Err(_) => tracing::debug!("Logging the failure in the webhook log timed out."),
    }
}

/// Marks a delivery dead (its dead letter stored) after `attempts`, failed with `error`;
/// writes its row (and kept request) if no attempt had.
pub async fn mark_dead<C: ConnectionTrait>(
    db: &C,
    msg: &QueueMessage,
    error: &str,
    attempts: u32,
) -> Result<(), DbErr> {
    let text = format!("Dead-lettered: {error}");
    write_outcomes(
        db,
        vec![outcome(msg, DeliveryStatus::Dead, &text, attempts)],
    )
    .await
}

/// A kept request written once, on SQLite ([`KEPT`] on PostgreSQL).
fn kept() -> OnConflict {
    OnConflict::column(webhook_log_request::Column::DeliveryId)
        .do_nothing()
        .to_owned()
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
