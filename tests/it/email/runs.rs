//! Workflow runs: a wait outlives a killed worker, API events and contact triggers start
//! runs into the embedded outbox, and the runner's lease and sent-step guards driven directly.

use std::time::Duration;

use serde_json::{Value, json};

use super::{QUIET, WAIT, assert_stays, create, emails, send_checkout};
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_survives_a_killed_worker_and_the_next_email_goes_once_after_it() {
    // Long enough that the worker is killed before the follow-up is due, even on a loaded
    // machine: a step already claimed by the killed worker would wait out its lease (60 s).
    const WAIT_STEP_SECONDS: i64 = 10;
    let smtp = SmtpServer::start();
    let vhost = TestVhost::new().await;
    let mut options = AppOptions::production();
    options.worker = false;
    options.vhost = Some(vhost.clone());
    let app = spawn_app(options).await;
    let integration = app.create_stripe_integration().await;
    let welcome = create(
        &app,
        "/api/v1/templates",
        json!({"name": "Welcome", "subject": "Welcome {{ contact.firstName }}", "html": "<p>Welcome</p>"}),
    )
    .await;
    let follow_up = create(
        &app,
        "/api/v1/templates",
        json!({"name": "Follow-up", "subject": "How is it going, {{ contact.firstName }}?", "html": "<p>Two days later</p>"}),
    )
    .await;
    create(
        &app,
        "/api/v1/workflows",
        json!({
            "name": "Onboarding",
            "trigger": {"type": "event", "eventName": "stripe:checkout.session.completed"},
            "steps": [
                {"type": "sendEmail", "templateId": welcome},
                {"type": "wait", "seconds": WAIT_STEP_SECONDS},
                {"type": "sendEmail", "templateId": follow_up},
            ],
        }),
    )
    .await;
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
    send_checkout(&app, &integration, "alan@example.com", "Alan").await;
    let first = smtp.wait_for(1, WAIT).await;
    assert_eq!(
        header(&first[0], "Subject").as_deref(),
        Some("Welcome Alan")
    );

    // The worker dies during the wait (once the first send is on record; a worker killed
    // between the SMTP server's acceptance and that record sends the step again on resume),
    // and nothing is held in memory for it.
    eventually(WAIT, "the welcome recorded as sent", || async {
        emails(&app, "alan@example.com")
            .await
            .iter()
            .any(|e| e["status"] == "sent")
    })
    .await;
    worker.kill();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let replacement = Process::spawn("worker", &["worker"], &env);
    let both = smtp.wait_for(2, WAIT).await;
    assert_eq!(
        header(&both[1], "Subject").as_deref(),
        Some("How is it going, Alan?")
    );
    assert_stays(&smtp, 2).await;
    let sent = emails(&app, "alan@example.com").await;
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|e| e["status"] == "sent"), "{sent:?}");
    // Measured between the sends as recorded, not as the test happened to see them.
    let sent_at = |e: &Value| {
        time::OffsetDateTime::parse(
            e["sentAt"].as_str().expect("sentAt"),
            &time::format_description::well_known::Rfc3339,
        )
        .expect("RFC 3339")
    };
    let (welcome, follow_up) = if sent[0]["subject"] == "Welcome Alan" {
        (&sent[0], &sent[1])
    } else {
        (&sent[1], &sent[0])
    };
    assert!(
        sent_at(follow_up) - sent_at(welcome) >= time::Duration::seconds(WAIT_STEP_SECONDS),
        "the follow-up came before the wait was over: {sent:?}"
    );
    assert_eq!(replacement.terminate(), Some(0));
    app.stop().await;
}

