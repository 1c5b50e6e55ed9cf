//! The runner's tests: runs started by applied deliveries, claimed by the scheduler's step
//! ([`Runner::claim`]) and executed ([`Runner::execute`]); the `email_sends` table and the
//! outbox directory (the stand-in for an SMTP server) show what was sent. The transitions'
//! own guards are tested in `transitions`.

mod graph_edges;
mod graphs;
mod transitions;

use inlet_shared::db::entities::{contact, email_send, email_template, workflow, workflow_run};
use inlet_shared::domain::{new_id, now_ms};
use inlet_shared::integrations::{EventSettings, OnDelete};
use inlet_shared::providers::Provider;
use inlet_shared::queue::{QueueMessage, StepJob};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, EntityTrait};

use super::Runner;
use crate::test_support::{Bench, Integration, Outbox, person, resend};

const ADA: &str = "ada@example.com";

/// A template, and an enabled workflow of `steps` (JSON) started by Stripe's
/// `customer.created`.
async fn workflow(bench: &Bench, steps: serde_json::Value) -> String {
    let now = now_ms();
    let template = new_id("tpl_");
    email_template::Entity::insert(email_template::ActiveModel {
        id: Set(template.clone()),
        name: Set("Welcome".into()),
        subject: Set("Welcome, {{ contact.firstName }}".into()),
        html: Set("<p>Hello {{ contact.firstName }}</p>".into()),
        text: Set(None),
        from_name: Set(None),
        from_email: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec_without_returning(&bench.db)
    .await
    .unwrap();
    let steps = steps.to_string().replace("TEMPLATE", &template);
    let id = new_id("wf_");
    workflow::Entity::insert(workflow::ActiveModel {
        id: Set(id.clone()),
        name: Set("Onboarding".into()),
        trigger_type: Set("event".into()),
        trigger_value: Set(Some("stripe:customer.created".into())),
        audience_list_id: Set(None),
        audience_user_group: Set(None),
        steps: Set(steps),
        enabled: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    })
    .exec_without_returning(&bench.db)
    .await
    .unwrap();
    id
}

fn send_only() -> serde_json::Value {
    serde_json::json!([{"type": "sendEmail", "templateId": "TEMPLATE"}])
}

fn customer(stripe: &Integration, event_type: &str, at_secs: i64) -> QueueMessage {
    stripe.delivery(
        event_type,
        &person(ADA, ("Ada", "Lovelace"), "cus_ada"),
        at_secs,
    )
}

/// The one run there is.
async fn the_run(bench: &Bench) -> workflow_run::Model {
    let mut runs = workflow_run::Entity::find().all(&bench.db).await.unwrap();
    assert_eq!(runs.len(), 1, "one run");
    runs.pop().unwrap()
}

async fn sends(bench: &Bench) -> Vec<email_send::Model> {
    email_send::Entity::find().all(&bench.db).await.unwrap()
}

/// The scheduler's step: the one due run, claimed.
async fn claim_one(runner: &Runner) -> StepJob {
    let mut jobs = runner.claim(64).await.unwrap();
    assert_eq!(jobs.len(), 1, "one due run");
    jobs.pop().unwrap()
}

#[tokio::test]
async fn a_run_started_by_an_event_sends_its_email_once() {
    let bench = Bench::sqlite().await;
    let outbox = Outbox::new();
    let runner = bench.runner(&outbox).await;
    let workflow_id = workflow(&bench, send_only()).await;
    let stripe = bench.integration(Provider::Stripe, &[]).await;
    let created = customer(&stripe, "customer.created", 1_000);
    // The platform sends the event again: it starts nothing more.
    bench.apply_each(&[&created, &resend(&created)]).await;
    let run = the_run(&bench).await;
    assert_eq!(
        (run.workflow_id.as_str(), run.status.as_str()),
        (workflow_id.as_str(), "pending")
    );

    let job = claim_one(&runner).await;
    assert!(runner.claim(64).await.unwrap().is_empty(), "leased");
    runner.execute(&job).await.unwrap();
    let sent = sends(&bench).await;
    assert_eq!(sent.len(), 1);
    let email = sent.first().unwrap();
    assert_eq!(
        (email.status.as_str(), email.to_email.as_str()),
        ("sent", ADA)
    );
    assert_eq!(email.subject, "Welcome, Ada");
    assert_eq!(outbox.sent(), 1);
    let run = the_run(&bench).await;
    assert_eq!((run.status.as_str(), run.step), ("completed", 1));

    // The same step message again, and nothing due any more: nothing more is sent.
    runner.execute(&job).await.unwrap();
    assert!(runner.claim(64).await.unwrap().is_empty());
    // The run's progress lost after the send (the process died between the two): the
    // step runs again, finds its email sent and moves on without sending.
    workflow_run::Entity::update_many()
        .col_expr(workflow_run::Column::Step, Expr::value(0))
        .col_expr(workflow_run::Column::Status, Expr::value("pending"))
        .exec(&bench.db)
        .await
        .unwrap();
    let again = claim_one(&runner).await;
    runner.execute(&again).await.unwrap();
    assert_eq!(outbox.sent(), 1);
    assert_eq!(sends(&bench).await.len(), 1);
    assert_eq!(the_run(&bench).await.status, "completed");
}

#[tokio::test]
async fn a_wait_step_holds_the_run_at_its_node_until_due_and_sends_nothing_yet() {
    let bench = Bench::sqlite().await;
    let outbox = Outbox::new();
    let runner = bench.runner(&outbox).await;
    workflow(
        &bench,
        serde_json::json!([
            {"type": "wait", "seconds": 3600},
            {"type": "sendEmail", "templateId": "TEMPLATE"}
        ]),
    )
    .await;
    let stripe = bench.integration(Provider::Stripe, &[]).await;
    bench
        .apply(&[&customer(&stripe, "customer.created", 1_000)])
        .await;

    let job = claim_one(&runner).await;
    let before = now_ms();
    runner.execute(&job).await.unwrap();
    let after = now_ms();
    let run = the_run(&bench).await;
    // The run stays at the timer's node (seq 0) while the timer runs: the console counts
    // it as waiting there, and deleting that node finds it.
    assert_eq!((run.status.as_str(), run.step), ("pending", 0));
    assert_eq!(
        run.wait_until,
        Some(run.next_at),
        "the timer's end is when it is due"
    );
    assert!(
        (before + 3_600_000..=after + 3_600_000).contains(&run.next_at),
        "next_at {} is an hour after {before}..{after}",
        run.next_at
    );
    assert_eq!(run.lease_token, None, "released");
    assert!(runner.claim(64).await.unwrap().is_empty(), "not due yet");
    assert!(sends(&bench).await.is_empty());
    assert_eq!(outbox.sent(), 0);
}

/// The contact is deleted (policy `delete`) after the scheduler queued its run's step:
/// the step does nothing, and nothing is left to run.
#[tokio::test]
async fn a_run_of_a_contact_deleted_before_its_step_stops() {
    let bench = Bench::sqlite().await;
    let outbox = Outbox::new();
    let runner = bench.runner(&outbox).await;
    workflow(&bench, send_only()).await;
    let deleting = EventSettings {
        on_delete: OnDelete::Delete,
        ..EventSettings::default()
    };
    let stripe = bench
        .integration(Provider::Stripe, &[("customer.deleted", deleting)])
        .await;
    bench
        .apply(&[&customer(&stripe, "customer.created", 1_000)])
        .await;
    let job = claim_one(&runner).await;
    bench
        .apply(&[&customer(&stripe, "customer.deleted", 2_000)])
        .await;
    assert!(bench.contact(ADA).await.is_none());

    runner.execute(&job).await.unwrap();
    assert!(sends(&bench).await.is_empty());
    assert_eq!(outbox.sent(), 0);
    assert!(runner.claim(64).await.unwrap().is_empty());
    assert_eq!(bench.count(workflow_run::Entity).await, 0);
}

/// A run whose contact row is gone when its step runs is cancelled without sending.
#[tokio::test]
async fn a_run_whose_contact_is_gone_is_cancelled() {
    let bench = Bench::sqlite().await;
    let outbox = Outbox::new();
    let runner = bench.runner(&outbox).await;
    workflow(&bench, send_only()).await;
    let stripe = bench.integration(Provider::Stripe, &[]).await;
    bench
        .apply(&[&customer(&stripe, "customer.created", 1_000)])
        .await;
    contact::Entity::delete_many()
        .exec(&bench.db)
        .await
        .unwrap();

    let job = claim_one(&runner).await;
    runner.execute(&job).await.unwrap();
    let run = the_run(&bench).await;
    assert_eq!(run.status, "cancelled");
    assert_eq!(run.last_error.as_deref(), Some("The contact was deleted."));
    assert!(sends(&bench).await.is_empty());
    assert_eq!(outbox.sent(), 0);
}

/// The contact unsubscribed (a deletion under policy `unsubscribe`) before its run's step:
/// the email is recorded as skipped and the run cancelled.
#[tokio::test]
async fn a_run_of_an_unsubscribed_contact_skips_its_email() {
    let bench = Bench::sqlite().await;
    let outbox = Outbox::new();
    let runner = bench.runner(&outbox).await;
    workflow(&bench, send_only()).await;
    let stripe = bench.integration(Provider::Stripe, &[]).await;
    bench
        .apply_each(&[
            &customer(&stripe, "customer.created", 1_000),
            &customer(&stripe, "customer.deleted", 2_000),
        ])
        .await;

    let job = claim_one(&runner).await;
    runner.execute(&job).await.unwrap();
    let sent = sends(&bench).await;
    let statuses: Vec<&str> = sent.iter().map(|e| e.status.as_str()).collect();
    assert_eq!(statuses, ["skipped"]);
    assert_eq!(outbox.sent(), 0);
    assert_eq!(the_run(&bench).await.status, "cancelled");
}
