//! The structural edits of a workflow's graph, as Loops' API makes them: a node inserted
//! (with a branch's or an experiment's default children), a branch added, a connection
//! rerouted, a node deleted alone or with everything only it leads to. Each edit either
//! leaves a valid graph (a DAG from the trigger, every node reachable, every path ending at
//! an exit, at most [`MAX_NODES`] nodes) or refuses and changes nothing; it says which
//! nodes it made and which it removed, so the caller can cancel the runs waiting at them.

use std::collections::{BTreeSet, VecDeque};

use super::{Graph, MAX_NODES, Node, NodeId, NodeKind};

pub use super::error::EditError;
pub use super::update::{NodeUpdate, update};
pub use super::valid::{NotRunnable, check, reachable, runnable};

/// What an edit changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Edited {
    /// The nodes made, the requested one first.
    pub created: Vec<NodeId>,
    /// The nodes removed, with their seqs (runs waiting at them are left stranded unless
    /// cancelled).
    pub removed: Vec<(NodeId, u32)>,
}

/// Where a new node goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Insert {
    /// On the connection from `from` to `to`.
    Between {
        /// The source.
        from: NodeId,
        /// Its child.
        to: NodeId,
    },
    /// Before `to`: every connection into it goes to the new node instead.
    Before {
        /// The node.
        to: NodeId,
    },
    /// After `from`, which has one outgoing connection.
    After {
        /// The node.
        from: NodeId,
    },
}

/// The id source of new nodes (the store's random ids; a counter in tests).
pub trait Ids {
    /// A fresh, unused id.
    fn next_id(&mut self) -> NodeId;
}

impl<F: FnMut() -> NodeId> Ids for F {
    fn next_id(&mut self) -> NodeId {
        self()
    }
}

fn node<'a>(g: &'a Graph, id: &str) -> Result<&'a Node, EditError> {
    g.nodes
        .get(id)
        .ok_or_else(|| EditError::NoSuchNode(id.to_owned()))
}

/// Whether `child` may follow `parent` (a branch's paths are audience filters, an
/// experiment's variants, and variants are only an experiment's paths).
fn child_allowed(parent: &NodeKind, child: &NodeKind) -> Result<(), EditError> {
    let ok = match parent {
        NodeKind::BranchNode => matches!(child, NodeKind::AudienceFilter { .. }),
        NodeKind::ExperimentBranchNode => matches!(child, NodeKind::VariantNode { .. }),
        _ => !matches!(child, NodeKind::VariantNode { .. }),
    };
    if ok {
        Ok(())
    } else {
        Err(EditError::WrongChild {
            parent: parent.type_name(),
            child: child.type_name(),
        })
    }
}

/// The ids of the nodes leading to `id`.
pub fn parents(g: &Graph, id: &str) -> Vec<NodeId> {
    g.nodes
        .iter()
        .filter(|(_, n)| n.next.iter().any(|c| c == id))
        .map(|(k, _)| k.clone())
        .collect()
}

/// Whether `to` is reachable from `from` (or is it).
fn reaches(g: &Graph, from: &str, to: &str) -> bool {
    let mut seen = BTreeSet::new();
    let mut queue = VecDeque::from([from.to_owned()]);
    while let Some(id) = queue.pop_front() {
        if id == to {
            return true;
        }
        if seen.insert(id.clone())
            && let Some(n) = g.nodes.get(&id)
        {
            queue.extend(n.next.iter().cloned());
        }
    }
    false
}

/// Removes the nodes no longer reachable from the root; returns them with their seqs.
fn prune(g: &mut Graph) -> Vec<(NodeId, u32)> {
    let keep = reachable(g);
    let gone: Vec<(NodeId, u32)> = g
        .nodes
        .iter()
        .filter(|(id, _)| !keep.contains(*id))
        .map(|(id, n)| (id.clone(), n.seq))
        .collect();
    for (id, _) in &gone {
        g.nodes.remove(id);
    }
    gone
}

/// Adds a node; returns its id.
fn add(g: &mut Graph, ids: &mut dyn Ids, kind: NodeKind, next: Vec<NodeId>) -> NodeId {
    let mut id = ids.next_id();
    // An id source that repeats itself must not overwrite a node.
    while g.nodes.contains_key(&id) {
        id = format!("{id}_");
    }
    let seq = g.next_seq;
    g.next_seq = g.next_seq.saturating_add(1);
    g.nodes.insert(id.clone(), Node { seq, next, kind });
    id
}

