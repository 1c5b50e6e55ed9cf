//! The schema serves the queries Inlet makes at scale (PostgreSQL plans, on a real server).

use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};

use crate::support::{Backend, TestDb};

/// Deleting a contact deletes its Stripe customer links by contact: an index probe, not a
/// read of every link of every integration.
#[tokio::test]
async fn deleting_a_contact_finds_its_customer_links_by_index() {
    let test_db = TestDb::new(Backend::Postgres).await;
    let db = Database::connect(&test_db.url).await.unwrap();
    inlet::migrate(&db).await.unwrap();
    db.execute_unprepared(
        "INSERT INTO stripe_customers (integration_id, customer_id, contact_id, updated_at) \
         SELECT 'int_1', 'cus_' || n, 'ct_' || n, 0 FROM generate_series(1, 20000) AS n; \
         ANALYZE stripe_customers",
    )
    .await
    .unwrap();
    let plan = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "EXPLAIN DELETE FROM stripe_customers WHERE contact_id = $1",
            ["ct_42".into()],
        ))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get_by_index::<String>(0).unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        plan.contains("idx_stripe_customers_contact"),
        "the deletion reads the whole table:\n{plan}"
    );
    db.close().await.unwrap();
}
