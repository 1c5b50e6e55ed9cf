//! Retention of recorded contact events and finished workflow runs: the time indexes the
//! pruner's batched deletes walk (`INLET_RETAIN_EVENTS`, `INLET_RETAIN_WORKFLOW_RUNS`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// (index, table, column). Runs are pruned by their last change and status (only finished
/// ones go): the time alone is indexed, so the oldest row's age reads from it too, and the
/// few old pending runs (waiting on long timers) are skipped by the status test.
const INDEXES: [(&str, &str, &str); 2] = [
    ("idx_contact_events_created", "contact_events", "created_at"),
    ("idx_workflow_runs_updated", "workflow_runs", "updated_at"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, column) in INDEXES {
            manager
                .get_connection()
                .execute_unprepared(&format!(
                    "CREATE INDEX IF NOT EXISTS {name} ON {table} ({column})"
                ))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, _, _) in INDEXES {
            manager
                .get_connection()
                .execute_unprepared(&format!("DROP INDEX IF EXISTS {name}"))
                .await?;
        }
        Ok(())
    }
}
