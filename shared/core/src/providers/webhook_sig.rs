//! The Standard Webhooks signature scheme, which Svix (Clerk) and Polar use: headers
//! `webhook-id`, `webhook-timestamp`, `webhook-signature` (Svix also spells them `svix-*`),
//! signed string `"{id}.{timestamp}.{body}"`, HMAC-SHA256, standard base64, a space-separated
//! list of `v1,<base64>` signatures, and a tolerance both ways (SPEC §3.1).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use serde_json::{Map, Value};

use super::{Envelope, EnvelopeError, Headers, KeyedMac, SecretError, SignatureError, SigningKey};

/// Header names of one spelling.
struct Names {
    id: &'static str,
    timestamp: &'static str,
    signature: &'static str,
}

const SVIX: Names = Names {
    id: "svix-id",
    timestamp: "svix-timestamp",
    signature: "svix-signature",
};
const STANDARD_NAMES: Names = Names {
    id: "webhook-id",
    timestamp: "webhook-timestamp",
    signature: "webhook-signature",
};

/// The spelling a request uses: Svix's when `svix-id` is present, else the unbranded one.
fn names(headers: &dyn Headers, accept_svix: bool) -> &'static Names {
    if accept_svix && headers.get(SVIX.id).is_some() {
        &SVIX
    } else {
        &STANDARD_NAMES
    }
}

/// The delivery's message id (`svix-id` or `webhook-id`): the idempotency key.
pub fn message_id(headers: &dyn Headers, accept_svix: bool) -> Option<&str> {
    headers.get(names(headers, accept_svix).id)
}

/// Decodes the base64 part after `whsec_` (the standard key derivation).
pub fn decode_secret(secret: &str) -> Result<Vec<u8>, SecretError> {
    let encoded = secret
        .trim()
        .strip_prefix("whsec_")
        .unwrap_or(secret.trim());
    let key = STANDARD
        .decode(encoded)
        .map_err(|_| SecretError("the signing secret is not whsec_ followed by base64".into()))?;
    if key.is_empty() {
        return Err(SecretError("the signing secret is empty".into()));
    }
    Ok(key)
}

/// A keyed HMAC-SHA256 from raw key bytes.
pub fn keyed(key: &[u8]) -> Result<KeyedMac, SecretError> {
    Hmac::<Sha256>::new_from_slice(key).map_err(|_| SecretError("unusable signing secret".into()))
}

/// Verifies a delivery against every candidate key. `accept_svix` also accepts the `svix-*`
/// header spelling; `label` names the signature header in error messages.
pub fn verify(
    keys: &[SigningKey],
    headers: &dyn Headers,
    body: &[u8],
    now_secs: i64,
    tolerance_secs: i64,
    accept_svix: bool,
) -> Result<(), SignatureError> {
    let n = names(headers, accept_svix);
    let id = headers
        .get(n.id)
        .ok_or(SignatureError::MissingHeader(n.id))?;
    let timestamp = headers
        .get(n.timestamp)
        .ok_or(SignatureError::MissingHeader(n.timestamp))?;
    let signature = headers
        .get(n.signature)
        .ok_or(SignatureError::MissingHeader(n.signature))?;
    let t: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::MalformedHeader(n.timestamp))?;
    let mut candidates: Vec<[u8; 32]> = Vec::with_capacity(2);
    let mut saw_v1 = false;
    for entry in signature.split(' ') {
        let Some((version, value)) = entry.split_once(',') else {
            continue;
        };
        if version != "v1" {
            continue;
        }
        saw_v1 = true;
        let mut sig = [0u8; 32];
        // A v1 value that is not 32 bytes of base64 can never match; it is skipped.
        if let Ok(32) = STANDARD.decode_slice(value, &mut sig) {
            candidates.push(sig);
        }
    }
    if !saw_v1 {
        return Err(SignatureError::MalformedHeader(n.signature));
    }
    if now_secs.saturating_sub(t) > tolerance_secs {
        return Err(SignatureError::TimestampTooOld);
    }
    if t.saturating_sub(now_secs) > tolerance_secs {
        return Err(SignatureError::TimestampTooNew);
    }
    let timestamp = timestamp.trim().as_bytes();
    if super::any_mac_matches(
        keys,
        &[id.as_bytes(), b".", timestamp, b".", body],
        &candidates,
    ) {
        Ok(())
    } else {
        Err(SignatureError::NoMatch)
    }
}

/// The JSON envelope Svix and Standard Webhooks senders wrap events in:
/// `{"type": "…", "data": {…}, …}`. `data` stays loose JSON, so a field the platform adds,
/// drops or retypes never rejects the whole event; `rest` holds the other top-level fields.
pub struct JsonEvent {
    /// The event type.
    pub event_type: String,
    /// The event's object.
    pub data: Map<String, Value>,
    /// Every other top-level field (`timestamp`, `object`, …).
    pub rest: Map<String, Value>,
}

