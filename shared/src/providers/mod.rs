//! Providers: pure functions from (headers, raw body) to a verified, typed event and then to
//! contact changes. No I/O here, so every provider is unit-tested with fixtures.
//!
//! One file per platform, behind the one [`Provider`] enum.

pub mod stripe;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::domain::Email;

/// Read access to request headers, so providers stay independent of the HTTP framework.
pub trait Headers {
    /// The value of a header (name in lowercase), if present and valid text.
    fn get(&self, name: &str) -> Option<&str>;
}

/// Name/value pairs, for tests and tools that build requests by hand.
impl Headers for Vec<(&str, &str)> {
    fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

/// A connected platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Stripe (`Stripe-Signature`, HMAC-SHA256 hex).
    Stripe,
}

impl Provider {
    /// Every provider, for listings and validation messages.
    pub const ALL: [Provider; 1] = [Provider::Stripe];

    /// Parses the lowercase name used in the API (`stripe`).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == name)
    }

    /// The lowercase name used in the API, event names and the queue.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Stripe => "stripe",
        }
    }

    /// The platform's name as people write it.
    pub fn display_name(self) -> &'static str {
        match self {
            Provider::Stripe => "Stripe",
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
        }
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
        }
    }

    /// Reads the envelope of a verified body: what ingest needs to route and deduplicate.
    pub fn envelope(self, headers: &dyn Headers, body: &[u8]) -> Result<Envelope, EnvelopeError> {
        match self {
            Provider::Stripe => stripe::envelope(headers, body),
        }
    }

    /// Maps a verified body to what it changes (worker side).
    pub fn map(self, body: &[u8]) -> Result<Mapping, EnvelopeError> {
        match self {
            Provider::Stripe => stripe::map(body),
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A decoded signing secret. Its `Debug` never shows the key.
#[derive(Clone)]
pub enum SigningKey {
    /// An HMAC-SHA256 state already keyed, cloned per verification (saves the key schedule).
    HmacSha256(hmac::Hmac<sha2::Sha256>),
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey([REDACTED])")
    }
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

/// What ingest reads from a verified body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The platform's event type (`customer.created`).
    pub event_type: String,
    /// The delivery's idempotency key (SPEC §3.2).
    pub idempotency_key: String,
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
}

/// A change to one contact, as read from a platform event.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactChange {
    /// Create/update or remove.
    pub action: ContactAction,
    /// The address, when the event carries a usable one.
    pub email: Option<Email>,
    /// First name, when present and not empty.
    pub first_name: Option<String>,
    /// Last name, when present and not empty.
    pub last_name: Option<String>,
    /// Platform time of the event, in epoch milliseconds (ordering guard).
    pub occurred_at_ms: i64,
}
