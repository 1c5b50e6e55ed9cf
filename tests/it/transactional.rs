//! Transactional email end to end: the official `loops` SDK drives every transactional
//! method against a running Inlet, and a real SMTP server (aiosmtpd) shows what was sent —
//! each email once, rendered with its data variables, with its attachment, without
//! unsubscribe links; and on SQLite, a send through an SMTP outage, the attachments limit,
//! and templates that a transactional email holds.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use inlet_shared::db::entities::workflow_run;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::support::*;

const WAIT: Duration = Duration::from_secs(30);
/// How long "nothing more arrives" is watched for.
const QUIET: Duration = Duration::from_millis(1500);

fn sending_to(mut options: AppOptions, smtp: &SmtpServer) -> AppOptions {
    options.vars.extend([
        ("INLET_SMTP_URL".into(), smtp.url()),
        ("INLET_RETRY_DELAYS_MS".into(), "200".into()),
        ("INLET_MAX_ATTEMPTS".into(), "50".into()),
        ("INLET_EMAIL_FROM".into(), "Acme <hello@acme.test>".into()),
    ]);
    options
}

async fn emails(app: &TestApp, email: &str) -> Vec<Value> {
    let (status, list) = app.api_get(&format!("/api/v1/emails?email={email}")).await;
    assert_eq!(status, 200, "{list}");
    list.as_array().expect("array").clone()
}

fn to(messages: &[String], address: &str) -> String {
    messages
        .iter()
        .find(|m| header(m, "X-RcptTo").as_deref() == Some(address))
        .unwrap_or_else(|| panic!("no email to {address}"))
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loops_sdk_sends_transactional_email() {
    let smtp = SmtpServer::start();
    let app = spawn_app(sending_to(AppOptions::production(), &smtp)).await;
    // Dan's address bounced for good before (tests/it/email/suppression.rs makes a real
    // SMTP server refuse one): no email of any kind reaches it.
    let dan = "dan.tx@example.com";
    let (status, created) = app
        .api_post("/api/v1/contacts/create", json!({"email": dan}))
        .await;
    assert_eq!(status, 200, "{created}");
    inlet_shared::suppressions::suppress(&app.services.db, dan, "550 no such user", 0)
        .await
        .expect("suppressed");
    run_sdk_file(
        "transactional.test.mjs",
        vec![
            ("INLET_API_ROOT", format!("{}/api/", app.address)),
            ("INLET_API_KEY", app.api_key.clone()),
            ("INLET_SUPPRESSED_EMAIL", dan.to_owned()),
        ],
        5,
    )
    .await;

    // Ada's (one, though posted twice with one Idempotency-Key), Bob's (unsubscribed) and
    // Carol's (no contact): exactly three; none to Dan's suppressed address.
    let messages = smtp.wait_for(3, WAIT).await;
    tokio::time::sleep(QUIET).await;
    assert_eq!(smtp.messages().len(), 3, "unexpected extra email");
    let ada = to(&messages, "ada.tx@example.com");
    assert_eq!(header(&ada, "Subject").as_deref(), Some("Reset for Ada"));
    let from = header(&ada, "From").unwrap_or_default();
    assert!(
        from.contains("Acme Support") && from.contains("<support@acme.test>"),
        "{from}"
    );
    let text = body_text(&ada);
    assert!(
        text.contains("Hi Ada, reset here: <a href=\"https:&#x2f;&#x2f;example.com&#x2f;r&#x2f;1\">https:&#x2f;&#x2f;example.com&#x2f;r&#x2f;1</a>"),
        "the HTML rendered with the data variables, escaped:\n{text}"
    );
    assert!(
        text.contains("Hi Ada, reset here:") && text.contains("https://example.com/r/1"),
        "the text part too:\n{text}"
    );
    assert!(
        !text.contains("Draft only"),
        "the unpublished draft is not sent"
    );
    assert_eq!(
        header(&ada, "List-Unsubscribe"),
        None,
        "transactional email is not marketing"
    );
    assert!(!text.to_lowercase().contains("unsubscribe"), "{text}");
    let (_, attached) = ada
        .split_once("Content-Disposition: attachment; filename=\"note.txt\"")
        .unwrap_or_else(|| panic!("the attachment:\n{ada}"));
    assert!(
        attached.contains("Content-Type: text/plain") && attached.contains("hello attachment"),
        "its type and content (decoded from the request's base64):\n{attached}"
    );
    let bob = to(&messages, "bob.tx@example.com");
    assert_eq!(header(&bob, "Subject").as_deref(), Some("Reset for Bob"));
    assert!(!bob.contains("note.txt"));

    let rows = emails(&app, "ada.tx@example.com").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["status"], "sent");
    assert_eq!(rows[0]["attempts"], 1);
    assert!(
        rows[0]["transactionalId"]
            .as_str()
            .is_some_and(|id| id.starts_with("tx_"))
    );
    app.stop().await;
}

