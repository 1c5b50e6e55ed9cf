//! Graph workflows (`inlet_core::graph`), stored with `graph::save` and run by the runner:
//! a branch's paths, a timer, an audience filter, exit on event (at the event and by the
//! downstream re-check), a deleted node, a re-delivered step, and re-eligibility — on
//! SQLite and PostgreSQL.

use std::collections::BTreeMap;

use inlet_shared::db::entities::{contact, email_send, email_template, workflow, workflow_run};
use inlet_shared::domain::{new_id, now_ms};
use inlet_shared::graph::conditions::{AudienceFilter, Condition, Match, PropertyOperator};
use inlet_shared::graph::{Graph, Node, NodeKind, TimerUnit};
use inlet_shared::messages::TraceContext;
use inlet_shared::workflows;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Map, Value, json};

use super::Runner;
use crate::test_support::{Bench, Outbox};

pub(super) const TRIGGER: &str = "trial.started";
pub(super) const PAID: &str = "invoice.paid";

pub(super) fn node(seq: u32, next: &[u32], kind: NodeKind) -> (String, Node) {
    (
        format!("n{seq}"),
        Node {
            seq,
            next: next.iter().map(|s| format!("n{s}")).collect(),
            kind,
        },
    )
}

pub(super) fn graph(nodes: Vec<(String, Node)>) -> Graph {
    let next_seq = nodes.iter().map(|(_, n)| n.seq).max().unwrap_or(0) + 1;
    Graph {
        root: "n0".into(),
        next_seq,
        nodes: nodes.into_iter().collect::<BTreeMap<_, _>>(),
    }
}

pub(super) fn trigger(next: u32, re_eligible: bool) -> (String, Node) {
    node(
        0,
        &[next],
        NodeKind::EventTrigger {
            event_name: Some(TRIGGER.into()),
            re_eligible,
        },
    )
}

pub(super) fn send(seq: u32, next: u32, template: &str) -> (String, Node) {
    node(
        seq,
        &[next],
        NodeKind::SendEmailAction {
            email_message_id: template.into(),
        },
    )
}

pub(super) fn exit(seq: u32) -> (String, Node) {
    node(seq, &[], NodeKind::ExitNode)
}

pub(super) fn plan_is(plan: &str) -> Option<AudienceFilter> {
    Some(AudienceFilter {
        match_: Match::All,
        conditions: vec![Condition::Property {
            key: "plan".into(),
            operator: PropertyOperator::Equals,
            value: Some(json!(plan)),
        }],
    })
}

pub(super) fn not_paid() -> Option<AudienceFilter> {
    Some(AudienceFilter {
        match_: Match::All,
        conditions: vec![Condition::Event {
            event_name: PAID.into(),
            negate: true,
        }],
    })
}

pub(super) fn filter(
    seq: u32,
    next: u32,
    filter: Option<AudienceFilter>,
    downstream: bool,
) -> (String, Node) {
    node(
        seq,
        &[next],
        NodeKind::AudienceFilter {
            filter,
            applies_downstream: downstream,
        },
    )
}

pub(super) async fn template(bench: &Bench, id: &str) {
    let now = now_ms();
    email_template::Entity::insert(email_template::ActiveModel {
        id: Set(id.into()),
        name: Set(id.into()),
        subject: Set(format!("{id} for {{{{ contact.firstName }}}}")),
        html: Set("<p>Hello</p>".into()),
        text: Set(None),
        from_name: Set(None),
        from_email: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec_without_returning(&bench.db)
    .await
    .unwrap();
}

/// A Sending workflow of `g`, its templates made, stored by `graph::save`.
pub(super) async fn store(bench: &Bench, g: &Graph) -> workflow::Model {
    for n in g.nodes.values() {
        if let NodeKind::SendEmailAction { email_message_id } = &n.kind {
            template(bench, email_message_id).await;
        }
    }
    let now = now_ms();
    let id = new_id("wf_");
    workflow::Entity::insert(workflow::ActiveModel {
        id: Set(id.clone()),
        name: Set("Trial".into()),
        trigger_type: Set("none".into()),
        trigger_value: Set(None),
        audience_list_id: Set(None),
        audience_user_group: Set(None),
        steps: Set("[]".into()),
        enabled: Set(true),
        status: Set("Sending".into()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    })
    .exec_without_returning(&bench.db)
    .await
    .unwrap();
    let row = workflow::Entity::find_by_id(id.clone())
        .one(&bench.db)
        .await
        .unwrap()
        .unwrap();
    workflows::graph::save(&bench.db, &row, g, None)
        .await
        .unwrap();
    workflow::Entity::find_by_id(id)
        .one(&bench.db)
        .await
        .unwrap()
        .unwrap()
}

pub(super) async fn contact_with(bench: &Bench, email: &str, properties: Value) -> contact::Model {
    let now = now_ms();
    let c = contact::Model {
        id: new_id("ct_"),
        email: email.into(),
        user_id: None,
        first_name: Some("Ada".into()),
        last_name: None,
        source: None,
        user_group: None,
        subscribed: true,
        properties: properties.to_string(),
        created_at: now,
        updated_at: now,
        last_event_at: now,
    };
    inlet_shared::contacts::insert(&bench.db, &c).await.unwrap();
    c
}

/// Records `name` on the contact the way the API's `events/send` does.
pub(super) async fn event(bench: &Bench, c: &contact::Model, name: &str) {
    inlet_shared::contacts::record_event(
        &bench.db,
        c,
        name,
        &Map::new(),
        now_ms(),
        None,
        &TraceContext::default(),
    )
    .await
    .unwrap();
}

/// Runs every due step until none is due.
pub(super) async fn drain(runner: &Runner) {
    for _ in 0..50 {
        let jobs = runner.claim(64).await.unwrap();
        if jobs.is_empty() {
            return;
        }
        for job in jobs {
            runner.execute(&job).await.unwrap();
        }
    }
    panic!("runs kept being due");
}

/// (recipient, template) of every email sent, sorted.
pub(super) async fn sent(bench: &Bench) -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = email_send::Entity::find()
        .filter(email_send::Column::Status.eq("sent"))
        .all(&bench.db)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.to_email, e.template_id))
        .collect();
    all.sort();
    all
}

