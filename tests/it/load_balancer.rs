//! Two ingest processes behind a real load balancer (HAProxy, round robin per request),
//! sharing one database and one broker: a settings change made through one takes effect on
//! both within 2 s (`INLET_CACHE_REFRESH_MS` at its default), the webhook log and the
//! metrics count every delivery once whichever process took it, and a console session
//! made through one is valid on the other.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use inlet_shared::metrics::label;
use serde_json::{Value, json};

use crate::support::*;

/// How soon the other process must follow a settings change.
const PROPAGATION: Duration = Duration::from_secs(2);
const BURST: usize = 40;

/// HAProxy in front of `backends`, stopped when dropped.
struct Balancer {
    child: Child,
    address: String,
    config: std::path::PathBuf,
}

impl Balancer {
    fn start(backends: &[&str]) -> Self {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("inlet-haproxy-{port}"));
        std::fs::create_dir_all(&dir).expect("haproxy folder");
        let servers: String = backends
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let hostport = b.trim_start_matches("http://");
                format!("  server ingest{i} {hostport} check inter 200ms\n")
            })
            .collect();
        let config = format!(
            "global\n  maxconn 512\ndefaults\n  mode http\n  timeout connect 2s\n  timeout client 30s\n  timeout server 30s\nfrontend inlet\n  bind 127.0.0.1:{port}\n  default_backend ingest\nbackend ingest\n  balance roundrobin\n  option httpchk GET /health/ready\n{servers}"
        );
        let path = dir.join("haproxy.cfg");
        std::fs::write(&path, config).expect("write haproxy.cfg");
        let child = Command::new("haproxy")
            .args(["-db", "-f"])
            .arg(&path)
            .stdout(Stdio::null())
            .spawn()
            .expect("start haproxy (scripts/services.sh installs it)");
        Self {
            child,
            address: format!("http://127.0.0.1:{port}"),
            config: dir,
        }
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.config);
    }
}

fn options(
    db: Option<std::sync::Arc<TestDb>>,
    vhost: Option<std::sync::Arc<TestVhost>>,
) -> AppOptions {
    let mut options = AppOptions::production();
    options.db = db;
    options.vhost = vhost;
    // The default, not the tests' quicker refresh: the 2 s is what operators get.
    options
        .vars
        .push(("INLET_CACHE_REFRESH_MS".into(), "1000".into()));
    options
}

/// Sends one signed delivery straight to `app`; its status and answer.
async fn send(app: &TestApp, integration: &str, event_type: &str, n: usize) -> (u16, Value) {
    let body = stripe_customer_event(
        &format!("evt_lb{event_type}{n:05}"),
        event_type,
        &format!("lb{n:05}@example.com"),
        "Lo Ad",
        now_secs(),
    );
    app.send_stripe(integration, &body).await
}

fn accepted(app: &TestApp) -> u64 {
    app.services
        .metrics
        .accepted
        .get_or_create(&label("provider", "stripe"))
        .get()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_ingest_behind_haproxy_share_settings_log_metrics_and_sessions() {
    let a = spawn_app(options(None, None)).await;
    let mut b_options = options(Some(a.db.clone()), a.vhost.clone());
    b_options.worker = false;
    let b = spawn_app(b_options).await;
    let lb = Balancer::start(&[&a.address, &b.address]);
    eventually(
        Duration::from_secs(10),
        "HAProxy to see both backends up",
        || async {
            a.client
                .get(format!("{}/health/ready", lb.address))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        },
    )
    .await;
    // Requests through the balancer carry a's key: keys live in the shared database.
    let through = |path: &str| format!("{}{path}", lb.address);
    let created: Value = a
        .client
        .post(through("/api/v1/integrations"))
        .bearer_auth(&a.api_key)
        .json(&json!({"provider": "stripe", "name": "Balanced", "signingSecrets": [STRIPE_SECRET]}))
        .send()
        .await
        .expect("create through the balancer")
        .json()
        .await
        .expect("created");
    let id = created["id"].as_str().expect("integration id").to_owned();

    // Both processes know the new integration within the propagation time.
    let start = Instant::now();
    for (name, app) in [("a", &a), ("b", &b)] {
        eventually(
            PROPAGATION,
            &format!("ingest {name} to accept for the new integration"),
            || async { send(app, &id, "customer.created", 90_000).await.0 == 202 },
        )
        .await;
    }
    assert!(start.elapsed() <= PROPAGATION + Duration::from_millis(500));

    // A settings change made through the balancer (one of the two) reaches both.
    let patched = a
        .client
        .patch(through(&format!("/api/v1/integrations/{id}")))
        .bearer_auth(&a.api_key)
        .json(&json!({"events": {"customer.updated": {"enabled": false}}}))
        .send()
        .await
        .expect("patch through the balancer");
    assert_eq!(patched.status().as_u16(), 200);
    let changed = Instant::now();
    for (name, app) in [("a", &a), ("b", &b)] {
        eventually(
            PROPAGATION,
            &format!("ingest {name} to ignore the turned-off event"),
            || async {
                let (status, answer) = send(app, &id, "customer.updated", 91_000).await;
                status == 200
                    && answer["message"]
                        == "Ignored: customer.updated is turned off for this integration."
            },
        )
        .await;
    }
    let took = changed.elapsed();
    assert!(
        took <= PROPAGATION + Duration::from_millis(500),
        "took {took:?}"
    );

    // A burst through the balancer: both processes take a share; log and metrics count
    // every delivery once.
    let (before_a, before_b) = (accepted(&a), accepted(&b));
    for n in 0..BURST {
        let body = stripe_customer_event(
            &format!("evt_lbburst{n:05}"),
            "customer.created",
            &format!("burst{n:05}@example.com"),
            "Bur St",
            now_secs(),
        );
        let r = a
            .client
            .post(through(&format!("/webhooks/{id}")))
            .header("content-type", "application/json")
            .header(
                "Stripe-Signature",
                stripe_signature(STRIPE_SECRET, now_secs(), &body),
            )
            .body(body)
            .send()
            .await
            .expect("webhook through the balancer");
        assert_eq!(r.status().as_u16(), 202);
    }
    let (share_a, share_b) = (accepted(&a) - before_a, accepted(&b) - before_b);
    assert_eq!(share_a + share_b, BURST as u64, "accepted counters");
    assert!(
        share_a > 0 && share_b > 0,
        "round robin: a took {share_a}, b took {share_b}"
    );
    eventually(
        Duration::from_secs(30),
        "every burst delivery in the log",
        || async {
            let (status, page) = b
                .api_get(&format!(
                    "/api/v1/webhook-events?integrationId={id}&eventType=customer.created&limit=200"
                ))
                .await;
            let burst = page["data"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|row| {
                    row["idempotencyKey"]
                        .as_str()
                        .is_some_and(|k| k.starts_with("evt_lbburst"))
                })
                .count();
            status == 200 && burst == BURST
        },
    )
    .await;

    // A console session signed in through the balancer is valid on each process.
    let mut console = Console::new(&lb.address);
    let signed_in = console.login(&a.api_key).await;
    assert_eq!(
        signed_in.status().as_u16(),
        303,
        "sign-in through the balancer"
    );
    for app in [&a, &b] {
        let direct = Console {
            base: app.address.clone(),
            client: console.client.clone(),
            cookie: console.cookie.clone(),
        };
        let (status, page, _) = direct.get("/console/deliveries").await;
        assert_eq!(status, 200, "the session on {}: {page}", app.address);
    }
    drop(lb);
    b.stop().await;
    a.stop().await;
}
