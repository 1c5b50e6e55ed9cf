//! A backlog applied in batches, one transaction each: a poison delivery dies alone, the
//! batch size bounds a transaction, and later deliveries of a batch see its earlier writes.

use serde_json::json;

use super::{WAIT, assert_exactly_once, ingest_only, processed, send_burst, worker_env};
use crate::support::*;

/// A backlog is applied in batches (one transaction each, a savepoint per delivery): a
/// poison delivery in the middle of one dies alone, at once, and the rest of its batch —
/// including a resend of an event already in the batch — applies exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_delivery_in_a_batch_dies_alone_and_the_rest_applies_once() {
    let (app, vhost) = ingest_only().await;
    let integration = app.create_stripe_integration().await;
    send_burst(&app, &integration, "before", 40).await;
    let poison = json!({"id": "evt_1PoisonBatch", "object": "event", "type": "customer.created", "created": now_secs(),
        "data": {"object": {"id": "cus_PoisonBatch", "object": "customer", "email": 12345, "name": "Poi Son"}}})
    .to_string();
    let (status, answer) = app.send_stripe(&integration, &poison).await;
    assert_eq!(status, 202, "{answer}");
    let poison_id = answer["id"].as_str().unwrap().to_owned();
    // The same event as one already queued: a duplicate inside the backlog.
    let again = stripe_customer_event(
        "evt_before00007",
        "customer.created",
        "before00007@example.com",
        "Bur St",
        now_secs(),
    );
    assert_eq!(app.send_stripe(&integration, &again).await.0, 202);
    send_burst(&app, &integration, "after", 40).await;

    // The worker starts on the whole backlog, so its deliveries arrive together.
    let env = worker_env(&app, &app.db.url, &vhost);
    let worker = Process::spawn("worker", &["worker"], &env);
    assert_exactly_once(&app, 80).await;
    let dead = app.wait_for_dead_letter(&poison_id, WAIT).await;
    assert_eq!(dead.attempts, 1, "dead at once, not retried");
    assert_eq!(worker.terminate(), Some(0));
    let (_, duplicates) = app.api_get("/api/v1/webhook-events?status=duplicate").await;
    assert_eq!(
        duplicates["data"].as_array().unwrap().len(),
        1,
        "{duplicates}"
    );
    app.stop().await;
}

/// `INLET_WORKER_BATCH` bounds a transaction: with batches of at most 2, every one of a
/// backlog of 20 deliveries goes in a transaction of at most 2 (with the default, the
/// worker starting on the whole backlog takes most of it in one), and applies once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_applies_at_most_its_batch_size_per_transaction() {
    let (app, vhost) = ingest_only().await;
    let integration = app.create_stripe_integration().await;
    send_burst(&app, &integration, "bounded", 20).await;
    let port = free_port();
    let mut env = worker_env(&app, &app.db.url, &vhost);
    env.retain(|(k, _)| !matches!(*k, "INLET_WORKER_LISTEN" | "INLET_WORKER_CONCURRENCY"));
    env.push(("INLET_WORKER_BATCH", "2".into()));
    env.push(("INLET_WORKER_CONCURRENCY", "1".into()));
    env.push(("INLET_WORKER_LISTEN", format!("127.0.0.1:{port}")));
    let worker = Process::spawn("worker", &["worker"], &env);
    assert_exactly_once(&app, 20).await;
    let metrics = worker_metrics(port).await;
    // The batch-size histogram: every delivery counted, none in a batch over 2.
    let value = |prefix: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(prefix)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {prefix} in:\n{metrics}"))
    };
    let deliveries = value("inlet_worker_batch_size_sum");
    let batches = value("inlet_worker_batch_size_count");
    let at_most_two = value("inlet_worker_batch_size_bucket{le=\"2.0\"}");
    assert_eq!(deliveries, 20.0, "{metrics}");
    assert_eq!(at_most_two, batches, "a batch over 2:\n{metrics}");
    assert_eq!(worker.terminate(), Some(0));
    app.stop().await;
}

