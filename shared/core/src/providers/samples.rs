//! Realistic sample deliveries for every supported event type, signed as the platform signs
//! them: what `inlet send-test-event` posts (like `stripe trigger`), so a new user sees a
//! contact appear without connecting a real account.
//!
//! Each platform builds its bodies in its own `sample` module (`stripe::sample`, …); this
//! one picks the platform and signs the body.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{Provider, clerk, polar, stripe, supabase};

pub use super::person::Person;

/// A sample body for `event_type`, or `None` when the provider does not support it.
pub fn sample(
    provider: Provider,
    event_type: &str,
    person: &Person<'_>,
    now_secs: i64,
) -> Option<String> {
    let value = match provider {
        Provider::Stripe => stripe::sample::sample(event_type, person, now_secs),
        Provider::Clerk => clerk::sample::sample(event_type, person, now_secs),
        Provider::Polar => polar::sample::sample(event_type, person, now_secs),
        Provider::Supabase => supabase::sample::sample(event_type, person, now_secs),
    }?;
    Some(value.to_string())
}

fn hmac_b64(key: &[u8], parts: &[&[u8]]) -> Option<String> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).ok()?;
    for part in parts {
        mac.update(part);
    }
    Some(STANDARD.encode(mac.finalize().into_bytes()))
}

/// The headers that sign `body` with `secret` the way the platform does. `message_id` is
/// the Svix / Standard Webhooks message id.
pub fn sign(
    provider: Provider,
    secret: &str,
    body: &str,
    now_secs: i64,
    message_id: &str,
) -> Option<Vec<(String, String)>> {
    let t = now_secs.to_string();
    Some(match provider {
        Provider::Stripe => {
            let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).ok()?;
            mac.update(format!("{t}.{body}").as_bytes());
            let sig = hex::encode(mac.finalize().into_bytes());
            vec![("Stripe-Signature".into(), format!("t={t},v1={sig}"))]
        }
        Provider::Clerk | Provider::Polar => {
            let key = match secret.strip_prefix("whsec_").map(|k| STANDARD.decode(k)) {
                Some(Ok(key)) => key,
                // Polar's legacy derivation: the whole secret string is the key.
                _ => secret.as_bytes().to_vec(),
            };
            let sig = hmac_b64(
                &key,
                &[
                    message_id.as_bytes(),
                    b".",
                    t.as_bytes(),
                    b".",
                    body.as_bytes(),
                ],
            )?;
            let prefix = if provider == Provider::Clerk {
                "svix"
            } else {
                "webhook"
            };
            vec![
                (format!("{prefix}-id"), message_id.to_owned()),
                (format!("{prefix}-timestamp"), t),
                (format!("{prefix}-signature"), format!("v1,{sig}")),
            ]
        }
        Provider::Supabase => vec![("Loops-Secret".into(), secret.to_owned())],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::{Mapping, SigningKey};

    const PERSON: Person<'static> = Person {
        email: "sample@example.com",
        first_name: "Sam",
        last_name: "Ple",
        id: "cus_Sample01",
    };

    fn secret_for(provider: Provider) -> &'static str {
        match provider {
            Provider::Stripe => "whsec_sample_secret_0123456789",
            Provider::Clerk | Provider::Polar => "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
            Provider::Supabase => "0123456789abcdef0123456789abcdef",
        }
    }

    #[test]
    fn every_supported_event_has_a_sample_that_verifies_and_maps() {
        let now = 1_700_000_000;
        for provider in Provider::ALL {
            let secret = secret_for(provider);
            let keys: Vec<SigningKey> = vec![provider.signing_key(secret).unwrap()];
            for event_type in provider.supported_events() {
                let body = sample(provider, event_type, &PERSON, now)
                    .unwrap_or_else(|| panic!("no sample for {provider}:{event_type}"));
                let headers = sign(provider, secret, &body, now, "msg_sample").unwrap();
                let headers: Vec<(&str, &str)> = headers
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                provider
                    .verify(&keys, &headers, body.as_bytes(), now, 300)
                    .unwrap_or_else(|e| panic!("{provider}:{event_type}: {e}"));
                let envelope = provider.envelope(&headers, body.as_bytes()).unwrap();
                assert_eq!(&envelope.event_type, event_type);
                assert!(envelope.ignore.is_none());
                let mapping = provider.map(body.as_bytes(), now * 1000).unwrap();
                assert!(
                    matches!(mapping, Mapping::Contact(_)),
                    "{provider}:{event_type} → {mapping:?}"
                );
            }
        }
    }

    /// Each event's declared properties (`Provider::event_properties`) are exactly what
    /// its sample maps to: no undeclared property, none of another type, none declared
    /// that the sample lacks (samples carry every field the mapping reads).
    #[test]
    fn declared_event_properties_are_exactly_what_the_samples_map_to() {
        use crate::properties::PropertyType;
        let now = 1_700_000_000;
        for provider in Provider::ALL {
            for event_type in provider.supported_events() {
                let body = sample(provider, event_type, &PERSON, now).unwrap();
                let Ok(Mapping::Contact(change)) = provider.map(body.as_bytes(), now * 1000) else {
                    panic!("{provider}:{event_type} does not map to a contact");
                };
                let declared = provider.event_properties(event_type);
                let mut mapped: Vec<(&str, Option<PropertyType>)> = change
                    .event_properties
                    .iter()
                    .map(|(k, v)| (k.as_str(), PropertyType::of_value(v)))
                    .collect();
                mapped.sort_unstable_by_key(|(k, _)| *k);
                let mut expected: Vec<(&str, Option<PropertyType>)> =
                    declared.iter().map(|(k, t)| (*k, Some(*t))).collect();
                expected.sort_unstable_by_key(|(k, _)| *k);
                assert_eq!(mapped, expected, "{provider}:{event_type}");
            }
        }
    }
}
