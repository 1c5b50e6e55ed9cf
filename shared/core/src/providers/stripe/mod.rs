//! Stripe: `Stripe-Signature` verification (SPEC §3.1), the event envelope, and the mapping
//! of customer, checkout, invoice, subscription, dispute and quote events to contact changes
//! (SPEC §3.2).
//!
//! The sample delivery for `inlet send-test-event` is in `sample`; the unit tests are in
//! `tests`, with Stripe-shaped payloads under `fixtures/`.

pub(super) mod sample;

use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use sha2::Sha256;

use super::{
    ContactAction, ContactChange, ContactKey, Envelope, EnvelopeError, Headers, Mapping,
    SecretError, SignatureError, SigningKey,
};
use crate::domain::{Email, format_ms, non_empty};

mod properties;
pub use properties::event_properties;

const HEADER: &str = "Stripe-Signature";

/// Event types handled for Stripe (SPEC §3.2).
pub const SUPPORTED_EVENTS: &[&str] = &[
    "customer.created",
    "customer.updated",
    "customer.deleted",
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "invoice.paid",
    "invoice.payment_failed",
    "invoice.upcoming",
    "customer.subscription.created",
    "customer.subscription.paused",
    "customer.subscription.resumed",
    "customer.subscription.trial_will_end",
    "customer.subscription.deleted",
    "charge.dispute.created",
    "charge.dispute.closed",
    "quote.finalized",
    "quote.accepted",
    "quote.canceled",
];

/// The key is the whole secret string as bytes, `whsec_` prefix included.
pub fn signing_key(secret: &str) -> Result<SigningKey, SecretError> {
    let secret = secret.trim();
    if !secret.starts_with("whsec_") || secret.len() < 10 {
        return Err(SecretError(
            "a Stripe signing secret starts with whsec_".into(),
        ));
    }
    Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .map(|mac| SigningKey::Hmac(vec![mac]))
        .map_err(|_| SecretError("unusable Stripe signing secret".into()))
}

/// Verifies `t=<secs>,v1=<hex>[,v1=…]` over `"{t}.{body}"`. Every `v1` is compared against
/// every key in constant time; other schemes (`v0`) are ignored.
pub fn verify(
    keys: &[SigningKey],
    headers: &dyn Headers,
    body: &[u8],
    now_secs: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    let header = headers
        .get("stripe-signature")
        .ok_or(SignatureError::MissingHeader(HEADER))?;
    let mut timestamp: Option<&str> = None;
    let mut candidates: Vec<[u8; 32]> = Vec::with_capacity(2);
    let mut saw_v1 = false;
    for part in header.split(',') {
        let Some((key, value)) = part.trim().split_once('=') else {
            continue;
        };
        match key {
            "t" => timestamp = Some(value),
            "v1" => {
                saw_v1 = true;
                let mut sig = [0u8; 32];
                // A v1 that is not 64 hex digits can never match; it is skipped, not an error.
                if hex::decode_to_slice(value, &mut sig).is_ok() {
                    candidates.push(sig);
                }
            }
            _ => {}
        }
    }
    let t: i64 = timestamp
        .and_then(|t| t.parse().ok())
        .ok_or(SignatureError::MalformedHeader(HEADER))?;
    if !saw_v1 {
        return Err(SignatureError::MalformedHeader(HEADER));
    }
    if now_secs.saturating_sub(t) > tolerance_secs {
        return Err(SignatureError::TimestampTooOld);
    }
    if t.saturating_sub(now_secs) > tolerance_secs {
        return Err(SignatureError::TimestampTooNew);
    }
    let timestamp = timestamp.unwrap_or_default();
    if super::any_mac_matches(keys, &[timestamp.as_bytes(), b".", body], &candidates) {
        Ok(())
    } else {
        Err(SignatureError::NoMatch)
    }
}

/// The parts of a Stripe event that ingest reads; `data` stays unparsed.
#[derive(Deserialize)]
struct RawEvent<'a> {
    #[serde(borrow)]
    id: &'a str,
    #[serde(rename = "type", borrow)]
    event_type: &'a str,
    created: i64,
    #[serde(borrow)]
    data: RawData<'a>,
}

#[derive(Deserialize)]
struct RawData<'a> {
    #[serde(borrow)]
    object: &'a RawValue,
}