/// A backlog where deliveries depend on earlier ones of the same batch — an update after
/// a create, a subscription found through the customer id a create just linked, a stale
/// update, a deletion and a resurrection attempt, a duplicate — ends exactly as applying
/// them one at a time would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_sees_its_own_earlier_writes() {
    use inlet_shared::providers::Provider;
    use inlet_shared::providers::samples::Person;
    let (app, vhost) = ingest_only().await;
    let created = app
        .create_integration(
            json!({"provider": "stripe", "name": "batch", "signingSecrets": [STRIPE_SECRET],
            "events": {"customer.deleted": {"onDelete": "delete"}}}),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let t = now_secs() - 100;
    let person = |email, first_name, last_name, id| Person {
        email,
        first_name,
        last_name,
        id,
    };
    let ann = |last| person("ann@example.com", "Ann", last, "cus_BatchAnn");
    let bob = |last| person("bob@example.com", "Bob", last, "cus_BatchBob");
    let cy = |last| person("cy@example.com", "Cy", last, "cus_BatchCy");
    let mut sent = Vec::new();
    for (event_type, who, at) in [
        ("customer.created", ann("One"), t),
        ("customer.updated", ann("Three"), t + 3),
        ("customer.updated", ann("Late"), t + 2),
        ("customer.subscription.created", ann("Three"), t + 4),
        ("customer.created", bob("New"), t + 5),
        ("customer.updated", bob("Old"), t + 3),
        ("customer.created", cy("One"), t),
        ("customer.deleted", cy("One"), t + 1),
        ("customer.created", cy("Again"), t),
        ("customer.created", cy("Back"), t + 2),
    ] {
        let (status, answer) = app
            .send_sample(&id, Provider::Stripe, STRIPE_SECRET, event_type, &who, at)
            .await;
        assert_eq!(status, 202, "{answer}");
        sent.push(answer["id"].as_str().unwrap().to_owned());
    }
    let dave = stripe_customer_event(
        "evt_BatchDave",
        "customer.created",
        "dave@example.com",
        "Dave Twice",
        t,
    );
    for _ in 0..2 {
        let (status, answer) = app.send_stripe(&id, &dave).await;
        assert_eq!(status, 202, "{answer}");
        sent.push(answer["id"].as_str().unwrap().to_owned());
    }

    // One transaction at a time, so the outcome cannot depend on how the backlog splits.
    let mut env = worker_env(&app, &app.db.url, &vhost);
    env.retain(|(k, _)| *k != "INLET_WORKER_CONCURRENCY" && *k != "INLET_PREFETCH");
    env.push(("INLET_WORKER_CONCURRENCY", "1".into()));
    env.push(("INLET_PREFETCH", "64".into()));
    let outcomes = apply_in_set_batches(&app, &env, &sent).await;
    let statuses: Vec<&str> = outcomes.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        statuses,
        [
            "processed",
            "processed",
            "processed",
            "processed",
            "processed",
            "processed",
            "processed",
            "processed",
            "ignored",
            "processed",
            "processed",
            "duplicate"
        ],
        "{outcomes:#?}"
    );
    assert!(outcomes[2].1.contains("newer change"), "{outcomes:#?}");
    assert!(outcomes[5].1.contains("newer change"), "{outcomes:#?}");
    assert!(outcomes[8].1.contains("was deleted"), "{outcomes:#?}");

    let ann = app.wait_for_contact("ann@example.com", WAIT).await;
    assert_eq!(
        ann["lastName"], "Three",
        "the update after the create applied, the older one after it did not"
    );
    let names = app.contact_event_names(ann["id"].as_str().unwrap()).await;
    assert_eq!(
        names,
        [
            "stripe:customer.created",
            "stripe:customer.updated",
            "stripe:customer.updated",
            "stripe:customer.subscription.created"
        ],
        "the subscription found Ann through the customer id linked in the same batch"
    );
    let bob = app.wait_for_contact("bob@example.com", WAIT).await;
    assert_eq!(bob["lastName"], "New", "the older update changed nothing");
    let cy = app.wait_for_contact("cy@example.com", WAIT).await;
    assert_eq!(
        cy["lastName"], "Back",
        "only the newer create brought Cy back"
    );
    assert_eq!(
        app.contact_event_names(cy["id"].as_str().unwrap()).await,
        ["stripe:customer.created"],
        "the deleted contact's events went with it"
    );
    assert_eq!(app.find_contacts("dave@example.com").await.len(), 1);
    assert_eq!(processed(&app).await, 11, "one claim per distinct event");

    // A later batch reads the customer links the first one committed: subscriptions name
    // only the customer id, so each is found through its stored link (or is not known).
    let nobody = person("nobody@example.com", "No", "Body", "cus_BatchNobody");
    let mut later = Vec::new();
    for who in [
        person("ann@example.com", "Ann", "Three", "cus_BatchAnn"),
        person("bob@example.com", "Bob", "New", "cus_BatchBob"),
        nobody,
    ] {
        let (status, answer) = app
            .send_sample(
                &id,
                Provider::Stripe,
                STRIPE_SECRET,
                "customer.subscription.paused",
                &who,
                t + 6,
            )
            .await;
        assert_eq!(status, 202, "{answer}");
        later.push(answer["id"].as_str().unwrap().to_owned());
    }
    let outcomes = apply_in_set_batches(&app, &env, &later).await;
    let statuses: Vec<&str> = outcomes.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        statuses,
        ["processed", "processed", "ignored"],
        "{outcomes:#?}"
    );
    assert!(outcomes[2].1.contains("not known yet"), "{outcomes:#?}");
    for (email, contact) in [("ann@example.com", &ann), ("bob@example.com", &bob)] {
        let names = app
            .contact_event_names(contact["id"].as_str().unwrap())
            .await;
        assert_eq!(
            names.last().map(String::as_str),
            Some("stripe:customer.subscription.paused"),
            "{email}: {names:?}"
        );
    }
    app.stop().await;
}

/// Runs a worker (with `env`) until these deliveries have outcomes, and returns them
/// (status, message) in order. Every batch must have taken the set path: the in-memory
/// view answered each later delivery (a stale view would have failed the set path into
/// the savepoint one).
async fn apply_in_set_batches(
    app: &TestApp,
    env: &[(&'static str, String)],
    deliveries: &[String],
) -> Vec<(String, String)> {
    let port = free_port();
    let mut env = env.to_vec();
    env.retain(|(k, _)| *k != "INLET_WORKER_LISTEN");
    env.push(("INLET_WORKER_LISTEN", format!("127.0.0.1:{port}")));
    let worker = Process::spawn("worker", &["worker"], &env);
    let mut outcomes = Vec::new();
    for delivery in deliveries {
        let row = app.wait_for_outcome(delivery, WAIT).await;
        outcomes.push((row.status, row.message));
    }
    let metrics = worker_metrics(port).await;
    assert!(
        metrics.contains("inlet_worker_batches_total{path=\"set\"}")
            && !metrics.contains("path=\"savepoints\"")
            && !metrics.contains("path=\"single\""),
        "{metrics}"
    );
    assert_eq!(worker.terminate(), Some(0));
    outcomes
}

/// The metrics of a worker serving them on `port` (`INLET_WORKER_LISTEN`).
async fn worker_metrics(port: u16) -> String {
    reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}
