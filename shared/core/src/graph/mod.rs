//! A workflow as Loops has it: a graph of nodes from one trigger, through emails, timers,
//! audience filters, branches and experiments, to exits. Pure data and rules, no I/O: the
//! store keeps a [`Graph`] as JSON in the workflow's row, the API edits it (`edit`), and the
//! runner walks it.
//!
//! Every node has two names. Its `id` is what the API shows and takes (an opaque string);
//! its `seq` is a small number, unique within the workflow and never reused, that runs and
//! email sends record (`workflow_runs.step`, `email_sends.step`), so that "exactly once per
//! (run, node)" is the unique index that already made sends exactly once per (run, step).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub mod conditions;
pub mod edit;
mod error;
pub mod experiment;
mod update;
mod valid;

pub use conditions::{AudienceFilter, Condition};

/// A node's id, as the API shows it.
pub type NodeId = String;

/// Most nodes in one workflow (Loops' limit for public workflows).
pub const MAX_NODES: usize = 300;

/// A workflow's graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Graph {
    /// The trigger node.
    pub root: NodeId,
    /// The `seq` the next new node gets.
    pub next_seq: u32,
    /// Every node, by id.
    pub nodes: BTreeMap<NodeId, Node>,
}

/// One node: what it does and where runs go after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Node {
    /// Its number within the workflow (see the module's notes).
    pub seq: u32,
    /// The nodes that follow it, in order (a branch's paths left to right).
    pub next: Vec<NodeId>,
    /// What it is.
    pub kind: NodeKind,
}

/// What a node is: Loops' `typeName` and the fields each type owns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "typeName", rename_all_fields = "camelCase", deny_unknown_fields)]
pub enum NodeKind {
    /// A trigger not chosen yet: a workflow with one starts no runs.
    BlankTrigger,
    /// A contact is created.
    SignupTrigger,
    /// A named event (`stripe:invoice.payment_failed`, or a custom one).
    EventTrigger {
        /// The event's name; none yet on a new trigger.
        event_name: Option<String>,
        /// Whether a contact may start the workflow again after a run.
        #[serde(default)]
        re_eligible: bool,
    },
    /// A contact joins the workflow's mailing list.
    AddToListTrigger {
        /// Whether a contact may start the workflow again after a run.
        #[serde(default)]
        re_eligible: bool,
    },
    /// Inlet's own: a contact is updated (workflows made with the legacy `contactUpdated`
    /// trigger; Loops has no such trigger).
    ContactUpdatedTrigger,
    /// Sends an email message (an email template) to the contact.
    SendEmailAction {
        /// The message, made with the node.
        email_message_id: String,
    },
    /// Waits before the next node.
    TimerAction {
        /// How many `unit`s.
        amount: u32,
        /// Minutes, hours or days (seconds: Inlet's own, and legacy `wait` steps).
        unit: TimerUnit,
    },
    /// Lets on only the contacts that match; the others leave the workflow here. With
    /// `applies_downstream`, it is checked again at every later node.
    AudienceFilter {
        /// The conditions; none lets everyone on.
        filter: Option<AudienceFilter>,
        /// Whether later nodes check it again.
        #[serde(default)]
        applies_downstream: bool,
    },
    /// Its children are audience filters; a run takes the first path, left to right,
    /// whose filter matches, and leaves if none does.
    BranchNode,
    /// Its children are variants; a run takes one at random, by the variants' rates.
    ExperimentBranchNode,
    /// One path of an experiment.
    VariantNode {
        /// Share of runs, 0 to 100.
        sampling_rate: u8,
        /// Whether this is the control path.
        #[serde(default)]
        is_control: bool,
    },
    /// The end of a path.
    ExitNode,
}

/// A timer's unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TimerUnit {
    /// Seconds (Inlet's own; Loops' smallest unit is the minute).
    #[serde(rename = "s")]
    Seconds,
    /// Minutes.
    #[serde(rename = "m")]
    Minutes,
    /// Hours.
    #[serde(rename = "h")]
    Hours,
    /// Days.
    #[serde(rename = "d")]
    Days,
}

impl TimerUnit {
    /// Milliseconds in one unit.
    pub fn millis(self) -> u64 {
        match self {
            Self::Seconds => 1_000,
            Self::Minutes => 60_000,
            Self::Hours => 3_600_000,
            Self::Days => 86_400_000,
        }
    }
}

impl NodeKind {
    /// Loops' `typeName`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::BlankTrigger => "BlankTrigger",
            Self::SignupTrigger => "SignupTrigger",
            Self::EventTrigger { .. } => "EventTrigger",
            Self::AddToListTrigger { .. } => "AddToListTrigger",
            Self::ContactUpdatedTrigger => "ContactUpdatedTrigger",
            Self::SendEmailAction { .. } => "SendEmailAction",
            Self::TimerAction { .. } => "TimerAction",
            Self::AudienceFilter { .. } => "AudienceFilter",
            Self::BranchNode => "BranchNode",
            Self::ExperimentBranchNode => "ExperimentBranchNode",
            Self::VariantNode { .. } => "VariantNode",
            Self::ExitNode => "ExitNode",
        }
    }

    /// Whether it is a trigger (the root, and only the root, is one).
    pub fn is_trigger(&self) -> bool {
        matches!(
            self,
            Self::BlankTrigger
                | Self::SignupTrigger
                | Self::EventTrigger { .. }
                | Self::AddToListTrigger { .. }
                | Self::ContactUpdatedTrigger
        )
    }

    /// A timer's length in milliseconds (saturating).
    pub fn timer_millis(&self) -> Option<u64> {
        match self {
            Self::TimerAction { amount, unit } => {
                Some(u64::from(*amount).saturating_mul(unit.millis()))
            }
            _ => None,
        }
    }
}

impl Graph {
    /// The node with this id.
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.get(id)
    }

    /// The id and node with this `seq`.
    pub fn by_seq(&self, seq: u32) -> Option<(&NodeId, &Node)> {
        self.nodes.iter().find(|(_, n)| n.seq == seq)
    }

    /// The trigger node.
    pub fn trigger(&self) -> Option<&Node> {
        self.nodes.get(&self.root)
    }

    /// The event names whose arrival makes a run leave: those of `event` conditions, negated,
    /// in audience filters that apply downstream and must all match (a payment that ends a
    /// reminder series). The store keeps them in the workflow's row, so that an event
    /// cancels the runs it ends in the transaction that records it.
    pub fn exit_events(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .nodes
            .values()
            .filter_map(|n| match &n.kind {
                NodeKind::AudienceFilter {
                    filter: Some(filter),
                    applies_downstream: true,
                } => Some(filter.exit_events()),
                _ => None,
            })
            .flatten()
            .collect();
        names.sort();
        names.dedup();
        names
    }
}
