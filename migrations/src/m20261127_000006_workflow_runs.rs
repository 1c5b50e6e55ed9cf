//! Workflow runs (the durable state of each started workflow: its next step and when it is
//! due), email sends (one per run and step, so a send is never repeated), and the
//! installation's own secrets (the key that signs unsubscribe links).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WorkflowRuns {
    Table,
    Id,
    WorkflowId,
    ContactId,
    EventName,
    EventProperties,
    Step,
    Status,
    NextAt,
    LeaseUntil,
    LeaseToken,
    Attempts,
    FirstFailedAt,
    LastError,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum EmailSends {
    Table,
    Id,
    RunId,
    Step,
    WorkflowId,
    TemplateId,
    ContactId,
    ToEmail,
    Subject,
    Status,
    Error,
    Attempts,
    CreatedAt,
    SentAt,
}

#[derive(DeriveIden)]
enum AppSecrets {
    Table,
    Name,
    Value,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WorkflowRuns::Table)
                    .if_not_exists()
                    .col(string(WorkflowRuns::Id).primary_key())
                    .col(string(WorkflowRuns::WorkflowId))
                    .col(string(WorkflowRuns::ContactId))
                    // What started it: the event name (or the contact trigger) and its
                    // properties, which templates read as `event`.
                    .col(string(WorkflowRuns::EventName))
                    .col(text(WorkflowRuns::EventProperties))
                    // Index of the next step to run.
                    .col(integer(WorkflowRuns::Step))
                    // pending | completed | cancelled | failed
                    .col(string(WorkflowRuns::Status))
                    // When the next step is due (epoch ms): a wait is just a later time.
                    .col(big_integer(WorkflowRuns::NextAt))
                    // A scheduler's hold on the run while its step is queued or running.
                    .col(big_integer_null(WorkflowRuns::LeaseUntil))
                    .col(string_null(WorkflowRuns::LeaseToken))
                    // Failed attempts of the current step.
                    .col(integer(WorkflowRuns::Attempts).default(0))
                    .col(big_integer_null(WorkflowRuns::FirstFailedAt))
                    .col(text_null(WorkflowRuns::LastError))
                    .col(big_integer(WorkflowRuns::CreatedAt))
                    .col(big_integer(WorkflowRuns::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_workflow_runs_due")
                    .table(WorkflowRuns::Table)
                    .col(WorkflowRuns::Status)
                    .col(WorkflowRuns::NextAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_workflow_runs_contact")
                    .table(WorkflowRuns::Table)
                    .col(WorkflowRuns::ContactId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(EmailSends::Table)
                    .if_not_exists()
                    .col(string(EmailSends::Id).primary_key())
                    .col(string(EmailSends::RunId))
                    .col(integer(EmailSends::Step))
                    .col(string(EmailSends::WorkflowId))
                    .col(string(EmailSends::TemplateId))
                    .col(string(EmailSends::ContactId))
                    .col(string(EmailSends::ToEmail))
                    .col(text(EmailSends::Subject))
                    // queued | sent | failed | skipped
                    .col(string(EmailSends::Status))
                    .col(text_null(EmailSends::Error))
                    .col(integer(EmailSends::Attempts).default(0))
                    .col(big_integer(EmailSends::CreatedAt))
                    .col(big_integer_null(EmailSends::SentAt))
                    .to_owned(),
            )
            .await?;
        // One send per (run, step): the guard that makes a send idempotent.
        manager
            .create_index(
                Index::create()
                    .name("idx_email_sends_run_step")
                    .table(EmailSends::Table)
                    .col(EmailSends::RunId)
                    .col(EmailSends::Step)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_email_sends_to")
                    .table(EmailSends::Table)
                    .col(EmailSends::ToEmail)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AppSecrets::Table)
                    .if_not_exists()
                    .col(string(AppSecrets::Name).primary_key())
                    .col(text(AppSecrets::Value))
                    .col(big_integer(AppSecrets::CreatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AppSecrets::Table.into_iden(),
            EmailSends::Table.into_iden(),
            WorkflowRuns::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
