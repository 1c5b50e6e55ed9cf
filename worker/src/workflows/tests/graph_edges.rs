//! Graph workflows at their edges: a run at a node deleted since is cancelled, a step
//! message delivered twice moves the run once, a trigger that is not re-eligible starts
//! one run per contact, a paused workflow's runs wait, and an event recorded by the worker
//! (a platform's webhook) makes runs exit as the API's does.

use inlet_shared::db::entities::{workflow, workflow_run, workflow_run_node};
use inlet_shared::graph::NodeKind;
use inlet_shared::providers::Provider;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use super::graphs::{
    TRIGGER, contact_with, drain, event, exit, graph, not_paid, pair, reminders, run_of, send,
    sent, store, trigger,
};
use super::{ADA, customer};
use crate::test_support::{Bench, Outbox};

async fn deleted_node(bench: Bench) {
    let outbox = Outbox::new();
    let runner = bench.runner(&outbox).await;
    let w = store(&bench, &reminders(true)).await;
    let ada = contact_with(&bench, "ada@example.com", json!({})).await;
    event(&bench, &ada, TRIGGER).await;
    drain(&runner).await;
    assert_eq!(run_of(&bench, &ada).await.step, 3, "at the timer");
    // The timer is deleted from under the run (a race with an edit's discard).
    let mut g = inlet_shared::workflows::graph::of(&w).unwrap();
    g.nodes.remove("n3");
    if let Some(n) = g.nodes.get_mut("n2") {
        n.next = vec!["n4".into()];
    }
    inlet_shared::workflows::graph::save(&bench.db, &w, &g, w.revision_id.as_deref())
        .await
        .unwrap();
    workflow_run::Entity::update_many()
        .col_expr(workflow_run::Column::NextAt, Expr::value(0i64))
        .exec(&bench.db)
        .await
        .unwrap();
    drain(&runner).await;
    let run = run_of(&bench, &ada).await;
    assert_eq!((run.status.as_str(), run.step), ("cancelled", 3));
    assert_eq!(
        run.last_error.as_deref(),
        Some("The node the run was at was deleted.")
    );
    assert_eq!(sent(&bench).await, [pair("ada@example.com", "tpl_a")]);
}

#[tokio::test]
async fn a_run_at_a_deleted_node_is_cancelled_sqlite() {
    deleted_node(Bench::sqlite().await).await;
}

#[tokio::test]
async fn a_run_at_a_deleted_node_is_cancelled_postgres() {
    deleted_node(Bench::postgres().await).await;
}

async fn redelivered(bench: Bench) {
    let outbox = Outbox::new();
    let runner = bench.runner(&outbox).await;
    store(
        &bench,
        &graph(vec![trigger(1, true), send(1, 2, "tpl_a"), exit(2)]),
    )
    .await;
    let ada = contact_with(&bench, "ada@example.com", json!({})).await;
    event(&bench, &ada, TRIGGER).await;
    // The trigger's step, then the send's, each delivered twice.
    for _ in 0..2 {
        let jobs = runner.claim(64).await.unwrap();
        assert_eq!(jobs.len(), 1);
        let job = jobs.into_iter().next().unwrap();
        runner.execute(&job).await.unwrap();
        runner.execute(&job).await.unwrap();
    }
    assert!(runner.claim(64).await.unwrap().is_empty());
    assert_eq!(sent(&bench).await, [pair("ada@example.com", "tpl_a")]);
    assert_eq!(outbox.sent(), 1);
    let run = run_of(&bench, &ada).await;
    assert_eq!((run.status.as_str(), run.step), ("completed", 2));
    let mut passed: Vec<i32> = workflow_run_node::Entity::find()
        .filter(workflow_run_node::Column::RunId.eq(run.id.as_str()))
        .all(&bench.db)
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.node_seq)
        .collect();
    passed.sort_unstable();
    assert_eq!(passed, [0, 1, 2], "each node passed once");
}

#[tokio::test]
async fn a_step_delivered_twice_moves_the_run_once_sqlite() {
    redelivered(Bench::sqlite().await).await;
}

#[tokio::test]
async fn a_step_delivered_twice_moves_the_run_once_postgres() {
    redelivered(Bench::postgres().await).await;
}

