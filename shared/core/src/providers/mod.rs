//! Providers: pure functions from (headers, raw body) to a verified, typed event and then to
//! contact changes. No I/O here, so every provider is unit-tested with fixtures.
//!
//! One file per platform, behind the one [`Provider`] enum.

pub mod clerk;
pub mod limits;
mod person;
pub mod polar;
pub mod samples;
pub mod stripe;
pub mod supabase;
pub mod webhook_sig;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::domain::Email;
pub use limits::{
    MAX_EVENT_TYPE_BYTES, MAX_ID_BYTES, MAX_IDEMPOTENCY_KEY_BYTES, idempotency_key,
    shown_event_type,
};

/// Read access to request headers, so providers stay independent of the HTTP framework.
pub trait Headers {
    /// The value of a header (name in lowercase), if present and valid text.
    fn get(&self, name: &str) -> Option<&str>;
    /// Calls `f` with every header that is valid text, in order (for the webhook log).
    fn for_each(&self, f: &mut dyn FnMut(&str, &str));
}

/// Name/value pairs, for tests and tools that build requests by hand.
impl Headers for Vec<(&str, &str)> {
    fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }

    fn for_each(&self, f: &mut dyn FnMut(&str, &str)) {
        for (k, v) in self {
            f(k, v);
        }
    }
}

/// A connected platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Stripe (`Stripe-Signature`, HMAC-SHA256 hex).
    Stripe,
    /// Clerk, delivered by Svix (`svix-*` or `webhook-*` headers).
    Clerk,
    /// Polar (Standard Webhooks, two key derivations).
    Polar,
    /// Supabase database webhooks (shared-secret header).
    Supabase,
}

impl Provider {
    /// Every provider, for listings and validation messages.
    pub const ALL: [Provider; 4] = [
        Provider::Stripe,
        Provider::Clerk,
        Provider::Polar,
        Provider::Supabase,
    ];

    /// Parses the lowercase name used in the API (`stripe`).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == name)
    }

    /// The lowercase name used in the API, event names and the queue.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Stripe => "stripe",
            Provider::Clerk => "clerk",
            Provider::Polar => "polar",
            Provider::Supabase => "supabase",
        }
    }

    /// The platform's name as people write it.
    pub fn display_name(self) -> &'static str {
        match self {
            Provider::Stripe => "Stripe",
            Provider::Clerk => "Clerk",
            Provider::Polar => "Polar",
            Provider::Supabase => "Supabase",
        }
    }

    /// `source` given to contacts this provider creates.
    pub fn contact_source(self) -> String {
        format!("{} webhook", self.display_name())
    }

    /// Event types this provider supports.
    pub fn supported_events(self) -> &'static [&'static str] {
        match self {
            Provider::Stripe => stripe::SUPPORTED_EVENTS,
            Provider::Clerk => clerk::SUPPORTED_EVENTS,
            Provider::Polar => polar::SUPPORTED_EVENTS,
            Provider::Supabase => supabase::SUPPORTED_EVENTS,
        }
    }

    /// The properties (name, type) the event of `event_type` carries, as this provider
    /// maps it; empty for a type it does not support.
    pub fn event_properties(
        self,
        event_type: &str,
    ) -> &'static [(&'static str, crate::properties::PropertyType)] {
        match self {
            Provider::Stripe => stripe::event_properties(event_type),
            Provider::Clerk => clerk::event_properties(event_type),
            Provider::Polar => polar::event_properties(event_type),
            Provider::Supabase => supabase::event_properties(event_type),
        }
    }

    /// True when `event_type` is one this provider supports.
    pub fn supports(self, event_type: &str) -> bool {
        self.supported_events().contains(&event_type)
    }

    /// Decodes a signing secret as pasted by the user into the key used for verification.
    pub fn signing_key(self, secret: &str) -> Result<SigningKey, SecretError> {
        match self {
            Provider::Stripe => stripe::signing_key(secret),
            Provider::Clerk => clerk::signing_key(secret),
            Provider::Polar => polar::signing_key(secret),
            Provider::Supabase => supabase::signing_key(secret),
        }
    }

    /// True when Inlet generates the secret (Supabase) instead of the user pasting one.
    pub fn generates_secret(self) -> bool {
        matches!(self, Provider::Supabase)
    }

    /// Verifies a delivery's signature on the raw body against every key (any match passes).
    pub fn verify(
        self,
        keys: &[SigningKey],
        headers: &dyn Headers,
        body: &[u8],
        now_secs: i64,
        tolerance_secs: i64,
    ) -> Result<(), SignatureError> {
        match self {
            Provider::Stripe => stripe::verify(keys, headers, body, now_secs, tolerance_secs),
            Provider::Clerk => clerk::verify(keys, headers, body, now_secs, tolerance_secs),
            Provider::Polar => polar::verify(keys, headers, body, now_secs, tolerance_secs),
            Provider::Supabase => supabase::verify(keys, headers, body, now_secs, tolerance_secs),
        }
    }

    /// Reads the envelope of a verified body: what ingest needs to route and deduplicate.
    pub fn envelope(self, headers: &dyn Headers, body: &[u8]) -> Result<Envelope, EnvelopeError> {
        match self {
            Provider::Stripe => stripe::envelope(headers, body),
            Provider::Clerk => clerk::envelope(headers, body),
            Provider::Polar => polar::envelope(headers, body),
            Provider::Supabase => supabase::envelope(headers, body),
        }
    }

    /// Maps a verified body to what it changes (worker side). `received_at_ms` stands in for
    /// the platform time when the event carries none. The mapping is one the database can
    /// hold ([`limits::storable`]).
    pub fn map(self, body: &[u8], received_at_ms: i64) -> Result<Mapping, EnvelopeError> {
        let mapping = match self {
            Provider::Stripe => stripe::map(body, received_at_ms),
            Provider::Clerk => clerk::map(body, received_at_ms),
            Provider::Polar => polar::map(body, received_at_ms),
            Provider::Supabase => supabase::map(body, received_at_ms),
        }?;
        limits::storable(self, mapping)
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An HMAC-SHA256 state already keyed, cloned per verification (saves the key schedule).
pub type KeyedMac = hmac::Hmac<sha2::Sha256>;

/// A decoded signing secret. Its `Debug` never shows the key.
#[derive(Clone)]
pub enum SigningKey {
    /// HMAC-SHA256 keys; one secret may give several candidates (Polar's two derivations):
    /// a signature matching any of them verifies.
    Hmac(Vec<KeyedMac>),
    /// A shared token compared as it is (Supabase's header secret).
    Token(Vec<u8>),
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey([REDACTED])")
    }
}

