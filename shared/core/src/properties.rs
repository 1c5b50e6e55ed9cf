//! Typed properties, as Loops has them: the four value types of a contact property or an
//! event property, the rule for a custom property's name, and how a value is checked
//! against its declared type (dates normalised to one stored form). Pure: the API, the
//! worker and the providers' declarations share it.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

use crate::domain::format_ms;

/// Longest property name (as before typed properties: the API's limit).
pub const MAX_NAME_CHARS: usize = 100;

/// The value type of a property.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PropertyType {
    /// Text.
    String,
    /// A JSON number.
    Number,
    /// `true` or `false`.
    Boolean,
    /// An instant, stored as RFC 3339 in UTC (see [`check_value`]).
    Date,
}

impl PropertyType {
    /// Every type, in Loops' order.
    pub const ALL: [Self; 4] = [Self::String, Self::Number, Self::Boolean, Self::Date];

    /// The name Loops uses (`"string"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Number => "number",
            Self::Boolean => "boolean",
            Self::Date => "date",
        }
    }

    /// The type named `name`, exactly as Loops spells it.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// The type a recorded value shows (custom events' properties): a string that reads
    /// as a date is a date; `null` and containers have none.
    pub fn of_value(value: &Value) -> Option<Self> {
        match value {
            Value::Bool(_) => Some(Self::Boolean),
            Value::Number(_) => Some(Self::Number),
            Value::String(s) if parse_date_ms(s).is_some() => Some(Self::Date),
            Value::String(_) => Some(Self::String),
            Value::Null | Value::Array(_) | Value::Object(_) => None,
        }
    }
}

impl fmt::Display for PropertyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The contact properties every contact has (`listContactProperties`' built-in ones):
/// name, label, type.
pub const BUILT_IN: [(&str, &str, PropertyType); 7] = [
    ("email", "Email", PropertyType::String),
    ("firstName", "First Name", PropertyType::String),
    ("lastName", "Last Name", PropertyType::String),
    ("source", "Source", PropertyType::String),
    ("subscribed", "Subscribed", PropertyType::Boolean),
    ("userGroup", "User Group", PropertyType::String),
    ("userId", "User Id", PropertyType::String),
];

/// A label for a custom property, as Loops shows one: `planName` → `Plan Name`.
pub fn label_of(name: &str) -> String {
    let mut label = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if i == 0 {
            label.extend(c.to_uppercase());
        } else if c.is_ascii_uppercase() {
            label.push(' ');
            label.push(c);
        } else {
            label.push(c);
        }
    }
    label
}

/// Names a custom property may not take: Loops' reserved names and the fields Inlet shows
/// on a contact of its own.
pub const RESERVED: [&str; 8] = [
    "id",
    "listId",
    "softDeleteAt",
    "teamId",
    "updatedAt",
    "createdAt",
    "optInStatus",
    "mailingLists",
];

/// Why a property name or value is refused; the text is the API's 400 message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PropertyError {
    /// Not camelCase ASCII (or too long).
    #[error(
        "Property names must be in camelCase, like planName or favoriteColor: a lowercase letter, then letters and digits, at most 100 characters."
    )]
    NotCamelCase,
    /// A built-in property's name.
    #[error("{0} is a built-in contact property.")]
    BuiltIn(String),
    /// A reserved name.
    #[error("{0} is a reserved name and cannot be used for a contact property.")]
    Reserved(String),
    /// The value is not of the property's declared type.
    #[error("{name} must be a {expected}{hint}.", hint = if *.expected == PropertyType::Date { " (a Unix timestamp in milliseconds, or a date like 2024-01-31 or 2024-01-31T12:00:00+02:00)" } else { "" })]
    WrongType {
        /// The property.
        name: String,
        /// Its declared type.
        expected: PropertyType,
    },
}

