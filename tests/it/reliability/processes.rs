//! Workers as real processes: killed or stopped mid-burst and replaced, or three competing
//! for one queue; every event is applied exactly once.

use super::{WAIT, assert_exactly_once, ingest_only, processed, send_burst, worker_env};
use crate::support::*;

const BURST: usize = 2000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_killed_mid_burst_then_replaced_applies_every_event_once() {
    let (app, vhost) = ingest_only().await;
    let integration = app.create_stripe_integration().await;
    send_burst(&app, &integration, "kill", BURST).await;
    let env = worker_env(&app, &app.db.url, &vhost);
    let first = Process::spawn("worker", &["worker"], &env);
    eventually(WAIT, "the first worker to be busy", || async {
        processed(&app).await >= 200
    })
    .await;
    first.kill();
    let done_before = processed(&app).await;
    assert!(
        done_before < BURST as u64,
        "the kill came after the burst was done; nothing was proven"
    );
    let second = Process::spawn("worker", &["worker"], &env);
    assert_exactly_once(&app, BURST).await;
    assert_eq!(second.terminate(), Some(0));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_on_one_queue_apply_every_event_once() {
    let (app, vhost) = ingest_only().await;
    let integration = app.create_stripe_integration().await;
    let env = worker_env(&app, &app.db.url, &vhost);
    let workers: Vec<Process> = (0..3)
        .map(|_| Process::spawn("worker", &["worker"], &env))
        .collect();
    send_burst(&app, &integration, "three", BURST).await;
    assert_exactly_once(&app, BURST).await;
    for worker in workers {
        assert_eq!(worker.terminate(), Some(0));
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_burst_exits_zero_and_loses_nothing() {
    let (app, vhost) = ingest_only().await;
    let integration = app.create_stripe_integration().await;
    send_burst(&app, &integration, "term", BURST).await;
    let env = worker_env(&app, &app.db.url, &vhost);
    let first = Process::spawn("worker", &["worker"], &env);
    eventually(WAIT, "the worker to be busy", || async {
        processed(&app).await >= 200
    })
    .await;
    assert_eq!(first.terminate(), Some(0), "exit code after SIGTERM");
    assert!(
        processed(&app).await < BURST as u64,
        "SIGTERM came after the burst was done; nothing was proven"
    );
    let second = Process::spawn("worker", &["worker"], &env);
    assert_exactly_once(&app, BURST).await;
    assert_eq!(second.terminate(), Some(0));
    app.stop().await;
}
