//! Workflows end to end: webhooks and API events start workflows that send email to a real
//! SMTP server (aiosmtpd), once, with working unsubscribe links, through retries, restarts,
//! redeliveries and replays.

use std::time::Duration;

use inlet_shared::providers::Provider;
use inlet_shared::providers::samples::{self, Person};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::processes::Process;
use crate::smtp::{SmtpServer, body_text, header};

const WAIT: Duration = Duration::from_secs(30);
/// How long "nothing more arrives" is watched for.
const QUIET: Duration = Duration::from_millis(1500);

/// Production mode (PostgreSQL + RabbitMQ) sending to `smtp`, retrying every 200 ms.
fn production_with(smtp: &SmtpServer, max_attempts: u32) -> AppOptions {
    let mut options = AppOptions::production();
    options.vars.extend([
        ("INLET_SMTP_URL".into(), smtp.url()),
        ("INLET_RETRY_DELAYS_MS".into(), "200".into()),
        ("INLET_MAX_ATTEMPTS".into(), max_attempts.to_string()),
        ("INLET_EMAIL_FROM".into(), "Acme <hello@acme.test>".into()),
    ]);
    options
}

async fn create(app: &TestApp, path: &str, body: Value) -> String {
    let (status, created) = app.api_post(path, body).await;
    assert_eq!(status, 200, "{path}: {created}");
    created["id"].as_str().expect("id").to_owned()
}

/// A receipt template and a workflow that sends it on a completed Stripe checkout.
async fn receipt_workflow(app: &TestApp) -> (String, String) {
    let template = create(
        app,
        "/api/v1/templates",
        json!({
            "name": "Receipt",
            "subject": "Thanks {{ contact.firstName }}",
            "html": "<p>Hi {{ contact.firstName }}, we received {{ event.properties.amount }} {{ event.properties.currency }}.</p>",
            "text": "Hi {{ contact.firstName }}, we received {{ event.properties.amount }} {{ event.properties.currency }}.",
        }),
    )
    .await;
    let workflow = create(
        app,
        "/api/v1/workflows",
        json!({
            "name": "Receipt after checkout",
            "trigger": {"type": "event", "eventName": "stripe:checkout.session.completed"},
            "steps": [{"type": "sendEmail", "templateId": template}],
        }),
    )
    .await;
    (template, workflow)
}

/// A signed `checkout.session.completed` for `person`, as Stripe sends it.
fn checkout(person: &Person<'_>, now: i64) -> (String, Vec<(String, String)>) {
    let body = samples::sample(Provider::Stripe, "checkout.session.completed", person, now)
        .expect("sample");
    let headers =
        samples::sign(Provider::Stripe, STRIPE_SECRET, &body, now, "unused").expect("sign");
    (body, headers)
}

/// Signs and posts a completed checkout by `email` (first name `first_name`, a Stripe
/// customer of its own); returns what was posted, to post it again.
async fn send_checkout(
    app: &TestApp,
    integration: &str,
    email: &str,
    first_name: &str,
) -> (String, Vec<(String, String)>) {
    let customer = format!("cus_{}", email.split('@').next().unwrap_or_default());
    let person = Person {
        email,
        first_name,
        last_name: "Tester",
        id: &customer,
    };
    let (body, headers) = checkout(&person, now_secs());
    post(app, integration, &body, &headers).await;
    (body, headers)
}

async fn post(app: &TestApp, integration: &str, body: &str, headers: &[(String, String)]) {
    let headers: Vec<(&str, String)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    let (status, answer) = app
        .post_webhook(integration, body.as_bytes(), &headers)
        .await;
    assert_eq!(status, 202, "{answer}");
}

async fn emails(app: &TestApp, email: &str) -> Vec<Value> {
    let (status, list) = app
        .api_get(&format!(
            "/api/v1/emails?email={}",
            email.replace('+', "%2B")
        ))
        .await;
    assert_eq!(status, 200, "{list}");
    list.as_array().expect("array").clone()
}

