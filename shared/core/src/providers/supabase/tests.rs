//! Unit tests of the Supabase provider: the shared-secret header, secrets, the envelope, and
//! the mapping of `auth.users` changes, with the row from `fixtures/`.

use serde_json::json;

use super::*;

const SECRET: &str = "4f1c9a7e2b8d6f3a0c5e9b1d7a2f4c8e";

fn headers<'a>(pairs: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    pairs.to_vec()
}

fn check(keys: &[SigningKey], pairs: &[(&str, &str)]) -> Result<(), SignatureError> {
    verify(keys, &headers(pairs), b"{}", 0, 300)
}

#[test]
fn the_secret_is_accepted_from_either_header() {
    let keys = [signing_key(SECRET).unwrap()];
    assert_eq!(check(&keys, &[("Loops-Secret", SECRET)]), Ok(()));
    assert_eq!(check(&keys, &[("Inlet-Secret", SECRET)]), Ok(()));
    assert_eq!(check(&keys, &[("loops-secret", SECRET)]), Ok(()));
    assert_eq!(
        check(
            &keys,
            &[
                ("Content-Type", "application/json"),
                ("Inlet-Secret", SECRET)
            ]
        ),
        Ok(())
    );
}

#[test]
fn a_wrong_secret_fails() {
    let keys = [signing_key(SECRET).unwrap()];
    for wrong in [
        "4f1c9a7e2b8d6f3a0c5e9b1d7a2f4c8f",
        "4f1c9a7e2b8d6f3a0c5e9b1d7a2f4c8",
        "4f1c9a7e2b8d6f3a0c5e9b1d7a2f4c8e0",
        "",
        "4F1C9A7E2B8D6F3A0C5E9B1D7A2F4C8E",
    ] {
        assert_eq!(
            check(&keys, &[("Loops-Secret", wrong)]),
            Err(SignatureError::NoMatch),
            "{wrong:?}"
        );
    }
    // `Loops-Secret` is the one read when both are sent.
    assert_eq!(
        check(&keys, &[("Loops-Secret", "nope"), ("Inlet-Secret", SECRET)]),
        Err(SignatureError::NoMatch)
    );
}

#[test]
fn a_missing_header_is_reported_by_name() {
    let keys = [signing_key(SECRET).unwrap()];
    let err = check(&keys, &[("Authorization", SECRET)]).unwrap_err();
    assert_eq!(err, SignatureError::MissingHeader("Loops-Secret"));
    assert!(err.is_malformed());
    assert_eq!(err.to_string(), "Missing Loops-Secret header.");
}

#[test]
fn any_key_may_match_during_rotation() {
    let old = "old-secret-0123456789";
    let new = "new-secret-9876543210-longer";
    let keys = [signing_key(old).unwrap(), signing_key(new).unwrap()];
    assert_eq!(check(&keys, &[("Loops-Secret", old)]), Ok(()));
    assert_eq!(check(&keys, &[("Loops-Secret", new)]), Ok(()));
    assert_eq!(
        check(&keys[..1], &[("Loops-Secret", new)]),
        Err(SignatureError::NoMatch)
    );
    assert_eq!(
        check(&keys, &[("Loops-Secret", SECRET)]),
        Err(SignatureError::NoMatch)
    );
    assert_eq!(
        check(&[], &[("Loops-Secret", old)]),
        Err(SignatureError::NoMatch)
    );
}

#[test]
fn secrets_are_trimmed_and_must_be_long_enough() {
    assert!(signing_key("short-secret").is_err());
    assert!(signing_key("   123456789012345   ").is_err());
    let keys = [signing_key(&format!("  {SECRET}\n")).unwrap()];
    assert_eq!(check(&keys, &[("Loops-Secret", SECRET)]), Ok(()));
    assert!(format!("{:?}", keys[0]).contains("REDACTED"));
    assert!(!format!("{:?}", keys[0]).contains(SECRET));
}

#[test]
fn generated_secrets_are_random_hex_and_usable() {
    let a = generate_secret();
    let b = generate_secret();
    assert_eq!(a.len(), 64);
    assert!(
        a.bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
    );
    assert_ne!(a, b);
    let keys = [signing_key(&a).unwrap()];
    assert_eq!(check(&keys, &[("Loops-Secret", a.as_str())]), Ok(()));
}

// ---- Fixtures: bodies shaped as pg_net sends them for a database webhook on auth.users.

const USER_ID: &str = "8c1d6a52-3f0e-4b7a-9e2d-5a6b7c8d9e01";