fn not_stripe(reason: impl Into<String>) -> EnvelopeError {
    EnvelopeError {
        provider: "Stripe",
        reason: reason.into(),
    }
}

fn parse_raw(body: &[u8]) -> Result<RawEvent<'_>, EnvelopeError> {
    let event: RawEvent<'_> =
        serde_json::from_slice(body).map_err(|e| not_stripe(super::describe_json_error(&e)))?;
    if !event.id.starts_with("evt_") {
        return Err(not_stripe("`id` is not a Stripe event id (evt_…)"));
    }
    if event.event_type.is_empty() {
        return Err(not_stripe("`type` is empty"));
    }
    if !event.data.object.get().starts_with('{') {
        return Err(not_stripe("`data.object` is not an object"));
    }
    Ok(event)
}

/// Reads the event id (the idempotency key) and type.
pub fn envelope(_headers: &dyn Headers, body: &[u8]) -> Result<Envelope, EnvelopeError> {
    let event = parse_raw(body)?;
    Ok(Envelope::new(event.event_type, event.id))
}

/// A Stripe object (`data.object`), read field by field: its shape varies by type and API
/// version, and a missing or unexpected field only leaves a property out.
type Object = Map<String, Value>;

/// Maps a verified Stripe event to a contact change (SPEC §3.2).
pub fn map(body: &[u8], _received_at_ms: i64) -> Result<Mapping, EnvelopeError> {
    let event = parse_raw(body)?;
    let event_type = event.event_type;
    if !SUPPORTED_EVENTS.contains(&event_type) {
        return Ok(Mapping::Ignore(format!(
            "Ignored: {} is not a supported Stripe event.",
            super::shown_event_type(event_type)
        )));
    }
    let object: Object = serde_json::from_str(event.data.object.get())
        .map_err(|e| not_stripe(super::describe_json_error(&e)))?;
    let at = event.created.saturating_mul(1000);
    let family = event_type.rsplit_once('.').map_or("", |(family, _)| family);
    check_email_type(family, &object)?;
    Ok(match family {
        "customer" => customer(event_type, &object, at),
        "checkout.session" => checkout_session(event_type, &object, at),
        "invoice" => invoice(event_type, &object, at),
        "customer.subscription" => subscription(event_type, &object, at),
        "charge.dispute" => dispute(event_type, &object, at),
        "quote" => quote(event_type, &object, at),
        _ => Mapping::Ignore(format!(
            "Ignored: {event_type} is not a supported Stripe event."
        )),
    })
}

/// A present email field that is not text means the payload is not shaped as this code
/// expects (an API change, a forged sender): an error for the dead letters, where it can be
/// replayed once handled — unlike a missing email, which is an ordinary ignore.
fn check_email_type(family: &str, object: &Object) -> Result<(), EnvelopeError> {
    let (path, value) = match family {
        "customer" => ("email", object.get("email")),
        "checkout.session" => (
            "customer_details.email",
            object.get("customer_details").and_then(|d| d.get("email")),
        ),
        "invoice" => ("customer_email", object.get("customer_email")),
        _ => return Ok(()),
    };
    match value {
        None | Some(Value::Null | Value::String(_)) => Ok(()),
        Some(_) => Err(not_stripe(format!(
            "invalid type: `data.object.{path}` is not a string"
        ))),
    }
}

/// `customer.*`: the customer object itself (as it was, for `customer.deleted`).
fn customer(event_type: &str, object: &Object, at: i64) -> Mapping {
    let action = if event_type == "customer.deleted" {
        ContactAction::Delete
    } else {
        ContactAction::Upsert
    };
    let mut props = Object::new();
    put(&mut props, "customerId", id_field(object, "id"));
    by_email(
        event_type,
        action,
        email_field(object, "email"),
        text(object, "name"),
        id_field(object, "id"),
        props,
        at,
    )
}

