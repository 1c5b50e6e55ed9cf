//! A unit's memory against the database it defers its writes to: a contact it changed is
//! answered as it changed it, even when a lookup has to ask the database, whose row is
//! still the old one until the unit finishes.

use inlet_shared::db::entities::contact;
use sea_orm::{EntityTrait, TransactionTrait};

use super::Unit;
use crate::test_support::Bench;

fn ada() -> contact::Model {
    contact::Model {
        id: "ct_ada".into(),
        email: "ada@example.com".into(),
        user_id: Some("user_ada".into()),
        first_name: Some("Ada".into()),
        last_name: None,
        source: None,
        user_group: None,
        subscribed: true,
        properties: "{}".into(),
        created_at: 1,
        updated_at: 1,
        last_event_at: 1,
    }
}

#[tokio::test]
async fn a_changed_contact_is_answered_from_memory_until_it_is_written() {
    let bench = Bench::postgres().await;
    contact::Entity::insert(contact::ActiveModel::from(ada()))
        .exec_without_returning(&bench.db)
        .await
        .unwrap();
    let txn = bench.db.begin().await.unwrap();
    let mut unit = Unit::default();
    let stored = unit.by_user_id(&txn, "user_ada").await.unwrap().unwrap();
    let moved = contact::Model {
        email: "lovelace@example.com".into(),
        last_event_at: 2,
        ..stored.clone()
    };
    unit.updated(&stored, moved.clone());
    // A key the unit has not looked up: the database still has the old row under it.
    unit.by_email.remove("ada@example.com");
    unit.by_user.remove("user_ada");
    assert_eq!(unit.by_email(&txn, "ada@example.com").await.unwrap(), None);
    assert_eq!(
        unit.by_user_id(&txn, "user_ada").await.unwrap(),
        Some(moved.clone()),
        "the row in memory, not the stored one"
    );
    assert_eq!(unit.contact("ct_ada"), Some(&moved));

    unit.finish(&txn).await.unwrap();
    txn.commit().await.unwrap();
    let written = contact::Entity::find_by_id("ct_ada")
        .one(&bench.db)
        .await
        .unwrap();
    assert_eq!(written, Some(moved));
}
