//! Workflows end to end: webhooks and API events start workflows that send email to a real
//! SMTP server (aiosmtpd), once, with working unsubscribe links, through retries, restarts,
//! redeliveries and replays. The helpers here are the ones those share.

mod graphs;
mod runs;
mod sending;
mod suppression;

use std::time::Duration;

use inlet_shared::providers::Provider;
use inlet_shared::providers::samples::{self, Person};
use serde_json::{Value, json};

use crate::support::*;

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
