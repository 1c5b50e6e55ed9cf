//! The properties a delivery is published with, every field checked against what AMQP can
//! carry: lapin's conversions to its short strings panic beyond 255 bytes, and a header
//! frame larger than the broker's frame size closes the connection.

use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable, MAX_SHORT_STRING_LENGTH, ShortString};

use super::{
    ERROR_CHARS, H_DELIVERY_ID, H_EVENT_TYPE, H_INTEGRATION_ID, H_KEPT_HEADERS, H_PROVIDER,
    H_RECEIVED_AT,
};
use crate::QueueMessage;

/// The trace context's headers (W3C Trace Context names).
pub(super) const H_TRACEPARENT: &str = "traceparent";
pub(super) const H_TRACESTATE: &str = "tracestate";

/// A field that does not fit the AMQP message it would travel in; nothing is sent. Ingest
/// keeps every field within these bounds (`providers::Envelope`), so this is a bug caught
/// before the broker, never a panic in the publisher.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} has {bytes} bytes; at most {max} fit in an AMQP message")]
pub struct FieldTooLong {
    /// The field (`message_id`, a header name).
    pub field: &'static str,
    /// Its length.
    pub bytes: usize,
    /// The most it may have.
    pub max: usize,
}

/// The most bytes of a text header value: a message's headers together must fit its one
/// content-header frame (128 KiB by default on RabbitMQ, which answers a larger frame by
/// closing the connection). Errors are cut to [`super::ERROR_CHARS`] characters, at most
/// 4 000 bytes; ids and event types are far shorter.
const MAX_HEADER_BYTES: usize = 4096;

// Kept headers are bounded in the core to what one header may carry.
const _: () = assert!(crate::message::KeptHeaders::MAX_BYTES <= MAX_HEADER_BYTES);
// The core bounds idempotency keys without knowing lapin; each must still fit `message_id`.
const _: () = assert!(crate::providers::MAX_IDEMPOTENCY_KEY_BYTES <= MAX_SHORT_STRING_LENGTH);

/// An AMQP short string (`message_id`, `expiration`, exchange and queue names): at most
/// 255 bytes, checked here because lapin's conversion from `&str` panics beyond that.
pub(super) fn short(field: &'static str, value: &str) -> Result<ShortString, FieldTooLong> {
    ShortString::try_new(value).map_err(|_| FieldTooLong {
        field,
        bytes: value.len(),
        max: MAX_SHORT_STRING_LENGTH,
    })
}

/// A text header value of at most [`MAX_HEADER_BYTES`].
fn long(field: &'static str, value: &str) -> Result<AMQPValue, FieldTooLong> {
    if value.len() > MAX_HEADER_BYTES {
        return Err(FieldTooLong {
            field,
            bytes: value.len(),
            max: MAX_HEADER_BYTES,
        });
    }
    Ok(AMQPValue::LongString(value.into()))
}

/// The properties a delivery travels with: `extra` headers (attempt, error…), the message's
/// own, its idempotency key as `message_id`, and a per-message `expiration` (delay queues).
pub(super) fn message_properties(
    message: &QueueMessage,
    extra: FieldTable,
    expiration: Option<&str>,
) -> Result<BasicProperties, FieldTooLong> {
    // `extra` holds counts, times and an error already cut by `truncate`. Header names are
    // the constants above, all far below 255 bytes.
    let mut headers = extra;
    headers.insert(
        H_DELIVERY_ID.into(),
        long(H_DELIVERY_ID, &message.delivery_id)?,
    );
    headers.insert(
        H_INTEGRATION_ID.into(),
        long(H_INTEGRATION_ID, &message.integration_id)?,
    );
    headers.insert(
        H_PROVIDER.into(),
        long(H_PROVIDER, message.provider.as_str())?,
    );
    headers.insert(
        H_EVENT_TYPE.into(),
        long(H_EVENT_TYPE, &message.event_type)?,
    );
    headers.insert(
        H_RECEIVED_AT.into(),
        AMQPValue::LongLongInt(message.received_at_ms),
    );
    // The W3C names, as other AMQP instrumentations carry them, so a broker-side tracer
    // or another consumer reads the same trace.
    if let Some(traceparent) = &message.trace.traceparent {
        headers.insert(H_TRACEPARENT.into(), long(H_TRACEPARENT, traceparent)?);
    }
    if let Some(tracestate) = &message.trace.tracestate {
        headers.insert(H_TRACESTATE.into(), long(H_TRACESTATE, tracestate)?);
    }
    if let Some(kept) = &message.kept_headers {
        // Bounded by `KeptHeaders` to the same 4 KiB as any header.
        headers.insert(H_KEPT_HEADERS.into(), long(H_KEPT_HEADERS, kept.as_json())?);
    }
    let mut properties = BasicProperties::default()
        .with_message_id(short("message_id", &message.idempotency_key)?)
        .with_headers(headers);
    if let Some(expiration) = expiration {
        properties = properties.with_expiration(short("expiration", expiration)?);
    }
    Ok(properties)
}

