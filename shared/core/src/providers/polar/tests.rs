//! Unit tests of the Polar provider: both key derivations, secrets, the envelope, and the
//! mapping of every supported event type, with payloads from `fixtures/`.

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

const CUSTOMER_ID: &str = "992fae2a-2a17-4b7a-8d9e-e287cf90131b";
const PRODUCT_ID: &str = "e7f1c0b4-5d6a-4e1f-9a3b-2c8d7e6f5a4b";
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

/// A fixture file as JSON.
fn fixture(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

fn customer(email: Option<&str>, name: Option<&str>, external_id: Option<&str>) -> Value {
    let mut customer = fixture(include_str!("fixtures/customer.json"));
    customer["email"] = json!(email);
    customer["name"] = json!(name);
    customer["external_id"] = json!(external_id);
    customer
}

/// A paid order of the Engine Pro product by `customer`.
fn order(customer: Value) -> Value {
    let mut order = fixture(include_str!("fixtures/order.json"));
    order["customer"] = customer;
    order
}

/// Ada's Engine Pro subscription; `cancel_at_period_end` and `ended` set the cancellation
/// fields as Polar fills them.
fn subscription(status: &str, cancel_at_period_end: bool, ended: bool) -> Value {
    let canceled_at = cancel_at_period_end.then_some("2025-04-20T16:04:58.772Z");
    let ended_at = ended.then_some("2025-06-01T00:00:00Z");
    let mut subscription = fixture(include_str!("fixtures/subscription.json"));
    subscription["status"] = json!(status);
    subscription["cancel_at_period_end"] = json!(cancel_at_period_end);
    subscription["canceled_at"] = json!(canceled_at);
    subscription["ends_at"] = json!(if cancel_at_period_end {
        Some(PERIOD_END)
    } else {
        ended_at
    });
    subscription["ended_at"] = json!(ended_at);
    subscription["customer_cancellation_reason"] =
        json!(cancel_at_period_end.then_some("too_expensive"));
    subscription
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
