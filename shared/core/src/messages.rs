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
    /// The request's headers as the console keeps them (no signature, secret or
    /// credential; see [`KeptHeaders`]), when requests of accepted deliveries are kept
    /// (`INLET_KEEP_REQUESTS=all`). Ingest writes nothing for an accepted delivery: the
    /// worker writes its log row and, from these and the body, its kept request.
    pub kept_headers: Option<KeptHeaders>,
}

/// A request's kept headers, serialised as the webhook log stores them (a JSON array of
/// `[name, value]` pairs) and bounded to [`KeptHeaders::MAX_BYTES`], so they always fit the
/// message that carries them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptHeaders(String);

impl Default for KeptHeaders {
    fn default() -> Self {
        Self("[]".to_owned())
    }
}

impl KeptHeaders {
    /// The most bytes of kept headers: headers beyond it are left out (a request's headers
    /// are a few hundred bytes; a sender piling on more gets the first ones shown).
    pub const MAX_BYTES: usize = 4096;

    /// The pairs, in order, as many as fit [`Self::MAX_BYTES`].
    pub fn new<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut kept = Self::default();
        for (name, value) in pairs {
            if !kept.push(name, value) {
                break;
            }
        }
        kept
    }

    /// Appends a pair if it fits; `false` (and nothing added) when it does not, so a caller
    /// keeping a prefix stops there.
    pub fn push(&mut self, name: &str, value: &str) -> bool {
        // Serialising two strings cannot fail.
        let pair = serde_json::to_string(&[name, value]).unwrap_or_default();
        let comma = usize::from(self.0.len() > 2);
        if pair.is_empty() || self.0.len() + comma + pair.len() > Self::MAX_BYTES {
            return false;
        }
        self.0.pop();
        if comma == 1 {
            self.0.push(',');
        }
        self.0.push_str(&pair);
        self.0.push(']');
        true
    }

    /// Reads back what [`Self::as_json`] gave; `None` when it is no JSON array of string
    /// pairs within the bound (a message not published by Inlet).
    pub fn from_json(json: &str) -> Option<Self> {
        if json.len() > Self::MAX_BYTES {
            return None;
        }
        serde_json::from_str::<Vec<(String, String)>>(json).ok()?;
        Some(Self(json.to_owned()))
    }

    /// The JSON array, as stored.
    pub fn as_json(&self) -> &str {
        &self.0
    }
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::KeptHeaders;

    proptest! {
        /// Whatever a sender's headers hold, the kept ones are the first pairs that fit,
        /// as valid JSON within the bound, and read back unchanged.
        #[test]
        fn kept_headers_are_a_bounded_prefix(
            pairs in proptest::collection::vec((".{0,40}", ".{0,600}"), 0..40)
        ) {
            let kept = KeptHeaders::new(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())));
            prop_assert!(kept.as_json().len() <= KeptHeaders::MAX_BYTES);
            let back: Vec<(String, String)> = serde_json::from_str(kept.as_json()).unwrap();
            prop_assert!(pairs.starts_with(&back));
            // Only what did not fit was left out.
            if back.len() < pairs.len() {
                let next = serde_json::to_string(&pairs[back.len()]).unwrap();
                prop_assert!(kept.as_json().len() + next.len() + 1 > KeptHeaders::MAX_BYTES);
            }
            prop_assert_eq!(KeptHeaders::from_json(kept.as_json()), Some(kept));
        }
    }

    #[test]
    fn foreign_kept_headers_are_refused() {
        for json in ["", "{}", "[1]", "[[\"a\"]]", "[[\"a\",2]]"] {
            assert_eq!(KeptHeaders::from_json(json), None, "{json}");
        }
        let long = format!("[[\"a\",\"{}\"]]", "x".repeat(KeptHeaders::MAX_BYTES));
        assert_eq!(KeptHeaders::from_json(&long), None);
    }
}
