//! The RabbitMQ work queue itself: its declared arguments, a queue an earlier version
//! declared, deliveries given back too often, and batched acks that never cover a delivery
//! still in hand nor stop the broker pushing.

use std::time::Duration;

use serde_json::json;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_queue_declares_its_delivery_limit_and_dead_letter_target() {
    let vhost = TestVhost::new().await;
    let mut options = AppOptions::production();
    options.vhost = Some(vhost.clone());
    let app = spawn_app(options).await;
    let url = format!(
        "http://guest:guest@127.0.0.1:15672/api/queues/{}/inlet.webhooks",
        vhost.name
    );
    let queue: serde_json::Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    let args = &queue["arguments"];
    assert_eq!(args["x-queue-type"], "quorum");
    // The broker's limit is a backstop behind the consumer's own (see the next test).
    assert_eq!(
        args["x-delivery-limit"],
        inlet_shared::queue::rabbitmq::BROKER_DELIVERY_LIMIT
    );
    assert_eq!(args["x-dead-letter-exchange"], "inlet.dead-letters");
    assert_eq!(queue["durable"], true);
    app.stop().await;
}

/// A message that keeps coming back without being settled (a worker dying on it, again and
/// again) is moved to the dead letters by the consumer, with a publisher confirm before the
/// ack, once it has been given back `DELIVERY_LIMIT` times; it is not handed out again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_given_back_too_often_goes_to_the_dead_letters() {
    use inlet_shared::queue::rabbitmq::DELIVERY_LIMIT;
    let vhost = TestVhost::new().await;
    let queue = test_queue(&vhost).await;
    publish_test_messages(&queue, 1..=1).await;
    let mut consumer = queue.consume(4).await.unwrap();
    let limit = u32::try_from(DELIVERY_LIMIT).unwrap();
    for returned in 0..limit {
        let delivery = next(&mut consumer).await;
        assert_eq!(delivery.message.delivery_id, "wh_ack1");
        assert_eq!(
            delivery.attempt,
            returned + 1,
            "redeliveries count as attempts"
        );
        delivery.release().await.unwrap();
    }
    let again = tokio::time::timeout(Duration::from_millis(700), consumer.next()).await;
    assert!(again.is_err(), "handed out after {limit} returns");
    consumer.close().await;

    let mut dead = queue
        .consume_dead_letters()
        .await
        .unwrap()
        .expect("RabbitMQ");
    let letter = tokio::time::timeout(Duration::from_secs(10), dead.next())
        .await
        .expect("a dead letter")
        .expect("not cancelled")
        .expect("readable");
    assert_eq!(letter.record.message.delivery_id, "wh_ack1");
    assert_eq!(letter.record.attempts, limit + 1);
    assert!(
        letter
            .record
            .error
            .contains(&format!("redelivered {limit} times")),
        "{}",
        letter.record.error
    );
    letter.ack().await.unwrap();
    assert_eq!(queue.depth().await.unwrap(), 0);
}

/// A work queue an earlier version declared with at-least-once dead-lettering cannot take
/// the current arguments (a queue's arguments never change). Inlet keeps it as it is:
/// publishing and consuming work, and the queue still has its old arguments.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_work_queue_declared_by_an_earlier_version_is_kept() {
    let vhost = TestVhost::new().await;
    let url = format!(
        "{}/api/queues/{}/inlet.webhooks",
        rabbit_management(),
        vhost.name
    );
    let client = reqwest::Client::new();
    let created = client
        .put(&url)
        .json(&json!({
            "durable": true,
            "arguments": {
                "x-queue-type": "quorum",
                "x-dead-letter-exchange": "inlet.dead-letters",
                "x-dead-letter-routing-key": "webhook",
                "x-dead-letter-strategy": "at-least-once",
                "x-overflow": "reject-publish",
                "x-delivery-limit": 20
            }
        }))
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success(), "{}", created.status());

    let queue = test_queue(&vhost).await;
    publish_test_messages(&queue, 1..=2).await;
    let mut consumer = queue.consume(4).await.unwrap();
    let first = next(&mut consumer).await;
    let second = next(&mut consumer).await;
    assert_eq!(
        [&first.message.delivery_id, &second.message.delivery_id],
        ["wh_ack1", "wh_ack2"]
    );
    inlet_shared::queue::Delivery::ack_all(vec![first, second])
        .await
        .unwrap();
    consumer.close().await;
    assert_eq!(queue.depth().await.unwrap(), 0);

    let kept: serde_json::Value = client.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(kept["arguments"]["x-dead-letter-strategy"], "at-least-once");
}

