//! The first schema: integrations and their secrets, API keys, contacts, processed
//! deliveries (idempotency), the webhook log, and the embedded queue's messages.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Integrations {
    Table,
    Id,
    Provider,
    Name,
    Events,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum IntegrationSecrets {
    Table,
    Id,
    IntegrationId,
    Secret,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
    Name,
    KeyHash,
    Prefix,
    CreatedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum Contacts {
    Table,
    Id,
    Email,
    UserId,
    FirstName,
    LastName,
    Source,
    UserGroup,
    Subscribed,
    Properties,
    CreatedAt,
    UpdatedAt,
    LastEventAt,
}

#[derive(DeriveIden)]
enum ProcessedDeliveries {
    Table,
    Id,
    IntegrationId,
    IdempotencyKey,
    DeliveryId,
    ProcessedAt,
}

#[derive(DeriveIden)]
enum WebhookLog {
    Table,
    Id,
    IntegrationId,
    Provider,
    EventType,
    IdempotencyKey,
    Status,
    Message,
    Attempts,
    ReceivedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum QueueMessages {
    Table,
    Id,
    Queue,
    DeliveryId,
    IntegrationId,
    Provider,
    EventType,
    IdempotencyKey,
    ReceivedAt,
    Body,
    Attempts,
    AvailableAt,
    LeaseUntil,
    LeaseToken,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Integrations::Table)
                    .if_not_exists()
                    .col(string(Integrations::Id).primary_key())
                    .col(string(Integrations::Provider))
                    .col(string(Integrations::Name))
                    // Per-event settings as a JSON object keyed by event type.
                    .col(text(Integrations::Events))
                    .col(big_integer(Integrations::CreatedAt))
                    .col(big_integer(Integrations::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(IntegrationSecrets::Table)
                    .if_not_exists()
                    .col(big_pk_auto(IntegrationSecrets::Id))
                    .col(string(IntegrationSecrets::IntegrationId))
                    .col(text(IntegrationSecrets::Secret))
                    .col(big_integer(IntegrationSecrets::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(IntegrationSecrets::Table, IntegrationSecrets::IntegrationId)
                            .to(Integrations::Table, Integrations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_integration_secrets_integration")
                    .table(IntegrationSecrets::Table)
                    .col(IntegrationSecrets::IntegrationId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ApiKeys::Table)
                    .if_not_exists()
                    .col(string(ApiKeys::Id).primary_key())
                    .col(string(ApiKeys::Name))
                    // SHA-256 of the key: keys are random 256-bit tokens, so a fast hash is
                    // enough and the plain key is never stored.
                    .col(string_uniq(ApiKeys::KeyHash))
                    .col(string(ApiKeys::Prefix))
                    .col(big_integer(ApiKeys::CreatedAt))
                    .col(big_integer_null(ApiKeys::RevokedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Contacts::Table)
                    .if_not_exists()
                    .col(string(Contacts::Id).primary_key())
                    // Stored lowercased and trimmed, so uniqueness is case-insensitive.
                    .col(string_uniq(Contacts::Email))
                    .col(string_null(Contacts::UserId).unique_key())
                    .col(string_null(Contacts::FirstName))
                    .col(string_null(Contacts::LastName))
                    .col(string_null(Contacts::Source))
                    .col(string_null(Contacts::UserGroup))
                    .col(boolean(Contacts::Subscribed).default(true))
                    .col(text(Contacts::Properties))
                    .col(big_integer(Contacts::CreatedAt))
                    .col(big_integer(Contacts::UpdatedAt))
                    // Platform time of the last change applied (ordering guard).
                    .col(big_integer(Contacts::LastEventAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ProcessedDeliveries::Table)
                    .if_not_exists()
                    .col(big_pk_auto(ProcessedDeliveries::Id))
                    .col(string(ProcessedDeliveries::IntegrationId))
                    .col(string(ProcessedDeliveries::IdempotencyKey))
                    .col(string(ProcessedDeliveries::DeliveryId))
                    .col(big_integer(ProcessedDeliveries::ProcessedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_processed_deliveries_key")
                    .table(ProcessedDeliveries::Table)
                    .col(ProcessedDeliveries::IntegrationId)
                    .col(ProcessedDeliveries::IdempotencyKey)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(WebhookLog::Table)
                    .if_not_exists()
                    .col(string(WebhookLog::Id).primary_key())
                    .col(string(WebhookLog::IntegrationId))
                    .col(string(WebhookLog::Provider))
                    .col(string_null(WebhookLog::EventType))
                    .col(string_null(WebhookLog::IdempotencyKey))
                    .col(string(WebhookLog::Status))
                    .col(text(WebhookLog::Message))
                    .col(integer(WebhookLog::Attempts).default(0))
                    .col(big_integer(WebhookLog::ReceivedAt))
                    .col(big_integer(WebhookLog::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_log_integration")
                    .table(WebhookLog::Table)
                    .col(WebhookLog::IntegrationId)
                    .col(WebhookLog::ReceivedAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(QueueMessages::Table)
                    .if_not_exists()
                    .col(big_pk_auto(QueueMessages::Id))
                    .col(string(QueueMessages::Queue))
                    .col(string(QueueMessages::DeliveryId))
                    .col(string(QueueMessages::IntegrationId))
                    .col(string(QueueMessages::Provider))
                    .col(string(QueueMessages::EventType))
                    .col(string(QueueMessages::IdempotencyKey))
                    .col(big_integer(QueueMessages::ReceivedAt))
                    .col(blob(QueueMessages::Body))
                    .col(integer(QueueMessages::Attempts).default(0))
                    .col(big_integer(QueueMessages::AvailableAt))
                    .col(big_integer_null(QueueMessages::LeaseUntil))
                    .col(string_null(QueueMessages::LeaseToken))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_queue_messages_ready")
                    .table(QueueMessages::Table)
                    .col(QueueMessages::Queue)
                    .col(QueueMessages::AvailableAt)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            QueueMessages::Table.into_iden(),
            WebhookLog::Table.into_iden(),
            ProcessedDeliveries::Table.into_iden(),
            Contacts::Table.into_iden(),
            ApiKeys::Table.into_iden(),
            IntegrationSecrets::Table.into_iden(),
            Integrations::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
