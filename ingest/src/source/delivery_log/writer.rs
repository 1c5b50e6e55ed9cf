//! The one task that writes the queued entries: batches, one transaction each, and the
//! pruning of old kept requests.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use inlet_shared::db::entities::{webhook_log, webhook_log_request};
use inlet_shared::domain::now_ms;
use sea_orm::sea_query::ArrayType;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr,
    EntityTrait, QueryFilter, Statement, TransactionTrait, Value,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Entry, REQUEST_RETENTION_MS, Request};

const BATCH: usize = 1000;
/// How long the writer waits for more entries after the first of a batch.
const LINGER: Duration = Duration::from_millis(50);
/// How often old requests are pruned.
const PRUNE_EVERY_MS: i64 = 10 * 60 * 1000;

pub(super) async fn write_batches(
    db: DatabaseConnection,
    mut rx: mpsc::Receiver<Entry>,
    dropped: Arc<AtomicU64>,
    shutdown: CancellationToken,
) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut pruned_at = 0;
    loop {
        let received = tokio::select! {
            n = rx.recv_many(&mut batch, BATCH) => n,
            () = shutdown.cancelled() => {
                rx.close();
                while rx.recv_many(&mut batch, BATCH).await > 0 {
                    write_guarded(&db, &mut batch, &dropped).await;
                }
                return;
            }
        };
        if received == 0 {
            return;
        }
        if batch.len() < BATCH {
            // Let a busy stream fill the batch: a few large transactions instead of one
            // small one (and its commit) per handful of deliveries.
            tokio::time::sleep(LINGER).await;
            while batch.len() < BATCH {
                match rx.try_recv() {
                    Ok(entry) => batch.push(entry),
                    Err(_) => break,
                }
            }
        }
        write_guarded(&db, &mut batch, &dropped).await;
        let now = now_ms();
        if now - pruned_at >= PRUNE_EVERY_MS {
            pruned_at = now;
            prune(&db, now - REQUEST_RETENTION_MS).await;
        }
    }
}

/// Writes a batch; a panic while writing loses that batch (logged, and counted like
/// entries that could not be queued) but never the writer, which goes on with the next.
async fn write_guarded(db: &DatabaseConnection, batch: &mut Vec<Entry>, dropped: &AtomicU64) {
    use futures_util::FutureExt;
    let size = batch.len();
    let written = std::panic::AssertUnwindSafe(write(db, batch))
        .catch_unwind()
        .await;
    if written.is_err() {
        tracing::error!(
            entries = size,
            "Writing webhook log entries panicked; they are lost."
        );
        dropped.fetch_add(size as u64, Ordering::Relaxed);
        batch.clear();
    }
}

/// Deletes kept requests received before `before`.
async fn prune(db: &DatabaseConnection, before: i64) {
    let result = webhook_log_request::Entity::delete_many()
        .filter(webhook_log_request::Column::ReceivedAt.lt(before))
        .exec(db)
        .await;
    if let Err(e) = result {
        tracing::warn!(error = %e, "Could not prune kept webhook requests.");
    }
}