/// Acks after a batch's commit go to RabbitMQ as one `multiple` ack, but never over a
/// delivery still in hand: here the first delivery is given back (requeued) after the two
/// after it were acked, and it comes again; the two acked ones never do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_ack_never_covers_an_earlier_delivery_still_in_hand() {
    use inlet_shared::queue::Delivery;
    let vhost = TestVhost::new().await;
    let queue = test_queue(&vhost).await;
    publish_test_messages(&queue, 1..=3).await;
    let mut consumer = queue.consume(100).await.unwrap();
    let first = next(&mut consumer).await;
    let second = next(&mut consumer).await;
    let third = next(&mut consumer).await;
    assert_eq!(first.message.delivery_id, "wh_ack1");
    Delivery::ack_all(vec![second, third]).await.unwrap();
    // Had the ack of the batch covered the first delivery too, giving it back would fail
    // (the broker no longer knows its tag) and it would be lost.
    first.release().await.unwrap();
    let again = next(&mut consumer).await;
    assert_eq!(again.message.delivery_id, "wh_ack1");
    assert!(again.attempt >= 1);
    again.ack().await.unwrap();
    consumer.close().await;

    // Everything was settled: a new consumer gets nothing.
    let mut consumer = queue.consume(10).await.unwrap();
    let extra = tokio::time::timeout(Duration::from_millis(700), consumer.next()).await;
    assert!(extra.is_err(), "an acked delivery came again");
    consumer.close().await;
}

/// The consumer's next delivery, within 10 s.
async fn next(consumer: &mut inlet_shared::queue::Consumer) -> inlet_shared::queue::Delivery {
    tokio::time::timeout(Duration::from_secs(10), consumer.next())
        .await
        .expect("a delivery")
        .expect("not cancelled")
        .expect("no error")
}

/// Acks held back behind a slow delivery count against the prefetch: once three quarters
/// of it wait (or the holder has been in hand for 100 ms), they go one by one, so the
/// broker keeps pushing. Here the prefetch is 4 and the first delivery is held while three
/// are acked behind it: the fifth and sixth still arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_delivery_does_not_stop_the_broker_pushing() {
    use inlet_shared::queue::Delivery;
    let vhost = TestVhost::new().await;
    let queue = test_queue(&vhost).await;
    publish_test_messages(&queue, 1..=6).await;
    let mut consumer = queue.consume(4).await.unwrap();
    let slow = next(&mut consumer).await;
    let mut others = Vec::new();
    for _ in 0..3 {
        others.push(next(&mut consumer).await);
    }
    Delivery::ack_all(others).await.unwrap();
    let fifth = next(&mut consumer).await;
    let sixth = next(&mut consumer).await;
    assert_eq!(
        [&fifth.message.delivery_id, &sixth.message.delivery_id],
        ["wh_ack5", "wh_ack6"]
    );
    Delivery::ack_all(vec![fifth, sixth, slow]).await.unwrap();
    consumer.close().await;
    let mut consumer = queue.consume(10).await.unwrap();
    let extra = tokio::time::timeout(Duration::from_millis(700), consumer.next()).await;
    assert!(extra.is_err(), "an acked delivery came again");
    consumer.close().await;
}

/// A RabbitMQ queue on the test's vhost.
async fn test_queue(vhost: &TestVhost) -> inlet_shared::queue::Queue {
    use inlet_shared::queue::rabbitmq::RabbitQueue;
    inlet_shared::queue::Queue::Rabbit(
        RabbitQueue::connect(vhost.amqp_url.clone().into(), vec![Duration::from_secs(1)])
            .await
            .expect("RabbitMQ is required at 127.0.0.1:5672"),
    )
}

/// Publishes messages `wh_ack{n}` for these n, in order.
async fn publish_test_messages(
    queue: &inlet_shared::queue::Queue,
    ns: std::ops::RangeInclusive<u32>,
) {
    for n in ns {
        queue
            .publish(&inlet_shared::queue::QueueMessage {
                delivery_id: format!("wh_ack{n}"),
                integration_id: "int_ack".into(),
                provider: inlet_shared::providers::Provider::Stripe,
                event_type: "customer.created".into(),
                idempotency_key: format!("evt_ack{n}"),
                received_at_ms: 0,
                body: b"{}".to_vec().into(),
                trace: Default::default(),
                kept_headers: None,
            })
            .await
            .unwrap();
    }
}
