//! Typed contact properties, suppressed addresses with the removals that count against the
//! quota, and the custom events' patterns (one row per event name, kept when old events are
//! pruned).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ContactProperties {
    Table,
    Key,
    Kind,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Suppressions {
    Table,
    Email,
    Reason,
    CreatedAt,
}

#[derive(DeriveIden)]
enum SuppressionRemovals {
    Table,
    Id,
    Email,
    RemovedAt,
}

#[derive(DeriveIden)]
enum EventPatterns {
    Table,
    Id,
    EventName,
    Properties,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ContactProperties::Table)
                    .if_not_exists()
                    .col(string(ContactProperties::Key).primary_key())
                    .col(string(ContactProperties::Kind))
                    .col(big_integer(ContactProperties::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Suppressions::Table)
                    .if_not_exists()
                    .col(string(Suppressions::Email).primary_key())
                    .col(text(Suppressions::Reason))
                    .col(big_integer(Suppressions::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SuppressionRemovals::Table)
                    .if_not_exists()
                    .col(big_pk_auto(SuppressionRemovals::Id))
                    .col(string(SuppressionRemovals::Email))
                    .col(big_integer(SuppressionRemovals::RemovedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_suppression_removals_removed_at")
                    .table(SuppressionRemovals::Table)
                    .col(SuppressionRemovals::RemovedAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(EventPatterns::Table)
                    .if_not_exists()
                    .col(string(EventPatterns::Id).primary_key())
                    .col(string(EventPatterns::EventName).unique_key())
                    .col(text(EventPatterns::Properties))
                    .col(big_integer(EventPatterns::CreatedAt))
                    .col(big_integer(EventPatterns::UpdatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            EventPatterns::Table.into_iden(),
            SuppressionRemovals::Table.into_iden(),
            Suppressions::Table.into_iden(),
            ContactProperties::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
