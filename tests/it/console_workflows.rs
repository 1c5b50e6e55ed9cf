//! A workflow's page in the console: its graph as a tree from the trigger, in order, with
//! on each node the runs waiting there and the runs that passed it; legacy workflows read
//! as a straight graph; hostile stored strings escaped.

use inlet_shared::db::entities::{email_template, workflow, workflow_run, workflow_run_node};
use inlet_shared::domain::now_ms;
use inlet_shared::graph::Graph;
use sea_orm::{ActiveModelTrait, DatabaseConnection, IntoActiveModel};
use serde_json::json;

use crate::support::*;

const HOSTILE: &str = "<script>alert(1)</script>\"'&";

async fn insert_template(db: &DatabaseConnection, id: &str, subject: &str) {
    email_template::Model {
        id: id.into(),
        name: id.into(),
        subject: subject.into(),
        html: "<p>Hi</p>".into(),
        text: None,
        from_name: None,
        from_email: None,
        created_at: now_ms(),
        updated_at: now_ms(),
    }
    .into_active_model()
    .insert(db)
    .await
    .unwrap();
}

/// A workflow row without a graph (a legacy one, of `steps`).
async fn insert_workflow(
    db: &DatabaseConnection,
    id: &str,
    name: &str,
    steps: &str,
) -> workflow::Model {
    workflow::Model {
        id: id.into(),
        name: name.into(),
        trigger_type: "event".into(),
        trigger_value: Some("stripe:invoice.payment_failed".into()),
        audience_list_id: None,
        audience_user_group: None,
        steps: steps.into(),
        enabled: false,
        created_at: now_ms(),
        updated_at: now_ms(),
        description: Some(format!("Reminds {HOSTILE}")),
        status: "Paused".into(),
        revision_id: None,
        graph: None,
        exit_events: None,
    }
    .into_active_model()
    .insert(db)
    .await
    .unwrap()
}

/// A run of `workflow_id` at `step`; due in a day, so the running worker leaves it alone.
async fn insert_run(
    db: &DatabaseConnection,
    id: &str,
    workflow_id: &str,
    step: i32,
    status: &str,
    wait_until: Option<i64>,
) {
    let later = now_ms() + 86_400_000;
    workflow_run::Model {
        id: id.into(),
        workflow_id: workflow_id.into(),
        contact_id: "ct_none".into(),
        event_name: "stripe:invoice.payment_failed".into(),
        event_properties: "{}".into(),
        step,
        status: status.into(),
        next_at: later,
        lease_until: None,
        lease_token: None,
        attempts: 0,
        first_failed_at: None,
        last_error: None,
        created_at: now_ms(),
        updated_at: now_ms(),
        traceparent: None,
        tracestate: None,
        wait_until,
    }
    .into_active_model()
    .insert(db)
    .await
    .unwrap();
}

async fn insert_passed(db: &DatabaseConnection, run_id: &str, workflow_id: &str, node_seq: i32) {
    workflow_run_node::Model {
        run_id: run_id.into(),
        node_seq,
        workflow_id: workflow_id.into(),
        passed_at: now_ms(),
    }
    .into_active_model()
    .insert(db)
    .await
    .unwrap();
}

/// The trigger, an email, a two-day timer, then a branch: pro customers get a second email
/// and exit; the others are rerouted to that same email.
fn dunning_graph() -> Graph {
    serde_json::from_value(json!({
        "root": "t",
        "nextSeq": 8,
        "nodes": {
            "t": {"seq": 0, "next": ["e1"], "kind": {"typeName": "EventTrigger", "eventName": "stripe:invoice.payment_failed"}},
            "e1": {"seq": 1, "next": ["w"], "kind": {"typeName": "SendEmailAction", "emailMessageId": "tpl_first"}},
            "w": {"seq": 2, "next": ["b"], "kind": {"typeName": "TimerAction", "amount": 2, "unit": "d"}},
            "b": {"seq": 3, "next": ["pro", "rest"], "kind": {"typeName": "BranchNode"}},
            "pro": {"seq": 4, "next": ["e2"], "kind": {"typeName": "AudienceFilter", "filter": {"match": "all", "conditions": [
                {"type": "property", "key": "plan", "operator": "equals", "value": "pro"}]}}},
            "e2": {"seq": 5, "next": ["x"], "kind": {"typeName": "SendEmailAction", "emailMessageId": "tpl_second"}},
            "x": {"seq": 6, "next": [], "kind": {"typeName": "ExitNode"}},
            "rest": {"seq": 7, "next": ["e2"], "kind": {"typeName": "AudienceFilter", "filter": null}}
        }
    }))
    .unwrap()
}

/// `(waiting, passed)` drawn on node `seq`.
fn node_counts(html: &str, seq: u32) -> (u64, u64) {
    let at = html
        .find(&format!("id=\"node-{seq}\""))
        .unwrap_or_else(|| panic!("no node {seq} in {html}"));
    let rest = &html[at..];
    let number = |attr: &str| -> u64 {
        let marker = format!("{attr}=\"");
        let start = rest.find(&marker).unwrap() + marker.len();
        rest[start..].split('"').next().unwrap().parse().unwrap()
    };
    (number("data-waiting"), number("data-passed"))
}

/// `words`, each after the one before, in `html`.
fn assert_in_order(html: &str, words: &[&str]) {
    let mut at = 0;
    for w in words {
        let found = html[at..]
            .find(w)
            .unwrap_or_else(|| panic!("{w:?} not after byte {at} in {html}"));
        at += found + w.len();
    }
}

