//! What a queue operation can fail with. Every variant keeps its cause as the error's
//! source (the broker's, the database's, serde's), so logs and callers see the whole chain.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

use sea_orm::DbErr;

/// A queue operation that failed. Each variant keeps what caused it as its source, so the
/// chain reaches the broker's or database's own error.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The broker or database could not be reached, or the connection broke.
    #[error("queue unavailable: {0}")]
    Unavailable(#[from] UnavailableCause),
    /// The broker refused the message.
    #[error("queue refused the message: {reason}")]
    Refused {
        /// How it refused.
        reason: RefusedReason,
    },
    /// A field of the message does not fit what the broker can carry; nothing was sent.
    #[error("message not sent: {0}")]
    Unsendable(#[from] super::rabbitmq::FieldTooLong),
    /// A message on the queue could not be read (or a job could not be written).
    #[error("malformed queue message: {0}")]
    Malformed(#[from] MalformedCause),
}

/// Why the queue could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum UnavailableCause {
    /// RabbitMQ failed: connection, channel or protocol error.
    #[error("{0}")]
    Broker(#[from] lapin::Error),
    /// The embedded queue's database failed.
    #[error("{0}")]
    Database(#[from] DbErr),
    /// A group commit of the embedded queue failed; every request of the group shares it.
    #[error(transparent)]
    Commit(SharedDbErr),
    /// RabbitMQ did not answer within the connect timeout.
    #[error("timed out connecting to RabbitMQ")]
    ConnectTimeout,
    /// `INLET_AMQP_URL` names no node.
    #[error("no RabbitMQ node to connect to")]
    NoNodes,
    /// A reconnect failed moments ago; the next is not tried yet.
    #[error("RabbitMQ is unreachable; reconnecting")]
    Reconnecting,
    /// The publish was not confirmed within `INLET_PUBLISH_TIMEOUT_MS`.
    #[error("publish timed out")]
    PublishTimeout,
    /// The embedded queue's writer is gone (the process is stopping).
    #[error("the queue is closed")]
    Closed,
    /// The embedded queue's writer stopped before the request's group committed.
    #[error("the queue stopped before the commit")]
    Stopped,
}

/// How the broker refused a published message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusedReason {
    /// Publisher-confirm nack.
    Nacked,
    /// Returned as unroutable (a mandatory publish no queue is bound for).
    Unroutable,
    /// The channel is not in confirm mode, so nothing says the message was stored.
    ConfirmsOff,
}

impl fmt::Display for RefusedReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Nacked => "negatively acknowledged",
            Self::Unroutable => "returned as unroutable",
            Self::ConfirmsOff => "publisher confirms are off",
        })
    }
}

/// Why a queue message could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum MalformedCause {
    /// A header the message must carry is absent or of the wrong type.
    #[error("missing {0}")]
    Missing(&'static str),
    /// The provider header names no provider Inlet knows.
    #[error("unknown provider {0}")]
    UnknownProvider(String),
    /// A workflow job's JSON could not be written.
    #[error("{0}")]
    Json(#[from] serde_json::Error),
}

/// A database error that several waiters share: a group commit answers each of its
/// requests with the same failure. Its source is the [`DbErr`] itself.
#[derive(Debug, Clone)]
pub struct SharedDbErr(pub Arc<DbErr>);

impl fmt::Display for SharedDbErr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

impl Error for SharedDbErr {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.0)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::QueueMessage;
    use crate::embedded::EmbeddedQueue;
    use crate::providers::Provider;

    /// The errors below `error`, outermost first.
    fn chain<'a>(error: &'a (dyn Error + 'static)) -> Vec<&'a (dyn Error + 'static)> {
        std::iter::successors(error.source(), |&e| e.source()).collect()
    }

    #[tokio::test]
    async fn a_failed_group_commit_keeps_the_database_error_as_its_source() {
        // A database without the migrations: the insert of the group fails.
        let db = sea_orm::Database::connect("sqlite::memory:").await.unwrap();
        let queue = EmbeddedQueue::new(db);
        let message = QueueMessage {
            delivery_id: "wh_1".into(),
            integration_id: "int_1".into(),
            provider: Provider::Stripe,
            event_type: "customer.created".into(),
            idempotency_key: "evt_1".into(),
            received_at_ms: 1,
            body: bytes::Bytes::from_static(b"{}"),
            trace: Default::default(),
            kept_headers: None,
        };
        let err = queue.publish(&message).await.unwrap_err();
        assert!(
            matches!(err, QueueError::Unavailable(UnavailableCause::Commit(_))),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(text.starts_with("queue unavailable: "), "{text}");
        assert!(text.contains("queue_messages"), "{text}");
        assert!(
            chain(&err)
                .iter()
                .any(|e| e.downcast_ref::<DbErr>().is_some()),
            "the chain reaches the DbErr: {err:?}"
        );
    }

    #[test]
    fn refusals_and_malformed_messages_say_what_happened() {
        let refused = |reason| QueueError::Refused { reason }.to_string();
        assert_eq!(
            refused(RefusedReason::Unroutable),
            "queue refused the message: returned as unroutable"
        );
        assert_eq!(
            refused(RefusedReason::Nacked),
            "queue refused the message: negatively acknowledged"
        );
        assert_eq!(
            refused(RefusedReason::ConfirmsOff),
            "queue refused the message: publisher confirms are off"
        );
        let json = serde_json::from_str::<u8>("x").unwrap_err();
        let err = QueueError::from(MalformedCause::Json(json));
        assert!(err.to_string().starts_with("malformed queue message: "));
        assert!(
            chain(&err)
                .iter()
                .any(|e| e.downcast_ref::<serde_json::Error>().is_some())
        );
    }
}
