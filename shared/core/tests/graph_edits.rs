//! Random sequences of graph edits on random graphs, with hostile ids and payloads: no
//! edit panics, and after every one the graph is still a DAG from its trigger with every
//! node reachable, every path ending at an exit, unique seqs below `next_seq`, at most
//! `MAX_NODES` nodes; a refused edit changes nothing; removed nodes are gone.

use std::collections::BTreeMap;

use inlet_core::graph::edit::{self, EditError, Insert, NodeUpdate};
use inlet_core::graph::{Graph, MAX_NODES, Node, NodeKind};
use proptest::prelude::*;
use serde_json::json;

fn blank() -> Graph {
    let mut nodes = BTreeMap::new();
    nodes.insert(
        "root".to_owned(),
        Node {
            seq: 0,
            next: vec!["exit".into()],
            kind: NodeKind::BlankTrigger,
        },
    );
    nodes.insert(
        "exit".to_owned(),
        Node {
            seq: 1,
            next: vec![],
            kind: NodeKind::ExitNode,
        },
    );
    Graph {
        root: "root".into(),
        next_seq: 2,
        nodes,
    }
}

#[derive(Debug, Clone)]
enum Op {
    Create(u8, usize, usize, u8),
    AddBranch(usize),
    Reroute(usize, usize),
    Delete(usize),
    DeleteRecursive(usize),
    Update(usize, String),
    Hostile(String),
}

fn creatable(k: u8) -> NodeKind {
    match k % 7 {
        0 => NodeKind::AudienceFilter {
            filter: None,
            applies_downstream: false,
        },
        1 => NodeKind::BranchNode,
        2 => NodeKind::ExperimentBranchNode,
        3 => NodeKind::TimerAction {
            amount: 1,
            unit: inlet_core::graph::TimerUnit::Days,
        },
        4 => NodeKind::SendEmailAction {
            email_message_id: "tpl_1".into(),
        },
        5 => NodeKind::VariantNode {
            sampling_rate: 0,
            is_control: false,
        },
        _ => NodeKind::ExitNode,
    }
}