/// The default children of a new node of `kind`: a branch's two audience filters, an
/// experiment's two variants and a control (the rates adding up to 100).
fn default_children(kind: &NodeKind) -> Vec<NodeKind> {
    let filter = || NodeKind::AudienceFilter {
        filter: None,
        applies_downstream: false,
    };
    let variant = |sampling_rate, is_control| NodeKind::VariantNode {
        sampling_rate,
        is_control,
    };
    match kind {
        NodeKind::BranchNode => vec![filter(), filter()],
        NodeKind::ExperimentBranchNode => {
            vec![variant(33, false), variant(33, false), variant(34, true)]
        }
        _ => Vec::new(),
    }
}

fn within_limit(g: &Graph, more: usize) -> Result<(), EditError> {
    if g.nodes.len().saturating_add(more) > MAX_NODES {
        Err(EditError::TooManyNodes)
    } else {
        Ok(())
    }
}

/// Inserts a new node of `kind` at `at`. A branch or experiment gets its default paths:
/// the first continues to where the connection led, each other one to a new exit.
pub fn create(
    g: &mut Graph,
    ids: &mut dyn Ids,
    at: &Insert,
    kind: NodeKind,
) -> Result<Edited, EditError> {
    if kind.is_trigger() || matches!(kind, NodeKind::ExitNode) {
        return Err(EditError::NotCreatable(kind.type_name()));
    }
    // The parents whose connection to `target` the new node takes.
    let (sources, target) = match at {
        Insert::Between { from, to } => {
            node(g, to)?;
            if !node(g, from)?.next.iter().any(|c| c == to) {
                return Err(EditError::NotConnected {
                    from: from.clone(),
                    to: to.clone(),
                });
            }
            (vec![from.clone()], to.clone())
        }
        Insert::Before { to } => {
            node(g, to)?;
            if *to == g.root {
                return Err(EditError::BeforeRoot);
            }
            (parents(g, to), to.clone())
        }
        Insert::After { from } => {
            let n = node(g, from)?;
            if matches!(
                n.kind,
                NodeKind::BranchNode | NodeKind::ExperimentBranchNode
            ) {
                return Err(EditError::BranchConnection(from.clone()));
            }
            match n.next.as_slice() {
                [only] => (vec![from.clone()], only.clone()),
                _ => return Err(EditError::NotSingleOutgoing(from.clone())),
            }
        }
    };
    for s in &sources {
        child_allowed(&node(g, s)?.kind, &kind)?;
    }
    let children = default_children(&kind);
    let target_kind = node(g, &target)?.kind.clone();
    if children.is_empty() {
        child_allowed(&kind, &target_kind)?;
    }
    // The new node, its paths beyond the first (each with an exit), and their exits.
    let extra = children.len().saturating_mul(2).saturating_sub(1);
    within_limit(g, 1usize.saturating_add(extra))?;
    let mut created = Vec::new();
    let mut first_next = vec![target.clone()];
    if !children.is_empty() {
        let mut paths = Vec::new();
        for (i, child) in children.into_iter().enumerate() {
            let next = if i == 0 {
                vec![target.clone()]
            } else {
                let exit = add(g, ids, NodeKind::ExitNode, Vec::new());
                created.push(exit.clone());
                vec![exit]
            };
            let path = add(g, ids, child, next);
            created.push(path.clone());
            paths.push(path);
        }
        first_next = paths;
    }
    let id = add(g, ids, kind, first_next);
    created.insert(0, id.clone());
    for s in &sources {
        if let Some(n) = g.nodes.get_mut(s) {
            for c in n.next.iter_mut().filter(|c| **c == target) {
                c.clone_from(&id);
            }
        }
    }
    Ok(Edited {
        created,
        removed: Vec::new(),
    })
}

/// Adds a path to a branch (an audience filter) or an experiment (a variant at rate 0),
/// leading to a new exit; the path's node is `created[0]`.
pub fn add_branch(g: &mut Graph, ids: &mut dyn Ids, id: &str) -> Result<Edited, EditError> {
    let kind = match node(g, id)?.kind {
        NodeKind::BranchNode => NodeKind::AudienceFilter {
            filter: None,
            applies_downstream: false,
        },
        NodeKind::ExperimentBranchNode => NodeKind::VariantNode {
            sampling_rate: 0,
            is_control: false,
        },
        _ => return Err(EditError::NotABranch(id.to_owned())),
    };
    within_limit(g, 2)?;
    let exit = add(g, ids, NodeKind::ExitNode, Vec::new());
    let path = add(g, ids, kind, vec![exit.clone()]);
    if let Some(n) = g.nodes.get_mut(id) {
        n.next.push(path.clone());
    }
    Ok(Edited {
        created: vec![path, exit],
        removed: Vec::new(),
    })
}

