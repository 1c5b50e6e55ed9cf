//! An index on the contact of each Stripe customer link.
//!
//! Deleting a contact deletes its customer links by `contact_id`; without an index, each
//! deletion read the whole table (every link of every integration). The other tables a
//! deletion clears (list memberships, recorded events, workflow runs) had one already.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum StripeCustomers {
    Table,
    ContactId,
}

const INDEX: &str = "idx_stripe_customers_contact";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(INDEX)
                    .table(StripeCustomers::Table)
                    .col(StripeCustomers::ContactId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(INDEX)
                    .table(StripeCustomers::Table)
                    .to_owned(),
            )
            .await
    }
}
