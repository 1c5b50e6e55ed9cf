//! The worker's PostgreSQL bulk inserts (one array per column) against a real database:
//! values, `NULL`s and empty strings come back as they went in, in order, and conflict
//! clauses work as they do in a `VALUES` insert.

use inlet_shared::db::entities::{contact, processed_delivery};
use inlet_worker::bulk;
use sea_orm::ActiveValue::Set;
use sea_orm::{Database, EntityTrait, QueryOrder};

use crate::helpers::{Backend, TestDb};

fn contact(id: &str, first_name: Option<&str>, user_id: Option<&str>) -> contact::Model {
    contact::Model {
        id: id.into(),
        email: format!("{id}@example.com"),
        user_id: user_id.map(str::to_owned),
        first_name: first_name.map(str::to_owned),
        last_name: Some("Lovelace".into()),
        source: None,
        user_group: Some(String::new()),
        subscribed: id.ends_with('1'),
        properties: r#"{"plan":"pro"}"#.into(),
        created_at: 1,
        updated_at: 2,
        last_event_at: 3,
    }
}

#[tokio::test]
async fn rows_come_back_as_inserted_with_nulls_and_empty_strings_apart() {
    let test_db = TestDb::new(Backend::Postgres).await;
    let db = Database::connect(&test_db.url).await.unwrap();
    inlet::migrate(&db).await.unwrap();
    let rows = vec![
        contact("ct_1", Some("Ada"), Some("u1")),
        contact("ct_2", Some(""), None),
        contact("ct_3", None, Some("")),
    ];
    let active: Vec<contact::ActiveModel> = rows.iter().cloned().map(Into::into).collect();
    bulk::insert(&db, &active, "").await.unwrap();
    let stored = contact::Entity::find()
        .order_by_asc(contact::Column::Id)
        .all(&db)
        .await
        .unwrap();
    assert_eq!(stored, rows);

    // The claim: of two rows with one key, the first is inserted and returned.
    let claim = |key: &str, delivery: &str| processed_delivery::ActiveModel {
        integration_id: Set("int_1".into()),
        idempotency_key: Set(key.into()),
        delivery_id: Set(delivery.into()),
        processed_at: Set(1),
    };
    let returned = bulk::insert_returning(
        &db,
        &[
            claim("evt_1", "wh_1"),
            claim("evt_1", "wh_2"),
            claim("evt_2", "wh_3"),
        ],
        "ON CONFLICT (integration_id, idempotency_key) DO NOTHING RETURNING delivery_id",
    )
    .await
    .unwrap();
    let won: Vec<String> = returned
        .iter()
        .map(|r| r.try_get("", "delivery_id").unwrap())
        .collect();
    assert_eq!(won, ["wh_1", "wh_3"]);
    db.close().await.unwrap();
}