/// True when HMAC-SHA256 over `parts` under any key equals any candidate signature. Every
/// (key, candidate) pair is compared, in constant time, with no early exit.
pub(crate) fn any_mac_matches(
    keys: &[SigningKey],
    parts: &[&[u8]],
    candidates: &[[u8; 32]],
) -> bool {
    use hmac::Mac;
    use subtle::ConstantTimeEq;
    let mut matched = subtle::Choice::from(0);
    for key in keys {
        let SigningKey::Hmac(macs) = key else {
            continue;
        };
        for keyed in macs {
            let mut mac = keyed.clone();
            for part in parts {
                mac.update(part);
            }
            let expected = mac.finalize().into_bytes();
            for candidate in candidates {
                matched |= expected.as_slice().ct_eq(candidate);
            }
        }
    }
    bool::from(matched)
}

/// A signing secret that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SecretError(pub String);

/// Why a delivery's signature was not accepted. Messages never name a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The signature header is absent.
    #[error("Missing {0} header.")]
    MissingHeader(&'static str),
    /// The signature header cannot be read.
    #[error("Malformed {0} header.")]
    MalformedHeader(&'static str),
    /// The signed timestamp is older than the tolerance.
    #[error("Signature verification failed: timestamp outside the tolerance window.")]
    TimestampTooOld,
    /// The signed timestamp is further in the future than the tolerance.
    #[error("Signature verification failed: timestamp outside the tolerance window.")]
    TimestampTooNew,
    /// No signature matched any key.
    #[error("Signature verification failed: no signature matched.")]
    NoMatch,
}

impl SignatureError {
    /// True for problems with the headers' presence or shape (400), false for failed
    /// verification (401).
    pub fn is_malformed(&self) -> bool {
        matches!(self, Self::MissingHeader(_) | Self::MalformedHeader(_))
    }

    /// A short label for metrics and the webhook log.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::MissingHeader(_) => "missing_header",
            Self::MalformedHeader(_) => "malformed_header",
            Self::TimestampTooOld => "timestamp_too_old",
            Self::TimestampTooNew => "timestamp_too_new",
            Self::NoMatch => "no_match",
        }
    }
}

/// A JSON error as a sentence that never quotes the payload: serde puts offending values in
/// double quotes (`invalid type: string "ada@example.com", expected i64`), and those may be
/// personal data that must not reach logs, the webhook log or dead letters.
pub fn describe_json_error(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let mut out = String::with_capacity(text.len());
    let mut quoted = false;
    for ch in text.chars() {
        if ch == '"' {
            out.push_str(if quoted { "\"" } else { "\"…" });
            quoted = !quoted;
        } else if !quoted {
            out.push(ch);
        }
    }
    out
}