/// Embedded mode writes `.eml` files to the outbox: the custom event of `events/send` and
/// the contact triggers start workflows, and the audience filter holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_events_and_contact_triggers_start_workflows_into_the_outbox() {
    let outbox = std::env::temp_dir().join(format!("inlet-outbox-{}", random_suffix()));
    let mut options = AppOptions::embedded_sqlite();
    options
        .vars
        .push(("INLET_OUTBOX_DIR".into(), outbox.display().to_string()));
    let app = spawn_app(options).await;
    let list = create(&app, "/api/v1/lists", json!({"name": "Beta"})).await;
    let signup = create(
        &app,
        "/api/v1/templates",
        json!({"name": "Signup", "subject": "Your {{ event.properties.plan }} plan", "html": "<p>{{ contact.firstName }} chose {{ event.properties.plan }}</p>"}),
    )
    .await;
    let beta = create(
        &app,
        "/api/v1/templates",
        json!({"name": "Beta", "subject": "Welcome to the beta", "html": "<p>Beta</p>", "fromName": "Beta team", "fromEmail": "beta@acme.test"}),
    )
    .await;
    create(
        &app,
        "/api/v1/workflows",
        json!({"name": "Signup", "trigger": {"type": "event", "eventName": "signup"},
               "steps": [{"type": "sendEmail", "templateId": signup}]}),
    )
    .await;
    create(
        &app,
        "/api/v1/workflows",
        json!({"name": "Beta", "trigger": {"type": "contactAdded"}, "audience": {"mailingListId": list},
               "steps": [{"type": "sendEmail", "templateId": beta}]}),
    )
    .await;

    let (status, answer) = app
        .api_post(
            "/api/v1/events/send",
            json!({"email": "kate@example.com", "firstName": "Kate", "eventName": "signup", "eventProperties": {"plan": "pro"}}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    // In the audience (on the list) and not.
    let (status, _) = app
        .api_post(
            "/api/v1/contacts/create",
            json!({"email": "bea@example.com", "mailingLists": {list.clone(): true}}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .api_post(
            "/api/v1/contacts/create",
            json!({"email": "out@example.com"}),
        )
        .await;
    assert_eq!(status, 200);

    let read = || -> Vec<String> {
        let mut files: Vec<_> = std::fs::read_dir(&outbox)
            .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        files
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect()
    };
    eventually(WAIT, "two emails in the outbox", || async {
        read().len() >= 2
    })
    .await;
    tokio::time::sleep(QUIET).await;
    let all = read();
    assert_eq!(all.len(), 2, "exactly two emails");
    let to_kate = all
        .iter()
        .find(|m| header(m, "To").is_some_and(|t| t.contains("kate@example.com")))
        .expect("Kate's email");
    assert_eq!(header(to_kate, "Subject").as_deref(), Some("Your pro plan"));
    assert!(body_text(to_kate).contains("Kate chose pro"));
    assert!(header(to_kate, "From").is_some_and(|f| f.contains("<inlet@localhost>")));
    let to_bea = all
        .iter()
        .find(|m| header(m, "To").is_some_and(|t| t.contains("bea@example.com")))
        .expect("Bea's email");
    assert!(
        header(to_bea, "From")
            .is_some_and(|f| f.contains("Beta team") && f.contains("<beta@acme.test>")),
        "the template's sender"
    );
    assert!(header(to_bea, "List-Unsubscribe").is_some());
    assert!(emails(&app, "out@example.com").await.is_empty());
    app.stop().await;
    let _ = std::fs::remove_dir_all(&outbox);
}

/// The runner's two guards, driven directly: a step runs only for the current holder of the
/// run's lease (a late or repeated step message does nothing), and a (run, step) whose email
/// is recorded as sent is never sent again, even if the run's progress was lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_runs_once_for_its_current_lease_and_a_sent_step_is_never_resent() {
    use inlet_shared::db::entities::workflow_run;
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

    let outbox = std::env::temp_dir().join(format!("inlet-outbox-{}", random_suffix()));
    let mut options = AppOptions::embedded_sqlite();
    options.worker = false;
    let app = spawn_app(options).await;
    let template = create(
        &app,
        "/api/v1/templates",
        json!({"name": "Ping", "subject": "Ping", "html": "<p>Ping</p>"}),
    )
    .await;
    create(
        &app,
        "/api/v1/workflows",
        json!({"name": "Ping", "trigger": {"type": "event", "eventName": "ping"},
               "steps": [{"type": "sendEmail", "templateId": template}]}),
    )
    .await;
    let (status, _) = app
        .api_post(
            "/api/v1/events/send",
            json!({"email": "ping@example.com", "eventName": "ping"}),
        )
        .await;
    assert_eq!(status, 200);
    let runner = inlet_worker::workflows::Runner::new(
        app.services.db.clone(),
        inlet_shared::email::Mailer::new(None, outbox.clone()).unwrap(),
        app.services.unsubscribe.clone(),
        app.services.metrics.clone(),
        inlet_worker::workflows::RunnerSettings {
            public_url: app.address.clone(),
            from: "Inlet <inlet@localhost>".parse().unwrap(),
            retry: inlet_shared::queue::RetryPolicy {
                delays: vec![Duration::from_millis(100)],
                max_attempts: 3,
            },
            render_limits: inlet_shared::email::RenderLimits::default(),
        },
    );
    let sent = || std::fs::read_dir(&outbox).map_or(0, Iterator::count);
    let expire_leases = || async {
        workflow_run::Entity::update_many()
            .col_expr(workflow_run::Column::LeaseUntil, Expr::value(0i64))
            .filter(workflow_run::Column::LeaseUntil.is_not_null())
            .exec(&app.services.db)
            .await
            .unwrap();
    };

    let first = runner.claim(10).await.unwrap();
    assert_eq!(first.len(), 1, "one run started");
    assert!(
        runner.claim(10).await.unwrap().is_empty(),
        "a leased run is not claimed twice"
    );
    // The first holder stalls past its lease; another scheduler claims the run anew.
    expire_leases().await;
    let second = runner.claim(10).await.unwrap();
    assert_eq!(second.len(), 1);
    assert_ne!(first[0].lease, second[0].lease);
    runner.execute(&first[0]).await.unwrap();
    assert_eq!(sent(), 0, "the stale holder must not send");
    runner.execute(&second[0]).await.unwrap();
    assert_eq!(sent(), 1);
    runner.execute(&second[0]).await.unwrap();
    assert_eq!(sent(), 1, "a repeated step message sends nothing");
    let run = workflow_run::Entity::find()
        .one(&app.services.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.status, "completed");

    // The run's progress is lost after the send (as if the process died between the two):
    // the step runs again, finds its email sent, and moves on without sending.
    workflow_run::Entity::update_many()
        .col_expr(workflow_run::Column::Step, Expr::value(0))
        .col_expr(workflow_run::Column::Status, Expr::value("pending"))
        .exec(&app.services.db)
        .await
        .unwrap();
    let again = runner.claim(10).await.unwrap();
    assert_eq!(again.len(), 1);
    runner.execute(&again[0]).await.unwrap();
    assert_eq!(sent(), 1, "a sent (run, step) is not sent again");
    let run = workflow_run::Entity::find()
        .one(&app.services.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.status, "completed");
    assert_eq!(emails(&app, "ping@example.com").await.len(), 1);
    app.stop().await;
    let _ = std::fs::remove_dir_all(&outbox);
}