/// An `auth.users` row as Supabase Auth stores it (`fixtures/user_row.json`), with the
/// fields a case varies set here.
fn user_row(
    email: Option<&str>,
    updated_at: &str,
    email_confirmed_at: Option<&str>,
    provider: &str,
    user_meta: Value,
) -> Value {
    let mut row: Value = serde_json::from_str(include_str!("fixtures/user_row.json")).unwrap();
    row["email"] = json!(email);
    row["updated_at"] = json!(updated_at);
    // `confirmed_at` follows the email confirmation, and confirming signs the user in.
    for field in ["email_confirmed_at", "last_sign_in_at", "confirmed_at"] {
        row[field] = json!(email_confirmed_at);
    }
    row["raw_app_meta_data"] = json!({ "provider": provider, "providers": [provider] });
    row["raw_user_meta_data"] = user_meta;
    row
}

fn webhook(kind: &str, schema: &str, table: &str, record: Value, old_record: Value) -> String {
    json!({
        "type": kind,
        "table": table,
        "record": record,
        "schema": schema,
        "old_record": old_record
    })
    .to_string()
}

fn signup_row() -> Value {
    // Email sign-up with `options.data` carrying first and last name; not yet confirmed.
    user_row(
        Some("Ada.Lovelace@Example.com"),
        "2024-05-01T12:34:56.123456+00:00",
        None,
        "email",
        json!({
            "sub": USER_ID,
            "email": "Ada.Lovelace@Example.com",
            "email_verified": false,
            "phone_verified": false,
            "first_name": "Ada",
            "last_name": "Lovelace"
        }),
    )
}

fn confirmed_row(updated_at: &str) -> Value {
    // The same user after confirming; Postgres wrote the timestamp in its text form.
    user_row(
        Some("ada.lovelace@example.com"),
        updated_at,
        Some("2024-05-02 08:15:30.600000+00"),
        "email",
        json!({
            "sub": USER_ID,
            "email": "ada.lovelace@example.com",
            "email_verified": true,
            "phone_verified": false,
            "first_name": "Ada",
            "last_name": "King Lovelace"
        }),
    )
}

fn expected(
    action: ContactAction,
    email: Option<&str>,
    first: Option<&str>,
    last: Option<&str>,
    props: Value,
    at: i64,
) -> Mapping {
    let mut change = ContactChange::new(action, ContactKey::UserId(USER_ID.into()), at);
    change.user_id = Some(USER_ID.into());
    change.email = email.map(|e| Email::parse(e).unwrap());
    change.first_name = first.map(str::to_owned);
    change.last_name = last.map(str::to_owned);
    let Value::Object(props) = props else {
        panic!("props")
    };
    change.event_properties = props;
    Mapping::Contact(change)
}

const RECEIVED_AT: i64 = 1_714_700_000_000;

