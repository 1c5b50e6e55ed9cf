//! Unit tests of the Clerk provider: Svix signature verification, secrets, the envelope, and
//! the mapping of every supported event type, with payloads from `fixtures/`.

use serde_json::json;

use super::*;

const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const MSG_ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
const TIMESTAMP: &str = "1649367553";
const NOW: i64 = 1_649_367_553;
const BODY: &str = r#"{"email":"test@example.com","username":"test_user"}"#;
const SIGNATURE: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";
const RECEIVED: i64 = 1_700_000_000_000;

fn headers<'a>(prefix: &str, id: &'a str, signature: &'a str) -> Vec<(&'a str, &'a str)> {
    let (i, t, s) = match prefix {
        "svix" => ("svix-id", "svix-timestamp", "svix-signature"),
        _ => ("webhook-id", "webhook-timestamp", "webhook-signature"),
    };
    vec![(i, id), (t, TIMESTAMP), (s, signature)]
}

#[test]
fn svix_vector_verifies_with_both_header_spellings() {
    let keys = [signing_key(SECRET).unwrap()];
    for prefix in ["svix", "webhook"] {
        let h = headers(prefix, MSG_ID, SIGNATURE);
        assert_eq!(
            verify(&keys, &h, BODY.as_bytes(), NOW, 300),
            Ok(()),
            "{prefix}"
        );
        // A changed body, id or secret no longer verifies.
        assert_eq!(
            verify(&keys, &h, br#"{"email":"x@example.com"}"#, NOW, 300),
            Err(SignatureError::NoMatch)
        );
        let other_id = headers(prefix, "msg_other", SIGNATURE);
        assert_eq!(
            verify(&keys, &other_id, BODY.as_bytes(), NOW, 300),
            Err(SignatureError::NoMatch)
        );
        let wrong = [signing_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap()];
        assert_eq!(
            verify(&wrong, &h, BODY.as_bytes(), NOW, 300),
            Err(SignatureError::NoMatch)
        );
    }
}

#[test]
fn any_secret_of_a_rotation_verifies() {
    let keys = [
        signing_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap(),
        signing_key(SECRET).unwrap(),
    ];
    let h = headers("svix", MSG_ID, SIGNATURE);
    assert_eq!(verify(&keys, &h, BODY.as_bytes(), NOW, 300), Ok(()));
}

#[test]
fn tolerance_is_five_minutes_both_ways() {
    let keys = [signing_key(SECRET).unwrap()];
    let h = headers("svix", MSG_ID, SIGNATURE);
    assert_eq!(verify(&keys, &h, BODY.as_bytes(), NOW + 300, 300), Ok(()));
    assert_eq!(verify(&keys, &h, BODY.as_bytes(), NOW - 300, 300), Ok(()));
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
fn missing_headers_are_named() {
    let keys = [signing_key(SECRET).unwrap()];
    let h: Vec<(&str, &str)> = vec![("svix-id", MSG_ID), ("svix-timestamp", TIMESTAMP)];
    assert_eq!(
        verify(&keys, &h, BODY.as_bytes(), NOW, 300),
        Err(SignatureError::MissingHeader("svix-signature"))
    );
    assert_eq!(
        verify(&keys, &Vec::new(), BODY.as_bytes(), NOW, 300),
        Err(SignatureError::MissingHeader("webhook-id"))
    );
}

#[test]
fn secrets_must_be_whsec_base64() {
    assert!(signing_key(SECRET).is_ok());
    assert!(signing_key(&format!("  {SECRET}\n")).is_ok());
    for bad in [
        "",
        "whsec_",
        "whsec_***not base64***",
        "C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
        "sk_test_123",
    ] {
        assert!(signing_key(bad).is_err(), "{bad}");
    }
    let debug = format!("{:?}", signing_key(SECRET).unwrap());
    assert!(debug.contains("REDACTED") && !debug.contains("C2FV"));
}

// ---- Fixtures, shaped as Clerk documents its webhook payloads. ----

const USER_ID: &str = "user_2hB7rTm2bWXKXUqPNRo7ZRqqbwQ";
const INSTANCE: &str = "ins_2dGa8ZJ0uVx1mKq3FhL9tPzR4sW";

fn event(event_type: &str, timestamp: Option<i64>, data: Value) -> Value {
    let mut event = json!({
        "data": data,
        "event_attributes": {
            "http_request": {
                "client_ip": "203.0.113.7",
                "user_agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15"
            }
        },
        "instance_id": INSTANCE,
        "object": "event",
        "type": event_type
    });
    if let Some(ms) = timestamp {
        event["timestamp"] = json!(ms);
    }
    event
}

/// A fixture file as JSON.
fn fixture(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

fn email_address(id: &str, address: &str) -> Value {
    let mut entry = fixture(include_str!("fixtures/email_address.json"));
    entry["id"] = json!(id);
    entry["email_address"] = json!(address);
    entry
}

fn user(
    emails: Vec<Value>,
    primary: Option<&str>,
    first: Option<&str>,
    last: Option<&str>,
) -> Value {
    let mut user = fixture(include_str!("fixtures/user.json"));
    user["email_addresses"] = json!(emails);
    user["primary_email_address_id"] = json!(primary);
    user["first_name"] = json!(first);
    user["last_name"] = json!(last);
    user
}

/// A waitlist entry; an invited one carries its invitation, sent to the same address.
fn waitlist_entry(id: &str, address: Option<&str>, status: &str, invited: bool) -> Value {
    let mut entry = fixture(include_str!("fixtures/waitlist_entry.json"));
    entry["id"] = json!(id);
    entry["email_address"] = json!(address);
    entry["status"] = json!(status);
    if invited {
        entry["invitation"]["email_address"] = json!(address);
    } else {
        entry["invitation"] = Value::Null;
    }
    entry
}

fn email(s: &str) -> Email {
    Email::parse(s).unwrap()
}

fn props(pairs: &[(&str, &str)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
        .collect()
}

/// (event type, body, expected mapping) for every supported event.
fn fixtures() -> Vec<(&'static str, Value, Mapping)> {
    let mut created = ContactChange::new(
        ContactAction::Upsert,
        ContactKey::UserId(USER_ID.into()),
        1_716_883_930_784,
    );
    created.email = Some(email("ada.lovelace@example.com"));
    created.user_id = Some(USER_ID.into());
    created.first_name = Some("Ada".into());
    created.last_name = Some("King Lovelace".into());
    created.event_properties = props(&[("userId", USER_ID)]);

    // The primary address is the second entry (the user switched); last name cleared.
    let mut updated = ContactChange::new(
        ContactAction::Upsert,
        ContactKey::UserId(USER_ID.into()),
        1_717_020_000_123,
    );
    updated.email = Some(email("ada@analytical.engine.org"));
    updated.user_id = Some(USER_ID.into());
    updated.first_name = Some("Ada".into());
    updated.event_properties = props(&[("userId", USER_ID)]);

    let mut deleted = ContactChange::new(
        ContactAction::Delete,
        ContactKey::UserId(USER_ID.into()),
        1_717_100_000_456,
    );
    deleted.event_properties = props(&[("userId", USER_ID)]);

    let mut wl_created = ContactChange::new(
        ContactAction::Upsert,
        ContactKey::Email(email("grace.hopper@example.org")),
        1_727_281_045_958,
    );
    wl_created.email = Some(email("grace.hopper@example.org"));
    wl_created.event_properties = props(&[
        ("waitlistEntryId", "wle_2mUkZgDPyYd1Mt4FbGQHuxTpBUy"),
        ("status", "pending"),
    ]);

    let mut wl_updated = wl_created.clone();
    wl_updated.occurred_at_ms = 1_727_367_445_987;
    wl_updated.event_properties = props(&[
        ("waitlistEntryId", "wle_2mUkZgDPyYd1Mt4FbGQHuxTpBUy"),
        ("status", "invited"),
    ]);

    vec![
        (
            "user.created",
            event(
                "user.created",
                Some(1_716_883_930_784),
                user(
                    vec![email_address(
                        "idn_2hB7rPFmQGD0vYpJuGgXzLwkFnA",
                        " Ada.Lovelace@Example.com",
                    )],
                    Some("idn_2hB7rPFmQGD0vYpJuGgXzLwkFnA"),
                    Some("Ada"),
                    Some("King Lovelace"),
                ),
            ),
            Mapping::Contact(created),
        ),
        (
            "user.updated",
            event(
                "user.updated",
                Some(1_717_020_000_123),
                user(
                    vec![
                        email_address(
                            "idn_2hB7rPFmQGD0vYpJuGgXzLwkFnA",
                            "ada.lovelace@example.com",
                        ),
                        email_address(
                            "idn_2hC1xQe5aJm8ZtUoVb3kRyLdWsN",
                            "ada@analytical.engine.org",
                        ),
                    ],
                    Some("idn_2hC1xQe5aJm8ZtUoVb3kRyLdWsN"),
                    Some("Ada"),
                    Some(""),
                ),
            ),
            Mapping::Contact(updated),
        ),
        (
            "user.deleted",
            event(
                "user.deleted",
                Some(1_717_100_000_456),
                json!({"deleted": true, "id": USER_ID, "object": "user"}),
            ),
            Mapping::Contact(deleted),
        ),
        (
            "waitlistEntry.created",
            event(
                "waitlistEntry.created",
                Some(1_727_281_045_958),
                waitlist_entry(
                    "wle_2mUkZgDPyYd1Mt4FbGQHuxTpBUy",
                    Some("Grace.Hopper@example.org"),
                    "pending",
                    false,
                ),
            ),
            Mapping::Contact(wl_created),
        ),
        (
            "waitlistEntry.updated",
            event(
                "waitlistEntry.updated",
                Some(1_727_367_445_987),
                waitlist_entry(
                    "wle_2mUkZgDPyYd1Mt4FbGQHuxTpBUy",
                    Some("grace.hopper@example.org"),
                    "invited",
                    true,
                ),
            ),
            Mapping::Contact(wl_updated),
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
        let h = headers("svix", MSG_ID, SIGNATURE);
        let env = envelope(&h, body.as_bytes()).unwrap();
        assert_eq!(
            env,
            Envelope {
                event_type: event_type.into(),
                idempotency_key: MSG_ID.into(),
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
fn webhook_id_is_the_key_with_the_unbranded_spelling() {
    let body = event("user.deleted", None, json!({"id": USER_ID})).to_string();
    let h = headers("webhook", "msg_2kNpLd0", SIGNATURE);
    assert_eq!(
        envelope(&h, body.as_bytes()).unwrap().idempotency_key,
        "msg_2kNpLd0"
    );
    let err = envelope(&Vec::new(), body.as_bytes()).unwrap_err();
    assert!(
        err.to_string().starts_with("Body is not a Clerk event: "),
        "{err}"
    );
}

#[test]
fn user_without_a_usable_primary_email_is_still_a_change_by_user_id() {
    let cases = [
        // Phone-number sign-up: no addresses at all.
        user(vec![], None, Some("Alan"), Some("Turing")),
        // The primary id names no entry of the list.
        user(
            vec![email_address("idn_a", "alan@example.com")],
            Some("idn_b"),
            Some("Alan"),
            Some("Turing"),
        ),
        // The primary entry is not an email address.
        user(
            vec![email_address("idn_a", "not-an-address")],
            Some("idn_a"),
            Some("Alan"),
            Some("Turing"),
        ),
    ];
    for data in cases {
        let body = event("user.created", Some(1_716_883_930_784), data).to_string();
        let Mapping::Contact(change) = map(body.as_bytes(), RECEIVED).unwrap() else {
            panic!("ignored")
        };
        assert_eq!(change.action, ContactAction::Upsert);
        assert_eq!(change.key, ContactKey::UserId(USER_ID.into()));
        assert_eq!(change.email, None);
        assert_eq!(change.user_id.as_deref(), Some(USER_ID));
        assert_eq!(change.first_name.as_deref(), Some("Alan"));
        assert_eq!(change.last_name.as_deref(), Some("Turing"));
    }
}

#[test]
fn user_event_without_an_id_is_ignored() {
    let body = event(
        "user.deleted",
        None,
        json!({"object": "user", "deleted": true}),
    );
    assert_eq!(
        map(body.to_string().as_bytes(), RECEIVED).unwrap(),
        Mapping::Ignore("Ignored: user.deleted has no user id.".into())
    );
}

#[test]
fn waitlist_entry_without_usable_email_is_ignored() {
    for address in [None, Some(""), Some("grace at example")] {
        let data = waitlist_entry("wle_1", address, "pending", false);
        let body = event("waitlistEntry.created", Some(1), data).to_string();
        assert_eq!(
            map(body.as_bytes(), RECEIVED).unwrap(),
            Mapping::Ignore("Ignored: waitlistEntry.created has no usable email.".into())
        );
    }
}

#[test]
fn missing_timestamp_falls_back_to_the_receive_time() {
    let data = waitlist_entry("wle_1", Some("grace@example.org"), "pending", false);
    let body = event("waitlistEntry.created", None, data).to_string();
    let Mapping::Contact(change) = map(body.as_bytes(), RECEIVED).unwrap() else {
        panic!("ignored")
    };
    assert_eq!(change.occurred_at_ms, RECEIVED);
}

#[test]
fn unsupported_types_are_ignored_with_a_message() {
    let body = event(
        "session.created",
        Some(1_716_883_930_784),
        json!({"id": "sess_2hB7rX", "object": "session", "user_id": USER_ID}),
    )
    .to_string();
    let env = envelope(&headers("svix", MSG_ID, SIGNATURE), body.as_bytes()).unwrap();
    assert_eq!(env.event_type, "session.created");
    assert_eq!(
        map(body.as_bytes(), RECEIVED).unwrap(),
        Mapping::Ignore("Ignored: session.created is not a supported Clerk event.".into())
    );
}

#[test]
fn bodies_that_are_not_clerk_events_are_rejected_without_quoting_them() {
    let h = headers("svix", MSG_ID, SIGNATURE);
    for body in [
        "",
        "not json at all: SENSITIVE",
        "[]",
        r#""SENSITIVE""#,
        r#"{"type":"user.created"}"#,
        r#"{"type":"user.created","data":"SENSITIVE"}"#,
        r#"{"type":"","data":{}}"#,
        r#"{"type":42,"data":{}}"#,
        r#"{"object":"user","type":"user.created","data":{"id":"SENSITIVE"}}"#,
        r#"{"data":{"id":"user_1"},"object":"event","type":"user.created""#,
    ] {
        for err in [
            envelope(&h, body.as_bytes()).unwrap_err(),
            map(body.as_bytes(), RECEIVED).unwrap_err(),
        ] {
            let message = err.to_string();
            assert!(
                message.starts_with("Body is not a Clerk event: "),
                "{message}"
            );
            assert!(!message.contains("SENSITIVE"), "{message}");
        }
    }
}
