//! Suppressions and the removal quota on both backends; the send path's check.

use sea_orm::TransactionTrait;

use super::*;
use crate::test_db::TestDb;

const NOW: i64 = 1_800_000_000_000;
const DAY: i64 = 24 * 60 * 60 * 1000;

async fn quota_counts_removals_of_the_last_30_days(test: TestDb) {
    let db = &test.db;
    assert!(!is_suppressed(db, "a@example.com").await.unwrap());
    assert_eq!(
        remove(db, "a@example.com", 2, NOW).await.unwrap(),
        Removal::NotSuppressed(Quota {
            limit: 2,
            remaining: 2
        })
    );
    for email in ["a@example.com", "b@example.com", "c@example.com"] {
        suppress(db, email, "550 mailbox unavailable", NOW - 40 * DAY)
            .await
            .unwrap();
    }
    // Suppressing again keeps the first reason and time.
    suppress(db, "a@example.com", "again", NOW).await.unwrap();
    assert!(is_suppressed(db, "a@example.com").await.unwrap());
    assert_eq!(list(db, 10).await.unwrap().len(), 3);

    // Removals 31 and 29 days ago: at the time of the second, both count; now, only it.
    let txn = db.begin().await.unwrap();
    assert!(matches!(
        remove(&txn, "a@example.com", 2, NOW - 31 * DAY)
            .await
            .unwrap(),
        Removal::Removed(_)
    ));
    txn.commit().await.unwrap();
    assert_eq!(
        remove(db, "b@example.com", 2, NOW - 29 * DAY)
            .await
            .unwrap(),
        Removal::Removed(Quota {
            limit: 2,
            remaining: 0
        })
    );
    assert_eq!(
        quota(db, 2, NOW).await.unwrap(),
        Quota {
            limit: 2,
            remaining: 1
        }
    );
    suppress(db, "a@example.com", "550 again", NOW)
        .await
        .unwrap();
    assert_eq!(
        remove(db, "c@example.com", 2, NOW).await.unwrap(),
        Removal::Removed(Quota {
            limit: 2,
            remaining: 0
        })
    );
    assert_eq!(
        remove(db, "a@example.com", 2, NOW).await.unwrap(),
        Removal::QuotaReached(Quota {
            limit: 2,
            remaining: 0
        }),
        "the quota is used up"
    );
    assert!(
        is_suppressed(db, "a@example.com").await.unwrap(),
        "and nothing changed"
    );
    assert!(!is_suppressed(db, "c@example.com").await.unwrap());
    assert_eq!(
        remove(db, "a@example.com", 0, NOW).await.unwrap(),
        Removal::QuotaReached(Quota {
            limit: 0,
            remaining: 0
        }),
        "a limit of 0 allows none"
    );
}

#[tokio::test]
async fn quota_counts_removals_of_the_last_30_days_sqlite() {
    quota_counts_removals_of_the_last_30_days(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn quota_counts_removals_of_the_last_30_days_postgres() {
    quota_counts_removals_of_the_last_30_days(TestDb::postgres().await).await;
}
