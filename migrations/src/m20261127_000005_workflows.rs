//! Email templates and workflows (the definitions; runs and sends come with the runner).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum EmailTemplates {
    Table,
    Id,
    Name,
    Subject,
    Html,
    Text,
    FromName,
    FromEmail,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Workflows {
    Table,
    Id,
    Name,
    TriggerType,
    TriggerValue,
    AudienceListId,
    AudienceUserGroup,
    Steps,
    Enabled,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(EmailTemplates::Table)
                    .if_not_exists()
                    .col(string(EmailTemplates::Id).primary_key())
                    .col(string(EmailTemplates::Name))
                    .col(text(EmailTemplates::Subject))
                    .col(text(EmailTemplates::Html))
                    .col(text_null(EmailTemplates::Text))
                    .col(string_null(EmailTemplates::FromName))
                    .col(string_null(EmailTemplates::FromEmail))
                    .col(big_integer(EmailTemplates::CreatedAt))
                    .col(big_integer(EmailTemplates::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Workflows::Table)
                    .if_not_exists()
                    .col(string(Workflows::Id).primary_key())
                    .col(string(Workflows::Name))
                    // event | contactAdded | contactUpdated | addedToList
                    .col(string(Workflows::TriggerType))
                    // The event name, or the list id for addedToList.
                    .col(string_null(Workflows::TriggerValue))
                    .col(string_null(Workflows::AudienceListId))
                    .col(string_null(Workflows::AudienceUserGroup))
                    // JSON array of steps.
                    .col(text(Workflows::Steps))
                    .col(boolean(Workflows::Enabled).default(true))
                    .col(big_integer(Workflows::CreatedAt))
                    .col(big_integer(Workflows::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_workflows_trigger")
                    .table(Workflows::Table)
                    .col(Workflows::TriggerType)
                    .col(Workflows::TriggerValue)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Workflows::Table).if_exists().to_owned())
            .await?;
        manager
            .drop_table(
                Table::drop()
                    .table(EmailTemplates::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
