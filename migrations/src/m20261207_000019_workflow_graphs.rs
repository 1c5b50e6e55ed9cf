//! Workflows as graphs: each workflow keeps its node graph (JSON), a description, a
//! status and the revision token that guards concurrent edits; a run waiting on a timer
//! node records when the timer ends; and each node a run passed is recorded once (the
//! per-node counts, and the guard that a run passes a node once).
//!
//! Existing workflows keep their `steps` and no `graph`: the store reads such a workflow as
//! the straight graph its steps make (step `i` is node `i`, so a run waiting at step `i`
//! carries on there) and writes the graph on its first edit.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Workflows {
    Table,
    Description,
    Status,
    RevisionId,
    Graph,
    ExitEvents,
}

#[derive(DeriveIden)]
enum WorkflowRuns {
    Table,
    WaitUntil,
}

#[derive(DeriveIden)]
enum WorkflowRunNodes {
    Table,
    RunId,
    NodeSeq,
    WorkflowId,
    PassedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds one column per ALTER TABLE.
        for column in [
            text_null(Workflows::Description),
            // Draft | Sending | Paused; existing workflows: Sending when enabled.
            string(Workflows::Status).default("Sending").take(),
            string_null(Workflows::RevisionId),
            // The node graph (JSON); NULL while a workflow is still its legacy `steps`.
            text_null(Workflows::Graph),
            // JSON array of the event names that make a run leave (derived from the graph).
            text_null(Workflows::ExitEvents),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Workflows::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .get_connection()
            .execute_unprepared("UPDATE workflows SET status = 'Paused' WHERE enabled = false")
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(WorkflowRuns::Table)
                    .add_column(big_integer_null(WorkflowRuns::WaitUntil))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WorkflowRunNodes::Table)
                    .if_not_exists()
                    .col(string(WorkflowRunNodes::RunId))
                    .col(integer(WorkflowRunNodes::NodeSeq))
                    .col(string(WorkflowRunNodes::WorkflowId))
                    .col(big_integer(WorkflowRunNodes::PassedAt))
                    .primary_key(
                        Index::create()
                            .col(WorkflowRunNodes::RunId)
                            .col(WorkflowRunNodes::NodeSeq),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_workflow_run_nodes_workflow")
                    .table(WorkflowRunNodes::Table)
                    .col(WorkflowRunNodes::WorkflowId)
                    .col(WorkflowRunNodes::NodeSeq)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(WorkflowRunNodes::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(WorkflowRuns::Table)
                    .drop_column(WorkflowRuns::WaitUntil)
                    .to_owned(),
            )
            .await?;
        for column in [
            Workflows::ExitEvents,
            Workflows::Graph,
            Workflows::RevisionId,
            Workflows::Status,
            Workflows::Description,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Workflows::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
