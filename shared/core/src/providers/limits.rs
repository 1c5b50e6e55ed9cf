//! Bounds on what a delivery carries past its provider, whatever the sender put in it: the
//! idempotency key fits the queue's `message_id`, an event type fits the webhook log, and
//! the ids that find a contact fit the database's indexes.

use super::{ContactKey, EnvelopeError, Mapping, Provider};

/// The most bytes of an idempotency key: it travels as the AMQP `message_id`, a short
/// string (255 bytes; the RabbitMQ publisher asserts the two agree at compile time), and is
/// part of the processed deliveries' primary key.
pub const MAX_IDEMPOTENCY_KEY_BYTES: usize = 255;

/// The most bytes of a platform id that finds a contact (`userId`, a Stripe customer id).
/// Those columns are indexed, and PostgreSQL refuses an index entry of more than about
/// 2.7 kB; the platforms' own ids are a few dozen bytes.
pub const MAX_ID_BYTES: usize = 255;

/// The most bytes of an event type kept from a body, for the webhook log and the answer.
pub const MAX_EVENT_TYPE_BYTES: usize = 255;

/// The idempotency key of a delivery whose platform id is `id`: the id itself when it has
/// at most [`MAX_IDEMPOTENCY_KEY_BYTES`], else `sha256:` and the hex SHA-256 of the id.
///
/// An over-long id is hashed to fit, not answered with a 4xx: the delivery is signed, so
/// it comes from the platform (or whoever holds its secret), and a 4xx is only retried
/// (Stripe for days, Svix for hours) until the sender gives up or disables the endpoint:
/// the event would be lost. The hash is as stable as the id, so a retry of the delivery is
/// still recognized as the same one; ids that fit are kept as they are, so the keys
/// already stored still match.
pub fn idempotency_key(id: &str) -> String {
    if id.len() <= MAX_IDEMPOTENCY_KEY_BYTES {
        id.to_owned()
    } else {
        use sha2::Digest;
        format!(
            "sha256:{}",
            hex::encode(sha2::Sha256::digest(id.as_bytes()))
        )
    }
}

/// An event type read from a body, as the webhook log and the answer show it: control
/// characters (PostgreSQL text cannot hold NUL) become U+FFFD, and a type longer than
/// [`MAX_EVENT_TYPE_BYTES`] is cut at a character boundary and ends with `…`.
///
/// Every supported type is short printable ASCII, so it is never changed, and a changed type
/// can never equal one: only unsupported types are ever shown differently.
pub fn shown_event_type(raw: &str) -> String {
    let shown: String = raw
        .chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect();
    if shown.len() <= MAX_EVENT_TYPE_BYTES {
        return shown;
    }
    let room = MAX_EVENT_TYPE_BYTES - '…'.len_utf8();
    let mut cut = String::with_capacity(MAX_EVENT_TYPE_BYTES);
    for c in shown.chars() {
        if cut.len() + c.len_utf8() > room {
            break;
        }
        cut.push(c);
    }
    cut.push('…');
    cut
}