pub(super) fn truncate(error: &str) -> String {
    error.chars().take(ERROR_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::QueueError;
    use crate::providers::Provider;

    fn message(idempotency_key: String, event_type: String) -> QueueMessage {
        QueueMessage {
            delivery_id: "wh_0190a1b2c3d4e5f6a7b8c9d0e1f2a3b4".into(),
            integration_id: "int_0123456789abcdef0123456789abcdef".into(),
            provider: Provider::Clerk,
            event_type,
            idempotency_key,
            received_at_ms: 1_700_000_000_000,
            body: bytes::Bytes::from_static(b"{}"),
            trace: crate::message::TraceContext::default(),
            kept_headers: None,
        }
    }

    #[test]
    fn the_trace_context_travels_in_the_w3c_headers() {
        let header = |properties: &BasicProperties, name: &str| {
            properties
                .headers()
                .as_ref()
                .and_then(|h| h.inner().get(&ShortString::from(name)).cloned())
        };
        let untraced = message("msg_1".into(), "user.created".into());
        let properties = message_properties(&untraced, FieldTable::default(), None).unwrap();
        assert_eq!(header(&properties, H_TRACEPARENT), None);
        assert_eq!(header(&properties, H_TRACESTATE), None);

        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let traced = QueueMessage {
            trace: crate::message::TraceContext {
                traceparent: Some(traceparent.into()),
                tracestate: Some("congo=t61rcWkgMzE".into()),
            },
            ..untraced
        };
        let properties = message_properties(&traced, FieldTable::default(), None).unwrap();
        assert_eq!(
            header(&properties, H_TRACEPARENT),
            Some(AMQPValue::LongString(traceparent.into()))
        );
        assert_eq!(
            header(&properties, H_TRACESTATE),
            Some(AMQPValue::LongString("congo=t61rcWkgMzE".into()))
        );
    }

    #[test]
    fn fields_too_long_for_amqp_are_an_error_not_a_panic() {
        let fits = message("k".repeat(255), "user.created".into());
        let properties = message_properties(&fits, FieldTable::default(), Some("1000")).unwrap();
        assert_eq!(
            properties.message_id().as_ref().map(ShortString::as_str),
            Some("k".repeat(255).as_str())
        );

        // One byte over, in two-byte characters: lengths are bytes, not characters.
        let over = message("é".repeat(128), "user.created".into());
        assert_eq!(
            message_properties(&over, FieldTable::default(), None).unwrap_err(),
            FieldTooLong {
                field: "message_id",
                bytes: 256,
                max: 255
            }
        );
        let huge_type = message("msg_1".into(), "x".repeat(MAX_HEADER_BYTES + 1));
        let err = message_properties(&huge_type, FieldTable::default(), None).unwrap_err();
        assert_eq!(err.field, H_EVENT_TYPE);
        let expiration = "9".repeat(256);
        let err = message_properties(&fits, FieldTable::default(), Some(&expiration)).unwrap_err();
        assert_eq!(err.field, "expiration");
        assert!(matches!(QueueError::from(err), QueueError::Unsendable(_)));
        assert_eq!(
            short("routing key", &"r".repeat(300)).unwrap_err().bytes,
            300
        );
    }
}
