//! The dead-letter archiver (RabbitMQ mode): moves dead letters from the broker's queue into
//! the database, where `inlet dlq` and the API list and replay them. A message is acked only
//! after its row committed, so a database outage only delays archiving.

use inlet_shared::dead_letters;
use inlet_shared::queue::Queue;
use inlet_shared::queue::rabbitmq::DeadLetterConsumer;
use inlet_shared::retry::ReconnectBackoff;
use inlet_shared::webhook_log;
use sea_orm::{DatabaseConnection, TransactionTrait};
use tokio_util::sync::CancellationToken;

use crate::consume::{self, Served};

/// Runs until `shutdown`; returns at once for the embedded queue (it stores dead letters
/// directly).
pub async fn archive(queue: Queue, db: DatabaseConnection, shutdown: CancellationToken) {
    let (queue, db, shutdown) = (&queue, &db, &shutdown);
    consume::run(
        shutdown,
        "dead letters",
        // Backs off while the database refuses dead letters, apart from reconnecting.
        ReconnectBackoff::new(),
        || queue.consume_dead_letters(),
        |mut refused, mut consumer: DeadLetterConsumer| async move {
            loop {
                let next = tokio::select! {
                    () = shutdown.cancelled() => return (refused, Served::Stopped(None)),
                    n = consumer.next() => n,
                };
                let dead = match next {
                    Some(Ok(dead)) => dead,
                    Some(Err(e)) => return (refused, Served::Lost(Some(e))),
                    None => return (refused, Served::Lost(None)),
                };
                match store(db, &dead.record).await {
                    Ok(()) => {
                        refused.reset();
                        if let Err(e) = dead.ack().await {
                            tracing::warn!(error = %e, "Could not ack an archived dead letter; it will be stored again.");
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "Cannot store a dead letter yet; it stays in the broker.");
                        let _ = dead.requeue().await;
                        tokio::select! {
                            () = shutdown.cancelled() => {}
                            () = tokio::time::sleep(refused.next_delay()) => {}
                        }
                    }
                }
            }
        },
    )
    .await;
}

async fn store(
    db: &DatabaseConnection,
    record: &inlet_shared::queue::DeadLetterRecord,
) -> Result<(), sea_orm::DbErr> {
    let txn = db.begin().await?;
    dead_letters::store(&txn, record).await?;
    webhook_log::mark_dead(&txn, &record.message, &record.error, record.attempts).await?;
    txn.commit().await
}
