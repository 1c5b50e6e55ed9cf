//! The request of a delivery as the console keeps it: headers without signatures, secrets
//! or credentials, and the first bytes of the body.

use inlet_shared::messages::KeptHeaders;
use inlet_shared::providers::Headers;

use super::ROW_OVERHEAD;

/// Parts of a header name that mark a signature, a secret or a credential: such headers are
/// never stored.
const SECRET_HEADER_PARTS: [&str; 7] = [
    "signature",
    "secret",
    "auth",
    "cookie",
    "token",
    "key",
    "password",
];

/// Whether a header may be stored and shown (not a signature, secret or credential).
pub fn is_shown_header(name: &str) -> bool {
    // Compared in place, ignoring case: this runs for every header of every delivery.
    let name = name.as_bytes();
    !SECRET_HEADER_PARTS.iter().any(|part| {
        name.windows(part.len())
            .any(|w| w.eq_ignore_ascii_case(part.as_bytes()))
    })
}

/// The headers an accepted delivery's message carries for its kept request: those
/// [`is_shown_header`] allows, in order, as many as [`KeptHeaders`] bounds.
pub fn kept_headers(headers: &dyn Headers) -> KeptHeaders {
    let mut kept = KeptHeaders::default();
    let mut room = true;
    headers.for_each(&mut |name, value| {
        if room && is_shown_header(name) {
            room = kept.push(name, value);
        }
    });
    kept
}

/// The request of a delivery, as the console shows it.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Headers, already without signatures and secrets ([`is_shown_header`]).
    pub headers: Vec<(String, String)>,
    /// The body as received, or its first bytes.
    pub body: bytes::Bytes,
    /// Whether `body` is only the first bytes.
    pub truncated: bool,
}

impl Request {
    /// Keeps the headers that [`is_shown_header`] allows, and the first `keep` bytes of the
    /// body.
    pub fn new(headers: &dyn Headers, body: bytes::Bytes, keep: usize) -> Self {
        let mut kept = Vec::new();
        headers.for_each(&mut |name, value| {
            if is_shown_header(name) {
                kept.push((name.to_owned(), value.to_owned()));
            }
        });
        let truncated = body.len() > keep;
        // A cut body is copied: a slice would hold the whole received buffer (up to
        // `INLET_MAX_BODY_BYTES`) while the entry waits in the channel.
        let body = if truncated {
            bytes::Bytes::copy_from_slice(body.get(..keep).unwrap_or_default())
        } else {
            body
        };
        Self {
            headers: kept,
            body,
            truncated,
        }
    }

    /// Bytes it will take in the database (its headers are stored as JSON pairs).
    pub(super) fn cost(&self) -> u64 {
        let headers: usize = self
            .headers
            .iter()
            .map(|(name, value)| name.len() + value.len() + 8)
            .sum();
        (headers + self.body.len()) as u64 + ROW_OVERHEAD
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::delivery_log::{BODY_KEPT, REJECTED_BODY_KEPT};

    #[test]
    fn a_cut_body_is_copied_and_marked() {
        let body = bytes::Bytes::from(vec![b'x'; 60 * 1024]);
        let request = Request::new(
            &Vec::<(&str, &str)>::new(),
            body.clone(),
            REJECTED_BODY_KEPT,
        );
        assert_eq!(request.body.len(), REJECTED_BODY_KEPT);
        assert!(request.truncated);
        let whole = Request::new(&Vec::<(&str, &str)>::new(), body, BODY_KEPT);
        assert_eq!(whole.body.len(), 60 * 1024);
        assert!(!whole.truncated);
    }

    #[test]
    fn signatures_secrets_and_credentials_are_never_kept() {
        for name in [
            "Stripe-Signature",
            "svix-signature",
            "webhook-signature",
            "Loops-Secret",
            "Inlet-Secret",
            "Authorization",
            "Cookie",
            "X-Api-Key",
            "X-Auth-Token",
        ] {
            assert!(!is_shown_header(name), "{name}");
        }
        for name in [
            "content-type",
            "user-agent",
            "svix-id",
            "svix-timestamp",
            "webhook-id",
        ] {
            assert!(is_shown_header(name), "{name}");
        }
        let request = Request::new(
            &vec![
                ("Stripe-Signature", "t=1,v1=x"),
                ("Content-Type", "application/json"),
            ],
            bytes::Bytes::from_static(b"{}"),
            BODY_KEPT,
        );
        assert_eq!(
            request.headers,
            vec![("Content-Type".to_owned(), "application/json".to_owned())]
        );
    }
}
