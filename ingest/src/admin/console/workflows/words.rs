//! A workflow node in words, as the console's graph shows it: "Trigger: event
//! stripe:invoice.payment_failed", "Send email: Your payment failed", "Wait 2 days",
//! "Audience filter: plan equals pro". Plain text; the template escapes it.

use std::collections::HashMap;

use inlet_shared::graph::conditions::{Match, PropertyOperator};
use inlet_shared::graph::{AudienceFilter, Condition, NodeKind, TimerUnit};
use serde_json::Value;

/// Longest stored string shown whole (event names, subjects, values); longer ones are cut
/// with an ellipsis so one hostile row cannot make the page unreadable.
const MAX_SHOWN_CHARS: usize = 200;

/// What the words name by id: email messages' subjects, mailing lists' names, and the
/// workflow's own list (the one an add-to-list trigger listens to).
#[derive(Debug, Default)]
pub struct Names {
    /// Email message (template) id → its subject.
    pub subjects: HashMap<String, String>,
    /// Mailing list id → its name.
    pub lists: HashMap<String, String>,
    /// The workflow's mailing list, if it has one.
    pub audience_list: Option<String>,
}

impl Names {
    fn list(&self, id: &str) -> String {
        clip(self.lists.get(id).map_or(id, String::as_str))
    }
}

/// `s`, cut to [`MAX_SHOWN_CHARS`] characters (never inside one).
pub fn clip(s: &str) -> String {
    let mut chars = s.chars();
    let shown: String = chars.by_ref().take(MAX_SHOWN_CHARS).collect();
    if chars.next().is_some() {
        format!("{shown}…")
    } else {
        shown
    }
}

/// The node in words.
pub fn label(kind: &NodeKind, names: &Names) -> String {
    match kind {
        NodeKind::BlankTrigger => "Trigger: not chosen yet".into(),
        NodeKind::SignupTrigger => "Trigger: contact added".into(),
        NodeKind::ContactUpdatedTrigger => "Trigger: contact updated".into(),
        NodeKind::EventTrigger {
            event_name: Some(name),
            ..
        } => format!("Trigger: event {}", clip(name)),
        NodeKind::EventTrigger {
            event_name: None, ..
        } => "Trigger: event (none chosen yet)".into(),
        NodeKind::AddToListTrigger { .. } => match &names.audience_list {
            Some(list) => format!("Trigger: contact added to list {}", names.list(list)),
            None => "Trigger: contact added to the workflow's list (none chosen yet)".into(),
        },
        NodeKind::SendEmailAction { email_message_id } => {
            match names.subjects.get(email_message_id) {
                Some(subject) if subject.trim().is_empty() => "Send email: (no subject yet)".into(),
                Some(subject) => format!("Send email: {}", clip(subject)),
                None => format!(
                    "Send email: (email message {} not found)",
                    clip(email_message_id)
                ),
            }
        }
        NodeKind::TimerAction { amount, unit } => format!("Wait {}", duration(*amount, *unit)),
        NodeKind::AudienceFilter { filter, .. } => {
            format!("Audience filter: {}", filter_words(filter.as_ref(), names))
        }
        NodeKind::BranchNode => "Branch".into(),
        NodeKind::ExperimentBranchNode => "Experiment".into(),
        NodeKind::VariantNode { sampling_rate, .. } => {
            format!("Variant: {sampling_rate}% of runs")
        }
        NodeKind::ExitNode => "Exit".into(),
    }
}

/// What else the node does, when it says more than its label.
pub fn note(kind: &NodeKind) -> Option<&'static str> {
    match kind {
        NodeKind::EventTrigger {
            re_eligible: true, ..
        }
        | NodeKind::AddToListTrigger { re_eligible: true } => Some("contacts may enter again"),
        NodeKind::AudienceFilter {
            applies_downstream: true,
            ..
        } => Some("checked again at every later node"),
        NodeKind::VariantNode {
            is_control: true, ..
        } => Some("control"),
        NodeKind::BranchNode => Some("runs take the first path that matches, left to right"),
        _ => None,
    }
}