#[tokio::test]
async fn a_trigger_not_re_eligible_starts_one_run_per_contact() {
    let bench = Bench::sqlite().await;
    let once = store(
        &bench,
        &graph(vec![trigger(1, false), send(1, 2, "tpl_once"), exit(2)]),
    )
    .await;
    let again = store(
        &bench,
        &graph(vec![trigger(1, true), send(1, 2, "tpl_again"), exit(2)]),
    )
    .await;
    let ada = contact_with(&bench, "ada@example.com", json!({})).await;
    for _ in 0..3 {
        event(&bench, &ada, TRIGGER).await;
    }
    let count = |id: String| {
        let db = bench.db.clone();
        async move {
            workflow_run::Entity::find()
                .filter(workflow_run::Column::WorkflowId.eq(id))
                .all(&db)
                .await
                .unwrap()
                .len()
        }
    };
    assert_eq!(count(once.id).await, 1);
    assert_eq!(count(again.id).await, 3);
}

#[tokio::test]
async fn a_paused_workflows_runs_wait_where_they_are() {
    let bench = Bench::sqlite().await;
    let outbox = Outbox::new();
    let runner = bench.runner(&outbox).await;
    let w = store(
        &bench,
        &graph(vec![trigger(1, true), send(1, 2, "tpl_a"), exit(2)]),
    )
    .await;
    let ada = contact_with(&bench, "ada@example.com", json!({})).await;
    event(&bench, &ada, TRIGGER).await;
    let pause = |status: &'static str, enabled: bool| {
        workflow::Entity::update_many()
            .col_expr(workflow::Column::Status, Expr::value(status))
            .col_expr(workflow::Column::Enabled, Expr::value(enabled))
            .filter(workflow::Column::Id.eq(w.id.as_str()))
            .exec(&bench.db)
    };
    pause("Paused", false).await.unwrap();
    drain(&runner).await;
    let waiting = run_of(&bench, &ada).await;
    assert_eq!((waiting.status.as_str(), waiting.step), ("pending", 0));
    assert!(
        waiting.next_at > inlet_shared::domain::now_ms(),
        "looks again later"
    );
    assert!(sent(&bench).await.is_empty());
    pause("Sending", true).await.unwrap();
    workflow_run::Entity::update_many()
        .col_expr(workflow_run::Column::NextAt, Expr::value(0i64))
        .exec(&bench.db)
        .await
        .unwrap();
    drain(&runner).await;
    assert_eq!(sent(&bench).await, [pair("ada@example.com", "tpl_a")]);
}

/// A platform event recorded by the worker's unit of work exits the runs as one recorded
/// by the API does.
#[tokio::test]
async fn a_webhook_event_makes_runs_exit_in_its_transaction() {
    let bench = Bench::sqlite().await;
    let outbox = Outbox::new();
    let runner = bench.runner(&outbox).await;
    let exiting = "stripe:customer.updated";
    let mut g = reminders(true);
    if let Some(n) = g.nodes.get_mut("n1") {
        n.kind = NodeKind::AudienceFilter {
            filter: not_paid().map(|mut f| {
                f.conditions = vec![inlet_shared::graph::Condition::Event {
                    event_name: exiting.into(),
                    negate: true,
                }];
                f
            }),
            applies_downstream: true,
        };
    }
    if let Some(n) = g.nodes.get_mut("n0") {
        n.kind = NodeKind::EventTrigger {
            event_name: Some("stripe:customer.created".into()),
            re_eligible: true,
        };
    }
    store(&bench, &g).await;
    let stripe = bench.integration(Provider::Stripe, &[]).await;
    bench
        .apply(&[&customer(&stripe, "customer.created", 1_000)])
        .await;
    drain(&runner).await;
    let ada = bench.contact(ADA).await.unwrap();
    assert_eq!(run_of(&bench, &ada).await.step, 3, "waiting on the timer");
    bench
        .apply(&[&customer(&stripe, "customer.updated", 2_000)])
        .await;
    let run = run_of(&bench, &ada).await;
    assert_eq!(run.status, "cancelled");
    assert_eq!(
        run.last_error.as_deref(),
        Some("Exited on the event stripe:customer.updated.")
    );
}
