//! A workflow's graph as stored: read (a legacy workflow's `steps` read as the straight
//! graph they make), made for a new workflow, and written under its revision token, with
//! the columns derived from it (the trigger's, the exit events) written in the same
//! statement. The one writer of `workflows.graph` and `workflows.revision_id`.

use std::collections::BTreeMap;

use inlet_core::domain::{new_id, now_ms};
use inlet_core::graph::{Graph, Node, NodeKind, TimerUnit};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

use super::Step;
use crate::db::entities::workflow;

/// Why a graph could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// The stored JSON does not parse (a row written by something else).
    #[error("the workflow's stored graph does not parse")]
    Corrupt(#[source] serde_json::Error),
    /// The revision named is not the workflow's current one: someone else edited it.
    #[error("the workflow changed since its revision was read")]
    StaleRevision,
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// A fresh node id.
pub fn new_node_id() -> String {
    new_id("wfn_")
}

/// A fresh revision token.
pub fn new_revision_id() -> String {
    new_id("rev_")
}

/// The graph of a new workflow: a blank trigger and an exit.
pub fn blank() -> Graph {
    let (root, exit) = (new_node_id(), new_node_id());
    let mut nodes = BTreeMap::new();
    nodes.insert(
        root.clone(),
        Node {
            seq: 0,
            next: vec![exit.clone()],
            kind: NodeKind::BlankTrigger,
        },
    );
    nodes.insert(
        exit,
        Node {
            seq: 1,
            next: Vec::new(),
            kind: NodeKind::ExitNode,
        },
    );
    Graph {
        root,
        next_seq: 2,
        nodes,
    }
}

/// The straight graph of legacy steps under `trigger`: step `i` is the node with `seq` `i`
/// (so a run at step `i` resumes at that node), then an exit (`seq` = the step count: a
/// legacy run past its last step is at the exit), then the trigger. Node ids are derived
/// from the workflow's id and the seq, so reading the same row twice gives the same graph.
pub fn from_steps(workflow_id: &str, trigger: NodeKind, steps: &[Step]) -> Graph {
    let count = u32::try_from(steps.len()).unwrap_or(u32::MAX);
    let id = |seq: u32| format!("{workflow_id}_n{seq}");
    let mut nodes = BTreeMap::new();
    for (seq, step) in (0..count).zip(steps) {
        let kind = match step {
            Step::SendEmail { template_id } => NodeKind::SendEmailAction {
                email_message_id: template_id.clone(),
            },
            Step::Wait { seconds } => NodeKind::TimerAction {
                amount: u32::try_from(*seconds).unwrap_or(u32::MAX),
                unit: TimerUnit::Seconds,
            },
        };
        nodes.insert(
            id(seq),
            Node {
                seq,
                next: vec![id(seq.saturating_add(1))],
                kind,
            },
        );
    }
    nodes.insert(
        id(count),
        Node {
            seq: count,
            next: Vec::new(),
            kind: NodeKind::ExitNode,
        },
    );
    let root_seq = count.saturating_add(1);
    let first = if steps.is_empty() { id(count) } else { id(0) };
    nodes.insert(
        id(root_seq),
        Node {
            seq: root_seq,
            next: vec![first],
            kind: trigger,
        },
    );
    Graph {
        root: id(root_seq),
        next_seq: root_seq.saturating_add(1),
        nodes,
    }
}

/// The trigger node of a legacy workflow's columns.
fn legacy_trigger(w: &workflow::Model) -> NodeKind {
    match w.trigger_type.as_str() {
        "event" => NodeKind::EventTrigger {
            event_name: w.trigger_value.clone(),
            // Legacy workflows start a run on every matching event.
            re_eligible: true,
        },
        "contactAdded" => NodeKind::SignupTrigger,
        "contactUpdated" => NodeKind::ContactUpdatedTrigger,
        "addedToList" => NodeKind::AddToListTrigger { re_eligible: true },
        _ => NodeKind::BlankTrigger,
    }
}

/// The workflow's graph.
pub fn of(w: &workflow::Model) -> Result<Graph, GraphError> {
    match &w.graph {
        Some(json) => serde_json::from_str(json).map_err(GraphError::Corrupt),
        None => {
            let steps: Vec<Step> = serde_json::from_str(&w.steps).map_err(GraphError::Corrupt)?;
            Ok(from_steps(&w.id, legacy_trigger(w), &steps))
        }
    }
}

/// The `trigger_type` and `trigger_value` columns of a graph's trigger (`none` for one that
/// starts nothing yet), for a workflow sending to `mailing_list_id`.
pub fn trigger_columns(
    graph: &Graph,
    mailing_list_id: Option<&str>,
) -> (&'static str, Option<String>) {
    match graph.trigger().map(|n| &n.kind) {
        Some(NodeKind::SignupTrigger) => ("contactAdded", None),
        Some(NodeKind::ContactUpdatedTrigger) => ("contactUpdated", None),
        Some(NodeKind::EventTrigger {
            event_name: Some(name),
            ..
        }) => ("event", Some(name.clone())),
        Some(NodeKind::AddToListTrigger { .. }) if mailing_list_id.is_some() => {
            ("addedToList", mailing_list_id.map(str::to_owned))
        }
        _ => ("none", None),
    }
}

/// Writes `graph` as workflow `w`'s, if its revision is still `expected` (`None` for a
/// workflow without one yet), under a new revision token, with the derived columns. The
/// compare and the write are one statement, so of two concurrent edits from the same
/// revision exactly one lands; the other gets [`GraphError::StaleRevision`]. Returns the
/// new revision token.
pub async fn save<C: ConnectionTrait>(
    db: &C,
    w: &workflow::Model,
    graph: &Graph,
    expected: Option<&str>,
) -> Result<String, GraphError> {
    let json = serde_json::to_string(graph).map_err(GraphError::Corrupt)?;
    let exits = serde_json::to_string(&graph.exit_events()).map_err(GraphError::Corrupt)?;
    let (trigger_type, trigger_value) = trigger_columns(graph, w.audience_list_id.as_deref());
    let revision = new_revision_id();
    let mut update = workflow::Entity::update_many()
        .col_expr(workflow::Column::Graph, Expr::value(json))
        .col_expr(workflow::Column::ExitEvents, Expr::value(exits))
        .col_expr(workflow::Column::TriggerType, Expr::value(trigger_type))
        .col_expr(workflow::Column::TriggerValue, Expr::value(trigger_value))
        .col_expr(workflow::Column::RevisionId, Expr::value(revision.clone()))
        .col_expr(workflow::Column::UpdatedAt, Expr::value(now_ms()))
        .filter(workflow::Column::Id.eq(w.id.as_str()));
    update = match expected {
        Some(r) => update.filter(workflow::Column::RevisionId.eq(r)),
        None => update.filter(workflow::Column::RevisionId.is_null()),
    };
    if update.exec(db).await?.rows_affected == 1 {
        Ok(revision)
    } else {
        Err(GraphError::StaleRevision)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_steps_keep_their_indexes_as_seqs() {
        let steps = vec![
            Step::SendEmail {
                template_id: "tpl_a".into(),
            },
            Step::Wait { seconds: 30 },
            Step::SendEmail {
                template_id: "tpl_b".into(),
            },
        ];
        let g = from_steps("wf_1", NodeKind::SignupTrigger, &steps);
        let (_, second) = g.by_seq(1).expect("seq 1");
        assert_eq!(
            second.kind,
            NodeKind::TimerAction {
                amount: 30,
                unit: TimerUnit::Seconds
            }
        );
        let (exit_id, exit) = g.by_seq(3).expect("the exit");
        assert_eq!(exit.kind, NodeKind::ExitNode);
        assert_eq!(
            g.by_seq(2).map(|(_, n)| n.next.clone()),
            Some(vec![exit_id.clone()])
        );
        assert_eq!(g.trigger().map(|n| n.seq), Some(4));
        assert_eq!(
            g.trigger().map(|n| n.next.clone()),
            Some(vec!["wf_1_n0".to_owned()])
        );
        assert_eq!(g.next_seq, 5);
        assert_eq!(from_steps("wf_1", NodeKind::SignupTrigger, &steps), g);
    }
}
