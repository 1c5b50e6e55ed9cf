//! Property tests of every provider's verify → envelope → map, as ingest and the worker
//! run them: arbitrary bytes as bodies and header values, and realistic signed deliveries in
//! which any value (string, number, object or array, at any depth) is replaced by a hostile
//! one, then signed again so that verification passes and the envelope and mapping run.
//!
//! Each property holds when nothing panics and every result is one the pipeline handles: a
//! mapping, a clear ignore, or the provider's typed error; the envelope's key fits the
//! queue, and nothing handed on holds what the database cannot store.
//!
//! A normal run tries `PROPTEST_CASES` cases per property (256 unless set: seconds) and
//! prints how many it ran. A longer run is one command:
//!
//! ```text
//! PROPTEST_CASES=100000 cargo test -p inlet-core --test provider_fuzz --release
//! ```

// Tests fail by panicking: unwrap and expect are the point here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::string_slice
)]

mod hostile;
mod seeds;

use std::cell::RefCell;
use std::io::Write;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use inlet_core::providers::{
    ContactKey, MAX_EVENT_TYPE_BYTES, MAX_ID_BYTES, MAX_IDEMPOTENCY_KEY_BYTES, Mapping, Provider,
    SigningKey,
};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use sha2::Sha256;

use hostile::{Body, Hostile, hostile};
use seeds::NOW;

const TOLERANCE: i64 = 300;

fn secret(provider: Provider) -> &'static str {
    match provider {
        Provider::Stripe => "whsec_fuzz_stripe_secret_0123456789",
        Provider::Clerk | Provider::Polar => "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
        Provider::Supabase => "0123456789abcdef0123456789abcdef",
    }
}

fn keys(provider: Provider) -> Vec<SigningKey> {
    vec![provider.signing_key(secret(provider)).unwrap()]
}

/// The headers that sign `body` (any bytes) as the platform does, with `message_id` as
/// the Svix / Standard Webhooks id.
fn sign(provider: Provider, body: &[u8], message_id: &str) -> Vec<(String, String)> {
    let t = NOW.to_string();
    let hmac = |key: &[u8], parts: &[&[u8]]| {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes()
    };
    match provider {
        Provider::Stripe => {
            let sig = hmac(secret(provider).as_bytes(), &[t.as_bytes(), b".", body]);
            vec![(
                "Stripe-Signature".into(),
                format!("t={t},v1={}", hex::encode(sig)),
            )]
        }
        Provider::Clerk | Provider::Polar => {
            let key = STANDARD
                .decode(secret(provider).trim_start_matches("whsec_"))
                .unwrap();
            let sig = hmac(
                &key,
                &[message_id.as_bytes(), b".", t.as_bytes(), b".", body],
            );
            let prefix = if provider == Provider::Clerk {
                "svix"
            } else {
                "webhook"
            };
            vec![
                (format!("{prefix}-id"), message_id.to_owned()),
                (format!("{prefix}-timestamp"), t),
                (
                    format!("{prefix}-signature"),
                    format!("v1,{}", STANDARD.encode(sig)),
                ),
            ]
        }
        Provider::Supabase => vec![("Loops-Secret".into(), secret(provider).into())],
    }
}

/// How far a case got.
#[derive(Debug, Default)]
struct Reached {
    cases: u64,
    verified: u64,
    enveloped: u64,
    contact: u64,
    ignored: u64,
    errors: u64,
}

fn has_nul(s: &str) -> bool {
    s.contains('\u{0}')
}

/// Envelope then map on a verified body, checking every result is one the pipeline handles.
fn envelope_and_map(
    provider: Provider,
    headers: &[(&str, &str)],
    body: &[u8],
    reached: &mut Reached,
) -> Result<(), TestCaseError> {
    let headers = headers.to_vec();
    match provider.envelope(&headers, body) {
        Ok(envelope) => {
            reached.enveloped += 1;
            let key = &envelope.idempotency_key;
            prop_assert!(
                !key.is_empty() && key.len() <= MAX_IDEMPOTENCY_KEY_BYTES,
                "key of {} bytes",
                key.len()
            );
            let t = &envelope.event_type;
            prop_assert!(
                t.len() <= MAX_EVENT_TYPE_BYTES,
                "event type of {} bytes",
                t.len()
            );
            prop_assert!(
                !t.chars().any(char::is_control),
                "control character in {t:?}"
            );
            if let Some(reason) = &envelope.ignore {
                prop_assert!(!reason.is_empty());
            }
        }
        Err(e) => prop_assert_eq!(e.provider, provider.display_name()),
    }
    match provider.map(body, NOW * 1000) {
        Ok(Mapping::Contact(change)) => {
            reached.contact += 1;
            let ids = [
                match &change.key {
                    ContactKey::UserId(id) | ContactKey::StripeCustomer(id) => Some(id.as_str()),
                    ContactKey::Email(email) => Some(email.as_str()),
                },
                change.user_id.as_deref(),
                change.stripe_customer.as_deref(),
                change.email.as_ref().map(|e| e.as_str()),
            ];
            for id in ids.into_iter().flatten() {
                prop_assert!(
                    !id.is_empty() && id.len() <= MAX_ID_BYTES && !has_nul(id),
                    "id {id:?}"
                );
            }
            for name in [&change.first_name, &change.last_name]
                .into_iter()
                .flatten()
            {
                prop_assert!(!name.trim().is_empty() && !has_nul(name), "name {name:?}");
            }
        }
        Ok(Mapping::Ignore(message)) => {
            reached.ignored += 1;
            prop_assert!(message.starts_with("Ignored: "), "{message}");
            prop_assert!(
                !message.chars().any(char::is_control),
                "control character in {message:?}"
            );
        }
        Err(e) => {
            reached.errors += 1;
            prop_assert_eq!(e.provider, provider.display_name());
            prop_assert!(!e.reason.is_empty());
        }
    }
    Ok(())
}

