//! Domain types: parsed once at the edge, so raw strings stop there.

use std::fmt;

use rand::RngCore;
use serde::{Deserialize, Serialize};

/// Random bytes encoded as lowercase hex, for unguessable identifiers.
fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

/// An integration's id: `int_` followed by 128 random bits in hex. It is also the secret
/// part of the endpoint URL, so it must stay unguessable.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IntegrationId(String);

impl IntegrationId {
    /// A fresh random id.
    pub fn generate() -> Self {
        Self(format!("int_{}", random_hex(16)))
    }

    /// Accepts only the shape [`IntegrationId::generate`] makes.
    pub fn parse(raw: &str) -> Option<Self> {
        let hex = raw.strip_prefix("int_")?;
        (hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| Self(raw.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IntegrationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A new time-ordered id with a prefix (`wh_` deliveries, `c_` contacts, `key_` API keys).
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::now_v7().simple())
}

/// An email address: trimmed, lowercased (compared case-insensitively), and valid.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// Parses a string that should be an email address; `None` when it is not one.
    pub fn parse(raw: &str) -> Option<Self> {
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.len() > 254 {
            return None;
        }
        // The crate accepts display-name forms and quoted local parts; a contact's address
        // must be a plain `local@domain` with a dot in the domain.
        let addr: email_address::EmailAddress = trimmed.parse().ok()?;
        let plain = addr.email();
        if plain != trimmed || !addr.domain().contains('.') || plain.contains(char::is_whitespace) {
            return None;
        }
        Some(Self(plain.to_lowercase()))
    }

    /// The normalized address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// First and last name split from one `name` field at the first space (SPEC §3.2):
/// `"Ada King Lovelace"` → (`Ada`, `King Lovelace`); one word → first name only.
pub fn split_name(name: &str) -> (Option<String>, Option<String>) {
    let name = name.trim();
    match name.split_once(' ') {
        Some((first, last)) => (non_empty(first), non_empty(last)),
        None => (non_empty(name), None),
    }
}

/// `Some` of the trimmed string unless it is empty: empty strings are not names.
pub fn non_empty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// Formats epoch milliseconds as RFC 3339 for API responses.
pub fn format_ms(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_at_the_first_space() {
        assert_eq!(
            split_name("Ada King Lovelace"),
            (Some("Ada".into()), Some("King Lovelace".into()))
        );
        assert_eq!(split_name("Ada"), (Some("Ada".into()), None));
        assert_eq!(split_name("  "), (None, None));
        assert_eq!(
            split_name(" Grace  Hopper "),
            (Some("Grace".into()), Some("Hopper".into()))
        );
    }

    #[test]
    fn emails_are_trimmed_lowercased_and_validated() {
        assert_eq!(
            Email::parse("  Jenny.Rosen@Example.COM ").unwrap().as_str(),
            "jenny.rosen@example.com"
        );
        for bad in [
            "",
            "jenny",
            "jenny@",
            "@example.com",
            "a b@example.com",
            "Jenny <j@example.com>",
            "j@localhost",
        ] {
            assert!(Email::parse(bad).is_none(), "{bad:?} accepted");
        }
    }

    #[test]
    fn integration_ids_are_random_and_validated() {
        let a = IntegrationId::generate();
        let b = IntegrationId::generate();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 4 + 32);
        assert_eq!(IntegrationId::parse(a.as_str()), Some(a));
        assert!(IntegrationId::parse("int_123").is_none());
        assert!(IntegrationId::parse("../etc/passwd").is_none());
    }

    #[test]
    fn epoch_ms_formats_as_rfc3339() {
        assert_eq!(format_ms(1_492_774_577_000), "2017-04-21T11:36:17Z");
    }
}
