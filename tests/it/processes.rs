//! Production mode as operators run it: `inlet migrate`, then `inlet ingest` and
//! `inlet worker` as separate processes on PostgreSQL and RabbitMQ; and what a worker says
//! when its mail settings are unusable.

use std::process::Command;
use std::time::Duration;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_and_worker_processes_turn_a_signed_event_into_a_contact() {
    let db = TestDb::new(Backend::Postgres).await;
    let vhost = TestVhost::new().await;
    let port = free_port();
    let key = format!("inlet_test_{}", random_suffix());
    let env = vec![
        ("INLET_DATABASE_URL", db.url.clone()),
        ("INLET_DATABASE_POOL", "4".to_owned()),
        ("INLET_AMQP_URL", vhost.amqp_url.clone()),
        ("INLET_LISTEN", format!("127.0.0.1:{port}")),
        ("INLET_BOOTSTRAP_API_KEY", key.clone()),
        ("INLET_MASTER_KEY", TEST_MASTER_KEY.to_owned()),
        ("INLET_LOG_FORMAT", "json".to_owned()),
        ("RUST_LOG", "warn".to_owned()),
    ];
    let migrate = Command::new(env!("CARGO_BIN_EXE_inlet"))
        .arg("migrate")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .status()
        .expect("run inlet migrate");
    assert!(migrate.success(), "inlet migrate failed");

    let ops_port = free_port();
    let mut ingest_env = env.clone();
    ingest_env.push(("INLET_OPS_LISTEN", format!("127.0.0.1:{ops_port}")));
    let ingest = Process::spawn("ingest", &["ingest"], &ingest_env);
    let worker_port = free_port();
    let mut worker_env = env.clone();
    worker_env.push(("INLET_WORKER_LISTEN", format!("127.0.0.1:{worker_port}")));
    let worker = Process::spawn("worker", &["worker"], &worker_env);
    let remote = Remote::new(port, &key);
    let (base, client) = (&remote.base, &remote.client);
    remote.wait_ready(Duration::from_secs(30)).await;

    let created = remote.create_stripe_integration("Prod").await;
    let id = created["id"].as_str().expect("id");
    assert_eq!(
        created["endpointUrl"],
        format!("http://127.0.0.1:{port}/webhooks/{id}")
    );
    let endpoint = created["endpointUrl"].as_str().expect("url");
    let status = remote
        .deliver_customer_created(endpoint, "evt_1Processes", "ops@example.com", "Olga Ops")
        .await;
    assert_eq!(status, 202);
    let found = remote
        .wait_for_contact("ops@example.com", Duration::from_secs(30))
        .await;
    assert_eq!(found["firstName"], "Olga");
    assert_eq!(found["source"], "Stripe webhook");

    // Both processes expose what they did.
    let scrape = |url: String| {
        let client = client.clone();
        async move {
            client
                .get(url)
                .send()
                .await
                .expect("scrape")
                .text()
                .await
                .expect("text")
        }
    };
    // Metrics are on the ops listener, not on the public one.
    let public_metrics = client.get(format!("{base}/metrics")).send().await;
    assert_eq!(public_metrics.expect("scrape").status().as_u16(), 404);
    let ingest_metrics = scrape(format!("http://127.0.0.1:{ops_port}/metrics")).await;
    assert!(
        ingest_metrics.contains("inlet_webhooks_accepted_total{provider=\"stripe\"} 1"),
        "{ingest_metrics}"
    );
    assert!(
        ingest_metrics.contains("inlet_ingest_latency_seconds_count"),
        "{ingest_metrics}"
    );
    let worker_base = format!("http://127.0.0.1:{worker_port}");
    let worker_metrics = scrape(format!("{worker_base}/metrics")).await;
    assert!(
        worker_metrics.contains("inlet_deliveries_processed_total{outcome=\"processed\"} 1"),
        "{worker_metrics}"
    );
    assert!(
        worker_metrics.contains("inlet_queue_depth 0"),
        "{worker_metrics}"
    );
    assert!(
        worker_metrics.contains("inlet_end_to_end_latency_seconds_count 1"),
        "{worker_metrics}"
    );
    let ready = client
        .get(format!("{worker_base}/health/ready"))
        .send()
        .await
        .expect("ready");
    assert_eq!(ready.status().as_u16(), 200);

    assert_eq!(
        worker.terminate(),
        Some(0),
        "worker exit code after SIGTERM"
    );
    assert_eq!(
        ingest.terminate(),
        Some(0),
        "ingest exit code after SIGTERM"
    );
}

/// `inlet worker` with `env` on a migrated SQLite database: its exit code and stderr.
fn worker_failing_with(env: &[(&str, String)]) -> (Option<i32>, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_inlet"));
    cmd.arg("worker");
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("INLET_")) {
        cmd.env_remove(k);
    }
    let out = cmd
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("RUST_LOG", "off")
        .output()
        .expect("run inlet worker");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn unusable_mail_settings_stop_the_worker_with_their_cause_said_once() {
    let db = TestDb::new(Backend::Sqlite).await;
    let env = vec![("INLET_DATABASE_URL", db.url.clone())];
    let (migrated, _) = Process::run(&["migrate"], &env);
    assert_eq!(migrated, Some(0), "inlet migrate failed");

    let mut smtp = env.clone();
    smtp.push(("INLET_SMTP_URL", "http://mail.example.com".to_owned()));
    let (code, stderr) = worker_failing_with(&smtp);
    assert_eq!(code, Some(1), "{stderr}");
    // lettre's own error, and its cause (the scheme), each written once.
    assert!(
        stderr.starts_with(
            "inlet: INLET_SMTP_URL is not usable: Connection error: Unknown scheme 'http'"
        ),
        "{stderr}"
    );
    assert_eq!(stderr.matches("Unknown scheme").count(), 1, "{stderr}");

    // The outbox's parent is a file, so the folder cannot be made: the path and the OS's why.
    let file = std::env::temp_dir().join(format!("inlet-not-a-folder-{}", random_suffix()));
    std::fs::write(&file, b"").expect("write file");
    let outbox = file.join("outbox");
    let mut folder = env.clone();
    folder.push(("INLET_OUTBOX_DIR", outbox.display().to_string()));
    let (code, stderr) = worker_failing_with(&folder);
    let _ = std::fs::remove_file(&file);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(
        stderr.trim_end(),
        format!(
            "inlet: cannot create the outbox folder {}: Not a directory (os error 20)",
            outbox.display()
        )
    );
}

/// A replay that selects nothing is a usage error: exit 2, said by the argument parser
/// before a database is opened (the one given here is never created).
#[test]
fn a_replay_without_a_selector_is_a_usage_error() {
    let folder = std::env::temp_dir().join(format!("inlet-usage-{}", random_suffix()));
    let database = folder.join("inlet.db");
    let env = [(
        "INLET_DATABASE_URL",
        format!("sqlite://{}?mode=rwc", database.display()),
    )];
    let (code, out) = Process::run(&["dlq", "replay"], &env);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        !folder.exists(),
        "the replay ran far enough to open a database"
    );
    let (code, _) = Process::run(&["dlq", "replay", "--integration", "in_missing"], &env);
    assert_ne!(code, Some(2), "a selector is enough");
    let _ = std::fs::remove_dir_all(&folder);
}