/// `mapping` made fit for the database: an id that finds a contact must have at most
/// [`MAX_ID_BYTES`] and no NUL (else the delivery is a permanent error that names it, for
/// the dead letters), and names lose any NUL (PostgreSQL text cannot hold it).
pub(super) fn storable(provider: Provider, mapping: Mapping) -> Result<Mapping, EnvelopeError> {
    let Mapping::Contact(mut change) = mapping else {
        return Ok(mapping);
    };
    let check = |what: &str, id: &str| {
        if id.len() > MAX_ID_BYTES || id.contains('\0') {
            Err(EnvelopeError {
                provider: provider.display_name(),
                reason: format!("the {what} is longer than {MAX_ID_BYTES} bytes or holds a NUL"),
            })
        } else {
            Ok(())
        }
    };
    match &change.key {
        ContactKey::UserId(id) => check("user id", id)?,
        ContactKey::StripeCustomer(id) => check("customer id", id)?,
        ContactKey::Email(_) => {}
    }
    if let Some(id) = &change.user_id {
        check("user id", id)?;
    }
    if let Some(id) = &change.stripe_customer {
        check("customer id", id)?;
    }
    for name in [&mut change.first_name, &mut change.last_name] {
        if let Some(text) = name.as_deref().filter(|t| t.contains('\0')) {
            *name = crate::domain::non_empty(&text.replace('\0', ""));
        }
    }
    Ok(Mapping::Contact(change))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::providers::samples::{self, Person};

    const CLERK_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

    fn person(id: &str) -> Person<'_> {
        Person {
            email: "ada@example.com",
            first_name: "Ada",
            last_name: "Lovelace",
            id,
        }
    }

    /// The envelope of a Clerk sample signed with the message id `id`.
    fn clerk_envelope(id: &str) -> crate::providers::Envelope {
        let now = 1_700_000_000;
        let body =
            samples::sample(Provider::Clerk, "user.created", &person("user_1"), now).unwrap();
        let headers = samples::sign(Provider::Clerk, CLERK_SECRET, &body, now, id).unwrap();
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let keys = [Provider::Clerk.signing_key(CLERK_SECRET).unwrap()];
        Provider::Clerk
            .verify(&keys, &headers, body.as_bytes(), now, 300)
            .unwrap();
        Provider::Clerk.envelope(&headers, body.as_bytes()).unwrap()
    }

    #[test]
    fn over_long_message_ids_are_hashed_to_a_key_the_queue_carries() {
        let fits = format!("msg_{}", "a".repeat(251));
        assert_eq!(clerk_envelope(&fits).idempotency_key, fits);
        let long = format!("msg_{}", "a".repeat(396));
        let key = clerk_envelope(&long).idempotency_key;
        assert!(key.len() <= MAX_IDEMPOTENCY_KEY_BYTES, "{}", key.len());
        // SHA-256 of the id, so a retry of the same delivery has the same key.
        assert_eq!(key, idempotency_key(&long));
        assert_eq!(
            key,
            format!("sha256:{}", {
                use sha2::Digest;
                hex::encode(sha2::Sha256::digest(long.as_bytes()))
            })
        );
        assert_ne!(key, clerk_envelope(&format!("{long}b")).idempotency_key);

        // Stripe's key comes from the body.
        let body = json!({"id": format!("evt_{}", "9".repeat(400)), "type": "customer.created",
            "created": 1, "data": {"object": {}}})
        .to_string();
        let key = Provider::Stripe
            .envelope(&Vec::new(), body.as_bytes())
            .unwrap()
            .idempotency_key;
        assert!(key.starts_with("sha256:") && key.len() == 71, "{key}");
    }

    #[test]
    fn event_types_are_shown_printable_and_bounded() {
        for supported in Provider::ALL.iter().flat_map(|p| p.supported_events()) {
            assert_eq!(shown_event_type(supported), *supported);
        }
        assert_eq!(
            shown_event_type("user.\u{0}created"),
            "user.\u{fffd}created"
        );
        assert_eq!(shown_event_type("a\u{202e}b"), "a\u{202e}b");
        let exact = "é".repeat(MAX_EVENT_TYPE_BYTES / 2);
        assert_eq!(shown_event_type(&exact), exact);
        for long in ["x".repeat(1 << 20), "é".repeat(200), "😀".repeat(100)] {
            let shown = shown_event_type(&long);
            assert!(shown.len() <= MAX_EVENT_TYPE_BYTES, "{}", shown.len());
            assert!(shown.ends_with('…'));
            assert!(long.starts_with(shown.trim_end_matches('…')));
        }
        let body = json!({"type": "x".repeat(10_000), "data": {}}).to_string();
        let env = Provider::Polar
            .envelope(&vec![("webhook-id", "msg_1")], body.as_bytes())
            .unwrap();
        assert!(env.event_type.len() <= MAX_EVENT_TYPE_BYTES);
        let Mapping::Ignore(message) = Provider::Polar.map(body.as_bytes(), 0).unwrap() else {
            panic!("mapped")
        };
        assert!(message.len() < 2 * MAX_EVENT_TYPE_BYTES, "{message}");
    }

    #[test]
    fn ids_the_database_cannot_index_are_a_permanent_error() {
        let now = 1_700_000_000;
        let map = |provider: Provider, id: &str| {
            let body = samples::sample(provider, provider.supported_events()[0], &person(id), now)
                .unwrap();
            provider.map(body.as_bytes(), 0)
        };
        let long = "u".repeat(MAX_ID_BYTES + 1);
        for provider in [Provider::Clerk, Provider::Supabase, Provider::Stripe] {
            assert!(
                matches!(
                    map(provider, &"u".repeat(MAX_ID_BYTES)),
                    Ok(Mapping::Contact(_))
                ),
                "{provider}"
            );
            for bad in [long.as_str(), "user_\u{0}1"] {
                let err = map(provider, bad).unwrap_err();
                assert_eq!(err.provider, provider.display_name());
                assert!(err.reason.contains("id is longer than 255 bytes"), "{err}");
            }
        }
        // A Stripe subscription event finds its contact by customer id alone.
        let body = json!({"id": "evt_1", "type": "customer.subscription.created", "created": 1,
            "data": {"object": {"id": "sub_1", "customer": long}}})
        .to_string();
        assert!(Provider::Stripe.map(body.as_bytes(), 0).is_err());
    }

    #[test]
    fn names_lose_the_nul_postgres_cannot_store() {
        let body = json!({"type": "user.created", "object": "event", "data": {
            "id": "user_1", "first_name": "A\u{0}da", "last_name": "\u{0}"}})
        .to_string();
        let Mapping::Contact(change) = Provider::Clerk.map(body.as_bytes(), 0).unwrap() else {
            panic!("ignored")
        };
        assert_eq!(change.first_name.as_deref(), Some("Ada"));
        assert_eq!(change.last_name, None);
    }
}