/// Checks a custom property's name: camelCase (a lowercase ASCII letter, then ASCII letters
/// and digits), at most [`MAX_NAME_CHARS`], neither [`BUILT_IN`] nor [`RESERVED`].
pub fn check_name(name: &str) -> Result<(), PropertyError> {
    let mut chars = name.chars();
    let starts_lower = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    if !starts_lower || !chars.all(|c| c.is_ascii_alphanumeric()) || name.len() > MAX_NAME_CHARS {
        return Err(PropertyError::NotCamelCase);
    }
    if BUILT_IN.iter().any(|(built_in, _, _)| *built_in == name) {
        return Err(PropertyError::BuiltIn(name.to_owned()));
    }
    if RESERVED.contains(&name) {
        return Err(PropertyError::Reserved(name.to_owned()));
    }
    Ok(())
}

/// `value` as a property of type `expected` stores it: `null` always (it clears the
/// property); a date given as epoch milliseconds or as one of Loops' date formats becomes
/// RFC 3339 in UTC; any other value must already be of the type.
pub fn check_value(
    name: &str,
    expected: PropertyType,
    value: &Value,
) -> Result<Value, PropertyError> {
    let wrong = || PropertyError::WrongType {
        name: name.to_owned(),
        expected,
    };
    match (expected, value) {
        (_, Value::Null)
        | (PropertyType::String, Value::String(_))
        | (PropertyType::Number, Value::Number(_))
        | (PropertyType::Boolean, Value::Bool(_)) => Ok(value.clone()),
        (PropertyType::Date, Value::Number(n)) => {
            let ms = n.as_i64().filter(|ms| in_range(*ms)).ok_or_else(wrong)?;
            Ok(Value::String(format_ms(ms)))
        }
        (PropertyType::Date, Value::String(s)) => {
            let ms = parse_date_ms(s).ok_or_else(wrong)?;
            Ok(Value::String(format_ms(ms)))
        }
        _ => Err(wrong()),
    }
}

/// Years 0000–9999: what RFC 3339 can write.
fn in_range(ms: i64) -> bool {
    const MIN: i64 = -62_167_219_200_000; // 0000-01-01T00:00:00Z
    const MAX: i64 = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z
    (MIN..=MAX).contains(&ms)
}

type Format = &'static [BorrowedFormatItem<'static>];

/// Loops' date-time formats without an offset (UTC is meant).
const LOCAL: [Format; 6] = [
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond]"),
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
    format_description!("[year]-[month]-[day]T[hour]:[minute]"),
    format_description!("[year]-[month]-[day] [hour]:[minute]:[second].[subsecond]"),
    format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"),
    format_description!("[year]-[month]-[day] [hour]:[minute]"),
];

/// The same, with an offset (`+02:00`, `-07:00`).
const OFFSET: [Format; 6] = [
    format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond][offset_hour sign:mandatory]:[offset_minute]"
    ),
    format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second][offset_hour sign:mandatory]:[offset_minute]"
    ),
    format_description!(
        "[year]-[month]-[day]T[hour]:[minute][offset_hour sign:mandatory]:[offset_minute]"
    ),
    format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second].[subsecond][offset_hour sign:mandatory]:[offset_minute]"
    ),
    format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second][offset_hour sign:mandatory]:[offset_minute]"
    ),
    format_description!(
        "[year]-[month]-[day] [hour]:[minute][offset_hour sign:mandatory]:[offset_minute]"
    ),
];

/// Epoch milliseconds of a date string in one of Loops' formats (`YYYY-MM-DD`, then
/// optionally `T` or a space and `HH:MM[:SS[.sss]]`, then optionally an offset; RFC 3339
/// with `Z` too). Only format descriptions read the text: anything else is `None`.
pub fn parse_date_ms(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    let at = OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339)
        .ok()
        .or_else(|| {
            OFFSET
                .iter()
                .find_map(|f| OffsetDateTime::parse(raw, f).ok())
        })
        .or_else(|| {
            LOCAL
                .iter()
                .find_map(|f| PrimitiveDateTime::parse(raw, f).ok())
                .map(|t| t.assume_offset(UtcOffset::UTC))
        })
        .or_else(|| {
            time::Date::parse(raw, format_description!("[year]-[month]-[day]"))
                .ok()
                .map(|d| d.midnight().assume_offset(UtcOffset::UTC))
        })?;
    let ms = i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()?;
    in_range(ms).then_some(ms)
}

#[cfg(test)]
mod tests;
