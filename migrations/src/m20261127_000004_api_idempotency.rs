//! Idempotency keys of `POST /api/v1/events/send` (a repeat within 24 hours is refused).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ApiIdempotencyKeys {
    Table,
    Key,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ApiIdempotencyKeys::Table)
                    .if_not_exists()
                    .col(string(ApiIdempotencyKeys::Key).primary_key())
                    .col(big_integer(ApiIdempotencyKeys::CreatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(ApiIdempotencyKeys::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