/// (event type, body, expected mapping) for every supported event type.
fn fixtures() -> Vec<(&'static str, String, Mapping)> {
    vec![
        (
            "auth.users.insert",
            webhook("INSERT", "auth", "users", signup_row(), Value::Null),
            expected(
                ContactAction::Upsert,
                Some("ada.lovelace@example.com"),
                Some("Ada"),
                Some("Lovelace"),
                json!({"userId": USER_ID, "provider": "email", "emailConfirmed": false}),
                1_714_566_896_123,
            ),
        ),
        (
            "auth.users.update",
            webhook(
                "UPDATE",
                "auth",
                "users",
                confirmed_row("2024-05-02 08:15:30.654321+00"),
                signup_row(),
            ),
            expected(
                ContactAction::Upsert,
                Some("ada.lovelace@example.com"),
                Some("Ada"),
                Some("King Lovelace"),
                json!({"userId": USER_ID, "provider": "email", "emailConfirmed": true}),
                1_714_637_730_654,
            ),
        ),
        (
            "auth.users.delete",
            webhook(
                "DELETE",
                "auth",
                "users",
                Value::Null,
                confirmed_row("2024-05-02T08:15:30.654321+00:00"),
            ),
            // `record` is null, so the receive time orders the deletion.
            expected(
                ContactAction::Delete,
                Some("ada.lovelace@example.com"),
                Some("Ada"),
                Some("King Lovelace"),
                json!({"userId": USER_ID, "provider": "email", "emailConfirmed": true}),
                RECEIVED_AT,
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
    for (event_type, body, mapping) in fixtures() {
        let env = envelope(&Vec::new(), body.as_bytes()).unwrap();
        assert_eq!(env.event_type, event_type);
        assert_eq!(env.ignore, None);
        assert_eq!(
            env.idempotency_key,
            format!("sha256:{}", hex::encode(Sha256::digest(body.as_bytes())))
        );
        assert_eq!(
            map(body.as_bytes(), RECEIVED_AT).unwrap(),
            mapping,
            "{event_type}"
        );
    }
}

#[test]
fn the_idempotency_key_is_a_hash_of_the_exact_body() {
    let body = webhook("INSERT", "auth", "users", signup_row(), Value::Null);
    let key = envelope(&Vec::new(), body.as_bytes())
        .unwrap()
        .idempotency_key;
    assert_eq!(key.len(), "sha256:".len() + 64);
    // A resend of the same bytes is the same delivery.
    assert_eq!(
        envelope(&Vec::new(), body.as_bytes())
            .unwrap()
            .idempotency_key,
        key
    );
    let spaced = format!("{body} ");
    assert_ne!(
        envelope(&Vec::new(), spaced.as_bytes())
            .unwrap()
            .idempotency_key,
        key
    );
    // A fixed vector, computed with `sha256sum`.
    let fixed = br#"{"type":"INSERT","table":"profiles","schema":"public","record":{"id":1},"old_record":null}"#;
    assert_eq!(
        envelope(&Vec::new(), fixed).unwrap().idempotency_key,
        "sha256:196e1ce01a978d683272900a5572ebe1d5d773640c001ec955430de54c91f8dd"
    );
}

#[test]
fn other_tables_are_valid_but_ignored() {
    let profile = json!({"id": USER_ID, "username": "ada", "updated_at": null});
    for (kind, record, old) in [
        ("INSERT", profile.clone(), Value::Null),
        ("UPDATE", profile.clone(), profile.clone()),
        ("DELETE", Value::Null, profile.clone()),
    ] {
        let body = webhook(kind, "public", "profiles", record, old);
        let env = envelope(&Vec::new(), body.as_bytes()).unwrap();
        assert_eq!(
            env.event_type,
            format!("public.profiles.{}", kind.to_lowercase())
        );
        assert_eq!(env.ignore.as_deref(), Some(ONLY_AUTH_USERS));
        assert_eq!(
            map(body.as_bytes(), 0).unwrap(),
            Mapping::Ignore("Ignored: only auth.users changes are processed.".into())
        );
    }
    // Same table name in another schema, or another table in `auth`.
    for (schema, table) in [("public", "users"), ("auth", "identities")] {
        let body = webhook("INSERT", schema, table, signup_row(), Value::Null);
        let env = envelope(&Vec::new(), body.as_bytes()).unwrap();
        assert_eq!(env.ignore.as_deref(), Some(ONLY_AUTH_USERS));
        assert!(matches!(map(body.as_bytes(), 0), Ok(Mapping::Ignore(_))));
    }
}

#[test]
fn a_user_without_a_usable_email_is_still_keyed_by_user_id() {
    // Phone sign-up: no email at all; and an email that is not an address.
    for email in [None, Some(""), Some("not an email")] {
        let mut row = signup_row();
        row["email"] = json!(email);
        let body = webhook("INSERT", "auth", "users", row, Value::Null);
        let Mapping::Contact(change) = map(body.as_bytes(), 0).unwrap() else {
            panic!("ignored")
        };
        assert_eq!(change.action, ContactAction::Upsert);
        assert_eq!(change.key, ContactKey::UserId(USER_ID.into()));
        assert_eq!(change.user_id.as_deref(), Some(USER_ID));
        assert_eq!(change.email, None);
    }
}

fn names_of(meta: Value) -> (Option<String>, Option<String>) {
    let mut row = signup_row();
    row["raw_user_meta_data"] = meta;
    let body = webhook("UPDATE", "auth", "users", row.clone(), row);
    let Mapping::Contact(change) = map(body.as_bytes(), 0).unwrap() else {
        panic!("ignored")
    };
    (change.first_name, change.last_name)
}

#[test]
fn names_come_from_first_and_last_else_a_full_name() {
    let name = |s: &str| Some(s.to_owned());
    assert_eq!(
        names_of(json!({"first_name": " Grace ", "last_name": "Hopper"})),
        (name("Grace"), name("Hopper"))
    );
    assert_eq!(
        names_of(json!({"first_name": "Grace"})),
        (name("Grace"), None)
    );
    // OAuth (Google) metadata: `full_name` and `name`.
    assert_eq!(
        names_of(json!({
            "iss": "https://accounts.google.com",
            "sub": "103456789012345678901",
            "name": "Grace B. Hopper",
            "email": "grace@example.com",
            "picture": "https://lh3.googleusercontent.com/a/abc",
            "full_name": "Grace Brewster Hopper",
            "avatar_url": "https://lh3.googleusercontent.com/a/abc",
            "provider_id": "103456789012345678901",
            "email_verified": true,
            "phone_verified": false
        })),
        (name("Grace"), name("Brewster Hopper"))
    );
    assert_eq!(
        names_of(json!({"name": "Grace Hopper"})),
        (name("Grace"), name("Hopper"))
    );
    assert_eq!(
        names_of(json!({"first_name": "", "last_name": " ", "full_name": "Ada"})),
        (name("Ada"), None)
    );
    assert_eq!(names_of(json!({})), (None, None));
    assert_eq!(names_of(Value::Null), (None, None));
}

#[test]
fn updated_at_is_read_in_both_forms_else_the_receive_time() {
    for (raw, ms) in [
        ("2024-05-01T12:34:56.123456+00:00", Some(1_714_566_896_123)),
        ("2024-05-01 12:34:56.123456+00", Some(1_714_566_896_123)),
        ("2024-05-01 12:34:56+00", Some(1_714_566_896_000)),
        ("2024-05-01T12:34:56Z", Some(1_714_566_896_000)),
        ("2024-05-02 10:15:30.5+02", Some(1_714_637_730_500)),
        ("2024-05-02 10:15:30.5+0200", Some(1_714_637_730_500)),
        ("2024-05-02 10:15:30.5+02:00", Some(1_714_637_730_500)),
        ("2024-05-02 03:15:30.5-05", Some(1_714_637_730_500)),
        ("2024-05-02 03:15:30.5-0500", Some(1_714_637_730_500)),
        ("2024-05-02 04:45:30.5-03:30", Some(1_714_637_730_500)),
        ("2024-05-02 08:15:30.5Z", Some(1_714_637_730_500)),
        (" 2024-05-01T12:34:56Z\n", Some(1_714_566_896_000)),
        ("yesterday", None),
        // Hostile offsets: multibyte, combining and RTL characters where digits go, and
        // offsets that are too long or out of range.
        ("2024-05-01T12:34:56+1\u{e9}1", None),
        ("2024-05-01 12:34:56+1\u{e9}", None),
        ("2024-05-01 12:34:56+\u{e9}", None),
        ("2024-05-01 12:34:56+0\u{301}0", None),
        ("2024-05-01 12:34:56\u{202e}+00", None),
        ("2024-05-01 12:34:56+00\u{0}", None),
        ("2024-05-01\u{e9}12:34:56+00", None),
        ("2024-05-01 12:34:56+000", None),
        ("2024-05-01 12:34:56+00000", None),
        ("2024-05-01 12:34:56+99", None),
        ("2024-05-01 12:34:56+", None),
        ("2024-05-01 12:34:56.+00", None),
        ("2024-05-01", None),
        ("", None),
    ] {
        assert_eq!(parse_timestamp_ms(raw), ms, "{raw:?}");
    }
    for updated_at in [
        json!("yesterday"),
        Value::Null,
        json!(17),
        json!("2024-05-01T12:34:56+1\u{e9}1"),
    ] {
        let mut row = signup_row();
        row["updated_at"] = updated_at;
        let body = webhook("INSERT", "auth", "users", row, Value::Null);
        let Mapping::Contact(change) = map(body.as_bytes(), RECEIVED_AT).unwrap() else {
            panic!("ignored")
        };
        assert_eq!(change.occurred_at_ms, RECEIVED_AT);
    }
}

#[test]
fn bodies_that_are_not_database_webhooks_are_rejected_without_quoting_them() {
    let row = signup_row();
    let bad = [
        String::new(),
        "secret-looking text".into(),
        "[]".into(),
        r#""INSERT""#.into(),
        json!({"table": "users", "schema": "auth", "record": row}).to_string(),
        json!({"type": "TRUNCATE", "table": "users", "schema": "auth", "record": null, "old_record": null}).to_string(),
        json!({"type": "insert", "table": "users", "schema": "auth", "record": row, "old_record": null}).to_string(),
        json!({"type": "INSERT", "schema": "auth", "record": row, "old_record": null}).to_string(),
        json!({"type": "INSERT", "table": "users", "schema": 7, "record": row, "old_record": null}).to_string(),
        json!({"type": "INSERT", "table": "users", "schema": "auth", "record": "secret-looking text", "old_record": null}).to_string(),
        json!({"type": "UPDATE", "table": "users", "schema": "auth", "record": row, "old_record": ["secret-looking text"]}).to_string(),
        // auth.users changes must name the user.
        webhook("INSERT", "auth", "users", Value::Null, Value::Null),
        webhook("UPDATE", "auth", "users", json!({"email": "secret-looking text"}), Value::Null),
        webhook("DELETE", "auth", "users", Value::Null, json!({"id": ""})),
        webhook("DELETE", "auth", "users", row.clone(), Value::Null),
    ];
    for body in bad {
        let err = envelope(&Vec::new(), body.as_bytes()).unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with("Body is not a Supabase event: "),
            "{message}"
        );
        assert!(!message.contains("secret-looking"), "{message}");
        assert!(!message.contains("Lovelace"), "{message}");
        assert_eq!(map(body.as_bytes(), 0).unwrap_err().provider, "Supabase");
    }
}
