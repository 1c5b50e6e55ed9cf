//! Suppression end to end: an SMTP server that refuses a recipient with 550 suppresses the
//! address; the next email to it is recorded `suppressed` and nothing is delivered, while
//! other addresses still get theirs; the API shows and removes the suppression.

use serde_json::{Value, json};

use super::{WAIT, assert_stays, create, emails, production_with};
use crate::support::*;

/// A template and a workflow that sends it on the custom event `ping`.
async fn ping_workflow(app: &TestApp) {
    let template = create(
        app,
        "/api/v1/templates",
        json!({"name": "Ping", "subject": "Ping", "html": "<p>Ping</p>", "text": "Ping"}),
    )
    .await;
    create(
        app,
        "/api/v1/workflows",
        json!({
            "name": "Ping",
            "trigger": {"type": "event", "eventName": "ping"},
            "steps": [{"type": "sendEmail", "templateId": template}],
        }),
    )
    .await;
}

async fn ping(app: &TestApp, email: &str) {
    let (status, answer) = app
        .api_post(
            "/api/v1/events/send",
            json!({"email": email, "eventName": "ping"}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
}

/// Waits until `email` has `n` finished sends and returns their statuses, sorted.
async fn statuses(app: &TestApp, email: &str, n: usize) -> Vec<String> {
    eventually_some(WAIT, &format!("{n} finished sends to {email}"), || async {
        let list = emails(app, email).await;
        let statuses: Vec<String> = list
            .iter()
            .map(|e| e["status"].as_str().unwrap_or_default().to_owned())
            .collect();
        let mut statuses = statuses;
        statuses.sort();
        (statuses.len() == n && statuses.iter().all(|s| s != "queued")).then_some(statuses)
    })
    .await
}

async fn suppression(app: &TestApp, email: &str) -> Value {
    let (status, answer) = app
        .api_get(&format!("/api/v1/contacts/suppression?email={email}"))
        .await;
    assert_eq!(status, 200, "{answer}");
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_550_at_rcpt_suppresses_the_address_and_its_next_email_is_not_sent() {
    let smtp = SmtpServer::refusing_bounces();
    let app = spawn_app(production_with(&smtp, 2)).await;
    ping_workflow(&app).await;

    // The server refuses the recipient: the send fails for good, the address is suppressed.
    ping(&app, "bounce@example.com").await;
    assert_eq!(statuses(&app, "bounce@example.com", 1).await, ["failed"]);
    let status = suppression(&app, "bounce@example.com").await;
    assert_eq!(status["isSuppressed"], true, "{status}");
    assert_eq!(status["contact"]["email"], "bounce@example.com");
    assert_eq!(
        status["removalQuota"],
        json!({"limit": 100, "remaining": 100})
    );

    // The next email to it is recorded suppressed and never reaches the server; another
    // address still gets its email.
    ping(&app, "bounce@example.com").await;
    ping(&app, "ok@example.com").await;
    assert_eq!(
        statuses(&app, "bounce@example.com", 2).await,
        ["failed", "suppressed"]
    );
    let delivered = smtp.wait_for(1, WAIT).await;
    assert_eq!(
        header(&delivered[0], "X-RcptTo").as_deref(),
        Some("ok@example.com")
    );
    assert_stays(&smtp, 1).await;

    // Removed through the API, within the quota; removing again is a 400.
    let (status, removed) = app
        .api_delete("/api/v1/contacts/suppression?email=bounce@example.com")
        .await;
    assert_eq!(status, 200, "{removed}");
    assert_eq!(removed["success"], true);
    assert_eq!(
        removed["removalQuota"],
        json!({"limit": 100, "remaining": 99})
    );
    assert_eq!(
        suppression(&app, "bounce@example.com").await["isSuppressed"],
        false
    );
    let (status, again) = app
        .api_delete("/api/v1/contacts/suppression?email=bounce@example.com")
        .await;
    assert_eq!(status, 400, "{again}");
    let (status, missing) = app
        .api_get("/api/v1/contacts/suppression?email=nobody@example.com")
        .await;
    assert_eq!(status, 404, "{missing}");
    app.stop().await;
}
