//! The trace context of workflow runs: the W3C `traceparent` and `tracestate` of whatever
//! started each run, so the runner's later email send continues that trace.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WorkflowRuns {
    Table,
    Traceparent,
    Tracestate,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds one column per ALTER TABLE.
        for column in [WorkflowRuns::Traceparent, WorkflowRuns::Tracestate] {
            manager
                .alter_table(
                    Table::alter()
                        .table(WorkflowRuns::Table)
                        .add_column(text_null(column))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [WorkflowRuns::Tracestate, WorkflowRuns::Traceparent] {
            manager
                .alter_table(
                    Table::alter()
                        .table(WorkflowRuns::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