async fn the_page_draws_the_graph_with_its_counts(options: AppOptions) {
    let app = spawn_app(options).await;
    let db = &app.services.db;
    let mut console = Console::new(&app.address);
    console.login(&app.api_key).await;

    insert_template(db, "tpl_first", "Your payment failed").await;
    insert_template(db, "tpl_second", HOSTILE).await;
    let row = insert_workflow(db, "wf_dunning", &format!("Dunning {HOSTILE}"), "[]").await;
    let revision = inlet_shared::workflows::graph::save(db, &row, &dunning_graph(), None)
        .await
        .unwrap();
    // Two runs wait on the timer, one at the second email; a finished run and another
    // workflow's run are not waiting here.
    let later = Some(now_ms() + 86_400_000);
    insert_run(db, "run_1", "wf_dunning", 2, "pending", later).await;
    insert_run(db, "run_2", "wf_dunning", 2, "pending", later).await;
    insert_run(db, "run_3", "wf_dunning", 5, "pending", None).await;
    insert_run(db, "run_4", "wf_dunning", 2, "completed", None).await;
    insert_run(db, "run_5", "wf_other", 2, "pending", later).await;
    for run in ["run_1", "run_2", "run_3", "run_4"] {
        insert_passed(db, run, "wf_dunning", 0).await;
        insert_passed(db, run, "wf_dunning", 1).await;
    }
    for run in ["run_3", "run_4"] {
        insert_passed(db, run, "wf_dunning", 2).await;
        insert_passed(db, run, "wf_dunning", 3).await;
    }
    insert_passed(db, "run_3", "wf_dunning", 7).await;
    insert_passed(db, "run_4", "wf_dunning", 4).await;
    insert_passed(db, "run_5", "wf_other", 2).await;

    let (status, html, _) = console.get("/console/workflows/wf_dunning").await;
    assert_eq!(status, 200, "{html}");
    assert_in_order(
        &html,
        &[
            "Paused",
            &revision,
            "Trigger: event stripe:invoice.payment_failed",
            "Send email: Your payment failed",
            "Wait 2 days",
            "2 waiting (2 on the timer) · 2 passed",
            "Branch",
            "Audience filter: plan equals pro",
            "Send email: &lt;script&gt;",
            "Exit",
            "Audience filter: everyone",
            "→ continues at Send email: &lt;script&gt;",
        ],
    );
    let counts: Vec<(u64, u64)> = (0..8).map(|seq| node_counts(&html, seq)).collect();
    assert_eq!(
        counts,
        [
            (0, 4),
            (0, 4),
            (2, 2),
            (0, 2),
            (0, 1),
            (1, 0),
            (0, 0),
            (0, 1)
        ]
    );
    // The second email is drawn once, referenced from the other path.
    assert_eq!(html.matches("id=\"node-5\"").count(), 1);
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(html.contains("Dunning &lt;script&gt;"));

    // The list links to it.
    let (status, list, _) = console.get("/console/workflows").await;
    assert_eq!(status, 200, "{list}");
    assert!(
        list.contains("href=\"/console/workflows/wf_dunning\""),
        "{list}"
    );
    assert!(!list.contains("<script>alert"), "{list}");
    // No such workflow: 404.
    assert_eq!(console.get("/console/workflows/wf_nope").await.0, 404);
    // A graph workflow has no steps form.
    assert_eq!(
        console.get("/console/workflows/wf_dunning/edit").await.0,
        400
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_draws_the_graph_with_its_counts_on_sqlite() {
    the_page_draws_the_graph_with_its_counts(AppOptions::embedded_sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_draws_the_graph_with_its_counts_on_postgres() {
    the_page_draws_the_graph_with_its_counts(AppOptions::embedded_postgres()).await;
}

/// A workflow saved with the steps form reads as its straight graph, a step's index its
/// node's seq: the runs at step 1 wait at the timer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_workflow_reads_as_a_straight_graph() {
    let app = spawn_app(AppOptions::embedded_sqlite()).await;
    let db = &app.services.db;
    let mut console = Console::new(&app.address);
    console.login(&app.api_key).await;
    insert_template(db, "tpl_welcome", "Welcome aboard").await;
    let csrf = console.csrf("/console/workflows/new").await;
    let (status, body, headers) = console
        .post(
            "/console/workflows",
            &[
                ("_csrf", csrf.as_str()),
                ("name", "Welcome"),
                ("trigger_type", "event"),
                ("event_name", "signup"),
                ("steps", "send tpl_welcome\nwait 1h\nsend tpl_welcome"),
                ("enabled", "on"),
            ],
        )
        .await;
    assert_eq!(status, 303, "{body}");
    let location = headers["location"].to_str().unwrap().to_owned();
    assert!(location.ends_with("?done=saved"), "{location}");
    let id = location
        .trim_start_matches("/console/workflows/")
        .trim_end_matches("?done=saved")
        .to_owned();
    insert_run(db, "run_legacy", &id, 1, "pending", None).await;
    let (status, html, _) = console.get(&location).await;
    assert_eq!(status, 200, "{html}");
    assert_in_order(
        &html,
        &[
            "Workflow saved.",
            "Sending",
            "Edit steps",
            "Trigger: event signup",
            "Send email: Welcome aboard",
            "Wait 1 hour",
            "Send email: Welcome aboard",
            "Exit",
        ],
    );
    assert_eq!(node_counts(&html, 1), (1, 0));
    let (status, form, _) = console.get(&format!("/console/workflows/{id}/edit")).await;
    assert_eq!(status, 200, "{form}");
    assert!(form.contains("send tpl_welcome\nwait 1h"), "{form}");
    app.stop().await;
}