/// `2 days`, `1 hour`. Seconds (legacy `wait` steps) read in the largest unit they fill
/// exactly: 3600 seconds is `1 hour`.
pub fn duration(amount: u32, unit: TimerUnit) -> String {
    let (amount, unit) = match unit {
        TimerUnit::Seconds => [
            (86_400, TimerUnit::Days),
            (3_600, TimerUnit::Hours),
            (60, TimerUnit::Minutes),
        ]
        .into_iter()
        .find(|&(size, _)| amount >= size && amount.is_multiple_of(size))
        .map_or((amount, unit), |(size, bigger)| (amount / size, bigger)),
        _ => (amount, unit),
    };
    let word = match unit {
        TimerUnit::Seconds => "second",
        TimerUnit::Minutes => "minute",
        TimerUnit::Hours => "hour",
        TimerUnit::Days => "day",
    };
    if amount == 1 {
        format!("1 {word}")
    } else {
        format!("{amount} {word}s")
    }
}

/// A filter's conditions joined by "and" (all must hold) or "or" (any).
pub fn filter_words(filter: Option<&AudienceFilter>, names: &Names) -> String {
    let Some(filter) = filter.filter(|f| !f.conditions.is_empty()) else {
        return "everyone".into();
    };
    let joint = match filter.match_ {
        Match::All => " and ",
        Match::Any => " or ",
    };
    filter
        .conditions
        .iter()
        .map(|c| condition_words(c, names))
        .collect::<Vec<_>>()
        .join(joint)
}

fn condition_words(condition: &Condition, names: &Names) -> String {
    match condition {
        Condition::Property {
            key,
            operator,
            value,
        } => {
            let key = clip(key);
            let op = operator_words(*operator);
            match (takes_value(*operator), value) {
                (true, Some(value)) => format!("{key} {op} {}", value_words(value)),
                (true, None) => format!("{key} {op} (no value)"),
                (false, _) => format!("{key} {op}"),
            }
        }
        Condition::OptIn { status } => match status {
            Some(status) => format!("opt-in status is {}", clip(status)),
            None => "opt-in status is unset".into(),
        },
        Condition::Activity {
            action,
            negate,
            target,
            id,
        } => format!(
            "{} {} ({} {})",
            if *negate { "was not" } else { "was" },
            clip(action),
            clip(target),
            clip(id)
        ),
        Condition::MailingList {
            mailing_list_id,
            negate,
        } => format!(
            "{} list {}",
            if *negate { "is not on" } else { "is on" },
            names.list(mailing_list_id)
        ),
        Condition::Event { event_name, negate } => format!(
            "event {} {} since the run started",
            clip(event_name),
            if *negate {
                "has not happened"
            } else {
                "happened"
            }
        ),
    }
}

fn operator_words(operator: PropertyOperator) -> &'static str {
    match operator {
        PropertyOperator::Any => "is anything",
        PropertyOperator::Contains => "contains",
        PropertyOperator::NotContains => "does not contain",
        PropertyOperator::Equals => "equals",
        PropertyOperator::NotEquals => "does not equal",
        PropertyOperator::GreaterThan => "is greater than",
        PropertyOperator::LessThan => "is less than",
        PropertyOperator::IsTrue => "is true",
        PropertyOperator::IsFalse => "is false",
        PropertyOperator::Empty => "is empty",
        PropertyOperator::NotEmpty => "is not empty",
        PropertyOperator::DateEmpty => "has no date",
        PropertyOperator::DateNotEmpty => "has a date",
        PropertyOperator::After => "is after",
        PropertyOperator::Before => "is before",
        PropertyOperator::Between => "is between",
    }
}

fn takes_value(operator: PropertyOperator) -> bool {
    matches!(
        operator,
        PropertyOperator::Contains
            | PropertyOperator::NotContains
            | PropertyOperator::Equals
            | PropertyOperator::NotEquals
            | PropertyOperator::GreaterThan
            | PropertyOperator::LessThan
            | PropertyOperator::After
            | PropertyOperator::Before
            | PropertyOperator::Between
    )
}

