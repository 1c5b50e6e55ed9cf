//! Transactional emails (Loops' `/api/v1/transactional-emails`): a name, an optional group,
//! and the email templates that are its draft and published messages, with the data
//! variables the published one uses. Their sends are workflow runs and `email_sends` rows,
//! so nothing else grows with traffic here.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum TransactionalEmails {
    Table,
    Id,
    Name,
    GroupId,
    DraftTemplateId,
    PublishedTemplateId,
    DataVariables,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TransactionalEmails::Table)
                    .if_not_exists()
                    .col(string(TransactionalEmails::Id).primary_key())
                    .col(string(TransactionalEmails::Name))
                    .col(string_null(TransactionalEmails::GroupId))
                    .col(string_null(TransactionalEmails::DraftTemplateId))
                    .col(string_null(TransactionalEmails::PublishedTemplateId))
                    // JSON array of names, `[]` until published.
                    .col(text(TransactionalEmails::DataVariables))
                    .col(big_integer(TransactionalEmails::CreatedAt))
                    .col(big_integer(TransactionalEmails::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        // The listing's order (newest first) and its cursor.
        manager
            .create_index(
                Index::create()
                    .name("idx_transactional_emails_created")
                    .table(TransactionalEmails::Table)
                    .col(TransactionalEmails::CreatedAt)
                    .col(TransactionalEmails::Id)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(TransactionalEmails::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
