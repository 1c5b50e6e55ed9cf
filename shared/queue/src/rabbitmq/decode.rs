//! Reading a delivery back from the properties and headers it was published with (the
//! other side of [`super::properties`]), and the broker's delivery count.

use lapin::types::{AMQPValue, FieldTable, ShortString};

use super::properties::{H_TRACEPARENT, H_TRACESTATE};
use super::{
    H_ATTEMPT, H_DELIVERY_ID, H_ERROR, H_EVENT_TYPE, H_FIRST_FAILED, H_INTEGRATION_ID,
    H_KEPT_HEADERS, H_LAST_FAILED, H_PROVIDER, H_RECEIVED_AT,
};
use crate::message::{KeptHeaders, TraceContext};
use crate::providers::Provider;
use crate::{MalformedCause, QueueError, QueueMessage};

fn header_string(table: &FieldTable, key: &str) -> Option<String> {
    match table.inner().get(&ShortString::from(key))? {
        AMQPValue::LongString(s) => String::from_utf8(s.as_bytes().to_vec()).ok(),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        _ => None,
    }
}

fn header_int(table: &FieldTable, key: &str) -> Option<i64> {
    match table.inner().get(&ShortString::from(key))? {
        AMQPValue::LongLongInt(v) => Some(*v),
        AMQPValue::LongInt(v) => Some(i64::from(*v)),
        AMQPValue::LongUInt(v) => Some(i64::from(*v)),
        AMQPValue::ShortInt(v) => Some(i64::from(*v)),
        AMQPValue::ShortUInt(v) => Some(i64::from(*v)),
        _ => None,
    }
}

pub(super) struct Decoded {
    pub(super) message: QueueMessage,
    pub(super) attempt: u32,
    pub(super) redeliveries: u32,
    pub(super) first_failed_at_ms: Option<i64>,
    pub(super) last_failed_at_ms: Option<i64>,
    pub(super) error: Option<String>,
}

pub(super) fn decode(delivery: &lapin::message::Delivery) -> Result<Decoded, QueueError> {
    let props = &delivery.properties;
    let empty = FieldTable::default();
    let headers = props.headers().as_ref().unwrap_or(&empty);
    let missing = |what: &'static str| QueueError::from(MalformedCause::Missing(what));
    let provider = header_string(headers, H_PROVIDER).ok_or_else(|| missing(H_PROVIDER))?;
    let message = QueueMessage {
        delivery_id: header_string(headers, H_DELIVERY_ID).ok_or_else(|| missing(H_DELIVERY_ID))?,
        integration_id: header_string(headers, H_INTEGRATION_ID)
            .ok_or_else(|| missing(H_INTEGRATION_ID))?,
        provider: Provider::parse(&provider)
            .ok_or_else(|| MalformedCause::UnknownProvider(provider.clone()))?,
        event_type: header_string(headers, H_EVENT_TYPE).ok_or_else(|| missing(H_EVENT_TYPE))?,
        idempotency_key: props
            .message_id()
            .as_ref()
            .map(|m| m.as_str().to_owned())
            .ok_or_else(|| missing("message_id"))?,
        received_at_ms: header_int(headers, H_RECEIVED_AT).ok_or_else(|| missing(H_RECEIVED_AT))?,
        body: bytes::Bytes::copy_from_slice(&delivery.data),
        trace: TraceContext {
            traceparent: header_string(headers, H_TRACEPARENT),
            tracestate: header_string(headers, H_TRACESTATE),
        },
        // Kept headers that are not Inlet's are left out; the delivery itself is fine.
        kept_headers: header_string(headers, H_KEPT_HEADERS)
            .and_then(|json| KeptHeaders::from_json(&json)),
    };
    let count = |key: &str| header_int(headers, key).and_then(|n| u32::try_from(n).ok());
    Ok(Decoded {
        message,
        attempt: count(H_ATTEMPT).unwrap_or(1).max(1),
        // Quorum queues count earlier deliveries of the same message in `x-delivery-count`.
        redeliveries: count("x-delivery-count").unwrap_or(0),
        first_failed_at_ms: header_int(headers, H_FIRST_FAILED),
        last_failed_at_ms: header_int(headers, H_LAST_FAILED),
        error: header_string(headers, H_ERROR),
    })
}