fn payloads() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(r#"{"typeName":"EventTrigger","eventName":"stripe:invoice.paid"}"#.to_owned()),
        Just(r#"{"typeName":"SignupTrigger"}"#.to_owned()),
        Just(r#"{"amount":2,"unit":"s"}"#.to_owned()),
        Just(r#"{"amount":366,"unit":"d"}"#.to_owned()),
        Just(r#"{"samplingRate":101}"#.to_owned()),
        Just(r#"{"samplingRate":50,"isControl":true}"#.to_owned()),
        Just(r#"{"appliesDownstream":true,"audienceFilter":{"match":"all","conditions":[{"type":"event","eventName":"x","negate":true}]}}"#.to_owned()),
        Just(r#"{"audienceFilter":{"match":"any","conditions":[{"type":"property","key":"plan","operator":"between","value":{"from":"a"}}]}}"#.to_owned()),
        Just(r#"{"audienceFilter":{"match":"all","conditions":[{"type":"optIn","status":null}]}}"#.to_owned()),
        "\\PC{0,40}",
        "\\{\"[a-zA-Z]{1,20}\":(\"\\PC{0,20}\"|-?[0-9]{1,25}|null|true|\\[\\]|\\{\\})\\}",
    ]
}

fn ops() -> impl Strategy<Value = Op> {
    let i = || 0usize..400;
    prop_oneof![
        4 => (any::<u8>(), i(), i(), 0u8..3).prop_map(|(k, a, b, m)| Op::Create(k, a, b, m)),
        1 => i().prop_map(Op::AddBranch),
        2 => (i(), i()).prop_map(|(a, b)| Op::Reroute(a, b)),
        1 => i().prop_map(Op::Delete),
        1 => i().prop_map(Op::DeleteRecursive),
        2 => (i(), payloads()).prop_map(|(a, p)| Op::Update(a, p)),
        1 => "\\PC{0,30}".prop_map(Op::Hostile),
    ]
}

/// The id of the node at position `i` (of the current nodes, wrapping).
fn pick(g: &Graph, i: usize) -> String {
    let ids: Vec<&String> = g.nodes.keys().collect();
    ids.get(i % ids.len().max(1))
        .map(|s| (*s).clone())
        .unwrap_or_default()
}

fn apply(g: &mut Graph, counter: &mut u32, op: &Op) -> Result<edit::Edited, EditError> {
    let mut ids = || {
        *counter += 1;
        format!("n{counter}")
    };
    match op {
        Op::Create(k, a, b, mode) => {
            let from = pick(g, *a);
            let at = match mode {
                0 => {
                    let to = g
                        .nodes
                        .get(&from)
                        .and_then(|n| n.next.get(*b % n.next.len().max(1)).cloned())
                        .unwrap_or_else(|| pick(g, *b));
                    Insert::Between { from, to }
                }
                1 => Insert::Before { to: pick(g, *b) },
                _ => Insert::After { from },
            };
            edit::create(g, &mut ids, &at, creatable(*k))
        }
        Op::AddBranch(a) => {
            let id = pick(g, *a);
            edit::add_branch(g, &mut ids, &id)
        }
        Op::Reroute(a, b) => {
            let (s, t) = (pick(g, *a), pick(g, *b));
            edit::reroute(g, &s, &t)
        }
        Op::Delete(a) => {
            let id = pick(g, *a);
            edit::delete(g, &id)
        }
        Op::DeleteRecursive(a) => {
            let id = pick(g, *a);
            edit::delete_recursive(g, &mut ids, &id)
        }
        Op::Update(a, payload) => {
            let id = pick(g, *a);
            match serde_json::from_str::<NodeUpdate>(payload) {
                Ok(u) => edit::update(g, &id, &u).map(|()| edit::Edited::default()),
                Err(_) => Err(EditError::Invalid("does not parse".into())),
            }
        }
        Op::Hostile(id) => {
            let _ = edit::delete(g, id);
            let _ = edit::reroute(g, id, id);
            let _ = edit::add_branch(g, &mut ids, id);
            edit::create(
                g,
                &mut ids,
                &Insert::After { from: id.clone() },
                NodeKind::BranchNode,
            )
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_edits_keep_the_graph_valid(ops in proptest::collection::vec(ops(), 1..60)) {
        let mut g = blank();
        let mut counter = 0;
        for op in &ops {
            let before = g.clone();
            match apply(&mut g, &mut counter, op) {
                Ok(done) => {
                    for (id, seq) in &done.removed {
                        prop_assert!(!g.nodes.contains_key(id), "{id} removed but still there");
                        prop_assert!(before.by_seq(*seq).is_some());
                    }
                    for id in &done.created {
                        prop_assert!(g.nodes.contains_key(id), "{id} created but absent");
                    }
                }
                Err(_) => prop_assert_eq!(&g, &before, "a refused edit changed the graph: {:?}", op),
            }
            if let Err(e) = edit::check(&g) {
                return Err(TestCaseError::fail(format!("{op:?} broke the graph: {e}\n{g:#?}")));
            }
            prop_assert!(g.nodes.len() <= MAX_NODES);
        }
    }

    /// Hostile payloads never panic: they parse and apply, or are refused.
    #[test]
    fn hostile_payloads_never_panic(payload in "\\PC{0,200}", v in any::<i64>(), s in "\\PC{0,600}") {
        let mut g = blank();
        let _ = serde_json::from_str::<NodeUpdate>(&payload).map(|u| edit::update(&mut g, "root", &u));
        for body in [
            json!({"typeName": "EventTrigger", "eventName": s}),
            json!({"amount": v, "unit": "h"}),
            json!({"samplingRate": v}),
            json!({"audienceFilter": {"match": "all", "conditions": [{"type": "property", "key": s, "operator": "equals", "value": s}]}}),
            json!({"audienceFilter": {"match": "all", "conditions": [{"type": "event", "eventName": s, "negate": true}]}}),
        ] {
            if let Ok(u) = serde_json::from_value::<NodeUpdate>(body) {
                let _ = edit::update(&mut g, "root", &u);
            }
        }
        prop_assert!(edit::check(&g).is_ok());
    }
}

/// Loops' defaults: a branch has two audience-filter paths, the first continuing to the
/// old target, the second to a new exit; an experiment two variants and a control.
#[test]
fn a_branch_and_an_experiment_come_with_their_paths() {
    let mut g = blank();
    let mut n = 0;
    let mut ids = || {
        n += 1;
        format!("n{n}")
    };
    let done = edit::create(
        &mut g,
        &mut ids,
        &Insert::After {
            from: "root".into(),
        },
        NodeKind::BranchNode,
    )
    .unwrap();
    let branch = &g.nodes[&done.created[0]];
    assert_eq!(branch.next.len(), 2);
    assert_eq!(g.nodes[&branch.next[0]].next, vec!["exit".to_owned()]);
    assert!(matches!(
        g.nodes[&g.nodes[&branch.next[1]].next[0]].kind,
        NodeKind::ExitNode
    ));
    let exp = edit::create(
        &mut g,
        &mut ids,
        &Insert::Before { to: "exit".into() },
        NodeKind::ExperimentBranchNode,
    )
    .unwrap();
    let kids = &g.nodes[&exp.created[0]].next;
    let controls: Vec<bool> = kids
        .iter()
        .map(|k| match g.nodes[k].kind {
            NodeKind::VariantNode { is_control, .. } => is_control,
            _ => panic!("not a variant"),
        })
        .collect();
    assert_eq!(controls, vec![false, false, true]);
    edit::check(&g).unwrap();
}

/// A reroute that would loop is refused; one that orphans a path removes it.
#[test]
fn reroutes_refuse_loops_and_prune_what_they_orphan() {
    let mut g = blank();
    let mut n = 0;
    let mut ids = || {
        n += 1;
        format!("n{n}")
    };
    let t1 = edit::create(
        &mut g,
        &mut ids,
        &Insert::After {
            from: "root".into(),
        },
        NodeKind::TimerAction {
            amount: 1,
            unit: inlet_core::graph::TimerUnit::Days,
        },
    )
    .unwrap()
    .created[0]
        .clone();
    let t2 = edit::create(
        &mut g,
        &mut ids,
        &Insert::After { from: t1.clone() },
        NodeKind::TimerAction {
            amount: 1,
            unit: inlet_core::graph::TimerUnit::Days,
        },
    )
    .unwrap()
    .created[0]
        .clone();
    assert!(matches!(
        edit::reroute(&mut g, &t2, &t1),
        Err(EditError::Cycle { .. })
    ));
    assert!(matches!(
        edit::reroute(&mut g, &t1, "root"),
        Err(EditError::BeforeRoot)
    ));
    let done = edit::reroute(&mut g, &t1, "exit").unwrap();
    assert_eq!(done.removed.len(), 1);
    assert_eq!(done.removed[0].0, t2);
    edit::check(&g).unwrap();
}
