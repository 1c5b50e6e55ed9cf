//! What a graph must be: its shape (a DAG from the trigger, every node reachable, every
//! path ending at an exit, unique seqs below `next_seq`), the audience filters Inlet can
//! evaluate, and what a workflow needs before it starts sending ([`runnable`]).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::conditions::{Condition, PropertyOperator};
use std::collections::VecDeque;

use super::error::EditError;
use super::{AudienceFilter, Graph, MAX_NODES, NodeId, NodeKind};

/// Most conditions in one filter.
pub const MAX_CONDITIONS: usize = 50;
/// Longest text in a condition (a key, a value, an id).
pub const MAX_CONDITION_TEXT: usize = 500;

/// The longest event name.
pub const MAX_EVENT_NAME: usize = 500;

/// Checks an event name: 1 to 500 characters, no control characters.
pub fn check_event_name(name: &str) -> Result<(), EditError> {
    let chars = name.chars().count();
    if name.trim().is_empty() || chars > MAX_EVENT_NAME || name.chars().any(char::is_control) {
        Err(invalid(format!(
            "eventName must be 1 to {MAX_EVENT_NAME} characters without control characters."
        )))
    } else {
        Ok(())
    }
}

/// The nodes reachable from the root.
pub fn reachable(g: &Graph) -> BTreeSet<NodeId> {
    let mut seen = BTreeSet::new();
    let mut queue = VecDeque::from([g.root.clone()]);
    while let Some(id) = queue.pop_front() {
        if let Some(n) = g.nodes.get(&id)
            && seen.insert(id)
        {
            queue.extend(n.next.iter().cloned());
        }
    }
    seen
}

/// Why a workflow cannot start sending.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotRunnable {
    /// The trigger is not chosen.
    #[error("Choose the workflow's trigger first.")]
    NoTrigger,
    /// An event trigger without its event.
    #[error("The event trigger has no event name.")]
    NoEventName,
    /// A branch path that is not an audience filter, or an experiment path not a variant.
    #[error(
        "Node {0}: a BranchNode's paths must be AudienceFilters and an ExperimentBranchNode's VariantNodes."
    )]
    WrongPath(String),
    /// An experiment whose variants' rates do not add up to 100.
    #[error("Node {0}: the experiment's sampling rates must add up to 100.")]
    Rates(String),
    /// The graph's shape is broken (a row written by something else).
    #[error("The workflow's graph is not valid: {0}")]
    Shape(String),
}

fn text_ok(s: &str) -> bool {
    s.chars().count() <= MAX_CONDITION_TEXT
}

fn invalid(message: impl Into<String>) -> EditError {
    EditError::Invalid(message.into())
}

/// Checks a filter: conditions Inlet evaluates, with the values their operators need.
pub fn check_filter(f: &AudienceFilter) -> Result<(), EditError> {
    if f.conditions.len() > MAX_CONDITIONS {
        return Err(invalid(format!(
            "audienceFilter has at most {MAX_CONDITIONS} conditions."
        )));
    }
    for (i, c) in f.conditions.iter().enumerate() {
        let at = format!("audienceFilter.conditions[{i}]");
        match c {
            Condition::Property {
                key,
                operator,
                value,
            } => {
                if key.trim().is_empty() || !text_ok(key) {
                    return Err(invalid(format!(
                        "{at}.key must be 1 to {MAX_CONDITION_TEXT} characters."
                    )));
                }
                check_value(&at, *operator, value.as_ref())?;
            }
            Condition::OptIn { .. } => {
                return Err(invalid(format!(
                    "{at}: optIn conditions are not supported by Inlet (it has no double opt-in)."
                )));
            }
            Condition::Activity { action, id, .. } => {
                if action != "sent" {
                    return Err(invalid(format!(
                        "{at}: activity {action} is not supported by Inlet (it tracks sends, not opens or clicks)."
                    )));
                }
                if id.is_empty() || !text_ok(id) {
                    return Err(invalid(format!(
                        "{at}.id must be 1 to {MAX_CONDITION_TEXT} characters."
                    )));
                }
            }
            Condition::MailingList {
                mailing_list_id, ..
            } => {
                if mailing_list_id.is_empty() || !text_ok(mailing_list_id) {
                    return Err(invalid(format!(
                        "{at}.mailingListId must be 1 to {MAX_CONDITION_TEXT} characters."
                    )));
                }
            }
            Condition::Event { event_name, .. } => {
                check_event_name(event_name)
                    .map_err(|_| invalid(format!("{at}.eventName must be 1 to 500 characters.")))?;
            }
        }
    }
    Ok(())
}

