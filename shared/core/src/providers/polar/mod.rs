//! Polar (Standard Webhooks): signature verification with both of Polar's key derivations
//! (SPEC §3.1), the event envelope, and the mapping of customer, order and subscription
//! events to contacts (SPEC §3.2).
//!
//! The sample delivery for `inlet send-test-event` is in `sample`; the unit tests are in
//! `tests`, with Polar-shaped payloads under `fixtures/`.

pub(super) mod sample;

use serde_json::{Map, Value};
use time::format_description::well_known::{Iso8601, Rfc3339};
use time::{OffsetDateTime, PrimitiveDateTime};

use super::webhook_sig::str_field;
use super::{
    ContactAction, ContactChange, ContactKey, Envelope, EnvelopeError, Headers, Mapping,
    SecretError, SignatureError, SigningKey, webhook_sig,
};
use crate::domain::{Email, non_empty};
use crate::properties::PropertyType::{self, Boolean, Date, Number, String as Text};

const PROVIDER: &str = "Polar";

/// Prefixes of Polar webhook secrets: the Standard Webhooks one, and Polar's newer own.
const SECRET_PREFIXES: [&str; 2] = ["whsec_", "polar_whs_"];

/// Fewest characters after the prefix: Polar's secrets carry 32 bytes of randomness or more.
const MIN_SECRET_CHARS: usize = 16;

/// Event types handled for Polar.
pub const SUPPORTED_EVENTS: &[&str] = &[
    "customer.created",
    "customer.updated",
    "customer.deleted",
    "order.paid",
    "subscription.created",
    "subscription.active",
    "subscription.canceled",
    "subscription.uncanceled",
    "subscription.past_due",
    "subscription.revoked",
];

/// `order_properties`' names and types.
const ORDER: &[(&str, PropertyType)] = &[
    ("orderId", Text),
    ("amount", Number),
    ("currency", Text),
    ("productId", Text),
    ("productName", Text),
    ("status", Text),
    ("billingReason", Text),
];

/// `subscription_properties`' names and types.
const SUBSCRIPTION: &[(&str, PropertyType)] = &[
    ("subscriptionId", Text),
    ("status", Text),
    ("amount", Number),
    ("currency", Text),
    ("recurringInterval", Text),
    ("productId", Text),
    ("productName", Text),
    ("cancelAtPeriodEnd", Boolean),
    ("currentPeriodEnd", Date),
];

/// The properties each event type's event carries (`map` sets no others; a test checks
/// them against every sample): what `GET /api/v1/event-patterns` lists.
pub fn event_properties(event_type: &str) -> &'static [(&'static str, PropertyType)] {
    match event_type {
        "customer.created" | "customer.updated" | "customer.deleted" => &[("customerId", Text)],
        "order.paid" => ORDER,
        t if t.starts_with("subscription.") && SUPPORTED_EVENTS.contains(&t) => SUBSCRIPTION,
        _ => &[],
    }
}

/// Builds both candidate keys of a Polar secret (`whsec_…` or `polar_whs_…`): the standard
/// one (the part after the prefix, base64-decoded, when it decodes) and the legacy one (the
/// UTF-8 bytes of the whole secret, prefix included), which is what Polar signs with for
/// `polar_whs_` secrets. A delivery matching either verifies.
pub fn signing_key(secret: &str) -> Result<SigningKey, SecretError> {
    let secret = secret.trim();
    let rest = SECRET_PREFIXES
        .iter()
        .find_map(|prefix| secret.strip_prefix(prefix))
        .ok_or_else(|| {
            SecretError("a Polar webhook secret starts with whsec_ or polar_whs_".into())
        })?;
    if rest.chars().count() < MIN_SECRET_CHARS {
        return Err(SecretError("the Polar webhook secret is too short".into()));
    }
    let mut macs = Vec::with_capacity(2);
    if let Ok(standard) = webhook_sig::decode_secret(rest) {
        macs.push(webhook_sig::keyed(&standard)?);
    }
    macs.push(webhook_sig::keyed(secret.as_bytes())?);
    Ok(SigningKey::Hmac(macs))
}

/// Verifies a Standard Webhooks delivery (`webhook-*` headers only).
pub fn verify(
    keys: &[SigningKey],
    headers: &dyn Headers,
    body: &[u8],
    now_secs: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    webhook_sig::verify(keys, headers, body, now_secs, tolerance_secs, false)
}

/// The parts of a Polar event that are read.
struct Event {
    /// The envelope's ISO 8601 `timestamp`, when present and a string.
    timestamp: Option<String>,
    data: Map<String, Value>,
    event_type: String,
}

/// Parses `{"type": "…", "timestamp": "<ISO 8601>", "data": {…}}`.
fn parse(body: &[u8]) -> Result<Event, EnvelopeError> {
    let event = webhook_sig::parse_event(PROVIDER, body)?;
    Ok(Event {
        timestamp: str_field(&event.rest, "timestamp").map(str::to_owned),
        event_type: event.event_type,
        data: event.data,
    })
}

/// Reads the event type; the idempotency key is the delivery's `webhook-id`.
pub fn envelope(headers: &dyn Headers, body: &[u8]) -> Result<Envelope, EnvelopeError> {
    let event = webhook_sig::parse_event(PROVIDER, body)?;
    webhook_sig::envelope(PROVIDER, headers, event, false, "webhook-id")
}

/// An object field of a JSON object, when present and an object.
fn object_field<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Map<String, Value>> {
    object.get(key).and_then(Value::as_object)
}

