//! Stripe: `Stripe-Signature` verification (SPEC §3.1), the event envelope, and the mapping
//! of customer, checkout, invoice, subscription, dispute and quote events to contact changes
//! (SPEC §3.2).

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
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret";

    fn sign(secret: &str, t: i64, body: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{t}.{body}").as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    fn check(header: Option<&str>, body: &str, now: i64) -> Result<(), SignatureError> {
        let keys = [signing_key(SECRET).unwrap()];
        let headers: Vec<(&str, &str)> = header
            .map(|h| ("Stripe-Signature", h))
            .into_iter()
            .collect();
        verify(&keys, &headers, body.as_bytes(), now, 300)
    }

    #[test]
    fn spec_vector_verifies() {
        let header =
            "t=1492774577,v1=22f7d74836ddad3284a2b80853dd2fe731655c1bfddcff3c3666a500cf3abd80";
        assert_eq!(
            sign(SECRET, 1_492_774_577, r#"{"id":"evt_test"}"#),
            &header[16..]
        );
        assert_eq!(
            check(Some(header), r#"{"id":"evt_test"}"#, 1_492_774_577),
            Ok(())
        );
    }

    #[test]
    fn any_v1_may_match_and_v0_is_ignored() {
        let body = r#"{"id":"evt_1"}"#;
        let good = sign(SECRET, 1000, body);
        let header = format!("t=1000,v0={good},v1={},v1={good}", "ab".repeat(32));
        assert_eq!(check(Some(&header), body, 1000), Ok(()));
        let only_v0 = format!("t=1000,v0={good}");
        assert_eq!(
            check(Some(&only_v0), body, 1000),
            Err(SignatureError::MalformedHeader(HEADER))
        );
    }

    #[test]
    fn any_key_may_match_during_rotation() {
        let body = r#"{"id":"evt_1"}"#;
        let keys = [
            signing_key("whsec_old_secret").unwrap(),
            signing_key("whsec_new_secret").unwrap(),
        ];
        let header = format!("t=1000,v1={}", sign("whsec_new_secret", 1000, body));
        let headers = [("stripe-signature", header.as_str())];
        assert_eq!(
            verify(&keys, &headers.to_vec(), body.as_bytes(), 1000, 300),
            Ok(())
        );
        assert_eq!(
            verify(&keys[..1], &headers.to_vec(), body.as_bytes(), 1000, 300),
            Err(SignatureError::NoMatch)
        );
    }

    #[test]
    fn tampered_body_or_wrong_secret_fails() {
        let body = r#"{"id":"evt_1"}"#;
        let header = format!("t=1000,v1={}", sign(SECRET, 1000, body));
        assert_eq!(
            check(Some(&header), r#"{"id":"evt_2"}"#, 1000),
            Err(SignatureError::NoMatch)
        );
        let other = format!("t=1000,v1={}", sign("whsec_other", 1000, body));
        assert_eq!(
            check(Some(&other), body, 1000),
            Err(SignatureError::NoMatch)
        );
        // The signed timestamp is part of the MAC: changing it breaks the signature.
        let moved = format!("t=1001,v1={}", sign(SECRET, 1000, body));
        assert_eq!(
            check(Some(&moved), body, 1000),
            Err(SignatureError::NoMatch)
        );
    }

    #[test]
    fn timestamps_outside_the_tolerance_fail() {
        let body = "{}";
        let header = format!("t=1000,v1={}", sign(SECRET, 1000, body));
        assert_eq!(check(Some(&header), body, 1300), Ok(()));
        assert_eq!(
            check(Some(&header), body, 1301),
            Err(SignatureError::TimestampTooOld)
        );
        assert_eq!(
            check(Some(&header), body, 699),
            Err(SignatureError::TimestampTooNew)
        );
    }

    #[test]
    fn missing_or_malformed_headers_are_told_apart() {
        assert_eq!(
            check(None, "{}", 0),
            Err(SignatureError::MissingHeader(HEADER))
        );
        for bad in ["", "garbage", "v1=abcd", "t=abc,v1=abcd", "t=1000"] {
            assert_eq!(
                check(Some(bad), "{}", 1000),
                Err(SignatureError::MalformedHeader(HEADER)),
                "{bad}"
            );
        }
        // A v1 that is not hex never matches.
        assert_eq!(
            check(Some("t=1000,v1=zz"), "{}", 1000),
            Err(SignatureError::NoMatch)
        );
    }

    #[test]
    fn secrets_must_look_like_stripe_secrets() {
        assert!(signing_key("whsec_abc123456").is_ok());
        assert!(signing_key("sk_live_123456789").is_err());
        assert!(format!("{:?}", signing_key("whsec_abc123456").unwrap()).contains("REDACTED"));
    }

    fn customer_event(kind: &str, email: Option<&str>, name: Option<&str>) -> String {
        serde_json::json!({
            "id": "evt_1NG8Du2eZvKYlo2CUI79vXWy",
            "object": "event",
            "api_version": "2024-06-20",
            "created": 1_686_089_970,
            "type": kind,
            "livemode": false,
            "data": { "object": {
                "id": "cus_O2Bn4mG2xCkA1B", "object": "customer",
                "email": email, "name": name, "metadata": {}
            }}
        })
        .to_string()
    }

    #[test]
    fn customer_created_maps_to_a_contact() {
        let body = customer_event(
            "customer.created",
            Some(" Jenny.Rosen@example.com"),
            Some("Jenny Ann Rosen"),
        );
        let env = envelope(&Vec::new(), body.as_bytes()).unwrap();
        assert_eq!(env.event_type, "customer.created");
        assert_eq!(env.idempotency_key, "evt_1NG8Du2eZvKYlo2CUI79vXWy");
        let Mapping::Contact(change) = map(body.as_bytes(), 0).unwrap() else {
            panic!("ignored")
        };
        assert_eq!(change.action, ContactAction::Upsert);
        assert_eq!(
            change.email.clone().unwrap().as_str(),
            "jenny.rosen@example.com"
        );
        assert_eq!(change.first_name.as_deref(), Some("Jenny"));
        assert_eq!(change.last_name.as_deref(), Some("Ann Rosen"));
        assert_eq!(change.occurred_at_ms, 1_686_089_970_000);
    }

    #[test]
    fn customer_without_usable_email_is_ignored_with_a_reason() {
        for email in [None, Some(""), Some("not-an-email")] {
            let body = customer_event("customer.updated", email, Some("Jenny"));
            assert_eq!(
                map(body.as_bytes(), 0).unwrap(),
                Mapping::Ignore("Ignored: customer.updated has no usable email.".into())
            );
        }
    }

    #[test]
    fn bodies_that_are_not_stripe_events_are_rejected() {
        for body in [
            "",
            "not json",
            "[]",
            r#"{"id":"evt_1"}"#,
            r#"{"id":"x","type":"a","created":1,"data":{"object":{}}}"#,
            r#"{"id":"evt_1","type":"a","created":1,"data":{"object":[]}}"#,
        ] {
            let err = envelope(&Vec::new(), body.as_bytes()).unwrap_err();
            assert!(
                err.to_string().starts_with("Body is not a Stripe event: "),
                "{err}"
            );
        }
    }

    // ---- Mapping fixtures: one payload per supported event type, shaped as Stripe sends it.

    use serde_json::json;

    fn stripe_event(id: &str, event_type: &str, created: i64, object: Value) -> String {
        json!({
            "id": id,
            "object": "event",
            "api_version": "2024-06-20",
            "created": created,
            "data": { "object": object },
            "livemode": false,
            "pending_webhooks": 1,
            "request": { "id": "req_Q8nD2kWqVd3xkL", "idempotency_key": "9d1f4c0e-7b1a-4b8e-a3c2-2f6e8b1d5a90" },
            "type": event_type
        })
        .to_string()
    }

    fn address() -> Value {
        json!({
            "city": "Berlin", "country": "DE", "line1": "Unter den Linden 1", "line2": null,
            "postal_code": "10117", "state": null
        })
    }

    fn customer_object(id: &str, email: Option<&str>, name: Option<&str>) -> Value {
        json!({
            "id": id,
            "object": "customer",
            "address": address(),
            "balance": 0,
            "created": 1_718_030_000,
            "currency": "eur",
            "default_source": null,
            "delinquent": false,
            "description": null,
            "discount": null,
            "email": email,
            "invoice_prefix": "7D9A1B2C",
            "invoice_settings": {
                "custom_fields": null, "default_payment_method": null, "footer": null,
                "rendering_options": null
            },
            "livemode": false,
            "metadata": {},
            "name": name,
            "next_invoice_sequence": 1,
            "phone": null,
            "preferred_locales": ["de"],
            "shipping": null,
            "tax_exempt": "none",
            "test_clock": null
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn checkout_object(
        id: &str,
        mode: &str,
        payment_status: &str,
        amount_total: i64,
        customer: Option<&str>,
        email: Option<&str>,
        name: Option<&str>,
        subscription: Option<&str>,
    ) -> Value {
        json!({
            "id": id,
            "object": "checkout.session",
            "after_expiration": null,
            "allow_promotion_codes": false,
            "amount_subtotal": amount_total,
            "amount_total": amount_total,
            "automatic_tax": { "enabled": false, "liability": null, "status": null },
            "billing_address_collection": "auto",
            "cancel_url": "https://shop.example.com/cancel",
            "client_reference_id": null,
            "consent": null,
            "created": 1_718_040_000,
            "currency": "eur",
            "customer": customer,
            "customer_creation": "if_required",
            "customer_details": {
                "address": address(), "email": email, "name": name, "phone": null,
                "tax_exempt": "none", "tax_ids": []
            },
            "customer_email": null,
            "expires_at": 1_718_126_400,
            "invoice": null,
            "livemode": false,
            "locale": null,
            "metadata": {},
            "mode": mode,
            "payment_intent": if mode == "payment" { json!("pi_3PQ1xL2eZvKYlo2C0v1XbB7n") } else { Value::Null },
            "payment_method_types": ["card", "sepa_debit"],
            "payment_status": payment_status,
            "status": "complete",
            "submit_type": null,
            "subscription": subscription,
            "success_url": "https://shop.example.com/thanks",
            "total_details": { "amount_discount": 0, "amount_shipping": 0, "amount_tax": 0 },
            "ui_mode": "hosted",
            "url": null
        })
    }

    fn price_object(
        id: &str,
        nickname: Option<&str>,
        lookup_key: Option<&str>,
        unit_amount: i64,
        interval: &str,
    ) -> Value {
        json!({
            "id": id,
            "object": "price",
            "active": true,
            "billing_scheme": "per_unit",
            "created": 1_700_000_000,
            "currency": "eur",
            "livemode": false,
            "lookup_key": lookup_key,
            "metadata": {},
            "nickname": nickname,
            "product": "prod_PwQ8cU3mXyZ1aB",
            "recurring": {
                "aggregate_usage": null, "interval": interval, "interval_count": 1,
                "trial_period_days": null, "usage_type": "licensed"
            },
            "tax_behavior": "exclusive",
            "tiers_mode": null,
            "transform_quantity": null,
            "type": "recurring",
            "unit_amount": unit_amount,
            "unit_amount_decimal": unit_amount.to_string()
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn invoice_object(
        id: Option<&str>,
        status: &str,
        amount_due: i64,
        amount_paid: i64,
        billing_reason: &str,
        customer: &str,
        email: Option<&str>,
        name: Option<&str>,
    ) -> Value {
        let mut invoice = json!({
            "object": "invoice",
            "account_country": "DE",
            "account_name": "Example GmbH",
            "amount_due": amount_due,
            "amount_paid": amount_paid,
            "amount_remaining": amount_due - amount_paid,
            "attempt_count": if status == "draft" { 0 } else { 1 },
            "attempted": status != "draft",
            "billing_reason": billing_reason,
            "collection_method": "charge_automatically",
            "created": 1_718_050_000,
            "currency": "eur",
            "customer": customer,
            "customer_email": email,
            "customer_name": name,
            "hosted_invoice_url": null,
            "lines": {
                "object": "list",
                "data": [{
                    "id": "il_1PQ2aB2eZvKYlo2CqW1xYz9d",
                    "object": "line_item",
                    "amount": amount_due,
                    "currency": "eur",
                    "description": "1 × Pro (at €20.00 / month)",
                    "discountable": true,
                    "livemode": false,
                    "metadata": {},
                    "period": { "end": 1_720_642_000, "start": 1_718_050_000 },
                    "price": price_object("price_1PQ0pR2eZvKYlo2C5mNkLsT1", Some("Pro monthly"), Some("pro_monthly"), 2000, "month"),
                    "proration": false,
                    "quantity": 1,
                    "subscription": "sub_1PQ0s22eZvKYlo2CrH3kWm8q",
                    "subscription_item": "si_QGmD8bV4c1TnPz",
                    "type": "subscription"
                }],
                "has_more": false,
                "total_count": 1,
                "url": "/v1/invoices/in_1PQ2aA2eZvKYlo2C8fUu3hVw/lines"
            },
            "livemode": false,
            "metadata": {},
            "number": null,
            "paid": status == "paid",
            "period_end": 1_718_050_000,
            "period_start": 1_715_371_600,
            "status": status,
            "subscription": "sub_1PQ0s22eZvKYlo2CrH3kWm8q",
            "subtotal": amount_due,
            "total": amount_due
        });
        if let Some(id) = id {
            invoice["id"] = json!(id);
        }
        invoice
    }

    fn subscription_object(
        status: &str,
        customer: Option<&str>,
        price: Value,
        trial_end: Option<i64>,
        cancel_at_period_end: bool,
    ) -> Value {
        json!({
            "id": "sub_1PQ0s22eZvKYlo2CrH3kWm8q",
            "object": "subscription",
            "application": null,
            "billing_cycle_anchor": 1_718_280_000,
            "cancel_at": null,
            "cancel_at_period_end": cancel_at_period_end,
            "canceled_at": if status == "canceled" { json!(1_718_600_000) } else { Value::Null },
            "collection_method": "charge_automatically",
            "created": 1_718_020_000,
            "currency": "eur",
            "current_period_end": 1_720_872_000,
            "current_period_start": 1_718_280_000,
            "customer": customer,
            "default_payment_method": "pm_1PQ0rz2eZvKYlo2CkD8sL0aE",
            "ended_at": if status == "canceled" { json!(1_718_600_000) } else { Value::Null },
            "items": {
                "object": "list",
                "data": [{
                    "id": "si_QGmD8bV4c1TnPz",
                    "object": "subscription_item",
                    "created": 1_718_020_001,
                    "metadata": {},
                    "price": price,
                    "quantity": 1,
                    "subscription": "sub_1PQ0s22eZvKYlo2CrH3kWm8q",
                    "tax_rates": []
                }],
                "has_more": false,
                "total_count": 1,
                "url": "/v1/subscription_items?subscription=sub_1PQ0s22eZvKYlo2CrH3kWm8q"
            },
            "latest_invoice": "in_1PQ2aA2eZvKYlo2C8fUu3hVw",
            "livemode": false,
            "metadata": {},
            "pause_collection": if status == "paused" { json!({"behavior": "void", "resumes_at": null}) } else { Value::Null },
            "quantity": 1,
            "start_date": 1_718_020_000,
            "status": status,
            "trial_end": trial_end,
            "trial_settings": { "end_behavior": { "missing_payment_method": "pause" } },
            "trial_start": trial_end.map(|_| 1_718_020_000)
        })
    }

    fn dispute_object(status: &str, customer_email: Option<&str>) -> Value {
        json!({
            "id": "dp_1PQ3dE2eZvKYlo2C4nHt7QfR",
            "object": "dispute",
            "amount": 4900,
            "balance_transactions": [],
            "charge": "ch_3PQ1xL2eZvKYlo2C0ZbS1mQe",
            "created": 1_718_400_000,
            "currency": "eur",
            "evidence": {
                "access_activity_log": null,
                "billing_address": null,
                "cancellation_policy": null,
                "customer_communication": null,
                "customer_email_address": customer_email,
                "customer_name": "Jenny Rosen",
                "customer_purchase_ip": null,
                "product_description": null,
                "receipt": null,
                "refund_policy": null,
                "service_date": null,
                "shipping_address": null,
                "uncategorized_text": null
            },
            "evidence_details": {
                "due_by": 1_719_273_599, "has_evidence": false, "past_due": false,
                "submission_count": 0
            },
            "is_charge_refundable": false,
            "livemode": false,
            "metadata": {},
            "payment_intent": "pi_3PQ1xL2eZvKYlo2C0v1XbB7n",
            "reason": "product_not_received",
            "status": status
        })
    }

    fn quote_object(status: &str, customer: Option<&str>) -> Value {
        json!({
            "id": "qt_1PQ4fG2eZvKYlo2CmN0pQrSt",
            "object": "quote",
            "amount_subtotal": 120_000,
            "amount_total": 120_000,
            "application": null,
            "automatic_tax": { "enabled": false, "liability": null, "status": null },
            "collection_method": "send_invoice",
            "computed": {
                "recurring": null,
                "upfront": { "amount_subtotal": 120_000, "amount_total": 120_000, "total_details": { "amount_discount": 0, "amount_shipping": 0, "amount_tax": 0 } }
            },
            "created": 1_718_500_000,
            "currency": "eur",
            "customer": customer,
            "description": "Onboarding package",
            "discounts": [],
            "expires_at": 1_721_092_000,
            "footer": null,
            "header": null,
            "invoice": if status == "accepted" { json!("in_1PQ5gH2eZvKYlo2CaB3cDeFg") } else { Value::Null },
            "livemode": false,
            "metadata": {},
            "number": "QT-7D9A1B2C-0001-1",
            "status": status,
            "status_transitions": {
                "accepted_at": if status == "accepted" { json!(1_718_510_000) } else { Value::Null },
                "canceled_at": if status == "canceled" { json!(1_718_520_000) } else { Value::Null },
                "finalized_at": 1_718_500_500
            },
            "subscription": null,
            "total_details": { "amount_discount": 0, "amount_shipping": 0, "amount_tax": 0 }
        })
    }

    fn props(value: Value) -> Object {
        match value {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    fn email(raw: &str) -> Email {
        Email::parse(raw).unwrap()
    }

    /// The change of an event keyed by email.
    #[allow(clippy::too_many_arguments)]
    fn by_email_change(
        action: ContactAction,
        address: &str,
        first: Option<&str>,
        last: Option<&str>,
        stripe_customer: Option<&str>,
        event_properties: Value,
        at: i64,
    ) -> Mapping {
        let mut change = ContactChange::new(action, ContactKey::Email(email(address)), at);
        change.email = Some(email(address));
        change.first_name = first.map(str::to_owned);
        change.last_name = last.map(str::to_owned);
        change.stripe_customer = stripe_customer.map(str::to_owned);
        change.event_properties = props(event_properties);
        Mapping::Contact(change)
    }

    /// The record-only change of an event keyed by a Stripe customer id.
    fn by_customer_change(customer: &str, event_properties: Value, at: i64) -> Mapping {
        let mut change = ContactChange::new(
            ContactAction::Touch,
            ContactKey::StripeCustomer(customer.to_owned()),
            at,
        );
        change.event_properties = props(event_properties);
        Mapping::Contact(change)
    }

    const CUS: &str = "cus_QGm7xK2pLq9TnB";
    const SUB: &str = "sub_1PQ0s22eZvKYlo2CrH3kWm8q";
    const PRODUCT: &str = "prod_PwQ8cU3mXyZ1aB";

    /// (event type, body, expected mapping) for every supported event type.
    fn fixtures() -> Vec<(&'static str, String, Mapping)> {
        let monthly = || {
            price_object(
                "price_1PQ0pR2eZvKYlo2C5mNkLsT1",
                Some("Pro monthly"),
                Some("pro_monthly"),
                2000,
                "month",
            )
        };
        let yearly = || {
            price_object(
                "price_1PQ0q12eZvKYlo2CxY7uVw3z",
                None,
                Some("pro_yearly"),
                20_000,
                "year",
            )
        };
        let bare = || price_object("price_1PQ0qA2eZvKYlo2Cb4gHj5Kl", None, None, 500, "week");
        let sub_props =
            |status: &str, plan: &str, amount: i64, interval: &str, trial: Value, cancel: bool| {
                json!({
                    "subscriptionId": SUB, "status": status, "plan": plan, "productId": PRODUCT,
                    "amount": amount, "currency": "eur", "interval": interval, "trialEnd": trial,
                    "cancelAtPeriodEnd": cancel, "customerId": CUS
                })
            };
        let no_trial = |v: Value| {
            let mut m = props(v);
            m.remove("trialEnd");
            Value::Object(m)
        };
        vec![
            (
                "customer.created",
                stripe_event(
                    "evt_1PQ0a12eZvKYlo2CcA1",
                    "customer.created",
                    1_718_030_000,
                    customer_object(CUS, Some("Jenny.Rosen@Example.com"), Some("Jenny Rosen")),
                ),
                by_email_change(
                    ContactAction::Upsert,
                    "jenny.rosen@example.com",
                    Some("Jenny"),
                    Some("Rosen"),
                    Some(CUS),
                    json!({"customerId": CUS}),
                    1_718_030_000_000,
                ),
            ),
            (
                "customer.updated",
                stripe_event(
                    "evt_1PQ0a12eZvKYlo2CcU2",
                    "customer.updated",
                    1_718_030_100,
                    customer_object(CUS, Some("jenny@rosen.example.org"), Some("Jenny")),
                ),
                by_email_change(
                    ContactAction::Upsert,
                    "jenny@rosen.example.org",
                    Some("Jenny"),
                    None,
                    Some(CUS),
                    json!({"customerId": CUS}),
                    1_718_030_100_000,
                ),
            ),
            (
                "customer.deleted",
                stripe_event(
                    "evt_1PQ0a12eZvKYlo2CcD3",
                    "customer.deleted",
                    1_718_700_000,
                    customer_object(CUS, Some("jenny.rosen@example.com"), Some("Jenny Rosen")),
                ),
                by_email_change(
                    ContactAction::Delete,
                    "jenny.rosen@example.com",
                    Some("Jenny"),
                    Some("Rosen"),
                    Some(CUS),
                    json!({"customerId": CUS}),
                    1_718_700_000_000,
                ),
            ),
            (
                "checkout.session.completed",
                stripe_event(
                    "evt_1PQ0b12eZvKYlo2CkC1",
                    "checkout.session.completed",
                    1_718_040_100,
                    checkout_object(
                        "cs_test_a1B2c3D4e5F6g7H8",
                        "subscription",
                        "paid",
                        2000,
                        Some(CUS),
                        Some("ada@example.com"),
                        Some("Ada King Lovelace"),
                        Some(SUB),
                    ),
                ),
                by_email_change(
                    ContactAction::Upsert,
                    "ada@example.com",
                    Some("Ada"),
                    Some("King Lovelace"),
                    Some(CUS),
                    json!({
                        "checkoutSessionId": "cs_test_a1B2c3D4e5F6g7H8", "amount": 2000, "currency": "eur",
                        "mode": "subscription", "paymentStatus": "paid", "status": "complete",
                        "subscriptionId": SUB, "customerId": CUS
                    }),
                    1_718_040_100_000,
                ),
            ),
            (
                "checkout.session.async_payment_succeeded",
                stripe_event(
                    "evt_1PQ0b12eZvKYlo2CkS2",
                    "checkout.session.async_payment_succeeded",
                    1_718_140_000,
                    checkout_object(
                        "cs_test_b9Z8y7X6w5V4u3T2",
                        "payment",
                        "paid",
                        4900,
                        None,
                        Some("grace@example.com"),
                        Some("Grace Hopper"),
                        None,
                    ),
                ),
                // A guest checkout: no Stripe customer, so no customer id to remember.
                by_email_change(
                    ContactAction::Upsert,
                    "grace@example.com",
                    Some("Grace"),
                    Some("Hopper"),
                    None,
                    json!({
                        "checkoutSessionId": "cs_test_b9Z8y7X6w5V4u3T2", "amount": 4900, "currency": "eur",
                        "mode": "payment", "paymentStatus": "paid", "status": "complete"
                    }),
                    1_718_140_000_000,
                ),
            ),
            (
                "checkout.session.async_payment_failed",
                stripe_event(
                    "evt_1PQ0b12eZvKYlo2CkF3",
                    "checkout.session.async_payment_failed",
                    1_718_140_500,
                    checkout_object(
                        "cs_test_c1Q2w3E4r5T6y7U8",
                        "payment",
                        "unpaid",
                        4900,
                        Some(CUS),
                        Some("jenny.rosen@example.com"),
                        None,
                        None,
                    ),
                ),
                by_email_change(
                    ContactAction::Upsert,
                    "jenny.rosen@example.com",
                    None,
                    None,
                    Some(CUS),
                    json!({
                        "checkoutSessionId": "cs_test_c1Q2w3E4r5T6y7U8", "amount": 4900, "currency": "eur",
                        "mode": "payment", "paymentStatus": "unpaid", "status": "complete",
                        "customerId": CUS
                    }),
                    1_718_140_500_000,
                ),
            ),
            (
                "invoice.paid",
                stripe_event(
                    "evt_1PQ0c12eZvKYlo2CiP1",
                    "invoice.paid",
                    1_718_050_100,
                    invoice_object(
                        Some("in_1PQ2aA2eZvKYlo2C8fUu3hVw"),
                        "paid",
                        2000,
                        2000,
                        "subscription_create",
                        CUS,
                        Some("jenny.rosen@example.com"),
                        Some("Jenny Rosen"),
                    ),
                ),
                by_email_change(
                    ContactAction::Upsert,
                    "jenny.rosen@example.com",
                    Some("Jenny"),
                    Some("Rosen"),
                    Some(CUS),
                    json!({
                        "invoiceId": "in_1PQ2aA2eZvKYlo2C8fUu3hVw", "amount": 2000, "currency": "eur",
                        "status": "paid", "subscriptionId": SUB, "customerId": CUS,
                        "plan": "Pro monthly", "productId": PRODUCT,
                        "billingReason": "subscription_create"
                    }),
                    1_718_050_100_000,
                ),
            ),
            (
                "invoice.payment_failed",
                stripe_event(
                    "evt_1PQ0c12eZvKYlo2CiF2",
                    "invoice.payment_failed",
                    1_720_642_100,
                    invoice_object(
                        Some("in_1PR9zZ2eZvKYlo2CqQ4rTt5u"),
                        "open",
                        2000,
                        0,
                        "subscription_cycle",
                        CUS,
                        Some("jenny.rosen@example.com"),
                        Some("Jenny Rosen"),
                    ),
                ),
                by_email_change(
                    ContactAction::Upsert,
                    "jenny.rosen@example.com",
                    Some("Jenny"),
                    Some("Rosen"),
                    Some(CUS),
                    json!({
                        "invoiceId": "in_1PR9zZ2eZvKYlo2CqQ4rTt5u", "amount": 2000, "currency": "eur",
                        "status": "open", "subscriptionId": SUB, "customerId": CUS,
                        "plan": "Pro monthly", "productId": PRODUCT,
                        "billingReason": "subscription_cycle"
                    }),
                    1_720_642_100_000,
                ),
            ),
            (
                "invoice.upcoming",
                // An upcoming invoice is a preview: Stripe sends it without an id.
                stripe_event(
                    "evt_1PQ0c12eZvKYlo2CiU3",
                    "invoice.upcoming",
                    1_720_037_300,
                    invoice_object(
                        None,
                        "draft",
                        2000,
                        0,
                        "upcoming",
                        CUS,
                        Some("jenny.rosen@example.com"),
                        Some("Jenny Rosen"),
                    ),
                ),
                by_email_change(
                    ContactAction::Upsert,
                    "jenny.rosen@example.com",
                    Some("Jenny"),
                    Some("Rosen"),
                    Some(CUS),
                    json!({
                        "amount": 2000, "currency": "eur", "status": "draft", "subscriptionId": SUB,
                        "customerId": CUS, "plan": "Pro monthly", "productId": PRODUCT,
                        "billingReason": "upcoming"
                    }),
                    1_720_037_300_000,
                ),
            ),
            (
                "customer.subscription.created",
                stripe_event(
                    "evt_1PQ0d12eZvKYlo2CsC1",
                    "customer.subscription.created",
                    1_718_020_000,
                    subscription_object(
                        "trialing",
                        Some(CUS),
                        monthly(),
                        Some(1_718_280_000),
                        false,
                    ),
                ),
                by_customer_change(
                    CUS,
                    sub_props(
                        "trialing",
                        "Pro monthly",
                        2000,
                        "month",
                        json!("2024-06-13T12:00:00Z"),
                        false,
                    ),
                    1_718_020_000_000,
                ),
            ),
            (
                "customer.subscription.paused",
                stripe_event(
                    "evt_1PQ0d12eZvKYlo2CsP2",
                    "customer.subscription.paused",
                    1_718_280_100,
                    subscription_object("paused", Some(CUS), yearly(), Some(1_718_280_000), false),
                ),
                by_customer_change(
                    CUS,
                    sub_props(
                        "paused",
                        "pro_yearly",
                        20_000,
                        "year",
                        json!("2024-06-13T12:00:00Z"),
                        false,
                    ),
                    1_718_280_100_000,
                ),
            ),
            (
                "customer.subscription.resumed",
                stripe_event(
                    "evt_1PQ0d12eZvKYlo2CsR3",
                    "customer.subscription.resumed",
                    1_718_366_400,
                    subscription_object("active", Some(CUS), bare(), None, true),
                ),
                by_customer_change(
                    CUS,
                    no_trial(sub_props(
                        "active",
                        "price_1PQ0qA2eZvKYlo2Cb4gHj5Kl",
                        500,
                        "week",
                        Value::Null,
                        true,
                    )),
                    1_718_366_400_000,
                ),
            ),
            (
                "customer.subscription.trial_will_end",
                stripe_event(
                    "evt_1PQ0d12eZvKYlo2CsT4",
                    "customer.subscription.trial_will_end",
                    1_718_020_100,
                    subscription_object(
                        "trialing",
                        Some(CUS),
                        monthly(),
                        Some(1_718_280_000),
                        false,
                    ),
                ),
                by_customer_change(
                    CUS,
                    sub_props(
                        "trialing",
                        "Pro monthly",
                        2000,
                        "month",
                        json!("2024-06-13T12:00:00Z"),
                        false,
                    ),
                    1_718_020_100_000,
                ),
            ),
            (
                "customer.subscription.deleted",
                stripe_event(
                    "evt_1PQ0d12eZvKYlo2CsD5",
                    "customer.subscription.deleted",
                    1_718_600_000,
                    subscription_object("canceled", Some(CUS), monthly(), None, false),
                ),
                by_customer_change(
                    CUS,
                    no_trial(sub_props(
                        "canceled",
                        "Pro monthly",
                        2000,
                        "month",
                        Value::Null,
                        false,
                    )),
                    1_718_600_000_000,
                ),
            ),
            (
                "charge.dispute.created",
                stripe_event(
                    "evt_1PQ0e12eZvKYlo2CdC1",
                    "charge.dispute.created",
                    1_718_400_000,
                    dispute_object("needs_response", Some("Jenny.Rosen@example.com")),
                ),
                {
                    let mut change = ContactChange::new(
                        ContactAction::Touch,
                        ContactKey::Email(email("jenny.rosen@example.com")),
                        1_718_400_000_000,
                    );
                    change.email = Some(email("jenny.rosen@example.com"));
                    change.event_properties = props(json!({
                        "disputeId": "dp_1PQ3dE2eZvKYlo2C4nHt7QfR", "amount": 4900, "currency": "eur",
                        "reason": "product_not_received", "status": "needs_response",
                        "chargeId": "ch_3PQ1xL2eZvKYlo2C0ZbS1mQe"
                    }));
                    Mapping::Contact(change)
                },
            ),
            (
                "charge.dispute.closed",
                stripe_event(
                    "evt_1PQ0e12eZvKYlo2CdX2",
                    "charge.dispute.closed",
                    1_719_000_000,
                    dispute_object("won", Some("jenny.rosen@example.com")),
                ),
                {
                    let mut change = ContactChange::new(
                        ContactAction::Touch,
                        ContactKey::Email(email("jenny.rosen@example.com")),
                        1_719_000_000_000,
                    );
                    change.email = Some(email("jenny.rosen@example.com"));
                    change.event_properties = props(json!({
                        "disputeId": "dp_1PQ3dE2eZvKYlo2C4nHt7QfR", "amount": 4900, "currency": "eur",
                        "reason": "product_not_received", "status": "won",
                        "chargeId": "ch_3PQ1xL2eZvKYlo2C0ZbS1mQe"
                    }));
                    Mapping::Contact(change)
                },
            ),
            (
                "quote.finalized",
                stripe_event(
                    "evt_1PQ0f12eZvKYlo2CqF1",
                    "quote.finalized",
                    1_718_500_500,
                    quote_object("open", Some(CUS)),
                ),
                by_customer_change(
                    CUS,
                    json!({
                        "quoteId": "qt_1PQ4fG2eZvKYlo2CmN0pQrSt", "amount": 120_000, "currency": "eur",
                        "status": "open", "customerId": CUS
                    }),
                    1_718_500_500_000,
                ),
            ),
            (
                "quote.accepted",
                stripe_event(
                    "evt_1PQ0f12eZvKYlo2CqA2",
                    "quote.accepted",
                    1_718_510_000,
                    quote_object("accepted", Some(CUS)),
                ),
                by_customer_change(
                    CUS,
                    json!({
                        "quoteId": "qt_1PQ4fG2eZvKYlo2CmN0pQrSt", "amount": 120_000, "currency": "eur",
                        "status": "accepted", "customerId": CUS
                    }),
                    1_718_510_000_000,
                ),
            ),
            (
                "quote.canceled",
                stripe_event(
                    "evt_1PQ0f12eZvKYlo2CqX3",
                    "quote.canceled",
                    1_718_520_000,
                    quote_object("canceled", Some(CUS)),
                ),
                by_customer_change(
                    CUS,
                    json!({
                        "quoteId": "qt_1PQ4fG2eZvKYlo2CmN0pQrSt", "amount": 120_000, "currency": "eur",
                        "status": "canceled", "customerId": CUS
                    }),
                    1_718_520_000_000,
                ),
            ),
        ]
    }

    #[test]
    fn every_supported_event_type_has_a_fixture() {
        let covered: Vec<&str> = fixtures().iter().map(|(t, _, _)| *t).collect();
        assert_eq!(covered, SUPPORTED_EVENTS);
    }

    #[test]
    fn every_supported_event_maps_as_specified() {
        for (event_type, body, expected) in fixtures() {
            let env = envelope(&Vec::new(), body.as_bytes()).unwrap();
            assert_eq!(env.event_type, event_type);
            assert!(env.idempotency_key.starts_with("evt_"), "{event_type}");
            assert_eq!(env.ignore, None);
            // The receive time is never used: Stripe's `created` orders events.
            assert_eq!(map(body.as_bytes(), 42).unwrap(), expected, "{event_type}");
        }
    }

    #[test]
    fn newer_api_invoices_read_subscription_and_price_from_their_new_places() {
        // API 2025-03-31 and later: `parent.subscription_details` and `pricing.price_details`.
        let mut invoice = invoice_object(
            Some("in_1R0aBc2eZvKYlo2CzZ9yXw8v"),
            "paid",
            2000,
            2000,
            "subscription_cycle",
            CUS,
            Some("jenny.rosen@example.com"),
            None,
        );
        let object = invoice.as_object_mut().unwrap();
        object.remove("subscription");
        object.insert(
            "parent".into(),
            json!({
                "quote_details": null,
                "subscription_details": { "metadata": {}, "subscription": SUB },
                "type": "subscription_details"
            }),
        );
        let line = &mut object["lines"]["data"][0];
        let line = line.as_object_mut().unwrap();
        line.remove("price");
        line.insert(
            "pricing".into(),
            json!({
                "price_details": { "price": "price_1PQ0pR2eZvKYlo2C5mNkLsT1", "product": PRODUCT },
                "type": "price_details",
                "unit_amount_decimal": "2000"
            }),
        );
        let body = stripe_event(
            "evt_1R0aBd2eZvKYlo2Cn1",
            "invoice.paid",
            1_743_500_000,
            invoice,
        );
        let Mapping::Contact(change) = map(body.as_bytes(), 0).unwrap() else {
            panic!("ignored")
        };
        assert_eq!(change.event_properties["subscriptionId"], json!(SUB));
        assert_eq!(
            change.event_properties["plan"],
            json!("price_1PQ0pR2eZvKYlo2C5mNkLsT1")
        );
        assert_eq!(change.event_properties["productId"], json!(PRODUCT));
        assert_eq!(change.stripe_customer.as_deref(), Some(CUS));
    }

    #[test]
    fn checkout_falls_back_to_the_prefilled_customer_email() {
        let mut session =
            checkout_object("cs_test_d1", "payment", "paid", 900, None, None, None, None);
        session["customer_email"] = json!("prefilled@example.com");
        let body = stripe_event("evt_1", "checkout.session.completed", 1, session);
        let Mapping::Contact(change) = map(body.as_bytes(), 0).unwrap() else {
            panic!("ignored")
        };
        assert_eq!(
            change.key,
            ContactKey::Email(email("prefilled@example.com"))
        );
    }

    #[test]
    fn events_without_a_usable_email_are_ignored_with_a_reason() {
        let cases = [
            (
                "customer.deleted",
                customer_object(CUS, Some("not-an-email"), Some("Jenny")),
            ),
            (
                "checkout.session.completed",
                checkout_object(
                    "cs_test_e1",
                    "payment",
                    "paid",
                    900,
                    Some(CUS),
                    None,
                    Some("Jenny"),
                    None,
                ),
            ),
            (
                "checkout.session.async_payment_failed",
                checkout_object(
                    "cs_test_e2",
                    "payment",
                    "unpaid",
                    900,
                    Some(CUS),
                    Some(" "),
                    None,
                    None,
                ),
            ),
            (
                "invoice.paid",
                invoice_object(
                    Some("in_1"),
                    "paid",
                    10,
                    10,
                    "manual",
                    CUS,
                    None,
                    Some("Jenny"),
                ),
            ),
            (
                "invoice.upcoming",
                invoice_object(None, "draft", 10, 0, "upcoming", CUS, Some("jenny@"), None),
            ),
        ];
        for (event_type, object) in cases {
            let body = stripe_event("evt_1", event_type, 1, object);
            assert_eq!(
                map(body.as_bytes(), 0).unwrap(),
                Mapping::Ignore(format!("Ignored: {event_type} has no usable email.")),
            );
        }
    }

    #[test]
    fn customer_id_events_without_a_customer_are_ignored_with_a_reason() {
        let cases = [
            (
                "customer.subscription.created",
                subscription_object("active", None, json!(null), None, false),
            ),
            ("quote.finalized", quote_object("open", None)),
        ];
        for (event_type, object) in cases {
            let body = stripe_event("evt_1", event_type, 1, object);
            assert_eq!(
                map(body.as_bytes(), 0).unwrap(),
                Mapping::Ignore(format!("Ignored: {event_type} carries no customer.")),
            );
        }
    }

    #[test]
    fn disputes_fall_back_to_a_customer_id_and_are_ignored_without_either() {
        let mut dispute = dispute_object("needs_response", Some("no email"));
        let body = stripe_event("evt_1", "charge.dispute.created", 1, dispute.clone());
        assert_eq!(
            map(body.as_bytes(), 0).unwrap(),
            Mapping::Ignore(
                "Ignored: charge.dispute.created has no usable email or customer.".into()
            ),
        );
        dispute["customer"] = json!(CUS);
        let body = stripe_event("evt_1", "charge.dispute.created", 1, dispute);
        let Mapping::Contact(change) = map(body.as_bytes(), 0).unwrap() else {
            panic!("ignored")
        };
        assert_eq!(change.action, ContactAction::Touch);
        assert_eq!(change.key, ContactKey::StripeCustomer(CUS.into()));
        assert_eq!(
            change.event_properties["disputeId"],
            json!("dp_1PQ3dE2eZvKYlo2C4nHt7QfR")
        );
    }

    #[test]
    fn unsupported_types_are_ignored_with_the_spec_message() {
        let body = stripe_event(
            "evt_1",
            "payment_intent.created",
            1,
            json!({"id": "pi_1", "object": "payment_intent"}),
        );
        assert_eq!(
            map(body.as_bytes(), 0).unwrap(),
            Mapping::Ignore(
                "Ignored: payment_intent.created is not a supported Stripe event.".into()
            )
        );
        // A prefix of a supported family is not enough.
        let body = stripe_event(
            "evt_1",
            "customer.source.created",
            1,
            json!({"id": "card_1"}),
        );
        assert_eq!(
            map(body.as_bytes(), 0).unwrap(),
            Mapping::Ignore(
                "Ignored: customer.source.created is not a supported Stripe event.".into()
            )
        );
    }

    #[test]
    fn map_rejects_bodies_that_are_not_stripe_events() {
        for body in [
            "not json",
            r#"{"id":"evt_1","type":"invoice.paid","created":1,"data":{"object":"in_1"}}"#,
        ] {
            let err = map(body.as_bytes(), 0).unwrap_err();
            assert_eq!(err.provider, "Stripe");
        }
    }

    #[test]
    fn invoice_amount_is_what_was_paid_for_paid_invoices_and_what_is_due_otherwise() {
        // A paid invoice's `amount_due` stays as billed; make the two differ to tell them apart.
        for (event_type, expected) in [("invoice.paid", 1500), ("invoice.payment_failed", 2000)] {
            let invoice = invoice_object(
                Some("in_1"),
                "open",
                2000,
                1500,
                "manual",
                CUS,
                Some("jenny.rosen@example.com"),
                None,
            );
            let body = stripe_event("evt_1", event_type, 1, invoice);
            let Mapping::Contact(change) = map(body.as_bytes(), 0).unwrap() else {
                panic!("ignored")
            };
            assert_eq!(
                change.event_properties["amount"],
                json!(expected),
                "{event_type}"
            );
        }
    }

    #[test]
    fn an_email_of_the_wrong_type_is_an_error_not_an_ignore() {
        let body = serde_json::json!({"id": "evt_1", "object": "event", "type": "customer.created", "created": 1,
            "data": {"object": {"id": "cus_1", "object": "customer", "email": 12345}}})
        .to_string();
        let err = map(body.as_bytes(), 0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Body is not a Stripe event: invalid type: `data.object.email` is not a string"
        );
        let body = body.replace("12345", "null");
        assert!(matches!(
            map(body.as_bytes(), 0).unwrap(),
            Mapping::Ignore(_)
        ));
    }
}
