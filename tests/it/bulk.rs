//! The worker's PostgreSQL bulk inserts (one array per column) against a real database:
//! values, `NULL`s and empty strings come back as they went in, in order, and conflict
//! clauses work as they do in a `VALUES` insert; the webhook-log rows go in the order
//! ingest writes its own.

use std::time::Duration;

use inlet_shared::db::entities::{contact, processed_delivery, webhook_log};
use inlet_shared::domain::Email;
use inlet_shared::integrations::EventSettings;
use inlet_shared::providers::{ContactAction, ContactChange, ContactKey, Provider};
use inlet_shared::queue::QueueMessage;
use inlet_worker::bulk;
use inlet_worker::contacts::{self, Applied, Source};
use inlet_worker::handler::claim_all;
use inlet_worker::unit::Unit;
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryOrder,
    Statement, TransactionTrait,
};

use crate::support::{Backend, TestDb};

/// A new PostgreSQL database with Inlet's schema (dropped with the `TestDb`).
async fn migrated_postgres() -> (std::sync::Arc<TestDb>, DatabaseConnection) {
    let test_db = TestDb::new(Backend::Postgres).await;
    let db = Database::connect(&test_db.url).await.unwrap();
    inlet::migrate(&db).await.unwrap();
    (test_db, db)
}

/// What a transaction run on a task of its own returned, once it committed: it must end
/// within ten seconds (a deadlock would fail it after one; a lock never released, never).
async fn committed<T>(task: tokio::task::JoinHandle<Result<T, DbErr>>) -> T {
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the transaction ends")
        .unwrap()
        .expect("the transaction commits")
}

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
    let (_test_db, db) = migrated_postgres().await;
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

/// Ingest's log writer and a worker both insert a delivery's log row when the worker
/// applies it before ingest has logged it. Both take their rows in delivery-id order, so
/// neither can hold a row the other needs while waiting for one the other holds. Here
/// "ingest" has inserted `wh_1`, uncommitted; the worker's batch logs `wh_2` then `wh_1`
/// (arrival order); then ingest inserts `wh_2`. Had the worker inserted `wh_2` first, the
/// two would deadlock and PostgreSQL would fail one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_takes_log_rows_in_the_order_ingest_does() {
    let (_test_db, db) = migrated_postgres().await;
    let ingest_insert = |id: &str| {
        Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO webhook_log (id, integration_id, provider, status, message, attempts, \
             received_at, updated_at) VALUES ($1, 'int_1', 'stripe', 'accepted', 'Accepted.', \
             0, 1, 1) ON CONFLICT (id) DO NOTHING",
            [id.into()],
        )
    };
    let ingest = db.begin().await.unwrap();
    ingest.execute_raw(ingest_insert("wh_1")).await.unwrap();

    let worker_db = db.clone();
    let worker = tokio::spawn(async move {
        let txn = worker_db.begin().await?;
        let mut unit = Unit::default();
        for id in ["wh_2", "wh_1"] {
            unit.log(webhook_log::ActiveModel {
                id: Set(id.into()),
                integration_id: Set("int_1".into()),
                provider: Set("stripe".into()),
                event_type: Set(Some("customer.created".into())),
                idempotency_key: Set(Some(format!("evt_{id}"))),
                status: Set("processed".into()),
                message: Set("Created the contact.".into()),
                attempts: Set(1),
                received_at: Set(1),
                updated_at: Set(2),
            });
        }
        unit.finish(&txn).await?;
        txn.commit().await?;
        Ok::<_, DbErr>(())
    });
    // Long enough for the worker to be waiting on `wh_1`.
    tokio::time::sleep(Duration::from_millis(500)).await;
    ingest
        .execute_raw(ingest_insert("wh_2"))
        .await
        .expect("ingest's insert of wh_2 does not deadlock");
    ingest.commit().await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), worker)
        .await
        .expect("the worker's transaction ends")
        .unwrap()
        .expect("the worker's transaction commits");
    let rows = webhook_log::Entity::find()
        .order_by_asc(webhook_log::Column::Id)
        .all(&db)
        .await
        .unwrap();
    let statuses: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r.id.as_str(), r.status.as_str()))
        .collect();
    assert_eq!(statuses, [("wh_1", "processed"), ("wh_2", "processed")]);
    db.close().await.unwrap();
}

