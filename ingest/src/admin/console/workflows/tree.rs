//! A workflow's graph as the tree the console draws: paths from the trigger, a node with
//! several children (a branch, an experiment) holding one path per child, side by side.
//! Each node is drawn once: where a second path reaches it (a reroute, or a loop in a
//! hand-written graph), the tree says "continues at" it instead, so the tree is finite.
//! Nodes no path reaches are listed on their own, as are runs at nodes the graph no
//! longer has.

use std::collections::{BTreeMap, HashSet};

use inlet_shared::graph::{Graph, NodeKind};
use inlet_shared::workflows::counts::NodeCounts;
use serde::Serialize;

use super::words::{self, Names};

/// Deepest nesting of paths drawn (branches inside branches); deeper ones are elided, so a
/// hostile graph cannot exhaust the template's recursion.
pub const MAX_DEPTH: usize = 24;

/// One entry of a path.
#[derive(Debug, Serialize)]
#[serde(tag = "entry", rename_all = "snake_case")]
pub enum Entry {
    /// A node, drawn here.
    Node(Box<Item>),
    /// A node drawn elsewhere in the tree.
    Continues {
        /// The drawn node's anchor.
        anchor: String,
        /// Its words.
        label: String,
    },
    /// A child id the graph has no node for.
    Missing {
        /// The id.
        id: String,
    },
    /// Paths nested deeper than [`MAX_DEPTH`].
    TooDeep,
}

/// A node as drawn.
#[derive(Debug, Serialize)]
pub struct Item {
    /// Its anchor in the page (`node-<seq>`).
    pub anchor: String,
    /// Its seq.
    pub seq: u32,
    /// Its kind, for the style (`trigger`, `email`, `timer`, `filter`, `branch`, `exit`).
    pub class: &'static str,
    /// What it does, in words.
    pub label: String,
    /// What else it does, if anything.
    pub note: Option<&'static str>,
    /// Pending runs at it.
    pub waiting: u64,
    /// At a timer: of those, the runs whose timer runs.
    pub on_timer: Option<u64>,
    /// Runs that passed it.
    pub passed: u64,
    /// One path per child, when it has several.
    pub paths: Vec<Vec<Entry>>,
}

/// The tree of a graph, with the counts of its nodes.
#[derive(Debug, Serialize)]
pub struct Tree {
    /// The path from the trigger.
    pub root: Vec<Entry>,
    /// Paths from the nodes no path from the trigger reaches, by seq.
    pub unreachable: Vec<Vec<Entry>>,
    /// Pending runs at seqs no node has (their node was deleted).
    pub stray_waiting: u64,
}

struct Builder<'a> {
    graph: &'a Graph,
    counts: &'a BTreeMap<u32, NodeCounts>,
    names: &'a Names,
    drawn: HashSet<&'a str>,
}

/// Builds the tree.
pub fn build(graph: &Graph, counts: &BTreeMap<u32, NodeCounts>, names: &Names) -> Tree {
    let mut b = Builder {
        graph,
        counts,
        names,
        drawn: HashSet::new(),
    };
    let root = b.path(&graph.root, 0);
    let mut rest: Vec<(&String, u32)> = graph.nodes.iter().map(|(id, n)| (id, n.seq)).collect();
    rest.sort_by_key(|&(_, seq)| seq);
    let mut unreachable = Vec::new();
    for (id, _) in rest {
        if !b.drawn.contains(id.as_str()) {
            unreachable.push(b.path(id, 0));
        }
    }
    let seqs: HashSet<u32> = graph.nodes.values().map(|n| n.seq).collect();
    let stray_waiting = counts
        .iter()
        .filter(|(seq, _)| !seqs.contains(seq))
        .map(|(_, c)| c.waiting)
        .sum();
    Tree {
        root,
        unreachable,
        stray_waiting,
    }
}

impl<'a> Builder<'a> {
    /// The path from `start`: nodes one after the other while each has one child; a node
    /// with several ends it, holding their paths.
    fn path(&mut self, start: &'a str, depth: usize) -> Vec<Entry> {
        let mut entries = Vec::new();
        let mut at = start;
        loop {
            let Some((id, node)) = self.graph.nodes.get_key_value(at) else {
                entries.push(Entry::Missing {
                    id: words::clip(at),
                });
                break;
            };
            if !self.drawn.insert(id.as_str()) {
                entries.push(Entry::Continues {
                    anchor: anchor(node.seq),
                    label: words::label(&node.kind, self.names),
                });
                break;
            }
            let mut item = self.item(node.seq, &node.kind);
            match node.next.as_slice() {
                [] => {
                    entries.push(Entry::Node(Box::new(item)));
                    break;
                }
                [next] => {
                    entries.push(Entry::Node(Box::new(item)));
                    at = next;
                }
                children => {
                    item.paths = if depth >= MAX_DEPTH {
                        vec![vec![Entry::TooDeep]]
                    } else {
                        children
                            .iter()
                            .map(|child| self.path(child, depth.saturating_add(1)))
                            .collect()
                    };
                    entries.push(Entry::Node(Box::new(item)));
                    break;
                }
            }
        }
        entries
    }

