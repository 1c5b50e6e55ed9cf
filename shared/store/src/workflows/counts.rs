//! How many runs of a workflow wait at each of its nodes and how many passed each: the
//! numbers the console shows on the workflow's graph. Two grouped queries per workflow,
//! whatever its size.

use std::collections::BTreeMap;

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};

use super::runs::RunStatus;
use crate::db::entities::{workflow_run, workflow_run_node};

/// The runs at one node and past it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeCounts {
    /// Pending runs at the node (`workflow_runs.step` is its seq).
    pub waiting: u64,
    /// Of those, the runs whose timer is running (`wait_until` set): at a timer node, the
    /// runs waiting for it to end.
    pub on_timer: u64,
    /// Runs that passed the node (rows of `workflow_run_nodes`).
    pub passed: u64,
}

/// The counts of workflow `workflow_id`'s nodes, by node seq. A node no run reached is
/// absent (its counts are zero).
pub async fn of<C: ConnectionTrait>(
    db: &C,
    workflow_id: &str,
) -> Result<BTreeMap<u32, NodeCounts>, DbErr> {
    let mut counts: BTreeMap<u32, NodeCounts> = BTreeMap::new();
    // COUNT(column) counts the rows where it is not NULL, on SQLite and PostgreSQL alike.
    let waiting: Vec<(i32, i64, i64)> = workflow_run::Entity::find()
        .select_only()
        .column(workflow_run::Column::Step)
        .expr(Expr::col(workflow_run::Column::Id).count())
        .expr(Expr::col(workflow_run::Column::WaitUntil).count())
        .filter(workflow_run::Column::WorkflowId.eq(workflow_id))
        .filter(workflow_run::Column::Status.eq(RunStatus::Pending.as_str()))
        .group_by(workflow_run::Column::Step)
        .into_tuple()
        .all(db)
        .await?;
    for (step, runs, timed) in waiting {
        // A negative step is no node's seq: nothing to show it on.
        if let Ok(seq) = u32::try_from(step) {
            let entry = counts.entry(seq).or_default();
            entry.waiting = count(runs);
            entry.on_timer = count(timed);
        }
    }
    let passed: Vec<(i32, i64)> = workflow_run_node::Entity::find()
        .select_only()
        .column(workflow_run_node::Column::NodeSeq)
        .expr(Expr::col(workflow_run_node::Column::RunId).count())
        .filter(workflow_run_node::Column::WorkflowId.eq(workflow_id))
        .group_by(workflow_run_node::Column::NodeSeq)
        .into_tuple()
        .all(db)
        .await?;
    for (node_seq, runs) in passed {
        if let Ok(seq) = u32::try_from(node_seq) {
            counts.entry(seq).or_default().passed = count(runs);
        }
    }
    Ok(counts)
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use sea_orm::{ActiveModelTrait, IntoActiveModel};

    use super::*;
    use crate::test_db::TestDb;

    fn run(
        id: &str,
        workflow_id: &str,
        step: i32,
        status: RunStatus,
        wait_until: Option<i64>,
    ) -> workflow_run::Model {
        workflow_run::Model {
            id: id.into(),
            workflow_id: workflow_id.into(),
            contact_id: "ct_1".into(),
            event_name: "signup".into(),
            event_properties: "{}".into(),
            step,
            status: status.as_str().into(),
            next_at: 0,
            lease_until: None,
            lease_token: None,
            attempts: 0,
            first_failed_at: None,
            last_error: None,
            created_at: 0,
            updated_at: 0,
            traceparent: None,
            tracestate: None,
            wait_until,
        }
    }

    fn counts(waiting: u64, on_timer: u64, passed: u64) -> NodeCounts {
        NodeCounts {
            waiting,
            on_timer,
            passed,
        }
    }

    async fn counts_on(t: &TestDb) {
        let db = &t.db;
        let runs = [
            run("r1", "wf_a", 2, RunStatus::Pending, Some(5)),
            run("r2", "wf_a", 2, RunStatus::Pending, Some(6)),
            run("r3", "wf_a", 2, RunStatus::Pending, None),
            run("r4", "wf_a", 3, RunStatus::Pending, None),
            // Not waiting: finished, or another workflow's.
            run("r5", "wf_a", 2, RunStatus::Completed, None),
            run("r6", "wf_a", 2, RunStatus::Cancelled, Some(7)),
            run("r7", "wf_b", 2, RunStatus::Pending, Some(8)),
        ];
        for m in runs {
            m.into_active_model().insert(db).await.unwrap();
        }
        for (run_id, workflow_id, node_seq) in [
            ("r1", "wf_a", 0),
            ("r2", "wf_a", 0),
            ("r5", "wf_a", 0),
            ("r5", "wf_a", 2),
            ("r7", "wf_b", 0),
        ] {
            workflow_run_node::Model {
                run_id: run_id.into(),
                node_seq,
                workflow_id: workflow_id.into(),
                passed_at: 1,
            }
            .into_active_model()
            .insert(db)
            .await
            .unwrap();
        }
        let expected = BTreeMap::from([
            (0, counts(0, 0, 3)),
            (2, counts(3, 2, 1)),
            (3, counts(1, 0, 0)),
        ]);
        assert_eq!(of(db, "wf_a").await.unwrap(), expected);
        assert!(of(db, "wf_none").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn counts_runs_per_node_on_sqlite() {
        counts_on(&TestDb::sqlite().await).await;
    }

    #[tokio::test]
    async fn counts_runs_per_node_on_postgres() {
        counts_on(&TestDb::postgres().await).await;
    }
}
