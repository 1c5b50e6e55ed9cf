//! RabbitMQ over TLS (`amqps://`) against a real node whose only listener is TLS and
//! requires client certificates: confirmed publishing and consuming with the extra CA and a
//! client certificate; a broker not chaining to a trusted root is refused by the client,
//! and a client without a certificate is refused by the broker.

use std::time::Duration;

use inlet_shared::queue::rabbitmq::{AmqpTls, RabbitQueue, is_tls_failure};
use inlet_shared::queue::{Queue, QueueError, QueueMessage};

use crate::support::*;

fn message(n: u32) -> QueueMessage {
    QueueMessage {
        delivery_id: format!("wh_tls{n}"),
        integration_id: "int_tls".into(),
        provider: inlet_shared::providers::Provider::Stripe,
        event_type: "customer.created".into(),
        idempotency_key: format!("evt_tls{n}"),
        received_at_ms: 7,
        body: br#"{"over":"tls"}"#.to_vec().into(),
        trace: Default::default(),
        kept_headers: None,
    }
}

async fn connect(url: String, tls: AmqpTls) -> Result<Queue, QueueError> {
    RabbitQueue::connect_with_tls(url.into(), tls, vec![Duration::from_secs(1)])
        .await
        .map(Queue::Rabbit)
}

/// The error and its sources, outermost first, as one line.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    std::iter::successors(Some(error), |e| e.source())
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_with_confirms_and_consumes_over_mutual_tls() {
    let broker = TlsBroker::shared();
    let files = &broker.files;
    let tls = AmqpTls::from_files(
        Some(&files.ca),
        Some(&files.client_cert),
        Some(&files.client_key),
    )
    .expect("the test's TLS files");
    let queue = connect(broker.vhost(), tls)
        .await
        .expect("connect over amqps://");
    queue.check().await.expect("healthy publisher");
    let sent = message(1);
    // `publish` waits for the broker's confirm (a nack or a return is an error).
    queue.publish(&sent).await.expect("confirmed publish");
    assert_eq!(queue.depth().await.expect("depth over TLS"), 1);

    let mut consumer = queue.consume(10).await.expect("consumer over amqps://");
    let delivery = tokio::time::timeout(Duration::from_secs(10), consumer.next())
        .await
        .expect("a delivery over TLS")
        .expect("not cancelled")
        .expect("no error");
    assert_eq!(delivery.message.delivery_id, sent.delivery_id);
    assert_eq!(delivery.message.body, sent.body);
    assert_eq!(delivery.message.idempotency_key, "evt_tls1");
    assert_eq!(delivery.message.received_at_ms, 7);
    delivery.ack().await.expect("ack over TLS");
    consumer.close().await;
}

/// The broker's certificate is signed by the test's CA only: without it as the extra CA,
/// the client refuses the broker (the webpki roots do not vouch for it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_without_a_trusted_chain_is_refused() {
    let broker = TlsBroker::shared();
    let files = &broker.files;
    let tls = AmqpTls::from_files(None, Some(&files.client_cert), Some(&files.client_key))
        .expect("client certificate");
    let err = connect(broker.url(), tls).await.err().expect("refused");
    let text = chain(&err);
    assert!(
        is_tls_failure(&err),
        "a TLS failure, not worth retrying: {text}"
    );
    assert!(
        text.contains("invalid peer certificate") && text.contains("UnknownIssuer"),
        "the error says the broker's certificate is not trusted: {text}"
    );

    // A broker that is not there is no TLS failure: it may come up, so start-up retries.
    let closed = format!("amqps://guest:guest@localhost:{}/%2f", free_port());
    let err = connect(closed, AmqpTls::default())
        .await
        .err()
        .expect("down");
    assert!(!is_tls_failure(&err), "{}", chain(&err));
}

/// With the CA but no client certificate, the broker (fail_if_no_peer_cert) refuses the
/// handshake; the client had accepted the broker's certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_without_a_certificate_is_refused_by_the_broker() {
    let broker = TlsBroker::shared();
    let tls = AmqpTls::from_files(Some(&broker.files.ca), None, None).expect("CA");
    assert!(!tls.has_client_certificate());
    let err = connect(broker.url(), tls).await.err().expect("refused");
    let text = chain(&err);
    assert!(
        is_tls_failure(&err),
        "a TLS failure, not worth retrying: {text}"
    );
    assert!(
        !text.contains("invalid peer certificate"),
        "the broker's certificate was trusted: {text}"
    );
    assert!(
        text.contains("CertificateRequired") || text.contains("HandshakeFailure"),
        "the error is the broker's refusal for want of a certificate: {text}"
    );
}

/// `https://` URLs (`inlet send-test-event --url`) go through rustls with the webpki roots:
/// against the broker's TLS port, reqwest gets as far as refusing its certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_requests_verify_the_server_certificate() {
    let broker = TlsBroker::shared();
    let err = reqwest::Client::new()
        .get(format!("https://localhost:{}/", broker.port))
        .send()
        .await
        .expect_err("an untrusted server is refused");
    let text = chain(&err);
    assert!(
        text.contains("invalid peer certificate") && text.contains("UnknownIssuer"),
        "{text}"
    );
}

/// `inlet serve` as operators run it against the TLS-only broker: `amqps://` in
/// `INLET_AMQP_URL`, the CA and a client certificate in `INLET_AMQP_TLS_*`. A signed event
/// becoming a contact shows ingest published and the worker consumed over TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inlet_serve_runs_on_a_tls_only_broker() {
    let broker = TlsBroker::shared();
    let db = TestDb::new(Backend::Postgres).await;
    let port = free_port();
    let key = format!("inlet_test_{}", random_suffix());
    let file = |path: &std::path::Path| path.display().to_string();
    let env = vec![
        ("INLET_DATABASE_URL", db.url.clone()),
        ("INLET_DATABASE_POOL", "4".to_owned()),
        ("INLET_AMQP_URL", broker.vhost()),
        ("INLET_AMQP_TLS_CA_FILE", file(&broker.files.ca)),
        ("INLET_AMQP_TLS_CERT_FILE", file(&broker.files.client_cert)),
        ("INLET_AMQP_TLS_KEY_FILE", file(&broker.files.client_key)),
        ("INLET_LISTEN", format!("127.0.0.1:{port}")),
        ("INLET_BOOTSTRAP_API_KEY", key.clone()),
        ("INLET_LOG_FORMAT", "json".to_owned()),
        ("RUST_LOG", "warn".to_owned()),
    ];
    let serve = Process::spawn("serve", &["serve"], &env);
    let remote = Remote::new(port, &key);
    remote.wait_ready(Duration::from_secs(30)).await;
    let created = remote.create_stripe_integration("TLS").await;
    let endpoint = created["endpointUrl"].as_str().expect("endpoint url");
    let status = remote
        .deliver_customer_created(endpoint, "evt_1TlsBroker", "tls@example.com", "Tess Tls")
        .await;
    assert_eq!(status, 202, "published with a confirm over TLS");
    let found = remote
        .wait_for_contact("tls@example.com", Duration::from_secs(30))
        .await;
    assert_eq!(found["firstName"], "Tess");
    assert_eq!(serve.terminate(), Some(0), "exit code after SIGTERM");
}