/// Parses the envelope. Reasons name the offending field, never its content.
pub fn parse_event(provider: &'static str, body: &[u8]) -> Result<JsonEvent, EnvelopeError> {
    let error = |reason: String| EnvelopeError { provider, reason };
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        error(format!(
            "not valid JSON (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    let Value::Object(mut rest) = value else {
        return Err(error("the body is not a JSON object".into()));
    };
    let event_type = match rest.remove("type") {
        Some(Value::String(t)) if !t.trim().is_empty() => t,
        _ => return Err(error("`type` is missing or not a non-empty string".into())),
    };
    let data = match rest.remove("data") {
        Some(Value::Object(data)) => data,
        _ => return Err(error("`data` is missing or not an object".into())),
    };
    Ok(JsonEvent {
        event_type,
        data,
        rest,
    })
}

/// The envelope ingest needs: the event type, and the delivery's message id as the
/// idempotency key (`header` names it in the error when it is missing).
pub fn envelope(
    provider: &'static str,
    headers: &dyn Headers,
    event: JsonEvent,
    accept_svix: bool,
    header: &str,
) -> Result<Envelope, EnvelopeError> {
    let id = message_id(headers, accept_svix)
        .filter(|id| !id.trim().is_empty())
        .ok_or_else(|| EnvelopeError {
            provider,
            reason: format!("the delivery has no {header} header"),
        })?;
    Ok(Envelope::new(&event.event_type, id))
}

/// A string field of a JSON object, when present and a string.
pub fn str_field<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    object.get(key).and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const BODY: &str = r#"{"email":"test@example.com","username":"test_user"}"#;

    fn headers(prefix: &str, signature: &str) -> Vec<(String, String)> {
        vec![
            (format!("{prefix}-id"), ID.to_owned()),
            (format!("{prefix}-timestamp"), "1649367553".to_owned()),
            (format!("{prefix}-signature"), signature.to_owned()),
        ]
    }

    fn check(
        keys: &[SigningKey],
        h: &[(String, String)],
        now: i64,
        svix: bool,
    ) -> Result<(), SignatureError> {
        let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        verify(keys, &h, BODY.as_bytes(), now, 300, svix)
    }

    fn standard_key() -> SigningKey {
        SigningKey::Hmac(vec![keyed(&decode_secret(SECRET).unwrap()).unwrap()])
    }

    #[test]
    fn svix_vector_verifies_with_both_spellings() {
        let sig = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";
        assert_eq!(
            check(
                &[standard_key()],
                &headers("svix", sig),
                1_649_367_553,
                true
            ),
            Ok(())
        );
        assert_eq!(
            check(
                &[standard_key()],
                &headers("webhook", sig),
                1_649_367_553,
                true
            ),
            Ok(())
        );
        // Any of several signatures may match; unknown versions are ignored.
        let several = format!("v2,abc v1,{} {sig}", "A".repeat(44));
        assert_eq!(
            check(
                &[standard_key()],
                &headers("svix", &several),
                1_649_367_553,
                true
            ),
            Ok(())
        );
    }

    #[test]
    fn legacy_derivation_vector_verifies() {
        let legacy = SigningKey::Hmac(vec![keyed(SECRET.as_bytes()).unwrap()]);
        let sig = "v1,n6rJjo/CnEaFyJ+uWWflwGkHSGocTY6bAD6ImjhpG8E=";
        assert_eq!(
            check(&[legacy], &headers("webhook", sig), 1_649_367_553, false),
            Ok(())
        );
        assert_eq!(
            check(
                &[standard_key()],
                &headers("webhook", sig),
                1_649_367_553,
                false
            ),
            Err(SignatureError::NoMatch)
        );
    }

    #[test]
    fn tolerance_applies_both_ways() {
        let sig = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";
        let h = headers("svix", sig);
        assert_eq!(
            check(&[standard_key()], &h, 1_649_367_553 + 301, true),
            Err(SignatureError::TimestampTooOld)
        );
        assert_eq!(
            check(&[standard_key()], &h, 1_649_367_553 - 301, true),
            Err(SignatureError::TimestampTooNew)
        );
    }

    #[test]
    fn missing_and_malformed_headers_are_named() {
        let mut h = headers("svix", "v1,abc");
        h.pop();
        assert_eq!(
            check(&[standard_key()], &h, 1_649_367_553, true),
            Err(SignatureError::MissingHeader("svix-signature"))
        );
        let h = headers("webhook", "nonsense");
        assert_eq!(
            check(&[standard_key()], &h, 1_649_367_553, true),
            Err(SignatureError::MalformedHeader("webhook-signature"))
        );
        let mut h = headers("webhook", "v1,abc");
        h[1].1 = "soon".into();
        assert_eq!(
            check(&[standard_key()], &h, 1_649_367_553, true),
            Err(SignatureError::MalformedHeader("webhook-timestamp"))
        );
        // Without Svix spelling accepted, svix-* headers are not looked at.
        let h = headers("svix", "v1,abc");
        assert_eq!(
            check(&[standard_key()], &h, 1_649_367_553, false),
            Err(SignatureError::MissingHeader("webhook-id"))
        );
    }

    #[test]
    fn secrets_must_be_whsec_base64() {
        assert!(decode_secret(SECRET).is_ok());
        assert!(decode_secret("whsec_***").is_err());
        assert!(decode_secret("whsec_").is_err());
    }
}
