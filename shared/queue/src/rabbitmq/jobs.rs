//! The consumer of due workflow steps on `inlet.workflows`.

use futures_util::StreamExt;
use lapin::{Channel, Connection};

use super::settle::ack;
use super::{RabbitQueue, WORKFLOWS, unavailable};
use crate::{QueueError, StepJob};

impl RabbitQueue {
    /// Opens a consumer of due workflow steps.
    pub async fn consume_jobs(&self, prefetch: u16) -> Result<JobConsumer, QueueError> {
        let (connection, channel, inner) = self.consume_queue(WORKFLOWS, prefetch).await?;
        Ok(JobConsumer {
            connection,
            channel,
            inner,
        })
    }
}

/// A consumer of due workflow steps.
pub struct JobConsumer {
    connection: Connection,
    channel: Channel,
    inner: lapin::Consumer,
}

/// A workflow step taken from the queue; acknowledge it once it ran (its outcome is in the
/// database either way).
pub struct JobDelivery {
    /// The step.
    pub job: StepJob,
    acker: lapin::Acker,
}

impl JobDelivery {
    /// Removes the message.
    pub async fn ack(self) -> Result<(), QueueError> {
        ack(&self.acker).await
    }
}

impl JobConsumer {
    /// The next step; `None` when the broker cancelled the consumer. Unreadable messages are
    /// dropped with an error log (the scheduler re-queues any run whose step is lost).
    pub async fn next(&mut self) -> Option<Result<JobDelivery, QueueError>> {
        loop {
            let delivery = match self.inner.next().await? {
                Ok(d) => d,
                Err(e) => return Some(Err(unavailable(e))),
            };
            match serde_json::from_slice::<StepJob>(&delivery.data) {
                Ok(job) => {
                    return Some(Ok(JobDelivery {
                        job,
                        acker: delivery.acker,
                    }));
                }
                Err(e) => {
                    tracing::error!(error = %e, "Dropping an unreadable workflow step message.");
                    if let Err(e) = ack(&delivery.acker).await {
                        return Some(Err(e));
                    }
                }
            }
        }
    }

    /// Stops consuming; unacknowledged steps go back to the queue.
    pub async fn close(self) {
        let _ = self.channel.close(200, "worker stopping".into()).await;
        let _ = self.connection.close(200, "worker stopping".into()).await;
    }
}
