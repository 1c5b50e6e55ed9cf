//! The guards of a run's transitions (`inlet_shared::workflows::runs`), driven directly: a
//! holder whose lease was claimed anew changes nothing, a failure counts its attempt, and
//! only a failed run is resumed.

use std::time::Duration;

use inlet_shared::db::entities::{dead_letter, workflow_run};
use inlet_shared::domain::now_ms;
use inlet_shared::providers::Provider;
use inlet_shared::queue::StepJob;
use inlet_shared::workflows::runs::{self, Taken};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::{customer, the_run, workflow};
use crate::test_support::Bench;
use crate::workflows::LEASE;

/// Steps of the workflows here: a wait, then a send (two steps).
fn wait_then_send() -> serde_json::Value {
    serde_json::json!([
        {"type": "wait", "seconds": 60},
        {"type": "sendEmail", "templateId": "TEMPLATE"}
    ])
}

/// A bench with one run per workflow (`workflows` of them) started and due.
async fn started(workflows: usize) -> Bench {
    let bench = Bench::sqlite().await;
    for _ in 0..workflows {
        workflow(&bench, wait_then_send()).await;
    }
    let stripe = bench.integration(Provider::Stripe, &[]).await;
    bench
        .apply(&[&customer(&stripe, "customer.created", 1_000)])
        .await;
    bench
}

async fn claim(bench: &Bench) -> Vec<StepJob> {
    runs::claim(&bench.db, 64, LEASE).await.unwrap()
}

async fn take(bench: &Bench, job: &StepJob) -> Taken {
    runs::take(&bench.db, job, LEASE).await.unwrap().unwrap()
}

async fn run(bench: &Bench, id: &str) -> workflow_run::Model {
    workflow_run::Entity::find_by_id(id.to_owned())
        .one(&bench.db)
        .await
        .unwrap()
        .unwrap()
}