/// Waits `QUIET` and asserts the server still holds exactly `n` messages.
async fn assert_stays(smtp: &SmtpServer, n: usize) {
    tokio::time::sleep(QUIET).await;
    assert_eq!(smtp.messages().len(), n, "unexpected extra email");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_checkout_sends_one_escaped_email_with_a_working_unsubscribe_link() {
    let smtp = SmtpServer::start();
    let app = spawn_app(production_with(&smtp, 8)).await;
    let integration = app.create_stripe_integration().await;
    let (_, workflow) = receipt_workflow(&app).await;
    let (body, headers) = send_checkout(
        &app,
        &integration,
        "ada@example.com",
        "Ada<script>alert(1)</script>",
    )
    .await;

    let messages = smtp.wait_for(1, WAIT).await;
    let raw = &messages[0];
    assert_eq!(header(raw, "X-RcptTo").as_deref(), Some("ada@example.com"));
    assert_eq!(
        header(raw, "Subject").as_deref(),
        Some("Thanks Ada<script>alert(1)</script>"),
        "the subject is text, not HTML"
    );
    let text = body_text(raw);
    assert!(
        text.contains(
            "<p>Hi Ada&lt;script&gt;alert(1)&lt;&#x2f;script&gt;, we received 4900 usd.</p>"
        ),
        "HTML part escapes the name and renders the amount:\n{text}"
    );
    assert!(
        !text.contains("<p>Hi Ada<script>"),
        "the hostile name reached the HTML unescaped"
    );
    assert!(text.contains("Hi Ada<script>alert(1)</script>, we received 4900 usd."));
    assert_eq!(
        header(raw, "List-Unsubscribe-Post").as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    let unsubscribe = header(raw, "List-Unsubscribe").expect("List-Unsubscribe");
    let link = unsubscribe
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_owned();
    assert!(
        link.starts_with(&format!("{}/unsubscribe/", app.address)),
        "{link}"
    );
    assert!(text.contains(&link), "the body carries the same link");

    // The same delivery again (Stripe resends it): still one email.
    post(&app, &integration, &body, &headers).await;
    assert_stays(&smtp, 1).await;
    let sent = emails(&app, "ada@example.com").await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["status"], "sent");
    assert_eq!(sent[0]["workflowId"], workflow.as_str());
    assert_eq!(sent[0]["subject"], "Thanks Ada<script>alert(1)</script>");
    assert!(sent[0]["sentAt"].is_string());

    // A tampered link is refused and unsubscribes no one.
    let forged = format!("{}x", &link[..link.len() - 1]);
    let r = app.client.get(&forged).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 404);
    assert_eq!(
        app.find_contacts("ada@example.com").await[0]["subscribed"],
        true
    );

    // The one-click POST a mail client sends, with no login.
    let r = app
        .client
        .post(&link)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        app.find_contacts("ada@example.com").await[0]["subscribed"],
        false
    );
    // Opening the link again (a GET changes nothing) says the contact is unsubscribed.
    let r = app.client.get(&link).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().await.unwrap().contains("unsubscribed"));

    // An unsubscribed contact gets no workflow email: the send is recorded as skipped.
    // (Each sample carries a fresh event id: a new event, not a resend.)
    send_checkout(
        &app,
        &integration,
        "ada@example.com",
        "Ada<script>alert(1)</script>",
    )
    .await;
    eventually(WAIT, "the second run to be skipped", || async {
        emails(&app, "ada@example.com")
            .await
            .iter()
            .any(|e| e["status"] == "skipped")
    })
    .await;
    assert_stays(&smtp, 1).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redelivery_and_replay_of_the_same_delivery_send_one_email() {
    let smtp = SmtpServer::start();
    let app = spawn_app(production_with(&smtp, 8)).await;
    let integration = app.create_stripe_integration().await;
    receipt_workflow(&app).await;
    let (body, _) = send_checkout(&app, &integration, "grace@example.com", "Grace").await;
    smtp.wait_for(1, WAIT).await;
    let log = app
        .api_get("/api/v1/webhook-events?status=processed")
        .await
        .1;
    let delivery = log["data"][0].clone();
    let delivery_id = delivery["id"].as_str().unwrap().to_owned();

    // RabbitMQ hands the same message over again (as after a lost ack).
    let message = inlet_shared::queue::QueueMessage {
        delivery_id: delivery_id.clone(),
        integration_id: integration.clone(),
        provider: Provider::Stripe,
        event_type: "checkout.session.completed".into(),
        idempotency_key: delivery["idempotencyKey"].as_str().unwrap().to_owned(),
        received_at_ms: inlet_shared::domain::now_ms(),
        body: body.clone().into_bytes().into(),
    };
    app.services.queue.publish(&message).await.unwrap();
    app.services.queue.publish(&message).await.unwrap();
    // An operator replays a dead letter of that same delivery.
    inlet_shared::dead_letters::store(
        &app.services.db,
        &inlet_shared::queue::DeadLetterRecord {
            message,
            error: "database error: connection refused".into(),
            attempts: 8,
            first_failed_at_ms: 0,
            last_failed_at_ms: 0,
        },
    )
    .await
    .unwrap();
    let (status, replayed) = app
        .api_post("/api/v1/dead-letters/replay", json!({"ids": [delivery_id]}))
        .await;
    assert_eq!(status, 200, "{replayed}");
    assert_eq!(replayed["replayed"], 1);
    eventually(
        WAIT,
        "the redeliveries and the replay to be handled",
        || async { app.services.queue.depth().await.unwrap() == 0 },
    )
    .await;
    assert_stays(&smtp, 1).await;
    assert_eq!(emails(&app, "grace@example.com").await.len(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_down_then_up_delivers_once_and_exhausted_sends_are_dead_letters_to_replay() {
    let mut smtp = SmtpServer::reserve();
    let app = spawn_app(production_with(&smtp, 5)).await;
    let integration = app.create_stripe_integration().await;
    let (_, workflow) = receipt_workflow(&app).await;

    // Down for a while, then up: retried, delivered once.
    send_checkout(&app, &integration, "linus@example.com", "Linus").await;
    eventually(WAIT, "a failed attempt to be recorded", || async {
        let sent = emails(&app, "linus@example.com").await;
        sent.first().is_some_and(|e| {
            e["status"] == "queued"
                && e["attempts"].as_i64().unwrap_or(0) >= 2
                && e["error"].is_string()
        })
    })
    .await;
    smtp.up();
    smtp.wait_for(1, WAIT).await;
    eventually(WAIT, "the send to be recorded", || async {
        emails(&app, "linus@example.com").await[0]["status"] == "sent"
    })
    .await;
    assert_stays(&smtp, 1).await;

    // Down for longer than the attempts last: the run goes to the dead letters.
    smtp.down();
    send_checkout(&app, &integration, "margaret@example.com", "Margaret").await;
    let dead = loop {
        let (_, list) = app.api_get("/api/v1/dead-letters").await;
        if let Some(d) = list
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["provider"] == "workflow")
        {
            break d.clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(dead["integrationId"], workflow.as_str());
    assert_eq!(dead["attempts"], 5);
    assert!(
        dead["error"]
            .as_str()
            .unwrap()
            .starts_with("gave up after 5 attempts: SMTP"),
        "{dead}"
    );
    let sent = emails(&app, "margaret@example.com").await;
    assert_eq!(sent[0]["status"], "failed");

    // The server is fixed; the replay sends it once, and a second replay finds nothing.
    smtp.up();
    let (_, replayed) = app
        .api_post("/api/v1/dead-letters/replay", json!({"ids": [dead["id"]]}))
        .await;
    assert_eq!(replayed["replayed"], 1);
    let messages = smtp.wait_for(2, WAIT).await;
    assert_eq!(
        header(&messages[1], "X-RcptTo").as_deref(),
        Some("margaret@example.com")
    );
    let (_, again) = app
        .api_post("/api/v1/dead-letters/replay", json!({"ids": [dead["id"]]}))
        .await;
    assert_eq!(again["replayed"], 0);
    eventually(WAIT, "the replayed send to be recorded", || async {
        emails(&app, "margaret@example.com").await[0]["status"] == "sent"
    })
    .await;
    assert_stays(&smtp, 2).await;
    app.stop().await;
}

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
        app.address.clone(),
        "Inlet <inlet@localhost>".parse().unwrap(),
        inlet_shared::queue::RetryPolicy {
            delays: vec![Duration::from_millis(100)],
            max_attempts: 3,
        },
        app.services.metrics.clone(),
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
