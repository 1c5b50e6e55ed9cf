//! The worker writes an accepted delivery's log row and kept request; ingest no longer does.
//!
//! The embedded queue's messages carry the request headers the console keeps (RabbitMQ
//! carries them as a header). And the webhook log's pages are filled again: migration 0008
//! left half of each free for the worker's update of the row ingest had inserted, which
//! has become an insert of the worker's own (rows are updated only when a delivery is
//! retried), so the free half only doubled the table.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum QueueMessages {
    Table,
    KeptHeaders,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(QueueMessages::Table)
                    .add_column(text_null(QueueMessages::KeptHeaders))
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == DbBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared("ALTER TABLE webhook_log RESET (fillfactor)")
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared("ALTER TABLE webhook_log SET (fillfactor = 50)")
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(QueueMessages::Table)
                    .drop_column(QueueMessages::KeptHeaders)
                    .to_owned(),
            )
            .await
    }
}