/// A compared value: text as it is, `{from, to}` as "from and to", anything else as JSON.
fn value_words(value: &Value) -> String {
    match value {
        Value::String(s) => clip(s),
        Value::Object(range) => match (range.get("from"), range.get("to")) {
            (Some(from), Some(to)) if range.len() == 2 => {
                format!("{} and {}", value_words(from), value_words(to))
            }
            _ => clip(&value.to_string()),
        },
        other => clip(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use inlet_shared::graph::conditions::Match;
    use serde_json::json;

    use super::*;

    fn filter(conditions: Vec<Condition>, match_: Match) -> NodeKind {
        NodeKind::AudienceFilter {
            filter: Some(AudienceFilter { match_, conditions }),
            applies_downstream: false,
        }
    }

    #[test]
    fn nodes_read_as_words() {
        let mut names = Names::default();
        names
            .subjects
            .insert("tpl_1".into(), "Your payment failed".into());
        names.subjects.insert("tpl_blank".into(), " ".into());
        names.lists.insert("lst_1".into(), "Customers".into());
        let cases = [
            (
                NodeKind::EventTrigger {
                    event_name: Some("stripe:invoice.payment_failed".into()),
                    re_eligible: false,
                },
                "Trigger: event stripe:invoice.payment_failed",
            ),
            (
                NodeKind::SendEmailAction {
                    email_message_id: "tpl_1".into(),
                },
                "Send email: Your payment failed",
            ),
            (
                NodeKind::SendEmailAction {
                    email_message_id: "tpl_blank".into(),
                },
                "Send email: (no subject yet)",
            ),
            (
                NodeKind::SendEmailAction {
                    email_message_id: "tpl_gone".into(),
                },
                "Send email: (email message tpl_gone not found)",
            ),
            (
                NodeKind::TimerAction {
                    amount: 2,
                    unit: TimerUnit::Days,
                },
                "Wait 2 days",
            ),
            (
                NodeKind::TimerAction {
                    amount: 1,
                    unit: TimerUnit::Hours,
                },
                "Wait 1 hour",
            ),
            (
                NodeKind::TimerAction {
                    amount: 7_200,
                    unit: TimerUnit::Seconds,
                },
                "Wait 2 hours",
            ),
            (
                NodeKind::TimerAction {
                    amount: 90,
                    unit: TimerUnit::Seconds,
                },
                "Wait 90 seconds",
            ),
            (
                filter(
                    vec![Condition::Property {
                        key: "plan".into(),
                        operator: PropertyOperator::Equals,
                        value: Some(json!("pro")),
                    }],
                    Match::All,
                ),
                "Audience filter: plan equals pro",
            ),
            (
                filter(
                    vec![
                        Condition::Property {
                            key: "seats".into(),
                            operator: PropertyOperator::Between,
                            value: Some(json!({"from": 2, "to": 10})),
                        },
                        Condition::MailingList {
                            mailing_list_id: "lst_1".into(),
                            negate: true,
                        },
                        Condition::Event {
                            event_name: "stripe:invoice.paid".into(),
                            negate: true,
                        },
                    ],
                    Match::Any,
                ),
                "Audience filter: seats is between 2 and 10 or is not on list Customers or \
                 event stripe:invoice.paid has not happened since the run started",
            ),
            (filter(vec![], Match::All), "Audience filter: everyone"),
            (NodeKind::BranchNode, "Branch"),
            (NodeKind::ExitNode, "Exit"),
        ];
        for (kind, words) in cases {
            assert_eq!(label(&kind, &names), words);
        }
    }

    #[test]
    fn long_values_are_cut_between_characters() {
        let long = "é".repeat(MAX_SHOWN_CHARS + 5);
        let cut = clip(&long);
        assert_eq!(cut.chars().count(), MAX_SHOWN_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(clip("short"), "short");
    }
}