/// Checks a property condition's value against what its operator compares.
fn check_value(at: &str, op: PropertyOperator, value: Option<&Value>) -> Result<(), EditError> {
    use PropertyOperator as P;
    let needs_value = matches!(
        op,
        P::Contains
            | P::NotContains
            | P::Equals
            | P::NotEquals
            | P::GreaterThan
            | P::LessThan
            | P::After
            | P::Before
            | P::Between
    );
    match value {
        None if needs_value => Err(invalid(format!("{at}.value is required by this operator."))),
        None => Ok(()),
        Some(Value::String(s)) if text_ok(s) && op != P::Between => Ok(()),
        Some(Value::Number(_) | Value::Bool(_)) if op != P::Between => Ok(()),
        Some(Value::Object(o)) if op == P::Between => {
            let side = |k: &str| o.get(k).and_then(Value::as_str).is_some_and(text_ok);
            if o.len() == 2 && side("from") && side("to") {
                Ok(())
            } else {
                Err(invalid(format!(
                    "{at}.value of between must be {{from, to}}."
                )))
            }
        }
        Some(_) => Err(invalid(format!(
            "{at}.value must be a string or number of at most {MAX_CONDITION_TEXT} characters (between: {{from, to}})."
        ))),
    }
}

/// Checks a graph's shape: the root a trigger and the only one, every node reachable from
/// it, no loop, only exits without a next node (and exits with none), each next node
/// existing, seqs unique and below `next_seq`, at most [`MAX_NODES`] nodes.
pub fn check(g: &Graph) -> Result<(), String> {
    if g.nodes.len() > MAX_NODES {
        return Err(format!("more than {MAX_NODES} nodes"));
    }
    match g.trigger() {
        Some(n) if n.kind.is_trigger() => {}
        _ => return Err("the root is not a trigger".into()),
    }
    let mut seqs = BTreeSet::new();
    for (id, n) in &g.nodes {
        if n.seq >= g.next_seq || !seqs.insert(n.seq) {
            return Err(format!("{id}: seq {} reused or not below next_seq", n.seq));
        }
        if *id != g.root && n.kind.is_trigger() {
            return Err(format!("{id}: a second trigger"));
        }
        let exit = matches!(n.kind, NodeKind::ExitNode);
        if exit != n.next.is_empty() {
            return Err(format!("{id}: an exit must end a path, and only an exit"));
        }
        let unique: BTreeSet<&String> = n.next.iter().collect();
        if unique.len() != n.next.len() {
            return Err(format!("{id}: the same next node twice"));
        }
        if let Some(missing) = n.next.iter().find(|c| !g.nodes.contains_key(*c)) {
            return Err(format!("{id}: next node {missing} does not exist"));
        }
    }
    if reachable(g).len() != g.nodes.len() {
        return Err("a node is not reachable from the trigger".into());
    }
    acyclic(g)
}

/// Depth-first search with colours: a grey node met again is a loop.
fn acyclic(g: &Graph) -> Result<(), String> {
    #[derive(Clone, Copy, PartialEq)]
    enum Colour {
        Grey,
        Black,
    }
    let mut colour: BTreeMap<&str, Colour> = BTreeMap::new();
    // An explicit stack: (node, index of the next child to visit).
    let mut stack: Vec<(&str, usize)> = vec![(g.root.as_str(), 0)];
    colour.insert(g.root.as_str(), Colour::Grey);
    while let Some((id, i)) = stack.pop() {
        let next = g.nodes.get(id).and_then(|n| n.next.get(i));
        match next {
            Some(child) => {
                stack.push((id, i.saturating_add(1)));
                match colour.get(child.as_str()) {
                    Some(Colour::Grey) => return Err(format!("a loop through {child}")),
                    Some(Colour::Black) => {}
                    None => {
                        colour.insert(child.as_str(), Colour::Grey);
                        stack.push((child.as_str(), 0));
                    }
                }
            }
            None => {
                colour.insert(id, Colour::Black);
            }
        }
    }
    Ok(())
}

/// Whether the workflow can start sending, as far as its graph says (its emails' content
/// and its mailing list are the caller's to check): a chosen, complete trigger, branch paths
/// that are audience filters, experiment paths that are variants whose rates add up to 100.
pub fn runnable(g: &Graph) -> Result<(), NotRunnable> {
    check(g).map_err(NotRunnable::Shape)?;
    match g.trigger().map(|n| &n.kind) {
        Some(NodeKind::BlankTrigger) | None => return Err(NotRunnable::NoTrigger),
        Some(NodeKind::EventTrigger {
            event_name: None, ..
        }) => return Err(NotRunnable::NoEventName),
        _ => {}
    }
    for (id, n) in &g.nodes {
        let kids = || n.next.iter().filter_map(|c| g.nodes.get(c));
        match n.kind {
            NodeKind::BranchNode
                if !kids().all(|k| matches!(k.kind, NodeKind::AudienceFilter { .. })) =>
            {
                return Err(NotRunnable::WrongPath(id.clone()));
            }
            NodeKind::ExperimentBranchNode => {
                let mut total: u32 = 0;
                for k in kids() {
                    match k.kind {
                        NodeKind::VariantNode { sampling_rate, .. } => {
                            total = total.saturating_add(u32::from(sampling_rate));
                        }
                        _ => return Err(NotRunnable::WrongPath(id.clone())),
                    }
                }
                if total != 100 {
                    return Err(NotRunnable::Rates(id.clone()));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

impl Graph {
    /// The email messages its send nodes send.
    pub fn email_message_ids(&self) -> Vec<&str> {
        self.nodes
            .values()
            .filter_map(|n| match &n.kind {
                NodeKind::SendEmailAction { email_message_id } => Some(email_message_id.as_str()),
                _ => None,
            })
            .collect()
    }
}
