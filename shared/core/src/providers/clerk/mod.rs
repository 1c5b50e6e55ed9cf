//! Clerk (delivered by Svix): signature verification over the `svix-*` or `webhook-*`
//! headers (SPEC §3.1), the event envelope, and the mapping of user and waitlist events to
//! contacts (SPEC §3.2).
//!
//! The sample delivery for `inlet send-test-event` is in `sample`; the unit tests are in
//! `tests`, with Clerk-shaped payloads under `fixtures/`.

pub(super) mod sample;

use serde_json::{Map, Value};

use super::webhook_sig::str_field;
use super::{
    ContactAction, ContactChange, ContactKey, Envelope, EnvelopeError, Headers, Mapping,
    SecretError, SignatureError, SigningKey, webhook_sig,
};
use crate::domain::{Email, non_empty};
use crate::properties::PropertyType::{self, String as Text};

const PROVIDER: &str = "Clerk";

/// Event types handled for Clerk.
pub const SUPPORTED_EVENTS: &[&str] = &[
    "user.created",
    "user.updated",
    "user.deleted",
    "waitlistEntry.created",
    "waitlistEntry.updated",
];

/// The properties each event type's event carries (`map` sets no others; a test checks
/// them against every sample): what `GET /api/v1/event-patterns` lists.
pub fn event_properties(event_type: &str) -> &'static [(&'static str, PropertyType)] {
    match event_type {
        "user.created" | "user.updated" | "user.deleted" => &[("userId", Text)],
        "waitlistEntry.created" | "waitlistEntry.updated" => {
            &[("waitlistEntryId", Text), ("status", Text)]
        }
        _ => &[],
    }
}

/// Decodes a Clerk signing secret: `whsec_` followed by the base64 of the HMAC key.
pub fn signing_key(secret: &str) -> Result<SigningKey, SecretError> {
    if !secret.trim().starts_with("whsec_") {
        return Err(SecretError(
            "a Clerk signing secret starts with whsec_".into(),
        ));
    }
    let key = webhook_sig::decode_secret(secret)?;
    Ok(SigningKey::Hmac(vec![webhook_sig::keyed(&key)?]))
}

/// Verifies a Svix delivery (`svix-*` headers, or the unbranded `webhook-*` spelling).
pub fn verify(
    keys: &[SigningKey],
    headers: &dyn Headers,
    body: &[u8],
    now_secs: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    webhook_sig::verify(keys, headers, body, now_secs, tolerance_secs, true)
}

/// The parts of a Clerk event that are read.
struct Event {
    event_type: String,
    /// Platform time in epoch milliseconds, when present.
    timestamp_ms: Option<i64>,
    data: Map<String, Value>,
}

/// The shared envelope, with Clerk's `object` (when present) required to be `"event"`.
fn parse_checked(body: &[u8]) -> Result<webhook_sig::JsonEvent, EnvelopeError> {
    let event = webhook_sig::parse_event(PROVIDER, body)?;
    if event.rest.get("object").is_some_and(|o| o != "event") {
        return Err(EnvelopeError {
            provider: PROVIDER,
            reason: "`object` is not \"event\"".into(),
        });
    }
    Ok(event)
}

/// Parses `{"data": {…}, "object": "event", "type": "…", "timestamp": <ms>, …}`.
fn parse(body: &[u8]) -> Result<Event, EnvelopeError> {
    let event = parse_checked(body)?;
    Ok(Event {
        timestamp_ms: event.rest.get("timestamp").and_then(Value::as_i64),
        event_type: event.event_type,
        data: event.data,
    })
}

/// Reads the event type; the idempotency key is the delivery's `svix-id` (or `webhook-id`).
pub fn envelope(headers: &dyn Headers, body: &[u8]) -> Result<Envelope, EnvelopeError> {
    let event = parse_checked(body)?;
    webhook_sig::envelope(PROVIDER, headers, event, true, "svix-id (or webhook-id)")
}

/// The user's primary address: the entry of `email_addresses` whose `id` is
/// `primary_email_address_id`, when it is a usable email.
fn primary_email(user: &Map<String, Value>) -> Option<Email> {
    let primary_id = str_field(user, "primary_email_address_id")?;
    user.get("email_addresses")?
        .as_array()?
        .iter()
        .filter_map(Value::as_object)
        .find(|entry| str_field(entry, "id") == Some(primary_id))
        .and_then(|entry| str_field(entry, "email_address"))
        .and_then(Email::parse)
}

/// Maps a verified Clerk event to a contact change. Clerk's `timestamp` (milliseconds) orders
/// events; `received_at_ms` stands in when it is absent.
pub fn map(body: &[u8], received_at_ms: i64) -> Result<Mapping, EnvelopeError> {
    let event = parse(body)?;
    let at = event.timestamp_ms.unwrap_or(received_at_ms);
    let event_type = event.event_type.as_str();
    let data = &event.data;
    let mapping = match event_type {
        "user.created" | "user.updated" | "user.deleted" => {
            let Some(user_id) = str_field(data, "id").and_then(non_empty) else {
                return Ok(Mapping::Ignore(format!(
                    "Ignored: {event_type} has no user id."
                )));
            };
            let mut change = if event_type == "user.deleted" {
                // A deleted user carries only `{id, object, deleted}`: match by userId.
                ContactChange::new(
                    ContactAction::Delete,
                    ContactKey::UserId(user_id.clone()),
                    at,
                )
            } else {
                let mut change = ContactChange::new(
                    ContactAction::Upsert,
                    ContactKey::UserId(user_id.clone()),
                    at,
                );
                change.email = primary_email(data);
                change.user_id = Some(user_id.clone());
                change.first_name = str_field(data, "first_name").and_then(non_empty);
                change.last_name = str_field(data, "last_name").and_then(non_empty);
                change
            };
            change
                .event_properties
                .insert("userId".into(), Value::String(user_id));
            Mapping::Contact(change)
        }
        "waitlistEntry.created" | "waitlistEntry.updated" => {
            let Some(email) = str_field(data, "email_address").and_then(Email::parse) else {
                return Ok(Mapping::Ignore(format!(
                    "Ignored: {event_type} has no usable email."
                )));
            };
            let mut change =
                ContactChange::new(ContactAction::Upsert, ContactKey::Email(email.clone()), at);
            change.email = Some(email);
            for (property, field) in [("waitlistEntryId", "id"), ("status", "status")] {
                if let Some(value) = str_field(data, field).and_then(non_empty) {
                    change
                        .event_properties
                        .insert(property.into(), Value::String(value));
                }
            }
            Mapping::Contact(change)
        }
        other => Mapping::Ignore(format!(
            "Ignored: {} is not a supported Clerk event.",
            super::shown_event_type(other)
        )),
    };
    Ok(mapping)
}

#[cfg(test)]
mod tests;
