//! What a delivery sends: one email, its user data escaped, with a one-click unsubscribe
//! link that works; still one across redeliveries and replays; and delivered once through
//! an SMTP outage, or dead-lettered when the outage outlasts the attempts, then replayed.

use inlet_shared::providers::Provider;
use serde_json::json;

use super::{WAIT, assert_stays, emails, post, production_with, receipt_workflow, send_checkout};
use crate::support::*;

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
        trace: Default::default(),
        kept_headers: None,
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
    let dead = eventually_some(WAIT, "the run's dead letter", || async {
        let (_, list) = app.api_get("/api/v1/dead-letters").await;
        list.as_array()
            .unwrap()
            .iter()
            .find(|d| d["provider"] == "workflow")
            .cloned()
    })
    .await;
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