pub(super) async fn run_of(bench: &Bench, c: &contact::Model) -> workflow_run::Model {
    let mut runs = workflow_run::Entity::find()
        .filter(workflow_run::Column::ContactId.eq(c.id.as_str()))
        .all(&bench.db)
        .await
        .unwrap();
    assert_eq!(runs.len(), 1, "one run");
    runs.pop().unwrap()
}

pub(super) fn pair(email: &str, template: &str) -> (String, String) {
    (email.to_owned(), template.to_owned())
}

async fn branch_paths(bench: Bench) {
    let outbox = Outbox::new();
    let runner = bench.runner(&outbox).await;
    // trigger → branch → [plan pro → A, plan free → B] ; neither → leaves.
    store(
        &bench,
        &graph(vec![
            trigger(1, true),
            node(1, &[2, 3], NodeKind::BranchNode),
            filter(2, 4, plan_is("pro"), false),
            filter(3, 5, plan_is("FREE"), false),
            send(4, 6, "tpl_pro"),
            send(5, 7, "tpl_free"),
            exit(6),
            exit(7),
        ]),
    )
    .await;
    let pro = contact_with(&bench, "pro@example.com", json!({"plan": "Pro"})).await;
    let free = contact_with(&bench, "free@example.com", json!({"plan": "free"})).await;
    let none = contact_with(&bench, "none@example.com", json!({})).await;
    for c in [&pro, &free, &none] {
        event(&bench, c, TRIGGER).await;
    }
    drain(&runner).await;
    assert_eq!(
        sent(&bench).await,
        [
            pair("free@example.com", "tpl_free"),
            pair("pro@example.com", "tpl_pro")
        ]
    );
    assert_eq!(outbox.sent(), 2);
    for (c, step) in [(&pro, 6), (&free, 7)] {
        let run = run_of(&bench, c).await;
        assert_eq!((run.status.as_str(), run.step), ("completed", step));
    }
    let left = run_of(&bench, &none).await;
    assert_eq!((left.status.as_str(), left.step), ("completed", 1));
    assert!(left.last_error.unwrap().contains("No path"));
}

#[tokio::test]
async fn each_path_of_a_branch_sends_its_email_sqlite() {
    branch_paths(Bench::sqlite().await).await;
}

#[tokio::test]
async fn each_path_of_a_branch_sends_its_email_postgres() {
    branch_paths(Bench::postgres().await).await;
}

/// trigger → filter (not paid, downstream: `downstream`) → A → timer 1 s → B → exit.
pub(super) fn reminders(downstream: bool) -> Graph {
    graph(vec![
        trigger(1, true),
        filter(1, 2, not_paid(), downstream),
        send(2, 3, "tpl_a"),
        node(
            3,
            &[4],
            NodeKind::TimerAction {
                amount: 1,
                unit: TimerUnit::Seconds,
            },
        ),
        send(4, 5, "tpl_b"),
        exit(5),
    ])
}

