//! The operator console: its sessions (a signed cookie is honoured only while its row
//! exists), and what it shows of each delivery's request: its headers (never signatures or
//! secrets) and its body (capped), kept for a while beside the webhook log.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WebhookLogRequests {
    Table,
    DeliveryId,
    Headers,
    Body,
    BodyTruncated,
    ReceivedAt,
}

#[derive(DeriveIden)]
enum ConsoleSessions {
    Table,
    Id,
    ApiKeyId,
    CreatedAt,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ConsoleSessions::Table)
                    .if_not_exists()
                    .col(string(ConsoleSessions::Id).primary_key())
                    .col(string(ConsoleSessions::ApiKeyId))
                    .col(big_integer(ConsoleSessions::CreatedAt))
                    .col(big_integer(ConsoleSessions::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookLogRequests::Table)
                    .if_not_exists()
                    .col(string(WebhookLogRequests::DeliveryId).primary_key())
                    // JSON array of [name, value] pairs, in the order received.
                    .col(text(WebhookLogRequests::Headers))
                    .col(blob(WebhookLogRequests::Body))
                    .col(boolean(WebhookLogRequests::BodyTruncated))
                    .col(big_integer(WebhookLogRequests::ReceivedAt))
                    .to_owned(),
            )
            .await?;
        // Pruning deletes by age.
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_log_requests_received")
                    .table(WebhookLogRequests::Table)
                    .col(WebhookLogRequests::ReceivedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(WebhookLogRequests::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(
                Table::drop()
                    .table(ConsoleSessions::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
