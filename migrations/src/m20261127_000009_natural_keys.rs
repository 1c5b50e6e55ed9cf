//! Processed deliveries and Stripe customer links keyed by what they are looked up by.
//!
//! Both tables had a surrogate `id` (a sequence and its primary-key index) beside the unique
//! key every query uses: `(integration_id, idempotency_key)` for the claim,
//! `(integration_id, customer_id)` for the customer link. Each row written, one per event
//! for the claim, cost two index entries and a sequence step. The unique key is now the
//! primary key and `id` is gone. With 64-row claims from eight connections at once,
//! PostgreSQL took 8–27 % more of them per second without the surrogate key (three pairs
//! of `pgbench` runs on empty tables).
//!
//! PostgreSQL: the column is dropped (its primary key and sequence go with it) and the
//! existing unique index becomes the primary key, without rewriting the table. SQLite
//! cannot change a primary key in place: the table is rebuilt.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// One table's change: its name, unique index, key columns and the other columns.
struct Keyed {
    table: &'static str,
    unique_index: &'static str,
    key: [&'static str; 2],
    /// Text columns after the key, then the one `BIGINT` column.
    text: &'static str,
    time: &'static str,
}

const TABLES: [Keyed; 2] = [
    Keyed {
        table: "processed_deliveries",
        unique_index: "uq_processed_deliveries_key",
        key: ["integration_id", "idempotency_key"],
        text: "delivery_id",
        time: "processed_at",
    },
    Keyed {
        table: "stripe_customers",
        unique_index: "uq_stripe_customers",
        key: ["integration_id", "customer_id"],
        text: "contact_id",
        time: "updated_at",
    },
];

/// The table as it is after this migration (`natural`) or before it.
fn definition(name: &Keyed, natural: bool) -> TableCreateStatement {
    let mut table = Table::create();
    table.table(Alias::new(name.table));
    if !natural {
        table.col(big_pk_auto(Alias::new("id")));
    }
    for column in name.key.iter().chain([&name.text]) {
        table.col(string(Alias::new(*column)));
    }
    table.col(big_integer(Alias::new(name.time)));
    if natural {
        table.primary_key(
            Index::create()
                .col(Alias::new(name.key[0]))
                .col(Alias::new(name.key[1])),
        );
    }
    table.to_owned()
}

fn unique_index(name: &Keyed) -> IndexCreateStatement {
    Index::create()
        .name(name.unique_index)
        .table(Alias::new(name.table))
        .col(Alias::new(name.key[0]))
        .col(Alias::new(name.key[1]))
        .unique()
        .to_owned()
}

/// SQLite: builds the new table beside the old one, copies the rows, swaps the names.
async fn rebuild(manager: &SchemaManager<'_>, name: &Keyed, natural: bool) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let building = format!("{}_rebuilt", name.table);
    let mut create = definition(name, natural);
    create.table(Alias::new(&building));
    manager.create_table(create).await?;
    let columns = format!(
        "{}, {}, {}, {}",
        name.key[0], name.key[1], name.text, name.time
    );
    db.execute_unprepared(&format!(
        "INSERT INTO {building} ({columns}) SELECT {columns} FROM {}",
        name.table
    ))
    .await?;
    manager
        .drop_table(Table::drop().table(Alias::new(name.table)).to_owned())
        .await?;
    manager
        .rename_table(
            Table::rename()
                .table(Alias::new(&building), Alias::new(name.table))
                .to_owned(),
        )
        .await?;
    if !natural {
        manager.create_index(unique_index(name)).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for name in &TABLES {
            if manager.get_database_backend() == DbBackend::Postgres {
                db.execute_unprepared(&format!(
                    "ALTER TABLE {table} DROP COLUMN id; \
                     ALTER TABLE {table} ADD CONSTRAINT {table}_pkey \
                     PRIMARY KEY USING INDEX {index}",
                    table = name.table,
                    index = name.unique_index,
                ))
                .await?;
            } else {
                rebuild(manager, name, true).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for name in &TABLES {
            if manager.get_database_backend() == DbBackend::Postgres {
                db.execute_unprepared(&format!(
                    "ALTER TABLE {table} DROP CONSTRAINT {table}_pkey; \
                     ALTER TABLE {table} ADD COLUMN id BIGSERIAL PRIMARY KEY",
                    table = name.table,
                ))
                .await?;
                manager.create_index(unique_index(name)).await?;
            } else {
                rebuild(manager, name, false).await?;
            }
        }
        Ok(())
    }
}
