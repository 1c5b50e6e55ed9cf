//! Audience filters: Loops' conditions on a contact (its properties, its emails' activity),
//! and Inlet's own on its mailing lists and on the events that reached it during a run.

use serde::{Deserialize, Serialize};
use serde_json::Value;

mod eval;
#[cfg(test)]
mod tests;

pub use eval::{ContactFacts, holds, matches};

/// Conditions, all or any of which must hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AudienceFilter {
    /// `all` or `any`.
    #[serde(rename = "match")]
    pub match_: Match,
    /// The conditions.
    pub conditions: Vec<Condition>,
}

/// How a filter's conditions combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Match {
    /// Every condition holds.
    All,
    /// At least one does.
    Any,
}

/// One condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
pub enum Condition {
    /// A contact property compared with a value.
    Property {
        /// The property (`firstName`, `plan`…).
        key: String,
        /// The comparison.
        operator: PropertyOperator,
        /// What it is compared with (`between` takes `{from, to}`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<Value>,
    },
    /// Loops' opt-in status (double opt-in lists; Inlet refuses it when a filter is saved).
    OptIn {
        /// `accepted`, `pending`, `rejected` or null.
        status: Option<String>,
    },
    /// Whether an email was sent (opened and clicked are not tracked by Inlet).
    Activity {
        /// `sent`, `opened` or `clicked`.
        action: String,
        /// Whether the condition is that it did not happen.
        #[serde(default)]
        negate: bool,
        /// `campaign`, `workflow` or `workflowEmail`.
        target: String,
        /// The workflow's id, or the email message's for `workflowEmail`.
        id: String,
    },
    /// Inlet's own: the contact is on a mailing list.
    MailingList {
        /// The list.
        mailing_list_id: String,
        /// Whether the condition is that it is not.
        #[serde(default)]
        negate: bool,
    },
    /// Inlet's own: an event with this name reached the contact since the run started.
    Event {
        /// The event's name.
        event_name: String,
        /// Whether the condition is that none did.
        #[serde(default)]
        negate: bool,
    },
}

/// Loops' property operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PropertyOperator {
    /// Always true.
    Any,
    /// Text contains the value (case-insensitive).
    Contains,
    /// Text does not contain it.
    NotContains,
    /// Equal (numbers by value, text case-insensitive, booleans).
    Equals,
    /// Not equal.
    NotEquals,
    /// Greater (numbers).
    GreaterThan,
    /// Less (numbers).
    LessThan,
    /// The property is true.
    IsTrue,
    /// The property is false (or unset).
    IsFalse,
    /// Unset or empty text.
    Empty,
    /// Set and not empty.
    NotEmpty,
    /// A date property is unset.
    DateEmpty,
    /// A date property is set.
    DateNotEmpty,
    /// A date after the value.
    After,
    /// A date before the value.
    Before,
    /// A date within `{from, to}`.
    Between,
}

impl AudienceFilter {
    /// The events whose arrival means the filter no longer holds: negated `event`
    /// conditions of a filter that needs all of its conditions (with `any`, one event
    /// alone need not end it).
    pub fn exit_events(&self) -> Vec<String> {
        if self.match_ != Match::All {
            return Vec::new();
        }
        self.conditions
            .iter()
            .filter_map(|c| match c {
                Condition::Event {
                    event_name,
                    negate: true,
                } => Some(event_name.clone()),
                _ => None,
            })
            .collect()
    }
}
