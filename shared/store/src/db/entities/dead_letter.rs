//! A delivery that could not be applied, or a workflow run whose step failed for good: kept
//! with its last error until replayed.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "dead_letters")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    #[sea_orm(unique)]
    pub delivery_id: String,
    pub integration_id: String,
    /// The delivery's provider, or [`DeadLetterKind::WORKFLOW_RUN`].
    pub provider: String,
    pub event_type: String,
    pub idempotency_key: String,
    pub received_at: i64,
    pub body: Vec<u8>,
    #[sea_orm(column_type = "Text")]
    pub error: String,
    pub attempts: i32,
    pub first_failed_at: i64,
    pub last_failed_at: i64,
    pub dead_at: i64,
    pub replayed_at: Option<i64>,
    pub replay_count: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// What a dead letter holds. The table has no column for it: a workflow run's dead letter
/// has [`DeadLetterKind::WORKFLOW_RUN`] as its `provider` (its `integration_id` is the
/// workflow, its `delivery_id` the run); any other is a delivery's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadLetterKind {
    /// A webhook delivery that could not be applied; replayed through the queue.
    Delivery,
    /// A workflow run whose step failed for good; replayed by making the step due again.
    WorkflowRun,
}

impl DeadLetterKind {
    /// The `provider` of a workflow run's dead letter.
    pub const WORKFLOW_RUN: &str = "workflow";
}

impl Model {
    /// What it holds.
    pub fn kind(&self) -> DeadLetterKind {
        if self.provider == DeadLetterKind::WORKFLOW_RUN {
            DeadLetterKind::WorkflowRun
        } else {
            DeadLetterKind::Delivery
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{DeadLetterKind, Model};

    fn row(provider: &str) -> Model {
        Model {
            id: "dl_1".into(),
            delivery_id: "run_1".into(),
            integration_id: "wf_1".into(),
            provider: provider.into(),
            event_type: "signup".into(),
            idempotency_key: "run_1:0".into(),
            received_at: 0,
            body: Vec::new(),
            error: "refused".into(),
            attempts: 1,
            first_failed_at: 0,
            last_failed_at: 0,
            dead_at: 0,
            replayed_at: None,
            replay_count: 0,
        }
    }

    #[test]
    fn a_workflow_runs_dead_letter_is_told_by_its_provider() {
        assert_eq!(row("workflow").kind(), DeadLetterKind::WorkflowRun);
        for provider in ["stripe", "clerk", "polar", "supabase", "Workflow", ""] {
            assert_eq!(row(provider).kind(), DeadLetterKind::Delivery, "{provider}");
        }
    }
}
