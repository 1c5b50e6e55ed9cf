//! The exchanges and queues Inlet uses on RabbitMQ, declared the same way at every start.

use std::time::Duration;

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Connection, ExchangeKind};

use super::{
    BROKER_DELIVERY_LIMIT, DEAD_LETTERS, EXCHANGE, QUEUE, ROUTING_KEY, WORKFLOW_KEY, WORKFLOWS,
    unavailable,
};
use crate::QueueError;

/// Name of the delay queue for `delay`.
pub fn retry_queue(delay: Duration) -> String {
    format!("inlet.retry.{}ms", delay.as_millis())
}

fn quorum_args(dead_letter_exchange: Option<&str>) -> FieldTable {
    let mut args = FieldTable::default();
    // Quorum: replicated, fsynced before confirming, and counts deliveries.
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    if let Some(dlx) = dead_letter_exchange {
        // Where rejected (unreadable) and over-the-limit messages go.
        args.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString(dlx.into()),
        );
        args.insert(
            "x-dead-letter-routing-key".into(),
            AMQPValue::LongString(ROUTING_KEY.into()),
        );
        // Backstop behind the worker's own limit. Set explicitly: RabbitMQ 4 otherwise
        // applies a default limit of its own.
        args.insert(
            "x-delivery-limit".into(),
            AMQPValue::LongLongInt(BROKER_DELIVERY_LIMIT),
        );
    }
    args
}

/// Declares the exchanges and queues, on a channel of its own. Idempotent: the same
/// declarations at every start.
///
/// A work queue declared by an earlier version with other arguments (at-least-once
/// dead-lettering) is kept as it is, with a warning: a queue's arguments cannot change,
/// and its old ones still work (they only cost throughput). To take the new ones, drain
/// the queue, delete it, and start Inlet again.
pub async fn declare_topology(
    connection: &Connection,
    retry_delays: &[Duration],
) -> Result<(), QueueError> {
    let mut channel = connection.create_channel().await.map_err(unavailable)?;
    let durable_exchange = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    let durable_queue = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    for exchange in [EXCHANGE, DEAD_LETTERS] {
        channel
            .exchange_declare(
                exchange.into(),
                ExchangeKind::Direct,
                durable_exchange,
                FieldTable::default(),
            )
            .await
            .map_err(unavailable)?;
    }
    channel
        .queue_declare(DEAD_LETTERS.into(), durable_queue, quorum_args(None))
        .await
        .map_err(unavailable)?;
    channel
        .queue_bind(
            DEAD_LETTERS.into(),
            DEAD_LETTERS.into(),
            ROUTING_KEY.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(unavailable)?;
    match channel
        .queue_declare(QUEUE.into(), durable_queue, quorum_args(Some(DEAD_LETTERS)))
        .await
    {
        Ok(_) => {}
        Err(e) if precondition_failed(&e) => {
            // The broker closed the channel; make sure the queue is there on a new one.
            channel = connection.create_channel().await.map_err(unavailable)?;
            let passive = QueueDeclareOptions {
                passive: true,
                ..Default::default()
            };
            channel
                .queue_declare(QUEUE.into(), passive, FieldTable::default())
                .await
                .map_err(unavailable)?;
            static WARNED: std::sync::Once = std::sync::Once::new();
            WARNED.call_once(|| {
                tracing::warn!(
                    queue = QUEUE,
                    "The work queue exists with other arguments (from an earlier version); it keeps them. Drain and delete it to take the current ones."
                );
            });
        }
        Err(e) => return Err(unavailable(e)),
    }
    channel
        .queue_bind(
            QUEUE.into(),
            EXCHANGE.into(),
            ROUTING_KEY.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(unavailable)?;
    channel
        .queue_declare(WORKFLOWS.into(), durable_queue, quorum_args(None))
        .await
        .map_err(unavailable)?;
    channel
        .queue_bind(
            WORKFLOWS.into(),
            EXCHANGE.into(),
            WORKFLOW_KEY.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(unavailable)?;
    for delay in retry_delays {
        let mut args = FieldTable::default();
        // Expired messages go back to the work queue.
        let ttl = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
        args.insert("x-message-ttl".into(), AMQPValue::LongLongInt(ttl));
        args.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString(EXCHANGE.into()),
        );
        args.insert(
            "x-dead-letter-routing-key".into(),
            AMQPValue::LongString(ROUTING_KEY.into()),
        );
        // Classic durable queue: nothing consumes it; persistent messages only wait to expire.
        channel
            .queue_declare(retry_queue(*delay).as_str().into(), durable_queue, args)
            .await
            .map_err(unavailable)?;
    }
    let _ = channel.close(200, "declared".into()).await;
    Ok(())
}

/// Whether the broker refused a declaration as inequivalent to what exists.
fn precondition_failed(error: &lapin::Error) -> bool {
    use lapin::protocol::{AMQPErrorKind, AMQPSoftError};
    matches!(
        error.kind(),
        lapin::ErrorKind::ProtocolError(e)
            if *e.kind() == AMQPErrorKind::Soft(AMQPSoftError::PRECONDITIONFAILED)
    )
}