    fn item(&self, seq: u32, kind: &NodeKind) -> Item {
        let counts = self.counts.get(&seq).copied().unwrap_or_default();
        Item {
            anchor: anchor(seq),
            seq,
            class: class(kind),
            label: words::label(kind, self.names),
            note: words::note(kind),
            waiting: counts.waiting,
            on_timer: matches!(kind, NodeKind::TimerAction { .. }).then_some(counts.on_timer),
            passed: counts.passed,
            paths: Vec::new(),
        }
    }
}

fn anchor(seq: u32) -> String {
    format!("node-{seq}")
}

fn class(kind: &NodeKind) -> &'static str {
    match kind {
        k if k.is_trigger() => "trigger",
        NodeKind::SendEmailAction { .. } => "email",
        NodeKind::TimerAction { .. } => "timer",
        NodeKind::AudienceFilter { .. } => "filter",
        NodeKind::BranchNode | NodeKind::ExperimentBranchNode | NodeKind::VariantNode { .. } => {
            "branch"
        }
        _ => "exit",
    }
}

#[cfg(test)]
mod tests {
    use inlet_shared::graph::{Node, TimerUnit};
    use proptest::prelude::*;

    use super::*;

    /// A graph of `(id, seq, children, kind)` rows rooted at `root`.
    fn graph(root: &str, rows: Vec<(&str, u32, Vec<&str>, NodeKind)>) -> Graph {
        let next_seq = rows.iter().map(|r| r.1 + 1).max().unwrap_or(0);
        Graph {
            root: root.into(),
            next_seq,
            nodes: rows
                .into_iter()
                .map(|(id, seq, next, kind)| {
                    let next = next.into_iter().map(str::to_owned).collect();
                    (id.to_owned(), Node { seq, next, kind })
                })
                .collect(),
        }
    }

    /// The entries of a path in words: labels, `→ label` for a reference, `?id` for a
    /// missing node, `[` … `|` … `]` around a fork's paths.
    fn outline(entries: &[Entry], out: &mut Vec<String>) {
        for e in entries {
            match e {
                Entry::Node(item) => {
                    out.push(item.label.clone());
                    if !item.paths.is_empty() {
                        out.push("[".into());
                        for (i, p) in item.paths.iter().enumerate() {
                            if i > 0 {
                                out.push("|".into());
                            }
                            outline(p, out);
                        }
                        out.push("]".into());
                    }
                }
                Entry::Continues { label, .. } => out.push(format!("→ {label}")),
                Entry::Missing { id } => out.push(format!("?{id}")),
                Entry::TooDeep => out.push("…".into()),
            }
        }
    }

    fn timer(amount: u32) -> NodeKind {
        NodeKind::TimerAction {
            amount,
            unit: TimerUnit::Hours,
        }
    }

    #[test]
    fn a_reroute_is_drawn_once_and_referenced_after() {
        let g = graph(
            "t",
            vec![
                ("t", 0, vec!["w1"], NodeKind::SignupTrigger),
                ("w1", 1, vec!["b"], timer(1)),
                ("b", 2, vec!["left", "right"], NodeKind::BranchNode),
                ("left", 3, vec!["w2"], timer(2)),
                ("w2", 4, vec!["x"], timer(3)),
                ("right", 5, vec!["w2"], timer(4)),
                ("x", 6, vec![], NodeKind::ExitNode),
                ("lost", 7, vec!["x", "gone"], NodeKind::BranchNode),
            ],
        );
        let counts = BTreeMap::from([
            (
                1,
                NodeCounts {
                    waiting: 2,
                    on_timer: 1,
                    passed: 9,
                },
            ),
            (
                42,
                NodeCounts {
                    waiting: 5,
                    on_timer: 0,
                    passed: 0,
                },
            ),
        ]);
        let tree = build(&g, &counts, &Names::default());
        let mut out = Vec::new();
        outline(&tree.root, &mut out);
        assert_eq!(
            out,
            [
                "Trigger: contact added",
                "Wait 1 hour",
                "Branch",
                "[",
                "Wait 2 hours",
                "Wait 3 hours",
                "Exit",
                "|",
                "Wait 4 hours",
                "→ Wait 3 hours",
                "]"
            ]
        );
        let mut lost = Vec::new();
        for p in &tree.unreachable {
            outline(p, &mut lost);
        }
        assert_eq!(lost, ["Branch", "[", "→ Exit", "|", "?gone", "]"]);
        assert_eq!(tree.stray_waiting, 5);
        let Some(Entry::Node(timer)) = tree.root.get(1) else {
            panic!("the timer")
        };
        assert_eq!(
            (timer.waiting, timer.on_timer, timer.passed),
            (2, Some(1), 9)
        );
        let Some(Entry::Node(trigger)) = tree.root.first() else {
            panic!("the trigger")
        };
        assert_eq!(
            (trigger.on_timer, trigger.anchor.as_str()),
            (None, "node-0")
        );
    }

