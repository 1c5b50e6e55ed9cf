//! The walk through a workflow's graph: the node a run is at (its `step` is the node's
//! `seq`) decides the transition — on to the next node, a timer started, an email sent,
//! a filter or branch evaluated on the contact's facts, or the run ended. Audience filters
//! that apply downstream and that the run passed are checked again first, at every node.

use inlet_shared::db::entities::workflow;
use inlet_shared::domain::now_ms;
use inlet_shared::email::SendError;
use inlet_shared::graph::conditions::{self, AudienceFilter, ContactFacts};
use inlet_shared::graph::{Graph, Node, NodeKind, experiment};
use inlet_shared::telemetry::propagation;
use inlet_shared::workflows::facts::{self, Needs};
use inlet_shared::workflows::graph::{self, GraphError};
use inlet_shared::workflows::runs::{self, Leaving, Taken};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};
use tracing::Instrument;

use super::Runner;
use super::runner::started_by;

/// How long a run of a paused workflow waits before it looks again.
const PAUSED_RECHECK_MS: i64 = 30_000;

/// What a step's end moves the run to.
#[derive(Debug, Clone, Copy)]
pub(super) enum Then {
    /// The next of a fixed count of steps (transactional runs: one).
    Steps(usize),
    /// The node with this seq.
    Node(u32),
    /// The exit with this seq, completing the run.
    Exit(u32),
    /// Nothing follows: the run is complete where it is.
    End,
}

impl Then {
    /// Where a run goes after `node`: its first next node.
    fn after(graph: &Graph, node: &Node) -> Self {
        match node.next.first().and_then(|id| graph.node(id)) {
            Some(next) if next.kind == NodeKind::ExitNode => Self::Exit(next.seq),
            Some(next) => Self::Node(next.seq),
            None => Self::End,
        }
    }

    /// Makes the transition (guarded by the run's lease, like every one).
    pub(super) async fn make<C>(self, db: &C, run: &Taken) -> Result<bool, DbErr>
    where
        C: ConnectionTrait + sea_orm::TransactionTrait,
    {
        match self {
            Self::Steps(total) => runs::advance(db, run, total, now_ms()).await,
            Self::Node(seq) => runs::advance_to(db, run, seq, now_ms()).await,
            Self::Exit(seq) => runs::finish_at_exit(db, run, seq).await,
            Self::End => runs::complete_with(db, run, Leaving::Exited).await,
        }
    }
}