/// Runs a property for `PROPTEST_CASES` cases and prints how many ran and how far they got
/// (on stderr, written directly, so that `cargo test` shows it for a passing test too).
fn run<S: Strategy>(
    name: &str,
    strategy: S,
    test: impl Fn(S::Value, &mut Reached) -> Result<(), TestCaseError>,
) {
    let config = Config {
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let reached = RefCell::new(Reached::default());
    let result = runner.run(&strategy, |case| {
        let mut reached = reached.borrow_mut();
        reached.cases += 1;
        test(case, &mut reached)
    });
    let r = reached.into_inner();
    let _ = writeln!(
        std::io::stderr(),
        "fuzz: {name}: {} cases ({} verified, {} enveloped; mapped to {} contacts, {} ignores, {} errors)",
        r.cases,
        r.verified,
        r.enveloped,
        r.contact,
        r.ignored,
        r.errors
    );
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
}

/// Header names a provider reads, and a few it does not.
fn header_names(provider: Provider) -> &'static [&'static str] {
    match provider {
        Provider::Stripe => &["stripe-signature", "content-type"],
        Provider::Clerk => &[
            "svix-id",
            "svix-timestamp",
            "svix-signature",
            "webhook-id",
            "webhook-timestamp",
            "webhook-signature",
        ],
        Provider::Polar => &[
            "webhook-id",
            "webhook-timestamp",
            "webhook-signature",
            "svix-id",
        ],
        Provider::Supabase => &["loops-secret", "inlet-secret", "content-type"],
    }
}

/// A body of arbitrary bytes: random, or a seed with bytes overwritten or cut short.
fn arbitrary_body(provider: Provider) -> impl Strategy<Value = Vec<u8>> {
    let seeds: Vec<Vec<u8>> = seeds::seeds(provider)
        .iter()
        .map(|s| s.to_string().into_bytes())
        .collect();
    let flipped = seeds.clone();
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..2048),
        (
            any::<Index>(),
            proptest::collection::vec(
                (any::<Index>(), prop_oneof![any::<u8>(), b' '..=b'~']),
                1..4
            )
        )
            .prop_map(move |(seed, flips)| {
                let mut body = flipped[seed.index(flipped.len())].clone();
                for (at, byte) in flips {
                    let i = at.index(body.len());
                    body[i] = byte;
                }
                body
            }),
        (any::<Index>(), any::<Index>()).prop_map(move |(seed, cut)| {
            let body = &seeds[seed.index(seeds.len())];
            body[..cut.index(body.len())].to_vec()
        }),
    ]
}

fn arbitrary_bytes(provider: Provider) {
    let keys = keys(provider);
    let names = header_names(provider);
    let headers = proptest::collection::vec((proptest::sample::select(names), ".{0,80}"), 0..6);
    let message_id = "[ -~]{0,300}";
    run(
        &format!("{provider} arbitrary bytes"),
        (arbitrary_body(provider), headers, message_id),
        |(body, headers, message_id), reached| {
            // Any header values: a refusal, never a panic.
            let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let _ = provider.verify(&keys, &h, &body, NOW, TOLERANCE);
            let _ = provider.envelope(&h, &body);
            // The same bytes signed as the platform signs them.
            let signed = sign(provider, &body, &message_id);
            let h: Vec<(&str, &str)> = signed
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            prop_assert_eq!(provider.verify(&keys, &h, &body, NOW, TOLERANCE), Ok(()));
            reached.verified += 1;
            envelope_and_map(provider, &h, &body, reached)
        },
    );
}

/// A realistic delivery with hostile values in place of one to three of its nodes, and
/// sometimes a hostile message id.
#[derive(Debug, Clone)]
struct Case {
    seed: Index,
    replacements: Vec<(Index, Hostile)>,
    message_id: Option<String>,
}

