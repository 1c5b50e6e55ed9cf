//! OpenTelemetry traces from the real `inlet serve`: a webhook's ingest span, the worker's
//! span for the same delivery and the email send of the workflow run it started are one
//! trace, across the embedded queue and across RabbitMQ, exported over OTLP/HTTP to a
//! receiver in the test.

use std::time::Duration;

use serde_json::Value;

use crate::support::*;

const WAIT: Duration = Duration::from_secs(30);
const EMAIL: &str = "traced@example.com";

/// How the traces reach the receiver.
enum Export {
    /// Only the flush at shutdown (the batch delay is far longer than the test).
    AtShutdown,
    /// Every 100 ms, while the process runs.
    Batched,
}

/// Runs `inlet serve` with `env` and a workflow that emails new Stripe customers (into the
/// outbox), delivers one signed Stripe event and returns the spans the receiver got for it.
async fn spans_of_one_delivery(
    env: Vec<(&'static str, String)>,
    export: Export,
) -> Vec<ReceivedSpan> {
    let receiver = OtlpReceiver::start();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let key = format!("inlet_trace_{}", random_suffix());
    let outbox = std::env::temp_dir().join(format!("inlet-trace-outbox-{}", random_suffix()));
    let delay = match export {
        Export::AtShutdown => "600000",
        Export::Batched => "100",
    };
    let mut env = env;
    env.extend([
        ("INLET_LISTEN", format!("127.0.0.1:{port}")),
        ("INLET_BOOTSTRAP_API_KEY", key.clone()),
        ("INLET_LOG_FORMAT", "json".to_owned()),
        (
            "RUST_LOG",
            "warn,inlet_ingest=info,inlet_worker=info".to_owned(),
        ),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint.clone()),
        ("OTEL_BSP_SCHEDULE_DELAY", delay.to_owned()),
        ("INLET_OUTBOX_DIR", outbox.display().to_string()),
    ]);
    let serve = Process::spawn("serve", &["serve"], &env);
    let remote = Remote::new(port, &key);
    let client = &remote.client;
    remote.wait_ready(WAIT).await;
    let created = remote.create_stripe_integration("Traced").await;
    let url = created["endpointUrl"].as_str().expect("url").to_owned();
    let api_create = |path: &'static str, body: Value| {
        let request = client
            .post(format!("{base}{path}"))
            .bearer_auth(&key)
            .json(&body);
        async move {
            let created: Value = request
                .send()
                .await
                .expect(path)
                .json()
                .await
                .expect("json");
            created["id"].as_str().expect("id").to_owned()
        }
    };
    let template = api_create(
        "/api/v1/templates",
        serde_json::json!({"name": "Welcome", "subject": "Welcome", "html": "<p>Welcome</p>"}),
    )
    .await;
    api_create(
        "/api/v1/workflows",
        serde_json::json!({
            "name": "Welcome new customers",
            "trigger": {"type": "event", "eventName": "stripe:customer.created"},
            "steps": [{"type": "sendEmail", "templateId": template}],
        }),
    )
    .await;
    let status = remote
        .deliver_customer_created(&url, "evt_1Traced", EMAIL, "Tracy Trace")
        .await;
    assert_eq!(status, 202);
    remote.wait_for_contact(EMAIL, WAIT).await;
    eventually(WAIT, "the workflow's email sent", || async {
        let sent: Value = client
            .get(format!("{base}/api/v1/emails?email={EMAIL}"))
            .bearer_auth(&key)
            .send()
            .await
            .expect("emails")
            .json()
            .await
            .expect("json");
        sent[0]["status"] == "sent"
    })
    .await;
    let worker_span = |spans: &[ReceivedSpan]| {
        spans
            .iter()
            .any(|s| s.name == "delivery" || s.name == "delivery_batch")
            && spans.iter().any(|s| s.name == "email_send")
    };
    match export {
        Export::AtShutdown => {
            assert!(
                receiver.spans().is_empty(),
                "exported before shutdown: {:#?}",
                receiver.spans()
            );
            assert_eq!(serve.terminate(), Some(0), "exit code after SIGTERM");
            eventually(WAIT, "the spans flushed at shutdown", || async {
                worker_span(&receiver.spans())
            })
            .await;
        }
        Export::Batched => {
            eventually(WAIT, "the worker's span exported", || async {
                worker_span(&receiver.spans())
            })
            .await;
            assert_eq!(serve.terminate(), Some(0), "exit code after SIGTERM");
        }
    }
    let _ = std::fs::remove_dir_all(&outbox);
    receiver.spans()
}

/// The ingest span and the worker's span for the delivery share one trace: the worker's is
/// its child (a lone delivery), or links to it (a batch). The email send of the run the
/// delivery started, later and elsewhere, continues that trace too.
fn assert_one_trace(spans: &[ReceivedSpan]) {
    let webhook = spans
        .iter()
        .find(|s| s.name == "webhook")
        .unwrap_or_else(|| panic!("no ingest span: {spans:#?}"));
    assert_eq!(webhook.service, "inlet-serve", "{webhook:#?}");
    assert_eq!(
        webhook.parent_span_id, "",
        "ingest starts the trace: {webhook:#?}"
    );
    let child = spans.iter().any(|s| {
        s.name == "delivery"
            && s.trace_id == webhook.trace_id
            && s.parent_span_id == webhook.span_id
    });
    let linked = spans.iter().any(|s| {
        s.name == "delivery_batch"
            && s.links
                .contains(&(webhook.trace_id.clone(), webhook.span_id.clone()))
    });
    assert!(
        child || linked,
        "no worker span in the trace of {webhook:#?}: {spans:#?}"
    );
    let send = spans
        .iter()
        .find(|s| s.name == "email_send")
        .unwrap_or_else(|| panic!("no email send span: {spans:#?}"));
    assert_eq!(
        send.trace_id, webhook.trace_id,
        "the email send is not in the delivery's trace: {send:#?}"
    );
    assert!(
        send.attributes
            .iter()
            .any(|(k, v)| k == "run" && v.starts_with("run_")),
        "the email send names its run: {send:#?}"
    );
    // Spans name the delivery; they carry neither its payload nor a secret.
    for span in spans {
        for (key, value) in &span.attributes {
            assert!(
                !value.contains(EMAIL) && !value.contains(STRIPE_SECRET),
                "{key} of {} carries a payload or a secret: {value}",
                span.name
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_spans_ingest_and_worker_over_the_embedded_queue() {
    let db = TestDb::new(Backend::Sqlite).await;
    let spans = spans_of_one_delivery(
        vec![("INLET_DATABASE_URL", db.url.clone())],
        Export::AtShutdown,
    )
    .await;
    assert_one_trace(&spans);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_spans_ingest_and_worker_over_rabbitmq() {
    let db = TestDb::new(Backend::Postgres).await;
    let vhost = TestVhost::new().await;
    let env = vec![
        ("INLET_DATABASE_URL", db.url.clone()),
        ("INLET_AMQP_URL", vhost.amqp_url.clone()),
    ];
    let spans = spans_of_one_delivery(env, Export::Batched).await;
    assert_one_trace(&spans);
}
