//! Publishing through the pool's confirm-mode channels: deliveries, their retries and dead
//! letters, and workflow steps; each waits for the broker's confirm.

use std::sync::atomic::Ordering;
use std::time::Duration;

use lapin::options::BasicPublishOptions;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Confirmation};

use super::properties::{message_properties, short, truncate};
use super::{
    DEAD_LETTERS, EXCHANGE, H_ATTEMPT, H_ERROR, H_FIRST_FAILED, H_LAST_FAILED, ROUTING_KEY,
    RabbitQueue, WORKFLOW_KEY, retry_queue, unavailable,
};
use crate::{DeadLetterRecord, MalformedCause, QueueError, QueueMessage, RefusedReason, StepJob};

fn refused(reason: RefusedReason) -> QueueError {
    QueueError::Refused { reason }
}

impl RabbitQueue {
    /// Publishes a persistent, mandatory message and waits for the publisher confirm.
    pub async fn publish(&self, message: &QueueMessage) -> Result<(), QueueError> {
        self.publish_to(EXCHANGE, ROUTING_KEY, message, FieldTable::default(), None)
            .await
    }

    /// Parks a failed message in the delay queue for `delay`; it comes back as `attempt`.
    pub(crate) async fn retry(
        &self,
        message: &QueueMessage,
        attempt: u32,
        first_failed_at_ms: i64,
        error: &str,
        delay: Duration,
    ) -> Result<(), QueueError> {
        // The delay queue whose TTL is the smallest at least `delay`, else the longest.
        let level = self
            .retry_delays
            .iter()
            .copied()
            .filter(|d| *d >= delay)
            .min()
            .or_else(|| self.retry_delays.iter().copied().max())
            .unwrap_or(delay);
        let mut extra = FieldTable::default();
        extra.insert(H_ATTEMPT.into(), AMQPValue::LongLongInt(i64::from(attempt)));
        extra.insert(
            H_FIRST_FAILED.into(),
            AMQPValue::LongLongInt(first_failed_at_ms),
        );
        extra.insert(
            H_ERROR.into(),
            AMQPValue::LongString(truncate(error).into()),
        );
        // The caller's delay is already jittered below the ladder value; messages expire
        // individually (per-message expiration) at most at the queue's TTL.
        let expiration = delay.min(level).as_millis().max(1).to_string();
        self.publish_to("", &retry_queue(level), message, extra, Some(expiration))
            .await
    }

    /// Publishes a delivery that failed for good to the dead-letter queue, with its error.
    pub(crate) async fn dead_letter(&self, record: &DeadLetterRecord) -> Result<(), QueueError> {
        let mut extra = FieldTable::default();
        extra.insert(
            H_ATTEMPT.into(),
            AMQPValue::LongLongInt(i64::from(record.attempts)),
        );
        extra.insert(
            H_FIRST_FAILED.into(),
            AMQPValue::LongLongInt(record.first_failed_at_ms),
        );
        extra.insert(
            H_LAST_FAILED.into(),
            AMQPValue::LongLongInt(record.last_failed_at_ms),
        );
        extra.insert(
            H_ERROR.into(),
            AMQPValue::LongString(truncate(&record.error).into()),
        );
        self.publish_to(DEAD_LETTERS, ROUTING_KEY, &record.message, extra, None)
            .await
    }

    async fn publish_to(
        &self,
        exchange: &str,
        routing_key: &str,
        message: &QueueMessage,
        extra: FieldTable,
        expiration: Option<String>,
    ) -> Result<(), QueueError> {
        let properties = message_properties(message, extra, expiration.as_deref())?;
        self.publish_raw(exchange, routing_key, &message.body, properties)
            .await
    }

    /// Publishes a due workflow step to `inlet.workflows` and waits for the confirm.
    pub async fn publish_job(&self, job: &StepJob) -> Result<(), QueueError> {
        let body = serde_json::to_vec(job).map_err(MalformedCause::Json)?;
        let properties = BasicProperties::default().with_message_id(short(
            "message_id",
            &format!("{}:{}", job.run_id, job.step),
        )?);
        self.publish_raw(EXCHANGE, WORKFLOW_KEY, &body, properties)
            .await
    }

    /// Publishes a persistent, mandatory message and waits for the broker's confirm.
    async fn publish_raw(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: BasicProperties,
    ) -> Result<(), QueueError> {
        let pool = self.pool().await?;
        let i = pool.next.fetch_add(1, Ordering::Relaxed) % pool.channels.len();
        #[expect(
            clippy::indexing_slicing,
            reason = "a remainder of the pool's length, which is fixed and never zero"
        )]
        let channel = &pool.channels[i];
        let properties = properties
            .with_delivery_mode(2)
            .with_content_type("application/json".into());
        let options = BasicPublishOptions {
            mandatory: true,
            ..Default::default()
        };
        let exchange = short("exchange", exchange)?;
        let routing_key = short("routing key", routing_key)?;
        let result = async {
            let confirm = channel
                .basic_publish(exchange, routing_key, options, body, properties)
                .await
                .map_err(unavailable)?;
            match confirm.await.map_err(unavailable)? {
                Confirmation::Ack(None) => Ok(()),
                Confirmation::Ack(Some(_)) => Err(refused(RefusedReason::Unroutable)),
                Confirmation::Nack(_) => Err(refused(RefusedReason::Nacked)),
                Confirmation::NotRequested => Err(refused(RefusedReason::ConfirmsOff)),
            }
        }
        .await;
        if result.is_err() && !channel.status().connected() {
            // The channel (or its connection) is gone: rebuild the pool on the next publish.
            self.publisher.store(None);
        }
        result
    }
}
