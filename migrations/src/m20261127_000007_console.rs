//! What the console shows of each delivery's request: its headers (never signatures or
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

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
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
            .await
    }
}
