//! Reliability: dead letters (queryable and replayable), tombstones of deleted contacts
//! (ordering guard), and retry bookkeeping on embedded queue messages.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum DeadLetters {
    Table,
    Id,
    DeliveryId,
    IntegrationId,
    Provider,
    EventType,
    IdempotencyKey,
    ReceivedAt,
    Body,
    Error,
    Attempts,
    FirstFailedAt,
    LastFailedAt,
    DeadAt,
    ReplayedAt,
    ReplayCount,
}

#[derive(DeriveIden)]
enum ContactTombstones {
    Table,
    Id,
    Email,
    UserId,
    DeletedAt,
}

#[derive(DeriveIden)]
enum QueueMessages {
    Table,
    FirstFailedAt,
    LastError,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DeadLetters::Table)
                    .if_not_exists()
                    .col(string(DeadLetters::Id).primary_key())
                    // One row per delivery: a replay that dies again updates it.
                    .col(string_uniq(DeadLetters::DeliveryId))
                    .col(string(DeadLetters::IntegrationId))
                    .col(string(DeadLetters::Provider))
                    .col(string(DeadLetters::EventType))
                    .col(string(DeadLetters::IdempotencyKey))
                    .col(big_integer(DeadLetters::ReceivedAt))
                    .col(blob(DeadLetters::Body))
                    .col(text(DeadLetters::Error))
                    .col(integer(DeadLetters::Attempts))
                    .col(big_integer(DeadLetters::FirstFailedAt))
                    .col(big_integer(DeadLetters::LastFailedAt))
                    .col(big_integer(DeadLetters::DeadAt))
                    .col(big_integer_null(DeadLetters::ReplayedAt))
                    .col(integer(DeadLetters::ReplayCount).default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_dead_letters_integration")
                    .table(DeadLetters::Table)
                    .col(DeadLetters::IntegrationId)
                    .col(DeadLetters::DeadAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ContactTombstones::Table)
                    .if_not_exists()
                    .col(big_pk_auto(ContactTombstones::Id))
                    .col(string_uniq(ContactTombstones::Email))
                    .col(string_null(ContactTombstones::UserId))
                    // Platform time (epoch ms) of the deletion.
                    .col(big_integer(ContactTombstones::DeletedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_contact_tombstones_user")
                    .table(ContactTombstones::Table)
                    .col(ContactTombstones::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(QueueMessages::Table)
                    .add_column(big_integer_null(QueueMessages::FirstFailedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(QueueMessages::Table)
                    .add_column(text_null(QueueMessages::LastError))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(QueueMessages::Table)
                    .drop_column(QueueMessages::LastError)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(QueueMessages::Table)
                    .drop_column(QueueMessages::FirstFailedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(
                Table::drop()
                    .table(ContactTombstones::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(
                Table::drop()
                    .table(DeadLetters::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