/// What ingest reads from a verified body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The platform's event type (`customer.created`), as [`shown_event_type`] gives it.
    pub event_type: String,
    /// The delivery's idempotency key (SPEC §3.2), at most [`MAX_IDEMPOTENCY_KEY_BYTES`].
    pub idempotency_key: String,
    /// Set when the delivery is valid but never processed, with the message to answer
    /// (e.g. a Supabase change on a table other than `auth.users`).
    pub ignore: Option<String>,
}

impl Envelope {
    /// The envelope of a delivery of `event_type` whose platform id is `id`: what the queue
    /// and the webhook log can carry, whatever the body or headers held.
    pub fn new(event_type: &str, id: &str) -> Self {
        Self {
            event_type: shown_event_type(event_type),
            idempotency_key: idempotency_key(id),
            ignore: None,
        }
    }
}

/// The body is not the provider's envelope (400).
#[derive(Debug, Clone, thiserror::Error)]
#[error("Body is not a {provider} event: {reason}")]
pub struct EnvelopeError {
    /// The platform's display name.
    pub provider: &'static str,
    /// What is wrong, without quoting the body.
    pub reason: String,
}

/// What a delivery changes.
#[derive(Debug, Clone, PartialEq)]
pub enum Mapping {
    /// A change to one contact.
    Contact(ContactChange),
    /// Nothing to change, and why (shown in the webhook log).
    Ignore(String),
}

/// Whether a change creates/updates or removes a contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactAction {
    /// Create the contact, or update the one that matches.
    Upsert,
    /// A deletion event: apply the integration's `onDelete` policy to the matching contact.
    Delete,
    /// Only record the event on an existing contact (no contact fields change).
    Touch,
}

/// How the contact of a change is found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactKey {
    /// By email address (Stripe, Polar, Clerk waitlist entries).
    Email(Email),
    /// By the platform's user id, stored as the contact's `userId` (Clerk, Supabase). When
    /// no contact has it yet, `email` of the change (if any) finds one to attach it to.
    UserId(String),
    /// By a Stripe customer id learned from earlier events of the same integration; an
    /// unknown customer means the event is ignored with a message.
    StripeCustomer(String),
}

/// A change to one contact, as read from a platform event.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactChange {
    /// Create/update, remove, or record only.
    pub action: ContactAction,
    /// How to find the contact.
    pub key: ContactKey,
    /// The address, when the event carries a usable one.
    pub email: Option<Email>,
    /// The platform's user id to store as `userId` (Clerk, Supabase).
    pub user_id: Option<String>,
    /// First name, when present and not empty.
    pub first_name: Option<String>,
    /// Last name, when present and not empty.
    pub last_name: Option<String>,
    /// Custom contact properties to set (e.g. Polar's `externalId`).
    pub properties: serde_json::Map<String, serde_json::Value>,
    /// A Stripe customer id to remember for this contact (customer, checkout, invoice events).
    pub stripe_customer: Option<String>,
    /// Properties of the recorded event: amounts, currency, plan/product, status, ids.
    pub event_properties: serde_json::Map<String, serde_json::Value>,
    /// Platform time of the event, in epoch milliseconds (ordering guard).
    pub occurred_at_ms: i64,
}

impl ContactChange {
    /// A change with only the key and time set; providers fill in the rest.
    pub fn new(action: ContactAction, key: ContactKey, occurred_at_ms: i64) -> Self {
        Self {
            action,
            key,
            email: None,
            user_id: None,
            first_name: None,
            last_name: None,
            properties: serde_json::Map::new(),
            stripe_customer: None,
            event_properties: serde_json::Map::new(),
            occurred_at_ms,
        }
    }

    /// Sets first and last name from a single `name` field (split at the first space).
    pub fn with_full_name(mut self, name: Option<&str>) -> Self {
        if let Some(name) = name {
            let (first, last) = crate::domain::split_name(name);
            self.first_name = first;
            self.last_name = last;
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::describe_json_error;

    #[test]
    fn json_errors_never_quote_the_payload() {
        let e = serde_json::from_str::<i64>(r#""ada@example.com""#).unwrap_err();
        let text = describe_json_error(&e);
        assert!(!text.contains("ada@example.com"), "{text}");
        assert!(
            text.starts_with("invalid type: string \"…\", expected i64"),
            "{text}"
        );
        let e = serde_json::from_str::<serde_json::Value>("{ nope").unwrap_err();
        assert!(
            describe_json_error(&e).contains("line 1 column 3"),
            "{}",
            describe_json_error(&e)
        );
    }
}