/// Two batches with deliveries of the same two events (a resend split across batches)
/// claim them in one order, so the later waits for the earlier instead of deadlocking.
/// Here another batch has claimed `evt_1`, uncommitted; this one claims `evt_2` then
/// `evt_1` (arrival order); then the other claims `evt_2`. Had this one inserted `evt_2`
/// first, each would wait for the other and PostgreSQL would fail one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_claims_of_the_same_events_wait_instead_of_deadlocking() {
    let (_test_db, db) = migrated_postgres().await;
    let message = |key: &str, delivery: &str| QueueMessage {
        delivery_id: delivery.into(),
        integration_id: "int_1".into(),
        provider: Provider::Stripe,
        event_type: "customer.created".into(),
        idempotency_key: key.into(),
        received_at_ms: 1,
        body: Default::default(),
    };
    let other = db.begin().await.unwrap();
    let first = message("evt_1", "wh_a1");
    assert_eq!(claim_all(&other, &[&first]).await.unwrap(), [true]);

    let batch_db = db.clone();
    let batch = tokio::spawn(async move {
        let msgs = [message("evt_2", "wh_b2"), message("evt_1", "wh_b1")];
        let txn = batch_db.begin().await?;
        let claimed = claim_all(&txn, &[&msgs[0], &msgs[1]]).await?;
        txn.commit().await?;
        Ok::<_, DbErr>(claimed)
    });
    // Long enough for the batch to be waiting on `evt_1`.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let second = message("evt_2", "wh_a2");
    assert_eq!(
        claim_all(&other, &[&second])
            .await
            .expect("the other batch's claim of evt_2 does not deadlock"),
        [true]
    );
    other.commit().await.unwrap();
    let claimed = committed(batch).await;
    assert_eq!(
        claimed,
        [false, false],
        "both events were claimed first by the other"
    );
    db.close().await.unwrap();
}

/// A change to `ada@example.com` at platform time `occurred_at_ms`, setting property `key`.
fn property_change(occurred_at_ms: i64, key: &str) -> ContactChange {
    let mut change = ContactChange::new(
        ContactAction::Upsert,
        ContactKey::Email(Email::parse("ada@example.com").unwrap()),
        occurred_at_ms,
    );
    change.email = Email::parse("ada@example.com");
    change
        .properties
        .insert(key.into(), serde_json::json!(true));
    change
}

/// Here another worker's transaction has applied a newer change to a contact, uncommitted,
/// when this worker applies an older one. The older one must wait for the newer and then be
/// kept out by the ordering guard, whether the worker read the contact in a batch's preload
/// or alone; had it read the contact before the newer change committed, it would overwrite
/// it (the platform time going back, the newer property lost).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_change_waits_for_a_concurrent_newer_one_and_is_kept_out() {
    let (_test_db, db) = migrated_postgres().await;
    for preloaded in [true, false] {
        contact::Entity::delete_many().exec(&db).await.unwrap();
        let mut ada = contact("c_ada", Some("Ada"), None);
        ada.email = "ada@example.com".into();
        ada.properties = "{}".into();
        ada.last_event_at = 100;
        contact::Entity::insert(contact::ActiveModel::from(ada))
            .exec(&db)
            .await
            .unwrap();

        // The newer change (platform time 300), as another worker writes it.
        let other = db.begin().await.unwrap();
        other
            .execute_unprepared(
                r#"UPDATE contacts SET last_event_at = 300, properties = '{"newer":true}'
                   WHERE id = 'c_ada'"#,
            )
            .await
            .unwrap();

        let worker_db = db.clone();
        let worker = tokio::spawn(async move {
            let change = property_change(200, "older");
            let settings = EventSettings::default();
            let source = Source {
                integration_id: "int_1",
                provider: Provider::Stripe,
                event_type: "customer.updated",
                delivery_id: "wh_older",
                settings: &settings,
            };
            let txn = worker_db.begin().await?;
            let mut unit = Unit::default();
            if preloaded {
                unit.preload(&txn, [("int_1", &change)]).await?;
            }
            let applied = contacts::apply(&txn, &mut unit, &change, &source).await?;
            unit.finish(&txn).await?;
            txn.commit().await?;
            Ok::<_, DbErr>(applied)
        });
        // Long enough for the worker to have read the contact, or to wait for it.
        tokio::time::sleep(Duration::from_millis(500)).await;
        other.commit().await.unwrap();
        let applied = committed(worker).await;
        assert_eq!(
            applied,
            Applied::Stale("c_ada".into()),
            "preloaded: {preloaded}"
        );
        let row = contact::Entity::find_by_id("c_ada")
            .one(&db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.last_event_at, 300, "preloaded: {preloaded}");
        assert_eq!(
            row.properties, r#"{"newer":true}"#,
            "preloaded: {preloaded}"
        );
    }
    db.close().await.unwrap();
}
