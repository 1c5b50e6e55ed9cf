//! Polar (Standard Webhooks): signature verification with both of Polar's key derivations
//! (SPEC §3.1), the event envelope, and the mapping of customer, order and subscription
//! events to contacts (SPEC §3.2).

use serde_json::{Map, Value};
use time::format_description::well_known::{Iso8601, Rfc3339};
use time::{OffsetDateTime, PrimitiveDateTime};

use super::webhook_sig::str_field;
use super::{
    ContactAction, ContactChange, ContactKey, Envelope, EnvelopeError, Headers, Mapping,
    SecretError, SignatureError, SigningKey, webhook_sig,
};
use crate::domain::{Email, non_empty};

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
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use hmac::{Hmac, Mac};
    use serde_json::json;
    use sha2::Sha256;

    use super::*;

    const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const MSG_ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const TIMESTAMP: &str = "1649367553";
    const NOW: i64 = 1_649_367_553;
    const BODY: &str = r#"{"email":"test@example.com","username":"test_user"}"#;
    const STANDARD_SIG: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";
    const LEGACY_SIG: &str = "v1,n6rJjo/CnEaFyJ+uWWflwGkHSGocTY6bAD6ImjhpG8E=";
    const POLAR_SECRET: &str = "polar_whs_4q8Zr-Tn0yXbKcV3mJ_wE5uHs1LdPfG9aRoQ7iNk2Yt";
    const RECEIVED: i64 = 1_700_000_000_000;

    fn headers<'a>(id: &'a str, timestamp: &'a str, signature: &'a str) -> Vec<(&'a str, &'a str)> {
        vec![
            ("webhook-id", id),
            ("webhook-timestamp", timestamp),
            ("webhook-signature", signature),
        ]
    }

    fn sign(key: &[u8], id: &str, timestamp: &str, body: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
        mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }

    fn candidates(key: &SigningKey) -> usize {
        match key {
            SigningKey::Hmac(macs) => macs.len(),
            SigningKey::Token(_) => 0,
        }
    }

    #[test]
    fn one_secret_verifies_both_derivations_of_the_spec_vector() {
        let key = signing_key(SECRET).unwrap();
        assert_eq!(candidates(&key), 2);
        let keys = [key];
        for sig in [STANDARD_SIG, LEGACY_SIG] {
            let h = headers(MSG_ID, TIMESTAMP, sig);
            assert_eq!(
                verify(&keys, &h, BODY.as_bytes(), NOW, 300),
                Ok(()),
                "{sig}"
            );
            assert_eq!(
                verify(&keys, &h, br#"{"email":"x@example.com"}"#, NOW, 300),
                Err(SignatureError::NoMatch)
            );
        }
        // The test helper agrees with both vectors.
        let standard = webhook_sig::decode_secret(SECRET).unwrap();
        assert_eq!(sign(&standard, MSG_ID, TIMESTAMP, BODY), STANDARD_SIG);
        assert_eq!(sign(SECRET.as_bytes(), MSG_ID, TIMESTAMP, BODY), LEGACY_SIG);
    }

    #[test]
    fn polar_whs_secrets_verify_with_the_whole_string_key() {
        let key = signing_key(POLAR_SECRET).unwrap();
        // The part after the prefix is URL-safe text, not standard base64: legacy key only.
        assert_eq!(candidates(&key), 1);
        let keys = [key];
        let sig = sign(POLAR_SECRET.as_bytes(), MSG_ID, TIMESTAMP, BODY);
        let h = headers(MSG_ID, TIMESTAMP, &sig);
        assert_eq!(verify(&keys, &h, BODY.as_bytes(), NOW, 300), Ok(()));
        // Signed with the part after the prefix only: no match.
        let sig = sign(&POLAR_SECRET.as_bytes()[10..], MSG_ID, TIMESTAMP, BODY);
        let h = headers(MSG_ID, TIMESTAMP, &sig);
        assert_eq!(
            verify(&keys, &h, BODY.as_bytes(), NOW, 300),
            Err(SignatureError::NoMatch)
        );
        // When the part after polar_whs_ is base64, its decoding is a candidate too.
        let both = signing_key("polar_whs_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        assert_eq!(candidates(&both), 2);
        let h = headers(MSG_ID, TIMESTAMP, STANDARD_SIG);
        assert_eq!(verify(&[both], &h, BODY.as_bytes(), NOW, 300), Ok(()));
    }

    #[test]
    fn any_secret_of_a_rotation_verifies() {
        let keys = [
            signing_key(POLAR_SECRET).unwrap(),
            signing_key(SECRET).unwrap(),
        ];
        let h = headers(MSG_ID, TIMESTAMP, LEGACY_SIG);
        assert_eq!(verify(&keys, &h, BODY.as_bytes(), NOW, 300), Ok(()));
        assert_eq!(
            verify(&keys[..1], &h, BODY.as_bytes(), NOW, 300),
            Err(SignatureError::NoMatch)
        );
    }

    #[test]
    fn only_webhook_headers_are_read_and_tolerance_applies_both_ways() {
        let keys = [signing_key(SECRET).unwrap()];
        let svix: Vec<(&str, &str)> = vec![
            ("svix-id", MSG_ID),
            ("svix-timestamp", TIMESTAMP),
            ("svix-signature", STANDARD_SIG),
        ];
        assert_eq!(
            verify(&keys, &svix, BODY.as_bytes(), NOW, 300),
            Err(SignatureError::MissingHeader("webhook-id"))
        );
        let h = headers(MSG_ID, TIMESTAMP, LEGACY_SIG);
        assert_eq!(
            verify(&keys, &h, BODY.as_bytes(), NOW + 301, 300),
            Err(SignatureError::TimestampTooOld)
        );
        assert_eq!(
            verify(&keys, &h, BODY.as_bytes(), NOW - 301, 300),
            Err(SignatureError::TimestampTooNew)
        );
    }

    #[test]
    fn unusable_secrets_are_rejected() {
        assert!(signing_key(&format!(" {POLAR_SECRET}\n")).is_ok());
        // whsec_ followed by text that is not base64 still gives the legacy key.
        let legacy_only = signing_key("whsec_not*base64*but*long*enough").unwrap();
        assert_eq!(candidates(&legacy_only), 1);
        for bad in [
            "",
            "   ",
            "whsec_",
            "polar_whs_",
            "whsec_c2hvcnQ=",
            "polar_whs_short",
            "C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
            "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
        ] {
            assert!(signing_key(bad).is_err(), "{bad:?}");
        }
        let debug = format!("{:?}", signing_key(SECRET).unwrap());
        assert!(debug.contains("REDACTED") && !debug.contains("C2FV"));
    }

    // ---- Fixtures, shaped as Polar documents its webhook payloads. ----

    const ORG_ID: &str = "1dbfc517-0bbf-4301-9ba8-555ca42b9737";
    const CUSTOMER_ID: &str = "992fae2a-2a17-4b7a-8d9e-e287cf90131b";
    const PRODUCT_ID: &str = "e7f1c0b4-5d6a-4e1f-9a3b-2c8d7e6f5a4b";
    const PRICE_ID: &str = "3b0a8f2e-6c1d-4f7a-b9e5-8d2c4a6f1e0b";
    const ORDER_ID: &str = "b8c5e3a1-4d2f-4c6b-a9e7-1f3d5b7c9a2e";
    const SUBSCRIPTION_ID: &str = "5a9d7c3e-1b4f-4e8a-b2c6-d0e9f8a7b6c5";
    const CHECKOUT_ID: &str = "0c4e6a8b-2d1f-4b3a-9e5c-7f8d6b4a2c1e";
    const PERIOD_END: &str = "2025-05-14T09:26:50.104387Z";

    fn event(event_type: &str, timestamp: Option<&str>, data: Value) -> Value {
        let mut event = json!({"type": event_type, "data": data});
        if let Some(t) = timestamp {
            event["timestamp"] = json!(t);
        }
        event
    }

    fn customer(email: Option<&str>, name: Option<&str>, external_id: Option<&str>) -> Value {
        json!({
            "id": CUSTOMER_ID,
            "created_at": "2025-02-02T10:00:00Z",
            "modified_at": "2025-03-14T09:26:49Z",
            "metadata": {"plan_source": "landing"},
            "external_id": external_id,
            "email": email,
            "email_verified": true,
            "name": name,
            "billing_address": {
                "line1": "12 Marylebone Road",
                "line2": null,
                "postal_code": "NW1 5LR",
                "city": "London",
                "state": null,
                "country": "GB"
            },
            "tax_id": null,
            "organization_id": ORG_ID,
            "deleted_at": null,
            "avatar_url": "https://www.gravatar.com/avatar/5f1e0b7c2a?d=404"
        })
    }

    fn product() -> Value {
        json!({
            "id": PRODUCT_ID,
            "created_at": "2025-01-10T12:00:00Z",
            "modified_at": null,
            "trial_interval": null,
            "trial_interval_count": null,
            "name": "Engine Pro",
            "description": "Unlimited analytical engines.",
            "recurring_interval": "month",
            "recurring_interval_count": 1,
            "is_recurring": true,
            "is_archived": false,
            "organization_id": ORG_ID,
            "metadata": {},
            "prices": [{
                "created_at": "2025-01-10T12:00:00Z",
                "modified_at": null,
                "id": PRICE_ID,
                "amount_type": "fixed",
                "is_archived": false,
                "product_id": PRODUCT_ID,
                "type": "recurring",
                "recurring_interval": "month",
                "price_currency": "usd",
                "price_amount": 1900
            }],
            "benefits": [],
            "medias": [],
            "attached_custom_fields": []
        })
    }

    fn order(customer: Value) -> Value {
        json!({
            "id": ORDER_ID,
            "created_at": "2025-04-14T09:26:50.301Z",
            "modified_at": "2025-04-14T09:26:52.117Z",
            "status": "paid",
            "paid": true,
            "subtotal_amount": 1900,
            "discount_amount": 0,
            "net_amount": 1900,
            "amount": 1900,
            "tax_amount": 380,
            "total_amount": 2280,
            "refunded_amount": 0,
            "refunded_tax_amount": 0,
            "currency": "usd",
            "billing_reason": "subscription_create",
            "billing_name": "Ada King Lovelace",
            "billing_address": {"country": "GB"},
            "is_invoice_generated": false,
            "customer_id": CUSTOMER_ID,
            "product_id": PRODUCT_ID,
            "discount_id": null,
            "subscription_id": SUBSCRIPTION_ID,
            "checkout_id": CHECKOUT_ID,
            "metadata": {},
            "custom_field_data": {},
            "platform_fee_amount": 0,
            "customer": customer,
            "user_id": "7d3c9b1a-5e2f-4a8d-b6c4-0e9f1a2b3c4d",
            "product": product(),
            "discount": null,
            "subscription": null,
            "items": [{
                "created_at": "2025-04-14T09:26:50.301Z",
                "modified_at": null,
                "id": "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f",
                "label": "Engine Pro",
                "amount": 1900,
                "tax_amount": 380,
                "proration": false,
                "product_price_id": PRICE_ID
            }]
        })
    }

    fn subscription(status: &str, cancel_at_period_end: bool, ended: bool) -> Value {
        let canceled_at = cancel_at_period_end.then_some("2025-04-20T16:04:58.772Z");
        let ended_at = ended.then_some("2025-06-01T00:00:00Z");
        json!({
            "created_at": "2025-04-14T09:26:50.104387Z",
            "modified_at": "2025-04-14T09:26:51.611Z",
            "id": SUBSCRIPTION_ID,
            "amount": 1900,
            "currency": "usd",
            "recurring_interval": "month",
            "recurring_interval_count": 1,
            "status": status,
            "current_period_start": "2025-04-14T09:26:50.104387Z",
            "current_period_end": PERIOD_END,
            "trial_start": null,
            "trial_end": null,
            "cancel_at_period_end": cancel_at_period_end,
            "canceled_at": canceled_at,
            "started_at": "2025-04-14T09:26:50.104387Z",
            "ends_at": if cancel_at_period_end { Some(PERIOD_END) } else { ended_at },
            "ended_at": ended_at,
            "customer_id": CUSTOMER_ID,
            "product_id": PRODUCT_ID,
            "discount_id": null,
            "checkout_id": CHECKOUT_ID,
            "customer_cancellation_reason": if cancel_at_period_end { Some("too_expensive") } else { None },
            "customer_cancellation_comment": null,
            "metadata": {},
            "custom_field_data": {},
            "customer": customer(Some("ada@example.com"), Some("Ada Lovelace"), Some("usr_1815")),
            "product": product(),
            "discount": null,
            "prices": product()["prices"].clone(),
            "meters": []
        })
    }

    fn email(s: &str) -> Email {
        Email::parse(s).unwrap()
    }

    fn props(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => panic!("not an object"),
        }
    }

    fn upsert(
        address: &str,
        first: Option<&str>,
        last: Option<&str>,
        external_id: Option<&str>,
        event_properties: Value,
        at: i64,
    ) -> Mapping {
        let mut change =
            ContactChange::new(ContactAction::Upsert, ContactKey::Email(email(address)), at);
        change.email = Some(email(address));
        change.first_name = first.map(str::to_owned);
        change.last_name = last.map(str::to_owned);
        if let Some(id) = external_id {
            change.properties = props(json!({"externalId": id}));
        }
        change.event_properties = props(event_properties);
        Mapping::Contact(change)
    }

    fn subscription_props(status: &str, cancel_at_period_end: bool) -> Value {
        json!({
            "subscriptionId": SUBSCRIPTION_ID,
            "status": status,
            "amount": 1900,
            "currency": "usd",
            "recurringInterval": "month",
            "productId": PRODUCT_ID,
            "productName": "Engine Pro",
            "cancelAtPeriodEnd": cancel_at_period_end,
            "currentPeriodEnd": PERIOD_END
        })
    }

    /// (event type, body, expected mapping) for every supported event.
    fn fixtures() -> Vec<(&'static str, Value, Mapping)> {
        let ada = || {
            customer(
                Some("ada@example.com"),
                Some("Ada Lovelace"),
                Some("usr_1815"),
            )
        };
        let sub = |t: &'static str, ts: &str, status: &str, cancel: bool, ended: bool, at: i64| {
            (
                t,
                event(t, Some(ts), subscription(status, cancel, ended)),
                upsert(
                    "ada@example.com",
                    Some("Ada"),
                    Some("Lovelace"),
                    Some("usr_1815"),
                    subscription_props(status, cancel),
                    at,
                ),
            )
        };
        let mut deleted = ContactChange::new(
            ContactAction::Delete,
            ContactKey::Email(email("ada@example.com")),
            1_745_222_400_000,
        );
        deleted.email = Some(email("ada@example.com"));
        deleted.event_properties = props(json!({"customerId": CUSTOMER_ID}));
        vec![
            (
                "customer.created",
                event(
                    "customer.created",
                    Some("2025-02-02T10:00:00.412Z"),
                    customer(
                        Some(" Ada@Example.com "),
                        Some("Ada King Lovelace"),
                        Some("usr_1815"),
                    ),
                ),
                upsert(
                    "ada@example.com",
                    Some("Ada"),
                    Some("King Lovelace"),
                    Some("usr_1815"),
                    json!({"customerId": CUSTOMER_ID}),
                    1_738_490_400_412,
                ),
            ),
            (
                "customer.updated",
                event(
                    "customer.updated",
                    Some("2025-03-14T09:26:53.123456Z"),
                    customer(Some("ada@example.com"), None, None),
                ),
                upsert(
                    "ada@example.com",
                    None,
                    None,
                    None,
                    json!({"customerId": CUSTOMER_ID}),
                    1_741_944_413_123,
                ),
            ),
            (
                "customer.deleted",
                event("customer.deleted", Some("2025-04-21T08:00:00Z"), {
                    let mut c = ada();
                    c["deleted_at"] = json!("2025-04-21T07:59:59.870Z");
                    c
                }),
                Mapping::Contact(deleted),
            ),
            (
                "order.paid",
                event("order.paid", Some("2025-04-14T09:26:52.250Z"), order(ada())),
                upsert(
                    "ada@example.com",
                    Some("Ada"),
                    Some("Lovelace"),
                    Some("usr_1815"),
                    json!({
                        "orderId": ORDER_ID,
                        "amount": 2280,
                        "currency": "usd",
                        "productId": PRODUCT_ID,
                        "productName": "Engine Pro",
                        "status": "paid",
                        "billingReason": "subscription_create"
                    }),
                    1_744_622_812_250,
                ),
            ),
            sub(
                "subscription.created",
                "2025-04-14T09:26:51.847Z",
                "active",
                false,
                false,
                1_744_622_811_847,
            ),
            sub(
                "subscription.active",
                "2025-04-14T09:26:52.301Z",
                "active",
                false,
                false,
                1_744_622_812_301,
            ),
            sub(
                "subscription.canceled",
                "2025-04-20T16:05:00Z",
                "active",
                true,
                false,
                1_745_165_100_000,
            ),
            sub(
                "subscription.uncanceled",
                "2025-04-21T08:00:00.5+00:00",
                "active",
                false,
                false,
                1_745_222_400_500,
            ),
            sub(
                "subscription.past_due",
                "2025-05-14T09:30:00Z",
                "past_due",
                false,
                false,
                1_747_215_000_000,
            ),
            sub(
                "subscription.revoked",
                "2025-06-01T00:00:00Z",
                "canceled",
                false,
                true,
                1_748_736_000_000,
            ),
        ]
    }

    #[test]
    fn every_supported_event_maps_as_expected() {
        let fixtures = fixtures();
        let covered: Vec<&str> = fixtures.iter().map(|(t, _, _)| *t).collect();
        assert_eq!(covered, SUPPORTED_EVENTS);
        for (event_type, body, expected) in fixtures {
            let body = body.to_string();
            let h = headers(
                "0d1c5f6e-8a7b-4c3d-9e2f-1a0b9c8d7e6f",
                TIMESTAMP,
                LEGACY_SIG,
            );
            assert_eq!(
                envelope(&h, body.as_bytes()).unwrap(),
                Envelope {
                    event_type: event_type.into(),
                    idempotency_key: "0d1c5f6e-8a7b-4c3d-9e2f-1a0b9c8d7e6f".into(),
                    ignore: None,
                }
            );
            assert_eq!(
                map(body.as_bytes(), RECEIVED).unwrap(),
                expected,
                "{event_type}"
            );
        }
    }

    #[test]
    fn order_amount_falls_back_to_the_legacy_field() {
        let mut data = order(customer(Some("ada@example.com"), Some("Ada"), None));
        let fields = data.as_object_mut().unwrap();
        fields.remove("total_amount");
        fields.insert("product".into(), Value::Null);
        let body = event("order.paid", Some("2025-04-14T09:26:52Z"), data).to_string();
        let Mapping::Contact(change) = map(body.as_bytes(), RECEIVED).unwrap() else {
            panic!("ignored")
        };
        assert_eq!(change.event_properties["amount"], json!(1900));
        // The product id still comes from `product_id`; without `product` there is no name.
        assert_eq!(change.event_properties["productId"], json!(PRODUCT_ID));
        assert!(!change.event_properties.contains_key("productName"));
        assert_eq!(change.first_name.as_deref(), Some("Ada"));
        assert_eq!(change.last_name, None);
        assert!(change.properties.is_empty());
    }

    #[test]
    fn occurred_time_falls_back_to_data_times_then_the_receive_time() {
        let ada = customer(Some("ada@example.com"), None, None);
        let at = |timestamp: Option<&str>, data: &Value| {
            let body = event("customer.updated", timestamp, data.clone()).to_string();
            match map(body.as_bytes(), RECEIVED).unwrap() {
                Mapping::Contact(change) => change.occurred_at_ms,
                Mapping::Ignore(reason) => panic!("{reason}"),
            }
        };
        assert_eq!(
            at(Some("2025-03-14T11:26:53+02:00"), &ada),
            1_741_944_413_000
        );
        // Without an offset, the time is UTC.
        assert_eq!(at(Some("2025-03-14T09:26:53.5"), &ada), 1_741_944_413_500);
        // modified_at (2025-03-14T09:26:49Z), then created_at (2025-02-02T10:00:00Z).
        assert_eq!(at(None, &ada), 1_741_944_409_000);
        assert_eq!(at(Some("yesterday"), &ada), 1_741_944_409_000);
        let mut unmodified = ada.clone();
        unmodified["modified_at"] = Value::Null;
        assert_eq!(at(None, &unmodified), 1_738_490_400_000);
        let mut timeless = unmodified.clone();
        timeless["created_at"] = Value::Null;
        assert_eq!(at(None, &timeless), RECEIVED);
    }

    #[test]
    fn events_without_usable_email_are_ignored() {
        let cases = [
            ("customer.created", customer(None, Some("Ada"), None)),
            ("customer.updated", customer(Some(""), Some("Ada"), None)),
            (
                "customer.deleted",
                customer(Some("ada(at)example"), None, None),
            ),
            ("order.paid", order(Value::Null)),
            ("order.paid", order(customer(None, Some("Ada"), None))),
            ("subscription.active", {
                let mut s = subscription("active", false, false);
                s["customer"]["email"] = json!("not an email");
                s
            }),
        ];
        for (event_type, data) in cases {
            let body = event(event_type, Some("2025-04-14T09:26:52Z"), data).to_string();
            assert_eq!(
                map(body.as_bytes(), RECEIVED).unwrap(),
                Mapping::Ignore(format!("Ignored: {event_type} has no usable email.")),
            );
        }
    }

    #[test]
    fn unsupported_types_are_ignored_with_a_message() {
        let body = event(
            "checkout.updated",
            Some("2025-04-14T09:26:52Z"),
            json!({"id": CHECKOUT_ID, "status": "succeeded", "customer_email": "ada@example.com"}),
        )
        .to_string();
        let h = headers("evt_1", TIMESTAMP, LEGACY_SIG);
        assert_eq!(
            envelope(&h, body.as_bytes()).unwrap().event_type,
            "checkout.updated"
        );
        assert_eq!(
            map(body.as_bytes(), RECEIVED).unwrap(),
            Mapping::Ignore("Ignored: checkout.updated is not a supported Polar event.".into())
        );
    }

    #[test]
    fn a_delivery_without_webhook_id_has_no_idempotency_key() {
        let body = event("customer.created", None, customer(None, None, None)).to_string();
        let err = envelope(&Vec::new(), body.as_bytes()).unwrap_err();
        assert!(
            err.to_string().starts_with("Body is not a Polar event: "),
            "{err}"
        );
    }

    #[test]
    fn bodies_that_are_not_polar_events_are_rejected_without_quoting_them() {
        let h = headers("evt_1", TIMESTAMP, LEGACY_SIG);
        for body in [
            "",
            "SENSITIVE plain text",
            "[1,2]",
            "null",
            r#"{"type":"customer.created"}"#,
            r#"{"type":"customer.created","data":["SENSITIVE"]}"#,
            r#"{"type":"  ","data":{}}"#,
            r#"{"type":null,"data":{"email":"SENSITIVE@example.com"}}"#,
            r#"{"type":"order.paid","data":{"id":"SENSITIVE"},"#,
        ] {
            for err in [
                envelope(&h, body.as_bytes()).unwrap_err(),
                map(body.as_bytes(), RECEIVED).unwrap_err(),
            ] {
                let message = err.to_string();
                assert!(
                    message.starts_with("Body is not a Polar event: "),
                    "{message}"
                );
                assert!(!message.contains("SENSITIVE"), "{message}");
            }
        }
    }
}
