//! What travels on the queues: an accepted delivery, a due workflow step, and a delivery
//! on its way to the dead letters. Plain data, so the dead letters' writer can take them
//! without depending on a queue backend.

use bytes::Bytes;

use crate::providers::Provider;

/// One accepted webhook delivery, as it travels from ingest to a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMessage {
    /// Id of this delivery (`wh_…`), returned to the sender and used in the webhook log.
    pub delivery_id: String,
    /// The integration it was sent to.
    pub integration_id: String,
    /// The integration's provider.
    pub provider: Provider,
    /// The platform's event type.
    pub event_type: String,
    /// The platform's idempotency key (AMQP `message_id`).
    pub idempotency_key: String,
    /// When ingest received it (epoch ms).
    pub received_at_ms: i64,
    /// The raw, verified body, exactly as signed.
    pub body: Bytes,
    /// The trace of the span that published it, continued by the worker's.
    pub trace: TraceContext,
}

/// A W3C trace context (`traceparent`, `tracestate`) as a message carries it from the span
/// that published it to the one that consumes it. Empty when traces are not exported.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceContext {
    /// `traceparent`: version, trace id, parent span id and flags.
    pub traceparent: Option<String>,
    /// `tracestate`: vendors' entries, passed on unchanged.
    pub tracestate: Option<String>,
}

/// A workflow step that is due, as it travels from a worker's scheduler to the runner that
/// executes it. `lease` is the scheduler's claim on the run: only the holder of the current
/// lease executes the step, so a repeated or late message does nothing.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepJob {
    /// The workflow run (`run_…`).
    pub run_id: String,
    /// The step index.
    pub step: i32,
    /// The lease token the scheduler set.
    pub lease: String,
}

/// A delivery that could not be applied, as it is kept in the dead letters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterRecord {
    /// The message, as it was accepted.
    pub message: QueueMessage,
    /// The last error.
    pub error: String,
    /// Attempts made.
    pub attempts: u32,
    /// When the first attempt failed (epoch ms).
    pub first_failed_at_ms: i64,
    /// When the last attempt failed (epoch ms).
    pub last_failed_at_ms: i64,
}
