//! Supabase: database webhooks (pg_net, unsigned) authenticated by a shared-secret header
//! (SPEC §3.1), the change envelope, and the mapping of `auth.users` changes to contacts
//! (SPEC §3.2).
//!
//! The sample delivery for `inlet send-test-event` is in `sample`; the unit tests are in
//! `tests`, with an `auth.users` row under `fixtures/`.

pub(super) mod sample;

use rand::RngCore;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

use super::{
    ContactAction, ContactChange, ContactKey, Envelope, EnvelopeError, Headers, Mapping,
    SecretError, SignatureError, SigningKey,
};
use crate::domain::{Email, non_empty};
use crate::properties::PropertyType::{self, Boolean, String as Text};

/// The header named in messages; `Inlet-Secret` is accepted too.
const HEADER: &str = "Loops-Secret";

/// The shortest secret accepted (Inlet generates 64 hex characters).
const MIN_SECRET_CHARS: usize = 16;

/// Answer for changes on any table but `auth.users`.
const ONLY_AUTH_USERS: &str = "Ignored: only auth.users changes are processed.";

/// Event types handled for Supabase: `{schema}.{table}.{operation}` (SPEC §3.2).
pub const SUPPORTED_EVENTS: &[&str] = &[
    "auth.users.insert",
    "auth.users.update",
    "auth.users.delete",
];

/// The properties each event type's event carries (`map` sets no others; a test checks
/// them against every sample): what `GET /api/v1/event-patterns` lists.
pub fn event_properties(event_type: &str) -> &'static [(&'static str, PropertyType)] {
    if SUPPORTED_EVENTS.contains(&event_type) {
        &[
            ("userId", Text),
            ("provider", Text),
            ("emailConfirmed", Boolean),
        ]
    } else {
        &[]
    }
}

/// A fresh secret for a Supabase integration: 32 random bytes as lowercase hex. The user puts
/// it in the database webhook's `Loops-Secret` header.
pub fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The key is the secret itself (trimmed), compared as it is.
pub fn signing_key(secret: &str) -> Result<SigningKey, SecretError> {
    let secret = secret.trim();
    if secret.chars().count() < MIN_SECRET_CHARS {
        return Err(SecretError(format!(
            "a Supabase secret has at least {MIN_SECRET_CHARS} characters"
        )));
    }
    Ok(SigningKey::Token(secret.as_bytes().to_vec()))
}

/// Compares the `Loops-Secret` header (else `Inlet-Secret`) with every key in constant time.
/// Supabase signs nothing and sends no timestamp, so the body and tolerance are not used.
pub fn verify(
    keys: &[SigningKey],
    headers: &dyn Headers,
    _body: &[u8],
    _now_secs: i64,
    _tolerance_secs: i64,
) -> Result<(), SignatureError> {
    let presented = headers
        .get("loops-secret")
        .or_else(|| headers.get("inlet-secret"))
        .ok_or(SignatureError::MissingHeader(HEADER))?
        .trim()
        .as_bytes();
    let mut matched = subtle::Choice::from(0);
    for key in keys {
        if let SigningKey::Token(token) = key {
            // Slices of different lengths compare unequal.
            matched |= token.as_slice().ct_eq(presented);
        }
    }
    if bool::from(matched) {
        Ok(())
    } else {
        Err(SignatureError::NoMatch)
    }
}

/// The row operation a database webhook reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    Insert,
    Update,
    Delete,
}

impl Operation {
    fn parse(raw: &str) -> Option<Self> {
        match raw {
            "INSERT" => Some(Self::Insert),
            "UPDATE" => Some(Self::Update),
            "DELETE" => Some(Self::Delete),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Insert => "insert",
            Self::Update => "update",
            Self::Delete => "delete",
        }
    }
}

/// A database webhook body:
/// `{"type", "table", "schema", "record": {…}|null, "old_record": {…}|null}`.
struct Change {
    operation: Operation,
    schema: String,
    table: String,
    record: Option<Map<String, Value>>,
    old_record: Option<Map<String, Value>>,
}

impl Change {
    fn is_auth_users(&self) -> bool {
        self.schema == "auth" && self.table == "users"
    }

    /// The row that describes the user: the new one, or the old one for a deletion.
    fn row(&self) -> Option<&Map<String, Value>> {
        match self.operation {
            Operation::Insert | Operation::Update => self.record.as_ref(),
            Operation::Delete => self.old_record.as_ref(),
        }
    }
}

fn not_supabase(reason: impl Into<String>) -> EnvelopeError {
    EnvelopeError {
        provider: "Supabase",
        reason: reason.into(),
    }
}

/// A required string field of the body.
fn required_text(body: &Map<String, Value>, field: &str) -> Result<String, EnvelopeError> {
    match body.get(field) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        _ => Err(not_supabase(format!(
            "`{field}` is missing or not a non-empty string"
        ))),
    }
}

/// `record`/`old_record`: an object, or null (or absent).
fn row_field(
    body: &mut Map<String, Value>,
    field: &str,
) -> Result<Option<Map<String, Value>>, EnvelopeError> {
    match body.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(row)) => Ok(Some(row)),
        Some(_) => Err(not_supabase(format!(
            "`{field}` is neither an object nor null"
        ))),
    }
}

/// The user id of an `auth.users` row.
fn user_id(row: &Map<String, Value>) -> Option<&str> {
    row.get("id")?.as_str().filter(|id| !id.trim().is_empty())
}

