//! Graph workflows end to end: runs waiting on a timer outlive a SIGKILLed worker, and a
//! new worker resumes every one of them, each email received by the SMTP server once.

use std::collections::BTreeMap;
use std::time::Duration;

use inlet_shared::db::entities::{email_send, workflow, workflow_run};
use inlet_shared::domain::{new_id, now_ms};
use inlet_shared::graph::{Graph, Node, NodeKind, TimerUnit};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use super::{WAIT, assert_stays, create};
use crate::support::*;

const CONTACTS: usize = 5;
/// The timer: long enough that the worker is killed while every run waits on it.
const TIMER_SECONDS: u32 = 8;

fn node(seq: u32, next: &[u32], kind: NodeKind) -> (String, Node) {
    (
        format!("n{seq}"),
        Node {
            seq,
            next: next.iter().map(|s| format!("n{s}")).collect(),
            kind,
        },
    )
}

/// trial.started → welcome → timer → follow-up → exit.
fn trial(welcome: &str, follow_up: &str) -> Graph {
    let nodes: BTreeMap<String, Node> = [
        node(
            0,
            &[1],
            NodeKind::EventTrigger {
                event_name: Some("trial.started".into()),
                re_eligible: true,
            },
        ),
        node(
            1,
            &[2],
            NodeKind::SendEmailAction {
                email_message_id: welcome.into(),
            },
        ),
        node(
            2,
            &[3],
            NodeKind::TimerAction {
                amount: TIMER_SECONDS,
                unit: TimerUnit::Seconds,
            },
        ),
        node(
            3,
            &[4],
            NodeKind::SendEmailAction {
                email_message_id: follow_up.into(),
            },
        ),
        node(4, &[], NodeKind::ExitNode),
    ]
    .into_iter()
    .collect();
    Graph {
        root: "n0".into(),
        next_seq: 5,
        nodes,
    }
}

/// A Sending workflow of `graph`, stored as the store writes graphs.
async fn store(app: &TestApp, graph: &Graph) {
    let db = &app.services.db;
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
    .exec_without_returning(db)
    .await
    .expect("workflow");
    let row = workflow::Entity::find_by_id(id)
        .one(db)
        .await
        .expect("read")
        .expect("the workflow");
    inlet_shared::workflows::graph::save(db, &row, graph, None)
        .await
        .expect("graph saved");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_waiting_on_a_timer_outlive_a_sigkilled_worker_and_each_email_goes_once() {
    let smtp = SmtpServer::start();
    let vhost = TestVhost::new().await;
    let mut options = AppOptions::production();
    options.worker = false;
    options.vhost = Some(vhost.clone());
    let app = spawn_app(options).await;
    let template =
        |name: &str, subject: &str| json!({"name": name, "subject": subject, "html": "<p>Hi</p>"});
    let welcome = create(
        &app,
        "/api/v1/templates",
        template("Welcome", "Welcome {{ contact.firstName }}"),
    )
    .await;
    let follow_up = create(
        &app,
        "/api/v1/templates",
        template("Follow-up", "Still there, {{ contact.firstName }}?"),
    )
    .await;
    store(&app, &trial(&welcome, &follow_up)).await;
    let env = vec![
        ("INLET_DATABASE_URL", app.db.url.clone()),
        ("INLET_DATABASE_POOL", "4".into()),
        ("INLET_AMQP_URL", vhost.amqp_url.clone()),
        ("INLET_SMTP_URL", smtp.url()),
        ("INLET_PUBLIC_URL", app.address.clone()),
        ("INLET_LOG_FORMAT", "json".into()),
        ("RUST_LOG", "error".into()),
    ];
    let worker = Process::spawn("worker", &["worker"], &env);
    for i in 0..CONTACTS {
        let (status, body) = app
            .api_post(
                "/api/v1/events/send",
                json!({"email": format!("c{i}@example.com"), "firstName": format!("C{i}"),
                       "eventName": "trial.started"}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    smtp.wait_for(CONTACTS, WAIT).await;
    // Every run waits at the timer (seq 2), its end on record, no lease held.
    let waiting = || async {
        workflow_run::Entity::find()
            .filter(workflow_run::Column::Step.eq(2))
            .filter(workflow_run::Column::Status.eq("pending"))
            .filter(workflow_run::Column::WaitUntil.is_not_null())
            .filter(workflow_run::Column::LeaseToken.is_null())
            .all(&app.services.db)
            .await
            .expect("runs")
    };
    eventually(WAIT, "every run waiting on the timer", || async {
        waiting().await.len() == CONTACTS
    })
    .await;
    let runs = waiting().await;
    let latest_end = runs
        .iter()
        .filter_map(|r| r.wait_until)
        .max()
        .expect("ends");
    assert!(latest_end > now_ms(), "killed while they wait");
    worker.kill();
    assert_eq!(
        smtp.messages().len(),
        CONTACTS,
        "nothing more before the timer ends"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let replacement = Process::spawn("worker", &["worker"], &env);
    let all = smtp
        .wait_for(
            2 * CONTACTS,
            WAIT + Duration::from_secs(TIMER_SECONDS.into()),
        )
        .await;
    assert_stays(&smtp, 2 * CONTACTS).await;
    let mut subjects: Vec<String> = all.iter().filter_map(|m| header(m, "Subject")).collect();
    subjects.sort();
    let mut expected: Vec<String> = (0..CONTACTS)
        .flat_map(|i| [format!("Still there, C{i}?"), format!("Welcome C{i}")])
        .collect();
    expected.sort();
    assert_eq!(subjects, expected, "each email once");
    // Each follow-up went after its run's timer ended.
    let follow_ups = email_send::Entity::find()
        .filter(email_send::Column::Step.eq(3))
        .all(&app.services.db)
        .await
        .expect("sends");
    assert_eq!(follow_ups.len(), CONTACTS);
    for sent in &follow_ups {
        let end = runs
            .iter()
            .find(|r| r.id == sent.run_id)
            .and_then(|r| r.wait_until)
            .expect("its run waited");
        assert!(
            sent.sent_at.is_some_and(|at| at >= end),
            "{sent:?} before {end}"
        );
    }
    let done = workflow_run::Entity::find()
        .filter(workflow_run::Column::Status.eq("completed"))
        .filter(workflow_run::Column::Step.eq(4))
        .all(&app.services.db)
        .await
        .expect("runs");
    assert_eq!(done.len(), CONTACTS, "every run completed at the exit");
    assert_eq!(replacement.terminate(), Some(0));
    app.stop().await;
}