async fn timer_waits(bench: Bench) {
    let outbox = Outbox::new();
    let runner = bench.runner(&outbox).await;
    store(&bench, &reminders(true)).await;
    let ada = contact_with(&bench, "ada@example.com", json!({})).await;
    event(&bench, &ada, TRIGGER).await;
    let before = now_ms();
    drain(&runner).await;
    let waiting = run_of(&bench, &ada).await;
    assert_eq!((waiting.status.as_str(), waiting.step), ("pending", 3));
    let until = waiting.wait_until.expect("the timer's end");
    assert!(until >= before + 1_000, "waits a second");
    assert_eq!(waiting.next_at, until);
    assert_eq!(sent(&bench).await, [pair("ada@example.com", "tpl_a")]);
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    drain(&runner).await;
    assert_eq!(
        sent(&bench).await,
        [
            pair("ada@example.com", "tpl_a"),
            pair("ada@example.com", "tpl_b")
        ]
    );
    let done = run_of(&bench, &ada).await;
    assert_eq!((done.status.as_str(), done.step), ("completed", 5));
    assert_eq!(outbox.sent(), 2);
}

#[tokio::test]
async fn a_timer_holds_the_run_at_its_node_then_lets_it_on_sqlite() {
    timer_waits(Bench::sqlite().await).await;
}

#[tokio::test]
async fn a_timer_holds_the_run_at_its_node_then_lets_it_on_postgres() {
    timer_waits(Bench::postgres().await).await;
}

async fn filter_stops(bench: Bench) {
    let outbox = Outbox::new();
    let runner = bench.runner(&outbox).await;
    store(
        &bench,
        &graph(vec![
            trigger(1, true),
            filter(1, 2, plan_is("pro"), false),
            send(2, 3, "tpl_pro"),
            exit(3),
        ]),
    )
    .await;
    let free = contact_with(&bench, "free@example.com", json!({"plan": "free"})).await;
    event(&bench, &free, TRIGGER).await;
    drain(&runner).await;
    assert!(sent(&bench).await.is_empty());
    let run = run_of(&bench, &free).await;
    assert_eq!((run.status.as_str(), run.step), ("completed", 1));
    assert!(run.last_error.unwrap().contains("audience filter"));
}

#[tokio::test]
async fn an_audience_filter_stops_a_contact_that_does_not_match_sqlite() {
    filter_stops(Bench::sqlite().await).await;
}

#[tokio::test]
async fn an_audience_filter_stops_a_contact_that_does_not_match_postgres() {
    filter_stops(Bench::postgres().await).await;
}

async fn exit_on_event(bench: Bench) {
    let outbox = Outbox::new();
    let runner = bench.runner(&outbox).await;
    let w = store(&bench, &reminders(true)).await;
    assert_eq!(w.exit_events.as_deref(), Some("[\"invoice.paid\"]"));
    let ada = contact_with(&bench, "ada@example.com", json!({})).await;
    event(&bench, &ada, TRIGGER).await;
    drain(&runner).await;
    assert_eq!(run_of(&bench, &ada).await.step, 3, "waiting on the timer");
    // The event cancels the waiting run in the transaction that records it.
    event(&bench, &ada, PAID).await;
    let run = run_of(&bench, &ada).await;
    assert_eq!(run.status, "cancelled");
    assert_eq!(
        run.last_error.as_deref(),
        Some("Exited on the event invoice.paid.")
    );
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    drain(&runner).await;
    assert_eq!(sent(&bench).await, [pair("ada@example.com", "tpl_a")]);
}

#[tokio::test]
async fn an_exit_event_cancels_a_run_waiting_on_a_timer_sqlite() {
    exit_on_event(Bench::sqlite().await).await;
}

#[tokio::test]
async fn an_exit_event_cancels_a_run_waiting_on_a_timer_postgres() {
    exit_on_event(Bench::postgres().await).await;
}

async fn downstream_recheck(bench: Bench) {
    let outbox = Outbox::new();
    let runner = bench.runner(&outbox).await;
    let w = store(&bench, &reminders(true)).await;
    let ada = contact_with(&bench, "ada@example.com", json!({})).await;
    event(&bench, &ada, TRIGGER).await;
    drain(&runner).await;
    // The event arrives without the exit list (a workflow stored before it was derived,
    // or the event recorded by an older process): only the re-check stops the run.
    workflow::Entity::update_many()
        .col_expr(workflow::Column::ExitEvents, Expr::value("[]"))
        .filter(workflow::Column::Id.eq(w.id.as_str()))
        .exec(&bench.db)
        .await
        .unwrap();
    event(&bench, &ada, PAID).await;
    assert_eq!(run_of(&bench, &ada).await.status, "pending");
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    drain(&runner).await;
    assert_eq!(sent(&bench).await, [pair("ada@example.com", "tpl_a")]);
    let run = run_of(&bench, &ada).await;
    assert_eq!((run.status.as_str(), run.step), ("completed", 3));
    assert!(run.last_error.unwrap().contains("no longer matches"));
}

#[tokio::test]
async fn a_filter_applying_downstream_is_checked_again_at_later_nodes_sqlite() {
    downstream_recheck(Bench::sqlite().await).await;
}

#[tokio::test]
async fn a_filter_applying_downstream_is_checked_again_at_later_nodes_postgres() {
    downstream_recheck(Bench::postgres().await).await;
}