/// Epoch milliseconds of an ISO 8601 / RFC 3339 time. Polar sends UTC with an offset
/// (`2025-03-14T09:26:53.123456Z`); a time without one is read as UTC.
fn parse_time_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    let t = OffsetDateTime::parse(s, &Rfc3339)
        .or_else(|_| OffsetDateTime::parse(s, &Iso8601::DEFAULT))
        .or_else(|_| PrimitiveDateTime::parse(s, &Iso8601::DEFAULT).map(|t| t.assume_utc()))
        .ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Platform time of an event: the envelope's `timestamp`, else `data.modified_at`, else
/// `data.created_at`, else the receive time.
fn occurred_at_ms(event: &Event, received_at_ms: i64) -> i64 {
    event
        .timestamp
        .as_deref()
        .and_then(parse_time_ms)
        .or_else(|| str_field(&event.data, "modified_at").and_then(parse_time_ms))
        .or_else(|| str_field(&event.data, "created_at").and_then(parse_time_ms))
        .unwrap_or(received_at_ms)
}

/// Event properties, set only for values present with the expected JSON type.
#[derive(Default)]
struct Properties(Map<String, Value>);

impl Properties {
    fn text(&mut self, key: &str, value: Option<&str>) -> &mut Self {
        if let Some(value) = value.and_then(non_empty) {
            self.0.insert(key.into(), Value::String(value));
        }
        self
    }

    fn int(&mut self, key: &str, value: Option<i64>) -> &mut Self {
        if let Some(value) = value {
            self.0.insert(key.into(), Value::from(value));
        }
        self
    }

    fn flag(&mut self, key: &str, value: Option<bool>) -> &mut Self {
        if let Some(value) = value {
            self.0.insert(key.into(), Value::Bool(value));
        }
        self
    }
}

fn product_id(data: &Map<String, Value>) -> Option<&str> {
    str_field(data, "product_id")
        .or_else(|| object_field(data, "product").and_then(|p| str_field(p, "id")))
}

fn product_name(data: &Map<String, Value>) -> Option<&str> {
    object_field(data, "product").and_then(|p| str_field(p, "name"))
}

/// `orderId`, `amount` (total, in minor units), `currency`, product, `status`, `billingReason`.
fn order_properties(order: &Map<String, Value>) -> Map<String, Value> {
    let amount = order
        .get("total_amount")
        .and_then(Value::as_i64)
        .or_else(|| order.get("amount").and_then(Value::as_i64));
    let mut p = Properties::default();
    p.text("orderId", str_field(order, "id"))
        .int("amount", amount)
        .text("currency", str_field(order, "currency"))
        .text("productId", product_id(order))
        .text("productName", product_name(order))
        .text("status", str_field(order, "status"))
        .text("billingReason", str_field(order, "billing_reason"));
    p.0
}

/// `subscriptionId`, `status`, price, interval, product and the cancellation state.
fn subscription_properties(subscription: &Map<String, Value>) -> Map<String, Value> {
    let s = subscription;
    let mut p = Properties::default();
    p.text("subscriptionId", str_field(s, "id"))
        .text("status", str_field(s, "status"))
        .int("amount", s.get("amount").and_then(Value::as_i64))
        .text("currency", str_field(s, "currency"))
        .text("recurringInterval", str_field(s, "recurring_interval"))
        .text("productId", product_id(s))
        .text("productName", product_name(s))
        .flag(
            "cancelAtPeriodEnd",
            s.get("cancel_at_period_end").and_then(Value::as_bool),
        )
        .text("currentPeriodEnd", str_field(s, "current_period_end"));
    p.0
}

/// Maps a verified Polar event to a contact change, found by the customer's email.
pub fn map(body: &[u8], received_at_ms: i64) -> Result<Mapping, EnvelopeError> {
    let event = parse(body)?;
    let at = occurred_at_ms(&event, received_at_ms);
    let event_type = event.event_type.as_str();
    let data = &event.data;
    let (action, customer, event_properties) = match event_type {
        "customer.created" | "customer.updated" | "customer.deleted" => {
            let action = if event_type == "customer.deleted" {
                ContactAction::Delete
            } else {
                ContactAction::Upsert
            };
            let mut p = Properties::default();
            p.text("customerId", str_field(data, "id"));
            (action, Some(data), p.0)
        }
        "order.paid" => (
            ContactAction::Upsert,
            object_field(data, "customer"),
            order_properties(data),
        ),
        "subscription.created"
        | "subscription.active"
        | "subscription.canceled"
        | "subscription.uncanceled"
        | "subscription.past_due"
        | "subscription.revoked" => (
            ContactAction::Upsert,
            object_field(data, "customer"),
            subscription_properties(data),
        ),
        other => {
            return Ok(Mapping::Ignore(format!(
                "Ignored: {} is not a supported Polar event.",
                super::shown_event_type(other)
            )));
        }
    };
    let Some((customer, email)) = customer.and_then(|c| {
        str_field(c, "email")
            .and_then(Email::parse)
            .map(|email| (c, email))
    }) else {
        return Ok(Mapping::Ignore(format!(
            "Ignored: {event_type} has no usable email."
        )));
    };
    let mut change = ContactChange::new(action, ContactKey::Email(email.clone()), at);
    change.email = Some(email);
    if action == ContactAction::Upsert {
        change = change.with_full_name(str_field(customer, "name"));
        if let Some(external_id) = str_field(customer, "external_id").and_then(non_empty) {
            change
                .properties
                .insert("externalId".into(), Value::String(external_id));
        }
    }
    change.event_properties = event_properties;
    Ok(Mapping::Contact(change))
}

#[cfg(test)]
mod tests;
