//! Why a graph edit was refused: one error type for the structural edits and the node
//! updates, which the API maps to its statuses.

use super::{MAX_NODES, NodeId};

/// Why an edit was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// No node has this id.
    #[error("No node {0} in this workflow.")]
    NoSuchNode(NodeId),
    /// `fromNodeId` does not lead to `toNodeId`.
    #[error("Node {from} does not connect to node {to}.")]
    NotConnected {
        /// The source.
        from: NodeId,
        /// The target named.
        to: NodeId,
    },
    /// The node must have exactly one outgoing connection.
    #[error("Node {0} must have exactly one outgoing connection.")]
    NotSingleOutgoing(NodeId),
    /// Branch and experiment nodes' connections are their paths: add or delete a path.
    #[error(
        "Node {0} is a branch or experiment; its paths are changed with add-branch or a recursive delete."
    )]
    BranchConnection(NodeId),
    /// Nothing is inserted before the trigger, nor connected to it.
    #[error("Nothing may come before the trigger.")]
    BeforeRoot,
    /// A node cannot lead to itself.
    #[error("Node {0} cannot connect to itself.")]
    SelfLoop(NodeId),
    /// The connection would make a loop.
    #[error("Connecting node {from} to node {to} would make a loop.")]
    Cycle {
        /// The source.
        from: NodeId,
        /// The target.
        to: NodeId,
    },
    /// The trigger is never deleted (change its type instead).
    #[error("The trigger cannot be deleted; change its type instead.")]
    DeleteRoot,
    /// An exit is where a path ends; delete the node before it.
    #[error("Exit node {0} cannot be deleted.")]
    DeleteExit(NodeId),
    /// Only a node with one child can be deleted alone (its parents then lead to it).
    #[error("Node {0} has several paths; delete it recursively.")]
    SeveralChildren(NodeId),
    /// A branch or experiment keeps at least one path.
    #[error("Node {0} is the last path of its branch or experiment; delete the branch instead.")]
    LastPath(NodeId),
    /// The path of a branch or experiment is deleted recursively.
    #[error("Node {0} is a path of a branch or experiment; delete it recursively.")]
    BranchPath(NodeId),
    /// Not a type a node can be created as.
    #[error("A {0} node cannot be created this way.")]
    NotCreatable(&'static str),
    /// A branch's paths start with audience filters, an experiment's with variants.
    #[error(
        "{child} cannot follow {parent} here: a BranchNode's paths start with an AudienceFilter, an ExperimentBranchNode's with a VariantNode (and only there)."
    )]
    WrongChild {
        /// The parent's type.
        parent: &'static str,
        /// The child's type.
        child: &'static str,
    },
    /// Only branch and experiment nodes have paths to add.
    #[error("Node {0} is not a BranchNode or ExperimentBranchNode.")]
    NotABranch(NodeId),
    /// The workflow would have more than [`MAX_NODES`] nodes.
    #[error("A workflow has at most {MAX_NODES} nodes.")]
    TooManyNodes,
    /// A field of an update is invalid; the message says which.
    #[error("{0}")]
    Invalid(String),
}