/// `checkout.session.*`: the buyer is in `customer_details`.
fn checkout_session(event_type: &str, object: &Object, at: i64) -> Mapping {
    let details = child(object, "customer_details");
    // `customer_details` is what the buyer entered; `customer_email` is the address the
    // session was created with, used only when the former has none.
    let email = details
        .and_then(|d| email_field(d, "email"))
        .or_else(|| email_field(object, "customer_email"));
    let mut props = Object::new();
    put(&mut props, "checkoutSessionId", id_field(object, "id"));
    put(&mut props, "amount", int(object, "amount_total"));
    put(&mut props, "currency", text(object, "currency"));
    put(&mut props, "mode", text(object, "mode"));
    put(&mut props, "paymentStatus", text(object, "payment_status"));
    put(&mut props, "status", text(object, "status"));
    put(
        &mut props,
        "subscriptionId",
        id_field(object, "subscription"),
    );
    put(&mut props, "customerId", id_field(object, "customer"));
    by_email(
        event_type,
        ContactAction::Upsert,
        email,
        details.and_then(|d| text(d, "name")),
        id_field(object, "customer"),
        props,
        at,
    )
}

/// `invoice.*`: `invoice.upcoming` carries an invoice that has no id yet.
fn invoice(event_type: &str, object: &Object, at: i64) -> Mapping {
    let amount_field = if event_type == "invoice.paid" {
        "amount_paid"
    } else {
        "amount_due"
    };
    // API versions before 2025-03-31 name the subscription at the top level and give each
    // line a `price` object; later ones use `parent.subscription_details` and
    // `pricing.price_details` (ids only).
    let subscription = id_field(object, "subscription").or_else(|| {
        child(object, "parent")
            .and_then(|p| child(p, "subscription_details"))
            .and_then(|d| id_field(d, "subscription"))
    });
    let line = first_item(object, "lines");
    let (plan, product) = match line.and_then(|l| child(l, "price")) {
        Some(price) => (plan_name(price), id_field(price, "product")),
        None => match line
            .and_then(|l| child(l, "pricing"))
            .and_then(|p| child(p, "price_details"))
        {
            Some(details) => (text(details, "price"), id_field(details, "product")),
            None => (None, None),
        },
    };
    let mut props = Object::new();
    put(&mut props, "invoiceId", id_field(object, "id"));
    put(&mut props, "amount", int(object, amount_field));
    put(&mut props, "currency", text(object, "currency"));
    put(&mut props, "status", text(object, "status"));
    put(&mut props, "subscriptionId", subscription);
    put(&mut props, "customerId", id_field(object, "customer"));
    put(&mut props, "plan", plan);
    put(&mut props, "productId", product);
    put(&mut props, "billingReason", text(object, "billing_reason"));
    by_email(
        event_type,
        ContactAction::Upsert,
        email_field(object, "customer_email"),
        text(object, "customer_name"),
        id_field(object, "customer"),
        props,
        at,
    )
}

/// `customer.subscription.*`: only a customer id, resolved by the worker.
fn subscription(event_type: &str, object: &Object, at: i64) -> Mapping {
    let price = first_item(object, "items").and_then(|item| child(item, "price"));
    let mut props = Object::new();
    put(&mut props, "subscriptionId", id_field(object, "id"));
    put(&mut props, "status", text(object, "status"));
    put(&mut props, "plan", price.and_then(plan_name));
    put(
        &mut props,
        "productId",
        price.and_then(|p| id_field(p, "product")),
    );
    put(
        &mut props,
        "amount",
        price.and_then(|p| int(p, "unit_amount")),
    );
    put(
        &mut props,
        "currency",
        price
            .and_then(|p| text(p, "currency"))
            .or_else(|| text(object, "currency")),
    );
    put(
        &mut props,
        "interval",
        price
            .and_then(|p| child(p, "recurring"))
            .and_then(|r| text(r, "interval")),
    );
    // Stripe sends Unix seconds; the event carries the instant as RFC 3339 so templates and
    // workflows can show it.
    put(
        &mut props,
        "trialEnd",
        int(object, "trial_end").map(|secs| format_ms(secs.saturating_mul(1000))),
    );
    put(
        &mut props,
        "cancelAtPeriodEnd",
        object.get("cancel_at_period_end").and_then(Value::as_bool),
    );
    put(&mut props, "customerId", id_field(object, "customer"));
    by_customer(event_type, id_field(object, "customer"), props, at)
}

/// `quote.*`: only a customer id, resolved by the worker.
fn quote(event_type: &str, object: &Object, at: i64) -> Mapping {
    let mut props = Object::new();
    put(&mut props, "quoteId", id_field(object, "id"));
    put(&mut props, "amount", int(object, "amount_total"));
    put(&mut props, "currency", text(object, "currency"));
    put(&mut props, "status", text(object, "status"));
    put(&mut props, "customerId", id_field(object, "customer"));
    by_customer(event_type, id_field(object, "customer"), props, at)
}

