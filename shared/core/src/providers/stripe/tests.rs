//! Unit tests of the Stripe provider: signature verification, secrets and the envelope here;
//! the mapping of every supported event type in `supported`, its edge cases in `mapping`,
//! and the payloads they map in `objects`.

mod mapping;
mod objects;
mod supported;

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
    let header = "t=1492774577,v1=22f7d74836ddad3284a2b80853dd2fe731655c1bfddcff3c3666a500cf3abd80";
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

// Shared by the mapping tests (`supported`, `mapping`).

fn props(value: Value) -> Object {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn email(raw: &str) -> Email {
    Email::parse(raw).unwrap()
}