async fn write(db: &DatabaseConnection, batch: &mut Vec<Entry>) {
    // In delivery-id order, as the worker writes its log rows: when a worker applies a
    // delivery before it is logged here, both insert the same ids, and two transactions
    // taking them in different orders can each wait for the other (a deadlock).
    batch.sort_unstable_by(|a, b| a.id.cmp(&b.id));
    if db.get_database_backend() == DbBackend::Postgres {
        if let Err(e) = write_postgres(db, batch).await {
            tracing::warn!(error = %e, "Could not write webhook log entries.");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        batch.clear();
        return;
    }
    let now = now_ms();
    let requests: Vec<webhook_log_request::ActiveModel> = batch
        .iter_mut()
        .filter_map(|e| {
            let request = e.request.take()?;
            Some(webhook_log_request::ActiveModel {
                delivery_id: Set(e.id.clone()),
                headers: Set(
                    serde_json::to_string(&request.headers).unwrap_or_else(|_| "[]".into())
                ),
                body: Set(request.body.to_vec()),
                body_truncated: Set(request.truncated),
                received_at: Set(e.received_at_ms),
            })
        })
        .collect();
    let rows = batch.drain(..).map(|e| webhook_log::ActiveModel {
        id: Set(e.id),
        integration_id: Set(e.integration_id),
        provider: Set(e.provider.to_owned()),
        event_type: Set(e.event_type),
        idempotency_key: Set(e.idempotency_key),
        status: Set(e.status.as_str().to_owned()),
        message: Set(e.message),
        attempts: Set(0),
        received_at: Set(e.received_at_ms),
        updated_at: Set(now),
    });
    // The worker may have written the row already (processed): its outcome wins.
    let result = webhook_log::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::column(webhook_log::Column::Id)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await;
    if let Err(e) = result {
        tracing::warn!(error = %e, "Could not write webhook log entries.");
        tokio::time::sleep(Duration::from_millis(200)).await;
        return;
    }
    if requests.is_empty() {
        return;
    }
    let result = webhook_log_request::Entity::insert_many(requests)
        .on_conflict(
            OnConflict::column(webhook_log_request::Column::DeliveryId)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await;
    if let Err(e) = result {
        tracing::warn!(error = %e, "Could not keep webhook requests for the console.");
    }
}

/// PostgreSQL: the batch as one array per column, unnested by two statements whose text
/// never changes (so they are prepared once per connection, whatever the batch size), in one
/// transaction. A multi-row `VALUES` list would be a new statement, with up to thousands of
/// parameters to parse and plan, for every batch size.
async fn write_postgres(db: &DatabaseConnection, batch: &mut [Entry]) -> Result<(), DbErr> {
    fn array(ty: ArrayType, values: Vec<Value>) -> Value {
        Value::Array(ty, Some(Box::new(values)))
    }
    // An array's elements cannot be NULL here: an absent text travels as '' and is turned
    // back into NULL by `NULLIF` (no event type or idempotency key is ever empty).
    fn text(values: impl Iterator<Item = Option<String>>) -> Value {
        array(
            ArrayType::String,
            values.map(|v| Value::from(v.unwrap_or_default())).collect(),
        )
    }
    let now = now_ms();
    let log = Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO webhook_log (id, integration_id, provider, event_type, idempotency_key, \
         status, message, attempts, received_at, updated_at) \
         SELECT id, integration_id, provider, NULLIF(event_type, ''), \
         NULLIF(idempotency_key, ''), status, message, 0, \
         received_at, $9 \
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
         $7::text[], $8::int8[]) \
         AS t(id, integration_id, provider, event_type, idempotency_key, status, message, \
         received_at) \
         ON CONFLICT (id) DO NOTHING",
        [
            text(batch.iter().map(|e| Some(e.id.clone()))),
            text(batch.iter().map(|e| Some(e.integration_id.clone()))),
            text(batch.iter().map(|e| Some(e.provider.to_owned()))),
            text(batch.iter_mut().map(|e| e.event_type.take())),
            text(batch.iter_mut().map(|e| e.idempotency_key.take())),
            text(batch.iter().map(|e| Some(e.status.as_str().to_owned()))),
            text(
                batch
                    .iter_mut()
                    .map(|e| Some(std::mem::take(&mut e.message))),
            ),
            array(
                ArrayType::BigInt,
                batch
                    .iter()
                    .map(|e| Value::from(e.received_at_ms))
                    .collect(),
            ),
            Value::from(now),
        ],
    );
    let kept: Vec<(&Entry, Request)> = batch
        .iter_mut()
        .filter_map(|e| {
            let request = e.request.take()?;
            Some((&*e, request))
        })
        .collect();
    let txn = db.begin().await?;
    // The worker may have written the row already (processed): its outcome wins.
    txn.execute_raw(log).await?;
    if !kept.is_empty() {
        let requests = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO webhook_log_requests (delivery_id, headers, body, body_truncated, \
             received_at) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::bytea[], $4::bool[], $5::int8[]) \
             ON CONFLICT (delivery_id) DO NOTHING",
            [
                text(kept.iter().map(|(e, _)| Some(e.id.clone()))),
                text(kept.iter().map(|(_, r)| {
                    Some(serde_json::to_string(&r.headers).unwrap_or_else(|_| "[]".into()))
                })),
                array(
                    ArrayType::Bytes,
                    kept.iter()
                        .map(|(_, r)| Value::from(r.body.to_vec()))
                        .collect(),
                ),
                array(
                    ArrayType::Bool,
                    kept.iter().map(|(_, r)| Value::from(r.truncated)).collect(),
                ),
                array(
                    ArrayType::BigInt,
                    kept.iter()
                        .map(|(e, _)| Value::from(e.received_at_ms))
                        .collect(),
                ),
            ],
        );
        txn.execute_raw(requests).await?;
    }
    txn.commit().await
}
