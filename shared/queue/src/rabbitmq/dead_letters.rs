//! The consumer of the dead-letter queue: each dead letter becomes a record for workers to
//! archive in the database.

use futures_util::StreamExt;
use lapin::{Channel, Connection};

use super::decode::decode;
use super::settle::{ack, requeue};
use super::{BROKER_DELIVERY_LIMIT, DEAD_LETTERS, RabbitQueue, unavailable};
use crate::{DeadLetterRecord, QueueError};

impl RabbitQueue {
    /// Opens a consumer of the dead-letter queue.
    pub async fn consume_dead_letters(&self) -> Result<DeadLetterConsumer, QueueError> {
        let (connection, channel, inner) = self.consume_queue(DEAD_LETTERS, 32).await?;
        Ok(DeadLetterConsumer {
            _connection: connection,
            _channel: channel,
            inner,
        })
    }
}

/// A consumer of the dead-letter queue.
pub struct DeadLetterConsumer {
    _connection: Connection,
    _channel: Channel,
    inner: lapin::Consumer,
}

/// A dead letter taken from the broker, to be archived and then acknowledged.
pub struct DeadLetter {
    /// What is known of the failure.
    pub record: DeadLetterRecord,
    acker: lapin::Acker,
}

impl DeadLetter {
    /// Acknowledges after the record was stored.
    pub async fn ack(self) -> Result<(), QueueError> {
        ack(&self.acker).await
    }

    /// Gives it back (storing failed; try again later).
    pub async fn requeue(self) -> Result<(), QueueError> {
        requeue(&self.acker).await
    }
}

impl DeadLetterConsumer {
    /// The next dead letter; unreadable messages are dropped with an error log (they are not
    /// Inlet's and cannot be replayed).
    pub async fn next(&mut self) -> Option<Result<DeadLetter, QueueError>> {
        loop {
            let delivery = match self.inner.next().await? {
                Ok(d) => d,
                Err(e) => return Some(Err(unavailable(e))),
            };
            match decode(&delivery) {
                Ok(d) => {
                    let now = crate::domain::now_ms();
                    let has_error = d.error.is_some();
                    let record = DeadLetterRecord {
                        // Without our error header the broker dead-lettered it itself.
                        error: d.error.unwrap_or_else(|| {
                            format!("redelivered more than {BROKER_DELIVERY_LIMIT} times without being acknowledged (crash loop?)")
                        }),
                        // Our header counts the attempts; requeues while archiving do not.
                        attempts: if has_error { d.attempt } else { d.attempt.saturating_add(d.redeliveries) },
                        first_failed_at_ms: d.first_failed_at_ms.unwrap_or(now),
                        last_failed_at_ms: d.last_failed_at_ms.unwrap_or(now),
                        message: d.message,
                    };
                    return Some(Ok(DeadLetter {
                        record,
                        acker: delivery.acker,
                    }));
                }
                Err(e) => {
                    tracing::error!(error = %e, "Dropping an unreadable dead letter.");
                    if let Err(e) = ack(&delivery.acker).await {
                        return Some(Err(e));
                    }
                }
            }
        }
    }
}
