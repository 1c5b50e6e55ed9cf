//! The queue behind ingest: an unreachable broker means 503, never a 2xx, and the embedded
//! queue keeps an accepted event across a restart.

use inlet_shared::db::entities::queue_message;

use super::WAIT;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_broker_answers_503_never_2xx() {
    let vhost = TestVhost::new().await;
    let proxy = TcpProxy::start("127.0.0.1:5672").await;
    let mut options = AppOptions::production();
    options.worker = false;
    options.amqp_url = Some(format!(
        "amqp://guest:guest@127.0.0.1:{}/{}",
        proxy.port, vhost.name
    ));
    options.vhost = Some(vhost.clone());
    let app = spawn_app(options).await;
    let integration = app.create_stripe_integration().await;

    let body = stripe_customer_event(
        "evt_1Before",
        "customer.created",
        "before@example.com",
        "Before",
        now_secs(),
    );
    assert_eq!(app.send_stripe(&integration, &body).await.0, 202);

    proxy.cut().await;
    for i in 0..5 {
        let body = stripe_customer_event(
            &format!("evt_1Cut{i}"),
            "customer.created",
            "cut@example.com",
            "Cut",
            now_secs(),
        );
        let (status, answer) = app.send_stripe(&integration, &body).await;
        assert_eq!(
            status, 503,
            "delivery {i} while the broker is unreachable: {answer}"
        );
        assert_eq!(answer["message"], "Temporarily unavailable; please retry.");
    }
    let (status, ready) = app.api_get("/health/ready").await;
    assert_eq!(status, 503, "{ready}");

    proxy.restore();
    let body = stripe_customer_event(
        "evt_1After",
        "customer.created",
        "after@example.com",
        "After",
        now_secs(),
    );
    eventually(
        WAIT,
        "ingest to reconnect after the broker came back",
        || async {
            let status = app.send_stripe(&integration, &body).await.0;
            assert!(status == 202 || status == 503, "answered {status}");
            status == 202
        },
    )
    .await;
    // Exactly the two accepted deliveries are on the queue: nothing answered 503 got in.
    eventually(WAIT, "two messages on the queue", || async {
        vhost
            .queue_messages(inlet_shared::queue::rabbitmq::QUEUE)
            .await
            == 2
    })
    .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_queue_keeps_an_accepted_event_across_a_restart() {
    let mut options = AppOptions::embedded_sqlite();
    options.worker = false;
    let first = spawn_app(options).await;
    let integration = first.create_stripe_integration().await;
    let body = stripe_customer_event(
        "evt_1Restart",
        "customer.created",
        "restart@example.com",
        "Re Start",
        now_secs(),
    );
    let (status, answer) = first.send_stripe(&integration, &body).await;
    assert_eq!(status, 202, "{answer}");
    let db = first.db.clone();
    assert_eq!(first.count(queue_message::Entity).await, 1);
    assert!(first.find_contacts("restart@example.com").await.is_empty());
    first.stop().await;

    let mut options = AppOptions::embedded_sqlite();
    options.db = Some(db);
    let second = spawn_app(options).await;
    let contact = second.wait_for_contact("restart@example.com", WAIT).await;
    assert_eq!(contact["firstName"], "Re");
    eventually(WAIT, "queue drained", || async {
        second.count(queue_message::Entity).await == 0
    })
    .await;
    second.stop().await;
}