/// The audience filters a node evaluates itself: an audience filter's, a branch's
/// children's.
fn filters_at<'g>(graph: &'g Graph, node: &'g Node) -> Vec<&'g AudienceFilter> {
    match &node.kind {
        NodeKind::AudienceFilter {
            filter: Some(f), ..
        } => vec![f],
        NodeKind::BranchNode => node
            .next
            .iter()
            .filter_map(|id| match graph.node(id).map(|n| &n.kind) {
                Some(NodeKind::AudienceFilter {
                    filter: Some(f), ..
                }) => Some(f),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

impl Runner {
    /// Runs the node a run of `workflow` is at.
    pub(super) async fn walk(&self, run: &Taken, workflow: &workflow::Model) -> Result<(), DbErr> {
        if !workflow.enabled {
            // Paused: its runs wait where they are, their timers still counting.
            runs::postpone(&self.db, run, now_ms().saturating_add(PAUSED_RECHECK_MS)).await?;
            return Ok(());
        }
        let graph = match graph::of(workflow) {
            Ok(g) => g,
            Err(GraphError::Db(e)) => return Err(e),
            Err(GraphError::Corrupt(e)) => return self.fail(run, None, &SendError::Steps(e)).await,
            Err(GraphError::StaleRevision) => return Ok(()),
        };
        let Some((_, node)) = u32::try_from(run.step)
            .ok()
            .and_then(|seq| graph.by_seq(seq))
        else {
            runs::cancel(&self.db, run, "The node the run was at was deleted.").await?;
            return Ok(());
        };
        let downstream = self.downstream(run, &graph, node.seq).await?;
        let here = filters_at(&graph, node);
        let facts = if downstream.is_empty() && here.is_empty() {
            None
        } else {
            let needs = Needs::of(downstream.iter().chain(here.iter()).copied());
            let Some(facts) = facts::gather(&self.db, run, needs).await? else {
                runs::cancel(&self.db, run, "The contact was deleted.").await?;
                return Ok(());
            };
            Some(facts)
        };
        let matches =
            |f: &AudienceFilter| facts.as_ref().is_some_and(|c| conditions::matches(f, c));
        if downstream.iter().any(|f| !matches(f)) {
            let left =
                Leaving::Filtered("The contact no longer matches an audience filter it passed.");
            runs::complete_with(&self.db, run, left).await?;
            return Ok(());
        }
        self.at(run, &graph, node, facts.as_ref()).await
    }

    /// The node's own work.
    async fn at(
        &self,
        run: &Taken,
        graph: &Graph,
        node: &Node,
        facts: Option<&ContactFacts>,
    ) -> Result<(), DbErr> {
        let then = Then::after(graph, node);
        let matches = |f: &AudienceFilter| facts.is_some_and(|c| conditions::matches(f, c));
        match &node.kind {
            NodeKind::SendEmailAction { email_message_id } => {
                // The send joins the trace of what started the run (a webhook delivery, an
                // API request), however much later it runs; without one it starts its own.
                let span = tracing::info_span!("email_send", run = %run.id, step = run.step);
                propagation::continue_trace(&span, &started_by(run));
                return self
                    .send(run, email_message_id, then)
                    .instrument(span)
                    .await;
            }
            NodeKind::TimerAction { .. } => {
                let now = now_ms();
                let len = node.kind.timer_millis().unwrap_or(0);
                match run.wait_until {
                    None => {
                        let len = i64::try_from(len).unwrap_or(i64::MAX);
                        runs::start_timer(&self.db, run, now.saturating_add(len)).await?;
                    }
                    // Claimed before its end (a replayed or retried step): wait on.
                    Some(end) if end > now => {
                        runs::start_timer(&self.db, run, end).await?;
                    }
                    Some(_) => {
                        then.make(&self.db, run).await?;
                    }
                }
            }
            NodeKind::AudienceFilter { filter, .. } => {
                if filter.as_ref().is_none_or(matches) {
                    then.make(&self.db, run).await?;
                } else {
                    let left = Leaving::Filtered("The contact does not match the audience filter.");
                    runs::complete_with(&self.db, run, left).await?;
                }
            }
            NodeKind::BranchNode => {
                // Left to right, the first path whose filter matches (its filter node
                // checks it again, and records it passed).
                let path = node.next.iter().filter_map(|id| graph.node(id)).find(|n| {
                    matches!(&n.kind, NodeKind::AudienceFilter { filter, .. } if filter.as_ref().is_none_or(matches))
                });
                match path {
                    Some(path) => {
                        Then::Node(path.seq).make(&self.db, run).await?;
                    }
                    None => {
                        let left = Leaving::Filtered("No path of the branch matches the contact.");
                        runs::complete_with(&self.db, run, left).await?;
                    }
                }
            }
            NodeKind::ExperimentBranchNode => {
                let variants: Vec<(&Node, u8)> = node
                    .next
                    .iter()
                    .filter_map(|id| graph.node(id))
                    .filter_map(|n| match n.kind {
                        NodeKind::VariantNode { sampling_rate, .. } => Some((n, sampling_rate)),
                        _ => None,
                    })
                    .collect();
                let rates: Vec<u8> = variants.iter().map(|(_, r)| *r).collect();
                match experiment::pick(&rates, &run.id).and_then(|i| variants.get(i)) {
                    Some((variant, _)) => {
                        Then::Node(variant.seq).make(&self.db, run).await?;
                    }
                    None => {
                        runs::complete_with(&self.db, run, Leaving::Exited).await?;
                    }
                }
            }
            NodeKind::ExitNode => {
                runs::complete_with(&self.db, run, Leaving::Exited).await?;
            }
            NodeKind::BlankTrigger
            | NodeKind::SignupTrigger
            | NodeKind::EventTrigger { .. }
            | NodeKind::AddToListTrigger { .. }
            | NodeKind::ContactUpdatedTrigger
            | NodeKind::VariantNode { .. } => {
                then.make(&self.db, run).await?;
            }
        }
        Ok(())
    }

    /// The filters applying downstream that the run passed (not the node it is at, which
    /// checks itself), read only when the graph has any.
    async fn downstream<'g>(
        &self,
        run: &Taken,
        graph: &'g Graph,
        at: u32,
    ) -> Result<Vec<&'g AudienceFilter>, DbErr> {
        use inlet_shared::db::entities::workflow_run_node;
        let candidates: Vec<(u32, &AudienceFilter)> = graph
            .nodes
            .values()
            .filter(|n| n.seq != at)
            .filter_map(|n| match &n.kind {
                NodeKind::AudienceFilter {
                    filter: Some(f),
                    applies_downstream: true,
                } => Some((n.seq, f)),
                _ => None,
            })
            .collect();
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let passed: Vec<i32> = workflow_run_node::Entity::find()
            .select_only()
            .column(workflow_run_node::Column::NodeSeq)
            .filter(workflow_run_node::Column::RunId.eq(run.id.as_str()))
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(candidates
            .into_iter()
            .filter(|(seq, _)| passed.iter().any(|p| i64::from(*p) == i64::from(*seq)))
            .map(|(_, f)| f)
            .collect())
    }
}
