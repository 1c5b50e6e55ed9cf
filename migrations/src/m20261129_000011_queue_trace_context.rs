//! The trace context of embedded queue messages: the W3C `traceparent` and `tracestate` of
//! the span that published each, so the worker's span continues its trace (RabbitMQ carries
//! the same two values as message headers).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum QueueMessages {
    Table,
    Traceparent,
    Tracestate,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds one column per ALTER TABLE.
        for column in [QueueMessages::Traceparent, QueueMessages::Tracestate] {
            manager
                .alter_table(
                    Table::alter()
                        .table(QueueMessages::Table)
                        .add_column(text_null(column))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [QueueMessages::Tracestate, QueueMessages::Traceparent] {
            manager
                .alter_table(
                    Table::alter()
                        .table(QueueMessages::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