/// `charge.dispute.*`.
fn dispute(event_type: &str, object: &Object, at: i64) -> Mapping {
    // Deviation from the SPEC table (follows the platform): a dispute has no `customer`, so
    // it is matched by `evidence.customer_email_address`, then by a `customer` if present.
    let email = child(object, "evidence").and_then(|e| email_field(e, "customer_email_address"));
    let mut props = Object::new();
    put(&mut props, "disputeId", id_field(object, "id"));
    put(&mut props, "amount", int(object, "amount"));
    put(&mut props, "currency", text(object, "currency"));
    put(&mut props, "reason", text(object, "reason"));
    put(&mut props, "status", text(object, "status"));
    put(&mut props, "chargeId", id_field(object, "charge"));
    match (email, id_field(object, "customer")) {
        (Some(email), _) => {
            let mut change =
                ContactChange::new(ContactAction::Touch, ContactKey::Email(email.clone()), at);
            change.email = Some(email);
            change.event_properties = props;
            Mapping::Contact(change)
        }
        (None, Some(customer)) => by_customer(event_type, Some(customer), props, at),
        (None, None) => Mapping::Ignore(format!(
            "Ignored: {event_type} has no usable email or customer."
        )),
    }
}

/// A change keyed by email, or the "no usable email" message.
fn by_email(
    event_type: &str,
    action: ContactAction,
    email: Option<Email>,
    name: Option<&str>,
    stripe_customer: Option<String>,
    event_properties: Object,
    at: i64,
) -> Mapping {
    let Some(email) = email else {
        return Mapping::Ignore(format!("Ignored: {event_type} has no usable email."));
    };
    let mut change =
        ContactChange::new(action, ContactKey::Email(email.clone()), at).with_full_name(name);
    change.email = Some(email);
    change.stripe_customer = stripe_customer;
    change.event_properties = event_properties;
    Mapping::Contact(change)
}

/// A record-only change keyed by Stripe customer id, or the "no customer" message.
fn by_customer(
    event_type: &str,
    customer: Option<String>,
    event_properties: Object,
    at: i64,
) -> Mapping {
    let Some(customer) = customer else {
        return Mapping::Ignore(format!("Ignored: {event_type} carries no customer."));
    };
    let mut change = ContactChange::new(
        ContactAction::Touch,
        ContactKey::StripeCustomer(customer),
        at,
    );
    change.event_properties = event_properties;
    Mapping::Contact(change)
}

/// Sets an event property when the value is present.
fn put(props: &mut Object, key: &str, value: Option<impl Into<Value>>) {
    if let Some(value) = value {
        props.insert(key.to_owned(), value.into());
    }
}

fn text<'a>(object: &'a Object, field: &str) -> Option<&'a str> {
    object.get(field)?.as_str()
}

fn int(object: &Object, field: &str) -> Option<i64> {
    object.get(field)?.as_i64()
}

fn child<'a>(object: &'a Object, field: &str) -> Option<&'a Object> {
    object.get(field)?.as_object()
}

/// The first entry of a list object (`{"object": "list", "data": [...]}`).
fn first_item<'a>(object: &'a Object, field: &str) -> Option<&'a Object> {
    child(object, field)?
        .get("data")?
        .as_array()?
        .first()?
        .as_object()
}

/// An id: a string, or the object's `id` when Stripe expanded it.
fn id_field(object: &Object, field: &str) -> Option<String> {
    match object.get(field)? {
        Value::String(id) => non_empty(id),
        Value::Object(expanded) => text(expanded, "id").and_then(non_empty),
        _ => None,
    }
}

fn email_field(object: &Object, field: &str) -> Option<Email> {
    text(object, field).and_then(Email::parse)
}

/// A price's plan name: its nickname, else its lookup key, else its id.
fn plan_name(price: &Object) -> Option<&str> {
    ["nickname", "lookup_key", "id"]
        .into_iter()
        .find_map(|field| text(price, field).filter(|s| !s.trim().is_empty()))
}

#[cfg(test)]
mod tests;
