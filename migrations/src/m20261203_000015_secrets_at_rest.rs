//! Secrets at rest and signing-secret expiry.
//!
//! `key_id` names the master key a row's value is sealed under (`v1:<key id>:…`, see
//! `inlet_core::sealing`); NULL marks a value still in plain text. A migration cannot see
//! the master key, so it only adds the column: every process seals what is left in plain
//! text when it starts, after the migrations (`inlet_store::sealed::prepare`). The column
//! also lets start-up find values under a key it was not given without reading them.
//!
//! `expires_at` (epoch ms, NULL = never) is when a signing secret stops verifying, e.g.
//! the old secret of a Stripe roll 24 hours later; the pruner then deletes it.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum IntegrationSecrets {
    Table,
    KeyId,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum AppSecrets {
    Table,
    KeyId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column a statement: SQLite's ALTER TABLE adds one at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(IntegrationSecrets::Table)
                    .add_column(text_null(IntegrationSecrets::KeyId))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(IntegrationSecrets::Table)
                    .add_column(big_integer_null(IntegrationSecrets::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(AppSecrets::Table)
                    .add_column(text_null(AppSecrets::KeyId))
                    .to_owned(),
            )
            .await
    }

    /// Drops the columns; values sealed by then stay sealed (for development only: an
    /// earlier Inlet cannot read them).
    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AppSecrets::Table)
                    .drop_column(AppSecrets::KeyId)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(IntegrationSecrets::Table)
                    .drop_column(IntegrationSecrets::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(IntegrationSecrets::Table)
                    .drop_column(IntegrationSecrets::KeyId)
                    .to_owned(),
            )
            .await
    }
}
