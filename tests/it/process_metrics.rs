//! `GET /metrics` of the real `inlet serve` names its build and describes its process with
//! the standard `process_*` metrics, compared here with what `/proc/<pid>` says of it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::support::*;

/// The value of the sample `name` (no labels) in the text exposition.
fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_name_the_build_and_describe_the_process() {
    let db = TestDb::new(Backend::Sqlite).await;
    let (port, ops_port) = (free_port(), free_port());
    let before_start = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    let serve = Process::spawn(
        "serve",
        &["serve"],
        &[
            ("INLET_DATABASE_URL", db.url.clone()),
            ("INLET_LISTEN", format!("127.0.0.1:{port}")),
            ("INLET_OPS_LISTEN", format!("127.0.0.1:{ops_port}")),
            ("RUST_LOG", "warn".to_owned()),
        ],
    );
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{ops_port}/metrics");
    let text = eventually_some(Duration::from_secs(30), "the ops listener", || async {
        let r = client.get(&url).send().await.ok()?;
        (r.status() == 200).then_some(r.text().await.ok()?)
    })
    .await;

    let version = env!("CARGO_PKG_VERSION");
    assert!(
        text.contains(&format!("inlet_build_info{{version=\"{version}\"")),
        "{text}"
    );
    let build = text
        .lines()
        .find(|l| l.starts_with("inlet_build_info{"))
        .expect("build info");
    assert!(build.ends_with("} 1"), "{build}");

    let pid = serve.pid();
    // Serving from a few threads, with a database and listeners open: real figures.
    let resident = sample(&text, "process_resident_memory_bytes");
    assert!(resident > 4.0 * 1024.0 * 1024.0, "{resident}");
    assert!(sample(&text, "process_virtual_memory_bytes") >= resident);
    let open = sample(&text, "process_open_fds");
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("fds")
        .count();
    #[allow(clippy::cast_precision_loss)]
    let fds = fds as f64;
    // Within a few of what /proc shows a moment later (connections come and go).
    assert!(
        open >= 5.0 && (open - fds).abs() <= 8.0,
        "{open} against {fds}"
    );
    assert!(sample(&text, "process_max_fds") >= open);
    assert!(sample(&text, "process_threads") >= 2.0);
    let cpu = sample(&text, "process_cpu_seconds_total");
    assert!(cpu > 0.0 && cpu < 600.0, "{cpu}");
    let started = sample(&text, "process_start_time_seconds");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    // Clock ticks and the boot time's whole seconds: a second or two either side.
    assert!(
        started > before_start - 2.0 && started < now + 2.0,
        "started at {started}, spawned at {before_start}, now {now}"
    );
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert_eq!(serve.terminate(), Some(0));
}