/// Parses and checks a body. Error reasons never quote the body (it holds user data).
fn parse(body: &[u8]) -> Result<Change, EnvelopeError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        not_supabase(format!(
            "not JSON (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    let Value::Object(mut body) = value else {
        return Err(not_supabase("the body is not a JSON object"));
    };
    let kind = required_text(&body, "type")?;
    let operation = Operation::parse(&kind)
        .ok_or_else(|| not_supabase("`type` is not INSERT, UPDATE or DELETE"))?;
    let change = Change {
        operation,
        schema: required_text(&body, "schema")?,
        table: required_text(&body, "table")?,
        record: row_field(&mut body, "record")?,
        old_record: row_field(&mut body, "old_record")?,
    };
    if change.is_auth_users() {
        let (field, row) = match operation {
            Operation::Insert | Operation::Update => ("record", &change.record),
            Operation::Delete => ("old_record", &change.old_record),
        };
        if row.as_ref().and_then(user_id).is_none() {
            return Err(not_supabase(format!(
                "`{field}` of an auth.users {kind} has no user id"
            )));
        }
    }
    Ok(change)
}

/// Reads the event type (`auth.users.insert`) and a hash of the body as the idempotency key
/// (Supabase sends no delivery id). Other tables are valid but ignored.
pub fn envelope(_headers: &dyn Headers, body: &[u8]) -> Result<Envelope, EnvelopeError> {
    let change = parse(body)?;
    let event_type = format!(
        "{}.{}.{}",
        change.schema,
        change.table,
        change.operation.as_str()
    );
    // 71 bytes: a key that fits as it is.
    let key = format!("sha256:{}", hex::encode(Sha256::digest(body)));
    let mut envelope = Envelope::new(&event_type, &key);
    envelope.ignore = (!change.is_auth_users()).then(|| ONLY_AUTH_USERS.to_owned());
    Ok(envelope)
}

/// Maps an `auth.users` change to a contact change keyed by the Supabase user id.
pub fn map(body: &[u8], received_at_ms: i64) -> Result<Mapping, EnvelopeError> {
    let change = parse(body)?;
    if !change.is_auth_users() {
        return Ok(Mapping::Ignore(ONLY_AUTH_USERS.into()));
    }
    let action = match change.operation {
        Operation::Insert | Operation::Update => ContactAction::Upsert,
        Operation::Delete => ContactAction::Delete,
    };
    // `parse` has checked that the row and its id are there.
    let Some((row, id)) = change.row().and_then(|row| Some((row, user_id(row)?))) else {
        return Err(not_supabase("the change carries no user id"));
    };
    // A deletion's `record` is null: it happened at about the time it was received.
    let occurred_at_ms = change
        .record
        .as_ref()
        .and_then(|record| record.get("updated_at")?.as_str())
        .and_then(parse_timestamp_ms)
        .unwrap_or(received_at_ms);
    let mut contact = ContactChange::new(action, ContactKey::UserId(id.to_owned()), occurred_at_ms);
    contact.user_id = Some(id.to_owned());
    contact.email = row
        .get("email")
        .and_then(Value::as_str)
        .and_then(Email::parse);
    let meta = row.get("raw_user_meta_data").and_then(Value::as_object);
    let meta_text = |field: &str| {
        meta.and_then(|m| m.get(field)?.as_str())
            .and_then(non_empty)
    };
    contact.first_name = meta_text("first_name");
    contact.last_name = meta_text("last_name");
    if contact.first_name.is_none() && contact.last_name.is_none() {
        let full_name = meta_text("full_name").or_else(|| meta_text("name"));
        contact = contact.with_full_name(full_name.as_deref());
    }
    let props = &mut contact.event_properties;
    props.insert("userId".into(), id.into());
    if let Some(provider) = row
        .get("raw_app_meta_data")
        .and_then(|m| m.get("provider")?.as_str())
    {
        props.insert("provider".into(), provider.into());
    }
    props.insert(
        "emailConfirmed".into(),
        row.get("email_confirmed_at")
            .is_some_and(|at| !at.is_null())
            .into(),
    );
    Ok(Mapping::Contact(contact))
}

/// Epoch milliseconds of a Postgres `timestamptz` as Supabase writes it: RFC 3339
/// (`2024-05-01T12:34:56.123456+00:00`) or Postgres text (`2024-05-01 12:34:56.123456+00`,
/// whose offset may be `+HH`, `+HHMM` or `+HH:MM`). Only format descriptions read the text:
/// a value matching none of them is no time (the receive time stands in), never a panic.
fn parse_timestamp_ms(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    // Postgres text puts a space for the `T` and shortens a whole-hour offset to `+HH`,
    // both of which RFC 3339 refuses.
    let with_offset = format_description!(
        version = 2,
        "[year]-[month]-[day][first [T][t][ ]][hour]:[minute]:[second][optional [.[subsecond]]][offset_hour sign:mandatory][optional [[optional [:]][offset_minute]]]"
    );
    let utc = format_description!(
        version = 2,
        "[year]-[month]-[day][first [T][t][ ]][hour]:[minute]:[second][optional [.[subsecond]]][first [Z][z]]"
    );
    let at = OffsetDateTime::parse(raw, &Rfc3339)
        .or_else(|_| OffsetDateTime::parse(raw, with_offset))
        .or_else(|_| PrimitiveDateTime::parse(raw, utc).map(PrimitiveDateTime::assume_utc))
        .ok()?;
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod tests;