fn structure_aware(provider: Provider) {
    let keys = keys(provider);
    let seeds = seeds::seeds(provider);
    let message_id = prop_oneof![
        4 => Just(None),
        1 => prop_oneof![Just(255_usize), Just(256), Just(400), Just(8_000)]
            .prop_map(|n| Some(format!("msg_{}", "x".repeat(n - 4)))),
        1 => "[!-~]{1,40}".prop_map(Some),
    ];
    let case = (
        any::<Index>(),
        proptest::collection::vec((any::<Index>(), hostile()), 1..=3),
        message_id,
    )
        .prop_map(|(seed, replacements, message_id)| Case {
            seed,
            replacements,
            message_id,
        });
    run(
        &format!("{provider} structure-aware"),
        case,
        |case, reached| {
            let mut body = Body::new(seeds[case.seed.index(seeds.len())].clone());
            for (at, hostile) in &case.replacements {
                body.replace(*at, hostile);
            }
            let body = body.text();
            let message_id = case
                .message_id
                .as_deref()
                .unwrap_or("msg_2fuzz0000000000000000000");
            let signed = sign(provider, body.as_bytes(), message_id);
            let h: Vec<(&str, &str)> = signed
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            prop_assert_eq!(
                provider.verify(&keys, &h, body.as_bytes(), NOW, TOLERANCE),
                Ok(())
            );
            reached.verified += 1;
            envelope_and_map(provider, &h, body.as_bytes(), reached)
        },
    );
}

#[test]
fn stripe_arbitrary_bytes() {
    arbitrary_bytes(Provider::Stripe);
}

#[test]
fn clerk_arbitrary_bytes() {
    arbitrary_bytes(Provider::Clerk);
}

#[test]
fn polar_arbitrary_bytes() {
    arbitrary_bytes(Provider::Polar);
}

#[test]
fn supabase_arbitrary_bytes() {
    arbitrary_bytes(Provider::Supabase);
}

#[test]
fn stripe_structure_aware() {
    structure_aware(Provider::Stripe);
}

#[test]
fn clerk_structure_aware() {
    structure_aware(Provider::Clerk);
}

#[test]
fn polar_structure_aware() {
    structure_aware(Provider::Polar);
}

#[test]
fn supabase_structure_aware() {
    structure_aware(Provider::Supabase);
}

/// Signs `body` and runs it through verify → envelope → map with the properties' checks.
fn check(provider: Provider, body: &str, message_id: &str) -> Reached {
    let signed = sign(provider, body.as_bytes(), message_id);
    let h: Vec<(&str, &str)> = signed
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    provider
        .verify(&keys(provider), &h, body.as_bytes(), NOW, TOLERANCE)
        .unwrap();
    let mut reached = Reached::default();
    envelope_and_map(provider, &h, body.as_bytes(), &mut reached).unwrap();
    reached
}

/// Cases the fuzzer found, or that this file exists for, kept as they are.
#[test]
fn regressions() {
    // A multibyte character in a Supabase offset (byte surgery once panicked on it): the
    // time is unreadable, so the receive time orders the change.
    for updated_at in [
        "2024-05-01T12:34:56+1é1",
        "2024-05-02 10:15:30.5+\u{10ffff}",
    ] {
        let body = serde_json::json!({"type": "INSERT", "schema": "auth", "table": "users",
            "record": {"id": "8c1d6a52", "updated_at": updated_at}, "old_record": null})
        .to_string();
        assert_eq!(
            check(Provider::Supabase, &body, "").contact,
            1,
            "{updated_at}"
        );
        let Ok(Mapping::Contact(change)) = Provider::Supabase.map(body.as_bytes(), 42) else {
            panic!("not mapped")
        };
        assert_eq!(change.occurred_at_ms, 42);
    }
    // A message id longer than an AMQP `message_id` (the checks bound the key).
    let body = seeds::seeds(Provider::Clerk)[0].to_string();
    assert_eq!(check(Provider::Clerk, &body, &"m".repeat(400)).contact, 1);
    // Ten thousand levels: past serde_json's recursion limit, a clean error.
    for provider in Provider::ALL {
        let mut seed = seeds::seeds(provider)[0].clone();
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        seed["data"] = serde_json::Value::String("\u{1}deep\u{1}".into());
        seed["record"] = seed["data"].clone();
        let body = seed.to_string().replace(r#""\u0001deep\u0001""#, &deep);
        let reached = check(provider, &body, "msg_deep");
        assert_eq!((reached.enveloped, reached.errors), (0, 1), "{provider}");
    }
    // NUL in an unsupported event type: ignored, and shown without it.
    let body = r#"{"type": "user.\u0000created", "object": "event", "data": {}}"#;
    assert_eq!(check(Provider::Clerk, body, "msg_nul").ignored, 1);
}
