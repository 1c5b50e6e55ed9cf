//! Expiry against real databases (SQLite and PostgreSQL): an expired secret stops
//! verifying at its expiry even in a cache loaded before it, the roll of `expire_all`, and
//! the pruner's deletion.

use sea_orm::{ActiveValue::Set, DatabaseConnection, EntityTrait, PaginatorTrait};

use super::*;
use crate::db::entities::integration;
use crate::domain::now_ms;
use crate::integrations::IntegrationCache;
use crate::providers::Provider;
use crate::providers::samples;
use crate::test_db::TestDb;

const OLD: &str = "whsec_old_0123456789abcdef0123456789";
const NEW: &str = "whsec_new_0123456789abcdef0123456789";

async fn integration(db: &DatabaseConnection, id: &str) {
    integration::Entity::insert(integration::ActiveModel {
        id: Set(id.to_owned()),
        provider: Set("stripe".into()),
        name: Set("t".into()),
        events: Set("{}".into()),
        created_at: Set(1),
        updated_at: Set(1),
    })
    .exec_without_returning(db)
    .await
    .unwrap();
}

/// Whether a Stripe delivery signed with `secret` verifies against the cached keys at
/// `at_ms`.
fn verifies(cache: &IntegrationCache, id: &str, secret: &str, at_ms: i64) -> bool {
    let body = "{\"id\":\"evt_1\",\"type\":\"customer.created\"}";
    let secs = at_ms / 1000;
    let signed = samples::sign(Provider::Stripe, secret, body, secs, "m").unwrap();
    let headers: Vec<(&str, &str)> = signed
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let runtime = cache.get(id).unwrap();
    Provider::Stripe
        .verify(runtime.keys_at(at_ms), &headers, body.as_bytes(), secs, 300)
        .is_ok()
}

async fn an_expired_secret_stops_verifying_and_is_pruned(db: TestDb) {
    let db = &db.db;
    let vault = Vault::ephemeral();
    integration(db, "int_a").await;
    integration(db, "int_b").await;
    let now = now_ms();
    let expiry = now + 60_000;
    add(db, &vault, "int_a", OLD, now - 1000, None)
        .await
        .unwrap();
    // A roll: the old secret expires in a minute, the new one never.
    assert_eq!(expire_all(db, "int_a", expiry).await.unwrap(), 1);
    add(db, &vault, "int_a", NEW, now, None).await.unwrap();
    add(db, &vault, "int_b", OLD, now, Some(now - 1))
        .await
        .unwrap();
    let listed = list(db, "int_a").await.unwrap();
    assert_eq!(
        listed.iter().map(|s| s.expires_at).collect::<Vec<_>>(),
        [Some(expiry), None]
    );
    // A later expiry asked for does not lengthen an earlier one.
    assert_eq!(expire_all(db, "int_a", expiry + 1).await.unwrap(), 1);
    set_expiry(db, listed[1].id, None).await.unwrap();

    // Loaded before the expiry, the cache still refuses the old secret after it.
    let cache = IntegrationCache::load(db.clone(), vault.clone())
        .await
        .unwrap();
    assert!(verifies(&cache, "int_a", OLD, now));
    assert!(verifies(&cache, "int_a", NEW, now));
    assert!(!verifies(&cache, "int_a", OLD, expiry));
    assert!(verifies(&cache, "int_a", NEW, expiry));
    assert!(!verifies(&cache, "int_b", OLD, now));

    // Test events sign with the newest secret still valid.
    let newest = newest_usable(db, &vault, "int_b", now).await.unwrap();
    assert!(newest.is_none());

    assert_eq!(prune_expired_secrets(db, now).await.unwrap(), 1);
    assert_eq!(prune_expired_secrets(db, expiry - 1).await.unwrap(), 0);
    assert_eq!(prune_expired_secrets(db, expiry).await.unwrap(), 1);
    let left = integration_secret::Entity::find().count(db).await.unwrap();
    assert_eq!(left, 1);
    assert_eq!(list(db, "int_a").await.unwrap()[0].expires_at, None);
}

#[tokio::test]
async fn an_expired_secret_stops_verifying_and_is_pruned_sqlite() {
    an_expired_secret_stops_verifying_and_is_pruned(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn an_expired_secret_stops_verifying_and_is_pruned_postgres() {
    an_expired_secret_stops_verifying_and_is_pruned(TestDb::postgres().await).await;
}

#[test]
fn keys_at_keeps_the_unexpired_suffix() {
    let key = || Provider::Stripe.signing_key(OLD).unwrap();
    let runtime = crate::integrations::IntegrationRuntime::new(
        "int".into(),
        Provider::Stripe,
        "n".into(),
        vec![(key(), Some(100)), (key(), None), (key(), Some(50))],
        Default::default(),
    );
    let counts: Vec<usize> = [0, 49, 50, 99, 100, i64::MAX]
        .iter()
        .map(|t| runtime.keys_at(*t).len())
        .collect();
    assert_eq!(counts, [3, 3, 2, 2, 1, 1]);
}
