//! Whether a contact matches an audience filter: pure, over the [`ContactFacts`] the store
//! gathers for a run. Loops' operator meanings: numbers compare by value, booleans as
//! booleans, dates as instants (ISO-8601 text or epoch numbers), text case-insensitively. A
//! property the contact does not have is "empty" (never an error); a comparison with a
//! value of the wrong type is false (and its negated operator true).
//!
//! An empty filter (no conditions, `all` or `any`) matches everyone: like a filter node
//! with no filter, it lets every contact on (Loops' audience filters behave so until a
//! condition is added). A non-empty `all` needs every condition, a non-empty `any` one.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::{AudienceFilter, Condition, Match, PropertyOperator};
use crate::properties::parse_date_ms;

/// What is known of a contact when its run reaches a filter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactFacts {
    /// Its properties as `contacts/find` shows them: standard fields (`email`,
    /// `firstName`, `lastName`, `userGroup`, `userId`, `subscribed`, `source`,
    /// `createdAt`) and custom ones, by name.
    pub properties: Map<String, Value>,
    /// The mailing lists it is on.
    pub lists: BTreeSet<String>,
    /// The names of the events that reached it since its run started.
    pub events: BTreeSet<String>,
    /// The email messages (templates) sent to it.
    pub sent_messages: BTreeSet<String>,
    /// The workflows that sent it an email.
    pub sent_workflows: BTreeSet<String>,
}

/// Whether `facts` match `filter`.
pub fn matches(filter: &AudienceFilter, facts: &ContactFacts) -> bool {
    if filter.conditions.is_empty() {
        return true;
    }
    let mut each = filter.conditions.iter().map(|c| holds(c, facts));
    match filter.match_ {
        Match::All => each.all(|b| b),
        Match::Any => each.any(|b| b),
    }
}

/// Whether one condition holds.
pub fn holds(condition: &Condition, facts: &ContactFacts) -> bool {
    match condition {
        Condition::Property {
            key,
            operator,
            value,
        } => property(
            facts.properties.get(key).unwrap_or(&Value::Null),
            *operator,
            value.as_ref().unwrap_or(&Value::Null),
        ),
        // Inlet has no double opt-in: every contact's opt-in status is null.
        Condition::OptIn { status } => status.is_none(),
        Condition::Activity {
            action,
            negate,
            target,
            id,
        } => {
            // Only sends are tracked; opens and clicks never happened as far as Inlet knows.
            let happened = action == "sent"
                && match target.as_str() {
                    "workflowEmail" => facts.sent_messages.contains(id),
                    "workflow" => facts.sent_workflows.contains(id),
                    _ => false,
                };
            happened != *negate
        }
        Condition::MailingList {
            mailing_list_id,
            negate,
        } => facts.lists.contains(mailing_list_id) != *negate,
        Condition::Event { event_name, negate } => facts.events.contains(event_name) != *negate,
    }
}

/// A property's value compared with a condition's.
pub fn property(actual: &Value, operator: PropertyOperator, expected: &Value) -> bool {
    use PropertyOperator as Op;
    match operator {
        Op::Any => true,
        Op::Contains => contains(actual, expected),
        Op::NotContains => !contains(actual, expected),
        Op::Equals => equals(actual, expected),
        Op::NotEquals => !equals(actual, expected),
        Op::GreaterThan => compare(actual, expected).is_some_and(|o| o.is_gt()),
        Op::LessThan => compare(actual, expected).is_some_and(|o| o.is_lt()),
        Op::IsTrue => truth(actual) == Some(true),
        Op::IsFalse => truth(actual) != Some(true),
        Op::Empty => is_empty(actual),
        Op::NotEmpty => !is_empty(actual),
        Op::DateEmpty => date_ms(actual).is_none(),
        Op::DateNotEmpty => date_ms(actual).is_some(),
        Op::After => both_dates(actual, expected).is_some_and(|(a, e)| a > e),
        Op::Before => both_dates(actual, expected).is_some_and(|(a, e)| a < e),
        Op::Between => between(actual, expected),
    }
}

/// A value as text, for text comparisons: null and containers are empty text.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_lowercase(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null | Value::Array(_) | Value::Object(_) => String::new(),
    }
}

fn contains(actual: &Value, expected: &Value) -> bool {
    text(actual).contains(&text(expected))
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Number(_) | Value::Bool(_) => false,
    }
}

/// A number, from a number or a text that reads as one.
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        Value::Null | Value::Bool(_) | Value::Array(_) | Value::Object(_) => None,
    }
}

/// A boolean, from a boolean or the text `true`/`false`.
fn truth(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        },
        Value::Null | Value::Number(_) | Value::Array(_) | Value::Object(_) => None,
    }
}

/// Below this, an epoch number is in seconds (10^11 s is the year 5138; 10^11 ms is 1973).
const EPOCH_SECONDS_BELOW: f64 = 1e11;

/// An instant in epoch ms, from ISO-8601 text or an epoch number (seconds or ms).
fn date_ms(v: &Value) -> Option<i64> {
    match v {
        Value::String(s) => parse_date_ms(s),
        Value::Number(n) => {
            let f = n.as_f64().filter(|f| f.is_finite())?;
            let ms = if f.abs() < EPOCH_SECONDS_BELOW {
                f * 1000.0
            } else {
                f
            };
            // In range of i64 (the cast saturates, but out-of-range dates are no dates).
            (ms.abs() < 9.0e15).then_some(ms as i64)
        }
        Value::Null | Value::Bool(_) | Value::Array(_) | Value::Object(_) => None,
    }
}

fn both_dates(actual: &Value, expected: &Value) -> Option<(i64, i64)> {
    Some((date_ms(actual)?, date_ms(expected)?))
}

fn between(actual: &Value, range: &Value) -> bool {
    let Some(at) = date_ms(actual) else {
        return false;
    };
    let bound = |name: &str| range.get(name).and_then(date_ms);
    match (bound("from"), bound("to")) {
        (Some(from), Some(to)) => from <= at && at <= to,
        _ => false,
    }
}

/// Numbers by value (when both read as numbers).
fn compare(actual: &Value, expected: &Value) -> Option<std::cmp::Ordering> {
    number(actual)?.partial_cmp(&number(expected)?)
}

/// Equality by the property's type: booleans as booleans, numbers by value, dates as
/// instants, otherwise text case-insensitively (a missing property equals empty text).
fn equals(actual: &Value, expected: &Value) -> bool {
    match actual {
        Value::Bool(b) => truth(expected) == Some(*b),
        Value::Number(_) => compare(actual, expected).is_some_and(|o| o.is_eq()),
        Value::String(s) => match (parse_date_ms(s), date_ms(expected)) {
            (Some(a), Some(e)) if !matches!(expected, Value::Number(_)) => a == e,
            _ => text(actual) == text(expected),
        },
        Value::Null | Value::Array(_) | Value::Object(_) => is_empty(expected),
    }
}