/// A published transactional email `{{ name }}`, made through the API.
async fn published(app: &TestApp) -> (String, String) {
    let (status, created) = app
        .api_post("/api/v1/transactional-emails", json!({"name": "Welcome"}))
        .await;
    assert_eq!(status, 200, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let draft = created["draftEmailMessageId"].as_str().unwrap().to_owned();
    let (status, edited) = app
        .api_post(
            &format!("/api/v1/email-messages/{draft}"),
            json!({"subject": "Welcome {{ name }}", "lmx": "<p>Hello {{ name }}</p>"}),
        )
        .await;
    assert_eq!(status, 200, "{edited}");
    let (status, answer) = app
        .api_post(
            &format!("/api/v1/transactional-emails/{id}/publish"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["dataVariables"], json!(["name"]));
    (id, draft)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_a_transactional_send_waits_out_an_smtp_outage_and_is_sent_once() {
    let mut smtp = SmtpServer::reserve();
    let mut options = sending_to(AppOptions::embedded_sqlite(), &smtp);
    options
        .vars
        .push(("INLET_ATTACHMENTS_MAX_BYTES".into(), "1000".into()));
    let app = spawn_app(options).await;
    let (id, published_id) = published(&app).await;

    // Over the attachments limit: decoded, and a body far beyond it.
    for size in [1001, 3 * 1024 * 1024] {
        let (status, answer) = app
            .api_post(
                "/api/v1/transactional",
                json!({"transactionalId": id, "email": "dee@example.com", "dataVariables": {"name": "Dee"},
                    "attachments": [{"filename": "big.bin", "contentType": "application/octet-stream",
                        "data": STANDARD.encode(vec![1u8; size])}]}),
            )
            .await;
        assert_eq!(status, 400, "{size}: {answer}");
        assert_eq!(answer["path"], "attachments", "{answer}");
        assert!(
            answer["message"]
                .as_str()
                .unwrap_or_default()
                .contains("INLET_ATTACHMENTS_MAX_BYTES"),
            "{answer}"
        );
    }

    // The template a transactional email holds is changed only through it.
    let template = format!("{}/api/v1/templates/{published_id}", app.address);
    let patched = app
        .client
        .patch(&template)
        .bearer_auth(&app.api_key)
        .json(&json!({"subject": "Changed behind its back"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status().as_u16(), 409);
    let deleted = app
        .client
        .delete(&template)
        .bearer_auth(&app.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status().as_u16(), 409);

    let (status, answer) = app
        .api_post(
            "/api/v1/transactional",
            json!({"transactionalId": id, "email": "dee@example.com", "dataVariables": {"name": "Dee"},
                "attachments": [{"filename": "small.bin", "contentType": "application/octet-stream",
                    "data": STANDARD.encode(vec![2u8; 1000])}]}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    // SMTP is down: the send is retried, its row says so.
    let retried = eventually_some(WAIT, "a retried send", || async {
        let rows = emails(&app, "dee@example.com").await;
        rows.first()
            .filter(|r| r["attempts"].as_i64().unwrap_or(0) >= 2)
            .cloned()
    })
    .await;
    assert_eq!(retried["status"], "queued");
    smtp.up();
    let messages = smtp.wait_for(1, WAIT).await;
    tokio::time::sleep(QUIET).await;
    assert_eq!(smtp.messages().len(), 1, "sent once");
    assert_eq!(
        header(&messages[0], "Subject").as_deref(),
        Some("Welcome Dee")
    );
    assert!(messages[0].contains("small.bin"));
    let sent = eventually_some(WAIT, "the send marked sent", || async {
        let rows = emails(&app, "dee@example.com").await;
        rows.first().filter(|r| r["status"] == "sent").cloned()
    })
    .await;
    assert_eq!(sent["transactionalId"], id.as_str());
    assert_eq!(sent["templateId"], published_id.as_str());
    // Sent: the run is done, and keeps neither the attachment nor the data.
    let run = workflow_run::Entity::find()
        .filter(workflow_run::Column::WorkflowId.eq(id.as_str()))
        .one(&app.services.db)
        .await
        .unwrap()
        .expect("the send's run");
    assert_eq!(run.status, "completed");
    assert_eq!(run.event_properties, "{}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_lists_transactional_emails_and_previews_both_messages() {
    let app = spawn_app(AppOptions::embedded_sqlite()).await;
    let (id, _) = published(&app).await;
    let (status, drafted) = app
        .api_post(
            &format!("/api/v1/transactional-emails/{id}/draft"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{drafted}");
    let draft = drafted["draftEmailMessageId"].as_str().unwrap().to_owned();
    let (status, _) = app
        .api_post(
            &format!("/api/v1/email-messages/{draft}"),
            json!({"subject": "Draft for {{ name }} <b>", "lmx": "<p>Soon, {{ name }}: {{ code }}</p>"}),
        )
        .await;
    assert_eq!(status, 200);
    let mut console = Console::new(&app.address);
    assert!(console.login(&app.api_key).await.status().is_redirection());

    let (status, list, _) = console.get("/console/transactional").await;
    assert_eq!(status, 200);
    assert!(
        list.contains(&format!("/console/transactional/{id}")),
        "{list}"
    );
    assert!(
        list.contains("Welcome") && list.contains("<code>name</code>"),
        "{list}"
    );

    let (status, page, _) = console.get(&format!("/console/transactional/{id}")).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Welcome [name]"),
        "the published subject, sampled:\n{page}"
    );
    assert!(
        page.contains("Draft for [name] &lt;b&gt;"),
        "the draft's, escaped:\n{page}"
    );
    assert!(
        page.contains("<code>code</code> = <code>[code]</code>"),
        "{page}"
    );
    assert!(!page.to_lowercase().contains("unsubscribe"), "{page}");

    let (status, frame, headers) = console
        .get(&format!("/console/transactional/{id}/preview/draft"))
        .await;
    assert_eq!(status, 200);
    assert!(frame.contains("<p>Soon, [name]: [code]</p>"), "{frame}");
    assert!(
        headers
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("sandbox")),
        "{headers:?}"
    );
    let (status, _, _) = console
        .get(&format!("/console/transactional/{id}/preview/other"))
        .await;
    assert_eq!(status, 404);
    app.stop().await;
}