/// Makes every run due now with its lease expired (its holder stalled past it).
async fn expire(bench: &Bench) {
    workflow_run::Entity::update_many()
        .col_expr(workflow_run::Column::NextAt, Expr::value(0i64))
        .col_expr(workflow_run::Column::LeaseUntil, Expr::value(0i64))
        .filter(workflow_run::Column::LeaseUntil.is_not_null())
        .exec(&bench.db)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_stale_lease_can_neither_take_nor_move_the_run() {
    let bench = started(1).await;
    let [stale_job] = claim(&bench).await.try_into().unwrap();
    let stale = take(&bench, &stale_job).await;
    expire(&bench).await;
    let [current_job] = claim(&bench).await.try_into().unwrap();
    assert_ne!(stale_job.lease, current_job.lease);
    let before = the_run(&bench).await;

    let db = &bench.db;
    assert!(runs::take(db, &stale_job, LEASE).await.unwrap().is_none());
    assert!(!runs::advance(db, &stale, 2, now_ms()).await.unwrap());
    assert!(!runs::complete(db, &stale).await.unwrap());
    assert!(!runs::cancel(db, &stale, "stale").await.unwrap());
    let retried = runs::retry_later(db, &stale, "stale", Duration::ZERO).await;
    assert!(!retried.unwrap());
    assert!(!runs::fail(db, &stale, "stale").await.unwrap());
    assert!(!runs::unclaim(db, &stale_job).await.unwrap());
    assert_eq!(
        the_run(&bench).await,
        before,
        "the stale holder changed nothing"
    );
    assert_eq!(
        bench.count(dead_letter::Entity).await,
        0,
        "nor dead-lettered it"
    );

    // The current holder moves it on, giving the lease up.
    let current = take(&bench, &current_job).await;
    assert!(runs::advance(db, &current, 2, now_ms()).await.unwrap());
    let after = the_run(&bench).await;
    assert_eq!(
        (after.status.as_str(), after.step, after.lease_token),
        ("pending", 1, None)
    );
}

#[tokio::test]
async fn a_failure_counts_its_attempt_and_failing_for_good_dead_letters_the_run() {
    let bench = started(1).await;
    let [job] = claim(&bench).await.try_into().unwrap();
    let first = take(&bench, &job).await;
    assert_eq!(runs::attempt(&first), 1);
    let before = now_ms();
    let hour = Duration::from_secs(3600);
    assert!(
        runs::retry_later(&bench.db, &first, "busy", hour)
            .await
            .unwrap()
    );
    let retried = the_run(&bench).await;
    assert_eq!(
        (retried.status.as_str(), retried.step, retried.attempts),
        ("pending", 0, 1)
    );
    assert_eq!(retried.last_error.as_deref(), Some("busy"));
    assert_eq!(retried.lease_token, None);
    assert!(
        retried.next_at >= before + 3_600_000,
        "due after the backoff"
    );
    assert!(claim(&bench).await.is_empty(), "not due yet");
    let first_failed = retried.first_failed_at.unwrap();

    // Later, so a first failure's time overwritten would show.
    tokio::time::sleep(Duration::from_millis(5)).await;
    workflow_run::Entity::update_many()
        .col_expr(workflow_run::Column::NextAt, Expr::value(0i64))
        .exec(&bench.db)
        .await
        .unwrap();
    let [job] = claim(&bench).await.try_into().unwrap();
    let second = take(&bench, &job).await;
    assert_eq!(runs::attempt(&second), 2);
    assert!(runs::fail(&bench.db, &second, "refused").await.unwrap());
    let failed = the_run(&bench).await;
    assert_eq!(
        (failed.status.as_str(), failed.attempts, failed.lease_token),
        ("failed", 2, None)
    );
    assert_eq!(
        failed.first_failed_at,
        Some(first_failed),
        "the first failure kept"
    );
    let dead = dead_letter::Entity::find().all(&bench.db).await.unwrap();
    let [dead] = dead.try_into().unwrap();
    assert_eq!(
        (
            dead.delivery_id.as_str(),
            dead.attempts,
            dead.first_failed_at
        ),
        (failed.id.as_str(), 2, first_failed)
    );
    assert!(claim(&bench).await.is_empty(), "a failed run is not due");
}

#[tokio::test]
async fn only_a_failed_run_is_resumed() {
    let bench = started(1).await;
    let id = the_run(&bench).await.id;
    assert!(!runs::resume(&bench.db, &id).await.unwrap(), "pending");
    let [job] = claim(&bench).await.try_into().unwrap();
    let taken = take(&bench, &job).await;
    assert!(!runs::resume(&bench.db, &id).await.unwrap(), "leased");
    assert_eq!(run(&bench, &id).await.lease_token, Some(job.lease.clone()));
    assert!(runs::fail(&bench.db, &taken, "refused").await.unwrap());

    assert!(runs::resume(&bench.db, &id).await.unwrap(), "failed");
    let resumed = run(&bench, &id).await;
    assert_eq!(
        (resumed.status.as_str(), resumed.step, resumed.attempts),
        ("pending", 0, 0)
    );
    assert_eq!((resumed.first_failed_at, resumed.lease_token), (None, None));
    assert!(!runs::resume(&bench.db, &id).await.unwrap(), "once");
    let [again] = claim(&bench).await.try_into().unwrap();
    assert_eq!(
        (again.run_id, again.step),
        (id, 0),
        "its failed step is due"
    );
}

#[tokio::test]
async fn a_completed_or_cancelled_run_cannot_be_resumed() {
    let bench = started(2).await;
    let [one, two] = claim(&bench).await.try_into().unwrap();
    let (one, two) = (take(&bench, &one).await, take(&bench, &two).await);
    assert!(runs::complete(&bench.db, &one).await.unwrap());
    assert!(runs::cancel(&bench.db, &two, "gone").await.unwrap());
    for (id, status) in [(&one.id, "completed"), (&two.id, "cancelled")] {
        assert!(!runs::resume(&bench.db, id).await.unwrap(), "{status}");
        assert_eq!(run(&bench, id).await.status, status);
    }
    assert!(claim(&bench).await.is_empty());
}
