//! Mailing lists and memberships, events recorded on contacts, and the per-integration map
//! of Stripe customer ids to contacts.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum MailingLists {
    Table,
    Id,
    Name,
    Description,
    IsPublic,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ContactLists {
    Table,
    Id,
    ContactId,
    ListId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ContactEvents {
    Table,
    Id,
    ContactId,
    EventName,
    Properties,
    OccurredAt,
    DeliveryId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum StripeCustomers {
    Table,
    Id,
    IntegrationId,
    CustomerId,
    ContactId,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(MailingLists::Table)
                    .if_not_exists()
                    .col(string(MailingLists::Id).primary_key())
                    .col(string(MailingLists::Name))
                    .col(text_null(MailingLists::Description))
                    .col(boolean(MailingLists::IsPublic).default(false))
                    .col(big_integer(MailingLists::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ContactLists::Table)
                    .if_not_exists()
                    .col(big_pk_auto(ContactLists::Id))
                    .col(string(ContactLists::ContactId))
                    .col(string(ContactLists::ListId))
                    .col(big_integer(ContactLists::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_contact_lists")
                    .table(ContactLists::Table)
                    .col(ContactLists::ContactId)
                    .col(ContactLists::ListId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_contact_lists_list")
                    .table(ContactLists::Table)
                    .col(ContactLists::ListId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ContactEvents::Table)
                    .if_not_exists()
                    .col(big_pk_auto(ContactEvents::Id))
                    .col(string(ContactEvents::ContactId))
                    .col(string(ContactEvents::EventName))
                    .col(text(ContactEvents::Properties))
                    .col(big_integer(ContactEvents::OccurredAt))
                    .col(string_null(ContactEvents::DeliveryId))
                    .col(big_integer(ContactEvents::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_contact_events_contact")
                    .table(ContactEvents::Table)
                    .col(ContactEvents::ContactId)
                    .col(ContactEvents::OccurredAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(StripeCustomers::Table)
                    .if_not_exists()
                    .col(big_pk_auto(StripeCustomers::Id))
                    .col(string(StripeCustomers::IntegrationId))
                    .col(string(StripeCustomers::CustomerId))
                    .col(string(StripeCustomers::ContactId))
                    .col(big_integer(StripeCustomers::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_stripe_customers")
                    .table(StripeCustomers::Table)
                    .col(StripeCustomers::IntegrationId)
                    .col(StripeCustomers::CustomerId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            StripeCustomers::Table.into_iden(),
            ContactEvents::Table.into_iden(),
            ContactLists::Table.into_iden(),
            MailingLists::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
