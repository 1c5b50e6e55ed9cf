//! The work-queue consumer: decodes deliveries, counts crash redeliveries as attempts, and
//! moves what cannot be processed to the dead letters.

use std::sync::Arc;

use futures_util::StreamExt;
use lapin::{Channel, Connection};

use super::decode::{Decoded, decode};
use super::settle::{RabbitAcker, Settlements, ack, reject, requeue};
use super::{DELIVERY_LIMIT, QUEUE, RabbitQueue, unavailable};
use crate::{Acker, DeadLetterRecord, Delivery, QueueError};

impl RabbitQueue {
    /// Opens a consumer of the work queue on its own connection with `prefetch`
    /// unacknowledged messages.
    pub async fn consume(self: &Arc<Self>, prefetch: u16) -> Result<RabbitConsumer, QueueError> {
        let (connection, channel, inner) = self.consume_queue(QUEUE, prefetch).await?;
        Ok(RabbitConsumer {
            connection,
            settlements: Arc::new(Settlements::new(channel.clone(), prefetch)),
            channel,
            inner,
            queue: self.clone(),
        })
    }
}

/// A RabbitMQ consumer and the connection it lives on.
pub struct RabbitConsumer {
    connection: Connection,
    channel: Channel,
    inner: lapin::Consumer,
    queue: Arc<RabbitQueue>,
    settlements: Arc<Settlements>,
}

impl RabbitConsumer {
    pub(crate) async fn next(&mut self) -> Option<Result<Delivery, QueueError>> {
        loop {
            let delivery = match self.inner.next().await? {
                Ok(d) => d,
                Err(e) => return Some(Err(unavailable(e))),
            };
            if let Some(delivery) = self.accept(delivery) {
                return Some(Ok(delivery));
            }
        }
    }

    /// A delivery already received, if any; never waits. (Polling the stream once and
    /// dropping the future loses nothing: lapin buffers deliveries in a channel.)
    pub(crate) fn try_next(&mut self) -> Option<Delivery> {
        loop {
            let delivery = match futures_util::FutureExt::now_or_never(self.inner.next()) {
                Some(Some(Ok(d))) => d,
                _ => return None,
            };
            if let Some(delivery) = self.accept(delivery) {
                return Some(delivery);
            }
        }
    }

    /// Decodes a broker delivery; one that is not Inlet's can never be processed, so it is
    /// rejected to the dead letters (and `None` returned).
    fn accept(&self, delivery: lapin::message::Delivery) -> Option<Delivery> {
        let tag = delivery.delivery_tag;
        self.settlements.received(tag);
        match decode(&delivery) {
            Ok(decoded) if i64::from(decoded.redeliveries) >= DELIVERY_LIMIT => {
                self.dead_letter_crash_loop(delivery.acker, tag, decoded);
                None
            }
            Ok(decoded) => {
                // Crash redeliveries (x-delivery-count) count as attempts too.
                let attempt = decoded.attempt.saturating_add(decoded.redeliveries);
                Some(Delivery {
                    message: decoded.message,
                    attempt,
                    first_failed_at_ms: decoded.first_failed_at_ms,
                    acker: Some(Acker::Rabbit(RabbitAcker {
                        acker: delivery.acker,
                        tag,
                        settlements: self.settlements.clone(),
                        queue: self.queue.clone(),
                    })),
                })
            }
            Err(e) => {
                tracing::error!(error = %e, "Dead-lettering an unreadable queue message.");
                let acker = delivery.acker;
                let settlements = self.settlements.clone();
                tokio::spawn(async move {
                    if let Err(e) = settlements.alone(tag, reject(&acker)).await {
                        tracing::warn!(error = %e, "Could not reject an unreadable message; it comes again.");
                    }
                });
                None
            }
        }
    }
}

impl RabbitConsumer {
    /// Moves a message given back [`DELIVERY_LIMIT`] times to the dead letters without
    /// trying it again: publish confirmed first, then the ack. If the publish fails it is
    /// given back once more, to be tried again.
    fn dead_letter_crash_loop(&self, acker: lapin::Acker, tag: u64, decoded: Decoded) {
        let now = crate::domain::now_ms();
        let record = DeadLetterRecord {
            error: format!(
                "redelivered {} times without being settled (crash loop?)",
                decoded.redeliveries
            ),
            attempts: decoded.attempt.saturating_add(decoded.redeliveries),
            first_failed_at_ms: decoded.first_failed_at_ms.unwrap_or(now),
            last_failed_at_ms: now,
            message: decoded.message,
        };
        tracing::error!(
            delivery_id = %record.message.delivery_id,
            redeliveries = decoded.redeliveries,
            "Dead-lettering a delivery that keeps coming back without being settled."
        );
        let queue = self.queue.clone();
        let settlements = self.settlements.clone();
        tokio::spawn(async move {
            let settled = match queue.dead_letter(&record).await {
                Ok(()) => settlements.alone(tag, ack(&acker)).await,
                Err(e) => {
                    tracing::warn!(error = %e, "Could not dead-letter it; giving it back.");
                    settlements.alone(tag, requeue(&acker)).await
                }
            };
            if let Err(e) = settled {
                tracing::warn!(error = %e, "Could not settle it; it comes again.");
            }
        });
    }

    pub(crate) async fn close(self) {
        // Unacknowledged messages go back to the queue when the channel closes.
        let _ = self.channel.close(200, "worker stopping".into()).await;
        let _ = self.connection.close(200, "worker stopping".into()).await;
    }
}
