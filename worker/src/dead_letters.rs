//! The dead-letter archiver (RabbitMQ mode): moves dead letters from the broker's queue into
//! the database, where `inlet dlq` and the API list and replay them. A message is acked only
//! after its row committed, so a database outage only delays archiving.

use std::time::Duration;

use inlet_shared::db::entities::webhook_log::{self, DeliveryStatus};
use inlet_shared::dead_letters;
use inlet_shared::domain::now_ms;
use inlet_shared::queue::Queue;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, TransactionTrait};
use tokio_util::sync::CancellationToken;

/// Runs until `shutdown`; returns at once for the embedded queue (it stores dead letters
/// directly).
pub async fn archive(queue: Queue, db: DatabaseConnection, shutdown: CancellationToken) {
    let mut failures: u32 = 0;
    while !shutdown.is_cancelled() {
        let consumer = tokio::select! {
            () = shutdown.cancelled() => return,
            c = queue.consume_dead_letters() => c,
        };
        let mut consumer = match consumer {
            Ok(Some(c)) => c,
            Ok(None) => return,
            Err(e) => {
                failures = failures.saturating_add(1);
                tracing::warn!(error = %e, "Cannot consume dead letters; retrying.");
                pause(&shutdown, failures).await;
                continue;
            }
        };
        loop {
            let next = tokio::select! {
                () = shutdown.cancelled() => return,
                n = consumer.next() => n,
            };
            let Some(Ok(dead)) = next else { break };
            match store(&db, &dead.record).await {
                Ok(()) => {
                    failures = 0;
                    if let Err(e) = dead.ack().await {
                        tracing::warn!(error = %e, "Could not ack an archived dead letter; it will be stored again.");
                    }
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    tracing::warn!(error = %e, "Cannot store a dead letter yet; it stays in the broker.");
                    let _ = dead.requeue().await;
                    pause(&shutdown, failures).await;
                }
            }
        }
    }
}

async fn store(
    db: &DatabaseConnection,
    record: &inlet_shared::queue::DeadLetterRecord,
) -> Result<(), sea_orm::DbErr> {
    let txn = db.begin().await?;
    dead_letters::store(&txn, record).await?;
    webhook_log::Entity::update_many()
        .col_expr(
            webhook_log::Column::Status,
            Expr::value(DeliveryStatus::Dead.as_str()),
        )
        .col_expr(
            webhook_log::Column::Message,
            Expr::value(format!("Dead-lettered: {}", record.error)),
        )
        .col_expr(
            webhook_log::Column::Attempts,
            Expr::value(i32::try_from(record.attempts).unwrap_or(i32::MAX)),
        )
        .col_expr(webhook_log::Column::UpdatedAt, Expr::value(now_ms()))
        .filter(webhook_log::Column::Id.eq(record.message.delivery_id.as_str()))
        .exec(&txn)
        .await?;
    txn.commit().await
}

async fn pause(shutdown: &CancellationToken, failures: u32) {
    let delay = Duration::from_millis(200u64.saturating_mul(1 << failures.min(5)));
    tokio::select! {
        () = shutdown.cancelled() => {}
        () = tokio::time::sleep(delay) => {}
    }
}
