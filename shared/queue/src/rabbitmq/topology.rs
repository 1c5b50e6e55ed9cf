//! The exchanges and queues Inlet uses on RabbitMQ, declared the same way at every start.

use std::time::Duration;

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection, ExchangeKind};

use super::{
    BROKER_DELIVERY_LIMIT, DEAD_LETTERS, EXCHANGE, QUEUE, ROUTING_KEY, WORKFLOW_KEY, WORKFLOWS,
    unavailable,
};
use crate::QueueError;

/// Name of the delay queue for `delay`.
pub fn retry_queue(delay: Duration) -> String {
    format!("inlet.retry.{}ms", delay.as_millis())
}

/// How quorum queues are replicated: for a cluster named by several nodes, one replica
/// on each (`x-quorum-initial-group-size`) and leaders spread over them (`balanced`); for
/// one URL (a single broker, or a cluster behind one address) the broker's defaults.
#[derive(Debug, Clone, Copy, Default)]
pub struct Replication {
    /// How many nodes `INLET_AMQP_URL` names.
    pub nodes: usize,
}

fn quorum_args(dead_letter_exchange: Option<&str>, replication: Replication) -> FieldTable {
    let mut args = FieldTable::default();
    // Quorum: replicated, fsynced before confirming, and counts deliveries.
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    if replication.nodes > 1 {
        let size = i64::try_from(replication.nodes).unwrap_or(i64::MAX);
        args.insert(
            "x-quorum-initial-group-size".into(),
            AMQPValue::LongLongInt(size),
        );
        args.insert(
            "x-queue-leader-locator".into(),
            AMQPValue::LongString("balanced".into()),
        );
    }
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
/// A quorum queue declared by an earlier version with other arguments (at-least-once
/// dead-lettering, or none of a cluster's replication arguments) is kept as it is, with a
/// warning: a queue's arguments cannot change, and its old ones still work. To take the
/// new ones, drain the queue, delete it, and start Inlet again; the replicas of an existing
/// quorum queue can also be added with `rabbitmq-queues grow`.
pub async fn declare_topology(
    connection: &Connection,
    retry_delays: &[Duration],
    replication: Replication,
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
    channel = declare_quorum(
        connection,
        channel,
        DEAD_LETTERS,
        quorum_args(None, replication),
    )
    .await?;
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
    channel = declare_quorum(
        connection,
        channel,
        QUEUE,
        quorum_args(Some(DEAD_LETTERS), replication),
    )
    .await?;
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
    channel = declare_quorum(
        connection,
        channel,
        WORKFLOWS,
        quorum_args(None, replication),
    )
    .await?;
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

/// Declares a durable quorum queue with `args`; one that exists with other arguments is
/// kept (see [`declare_topology`]). Returns the channel to go on with: the broker closes the
/// one a refused declaration was made on.
async fn declare_quorum(
    connection: &Connection,
    channel: Channel,
    queue: &'static str,
    args: FieldTable,
) -> Result<Channel, QueueError> {
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    match channel.queue_declare(queue.into(), durable, args).await {
        Ok(_) => Ok(channel),
        Err(e) if precondition_failed(&e) => {
            let channel = connection.create_channel().await.map_err(unavailable)?;
            let passive = QueueDeclareOptions {
                passive: true,
                ..Default::default()
            };
            channel
                .queue_declare(queue.into(), passive, FieldTable::default())
                .await
                .map_err(unavailable)?;
            static WARNED: std::sync::Once = std::sync::Once::new();
            WARNED.call_once(|| {
                tracing::warn!(
                    queue,
                    "A queue exists with other arguments (from an earlier version, or declared for another cluster size); it keeps them. Drain and delete it to take the current ones."
                );
            });
            Ok(channel)
        }
        Err(e) => Err(unavailable(e)),
    }
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