    #[test]
    fn a_loop_ends_in_a_reference() {
        let g = graph(
            "a",
            vec![
                ("a", 0, vec!["b"], NodeKind::SignupTrigger),
                ("b", 1, vec!["a"], timer(1)),
            ],
        );
        let mut out = Vec::new();
        outline(
            &build(&g, &BTreeMap::new(), &Names::default()).root,
            &mut out,
        );
        assert_eq!(
            out,
            [
                "Trigger: contact added",
                "Wait 1 hour",
                "→ Trigger: contact added"
            ]
        );
    }

    fn count_nodes(entries: &[Entry], seqs: &mut Vec<u32>, depth: usize, deepest: &mut usize) {
        *deepest = (*deepest).max(depth);
        for e in entries {
            if let Entry::Node(item) = e {
                seqs.push(item.seq);
                for p in &item.paths {
                    count_nodes(p, seqs, depth + 1, deepest);
                }
            }
        }
    }

    proptest! {
        /// Whatever the edges (loops, reroutes, dangling ids, a missing root), every node
        /// is drawn exactly once and nesting stays within its bound.
        #[test]
        fn every_node_is_drawn_once(
            edges in prop::collection::vec(prop::collection::vec(0usize..40, 0..4), 1..40),
            root in 0usize..45,
        ) {
            let ids: Vec<String> = (0..edges.len()).map(|i| format!("n{i}")).collect();
            let rows = edges
                .iter()
                .enumerate()
                .map(|(i, next)| {
                    let next = next.iter().map(|j| format!("n{j}")).collect::<Vec<_>>();
                    (i, next)
                })
                .collect::<Vec<_>>();
            let g = Graph {
                root: format!("n{root}"),
                next_seq: 100,
                nodes: rows
                    .into_iter()
                    .map(|(i, next)| {
                        let seq = u32::try_from(i).unwrap();
                        (ids[i].clone(), Node { seq, next, kind: timer(seq) })
                    })
                    .collect(),
            };
            let tree = build(&g, &BTreeMap::new(), &Names::default());
            let (mut seqs, mut deepest) = (Vec::new(), 0);
            count_nodes(&tree.root, &mut seqs, 0, &mut deepest);
            for p in &tree.unreachable {
                count_nodes(p, &mut seqs, 0, &mut deepest);
            }
            seqs.sort_unstable();
            let all: Vec<u32> = (0..u32::try_from(edges.len()).unwrap()).collect();
            prop_assert_eq!(seqs, all);
            prop_assert!(deepest <= MAX_DEPTH + 1);
        }
    }

    #[test]
    fn deep_nesting_is_cut() {
        // A chain of forks, each with an exit and the next fork.
        let n = MAX_DEPTH + 10;
        let ids: Vec<String> = (0..=n).map(|i| format!("f{i}")).collect();
        let mut nodes = BTreeMap::new();
        for i in 0..n {
            let seq = u32::try_from(i).unwrap();
            nodes.insert(
                ids[i].clone(),
                Node {
                    seq,
                    next: vec!["exit".into(), ids[i + 1].clone()],
                    kind: NodeKind::BranchNode,
                },
            );
        }
        nodes.insert(
            "exit".into(),
            Node {
                seq: 999,
                next: vec![],
                kind: NodeKind::ExitNode,
            },
        );
        let g = Graph {
            root: ids[0].clone(),
            next_seq: 1000,
            nodes,
        };
        let tree = build(&g, &BTreeMap::new(), &Names::default());
        let (mut seqs, mut deepest) = (Vec::new(), 0);
        count_nodes(&tree.root, &mut seqs, 0, &mut deepest);
        assert_eq!(deepest, MAX_DEPTH + 1);
        let mut out = Vec::new();
        outline(&tree.root, &mut out);
        assert!(out.contains(&"…".to_owned()));
    }
}