/// Points the single outgoing connection of `source` at `target` instead. What only the
/// old connection reached is removed.
pub fn reroute(g: &mut Graph, source: &str, target: &str) -> Result<Edited, EditError> {
    let s = node(g, source)?;
    let target_kind = &node(g, target)?.kind;
    if matches!(
        s.kind,
        NodeKind::BranchNode | NodeKind::ExperimentBranchNode
    ) {
        return Err(EditError::BranchConnection(source.to_owned()));
    }
    if s.next.len() != 1 {
        return Err(EditError::NotSingleOutgoing(source.to_owned()));
    }
    if source == target {
        return Err(EditError::SelfLoop(source.to_owned()));
    }
    if target == g.root {
        return Err(EditError::BeforeRoot);
    }
    child_allowed(&s.kind, target_kind)?;
    if reaches(g, target, source) {
        return Err(EditError::Cycle {
            from: source.to_owned(),
            to: target.to_owned(),
        });
    }
    if let Some(n) = g.nodes.get_mut(source) {
        n.next = vec![target.to_owned()];
    }
    Ok(Edited {
        created: Vec::new(),
        removed: prune(g),
    })
}

/// Deletes `id` alone: its parents lead to its one child instead.
pub fn delete(g: &mut Graph, id: &str) -> Result<Edited, EditError> {
    let n = node(g, id)?;
    if id == g.root {
        return Err(EditError::DeleteRoot);
    }
    if matches!(n.kind, NodeKind::ExitNode) {
        return Err(EditError::DeleteExit(id.to_owned()));
    }
    let child = match n.next.as_slice() {
        [only] => only.clone(),
        _ => return Err(EditError::SeveralChildren(id.to_owned())),
    };
    let child_kind = node(g, &child)?.kind.clone();
    let ps = parents(g, id);
    for p in &ps {
        let pk = &node(g, p)?.kind;
        if matches!(pk, NodeKind::BranchNode | NodeKind::ExperimentBranchNode) {
            return Err(EditError::BranchPath(id.to_owned()));
        }
        child_allowed(pk, &child_kind)?;
    }
    let seq = n.seq;
    for p in &ps {
        if let Some(pn) = g.nodes.get_mut(p) {
            for c in pn.next.iter_mut().filter(|c| **c == id) {
                c.clone_from(&child);
            }
        }
    }
    g.nodes.remove(id);
    let mut removed = vec![(id.to_owned(), seq)];
    // The child may still be reachable only through the deleted node (it always is,
    // through its parents, but pruning keeps the rule in one place).
    removed.extend(prune(g));
    Ok(Edited {
        created: Vec::new(),
        removed,
    })
}

/// Deletes `id` and everything only reachable through it. A parent left without a child
/// ends there instead (a new exit).
pub fn delete_recursive(g: &mut Graph, ids: &mut dyn Ids, id: &str) -> Result<Edited, EditError> {
    let n = node(g, id)?;
    if id == g.root {
        return Err(EditError::DeleteRoot);
    }
    if matches!(n.kind, NodeKind::ExitNode) {
        return Err(EditError::DeleteExit(id.to_owned()));
    }
    let ps = parents(g, id);
    for p in &ps {
        let pn = node(g, p)?;
        if matches!(
            pn.kind,
            NodeKind::BranchNode | NodeKind::ExperimentBranchNode
        ) && pn.next.iter().all(|c| c == id)
        {
            return Err(EditError::LastPath(id.to_owned()));
        }
    }
    let mut created = Vec::new();
    for p in &ps {
        if let Some(pn) = g.nodes.get_mut(p) {
            pn.next.retain(|c| c != id);
        }
        if g.nodes.get(p).is_some_and(|pn| pn.next.is_empty()) {
            let exit = add(g, ids, NodeKind::ExitNode, Vec::new());
            if let Some(pn) = g.nodes.get_mut(p) {
                pn.next.push(exit.clone());
            }
            created.push(exit);
        }
    }
    Ok(Edited {
        created,
        removed: prune(g),
    })
}
