//! The `inlet` command line as an operator meets it, run as the real binary: a failure said
//! on one line with the right exit code, `dlq replay --dry-run`, `--output json`, shell
//! completions and the man page, and `send-test-event` from a folder with no database.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use inlet_shared::dead_letters::{self, Filter};
use inlet_shared::domain::{new_id, now_ms};
use inlet_shared::providers::Provider;
use inlet_shared::queue::{DeadLetterRecord, QueueMessage};
use serde_json::Value;

use crate::support::*;

/// Runs `inlet` with only `env` of the INLET_* settings (and no RUST_LOG: the defaults an
/// operator gets), in `cwd` when given; stdout and stderr are captured.
fn inlet(args: &[&str], env: &[(&str, String)], cwd: Option<&Path>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_inlet"));
    cmd.args(args).stdin(Stdio::null());
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("INLET_") || k == "RUST_LOG") {
        cmd.env_remove(k);
    }
    cmd.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    if let Some(cwd) = cwd {
        cmd.current_dir(cwd);
    }
    cmd.output().expect("run inlet")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A fresh, empty folder.
fn empty_folder(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("inlet-{name}-{}", random_suffix()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn dead_record(integration: &str, event_type: &str) -> DeadLetterRecord {
    let delivery_id = new_id("wh_");
    DeadLetterRecord {
        message: QueueMessage {
            idempotency_key: format!("evt_{delivery_id}"),
            delivery_id,
            integration_id: integration.to_owned(),
            provider: Provider::Stripe,
            event_type: event_type.into(),
            received_at_ms: now_ms(),
            body: b"{}".to_vec().into(),
            trace: Default::default(),
            kept_headers: None,
        },
        error: "gave up".into(),
        attempts: 8,
        first_failed_at_ms: 0,
        last_failed_at_ms: 0,
    }
}

#[test]
fn a_failure_is_said_once_on_one_line_with_its_exit_code() {
    // A database that cannot be opened: its folder would be inside a file.
    let file = std::env::temp_dir().join(format!("inlet-file-{}", random_suffix()));
    std::fs::write(&file, b"").unwrap();
    let url = format!("sqlite://{}/db/inlet.db?mode=rwc", file.display());
    let out = inlet(&["dlq", "list"], &[("INLET_DATABASE_URL", url)], None);
    let _ = std::fs::remove_file(&file);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("inlet: cannot connect to the database: "),
        "{stderr}"
    );

    // Nothing listens at --url: the line says where it looked and what to do.
    let port = free_port();
    let out = inlet(
        &[
            "send-test-event",
            "int_x",
            "customer.created",
            "--url",
            &format!("http://127.0.0.1:{port}"),
            "--api-key",
            "inlet_whatever",
        ],
        &[],
        None,
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "inlet: cannot reach Inlet at http://127.0.0.1:{port}: "
        )),
        "{stderr}"
    );
    assert!(
        stderr
            .trim_end()
            .ends_with("(is it running? pass --url to point at it)"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));

    // Usage errors are clap's: exit 2.
    let out = inlet(&["send-test-event", "int_x", "customer.created"], &[], None);
    assert_eq!(
        out.status.code(),
        Some(2),
        "no API key: {}",
        text(&out.stderr)
    );
    assert!(text(&out.stderr).contains("--api-key"));
    let out = inlet(&["dlq", "list", "--output", "yaml"], &[], None);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

#[test]
fn completions_and_the_man_page_come_from_the_command_definitions() {
    // Printed before the configuration is read: an unusable setting does not stop them.
    let bad = [("INLET_LISTEN", "not an address".to_owned())];
    let out = inlet(&["completions", "bash"], &bad, None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let script = text(&out.stdout);
    for word in [
        "serve",
        "dlq",
        "api-key",
        "send-test-event",
        "completions",
        "--dry-run",
    ] {
        assert!(script.contains(word), "{word} missing from:\n{script}");
    }
    let out = inlet(&["completions", "zsh"], &bad, None);
    assert!(text(&out.stdout).starts_with("#compdef inlet"));

    let out = inlet(&["man"], &bad, None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let page = text(&out.stdout);
    assert!(page.contains(".TH inlet 1"), "{page}");
    assert!(page.contains(".SH SUBCOMMANDS"), "{page}");
    for sub in [r"inlet\-serve", r"inlet\-dlq", r"inlet\-send\-test\-event"] {
        assert!(page.contains(sub), "{sub} missing from:\n{page}");
    }

    // Each subcommand's help ends with real examples.
    let out = inlet(&["dlq", "replay", "--help"], &bad, None);
    let help = text(&out.stdout);
    assert!(
        help.contains("Examples:\n  inlet dlq replay --all --dry-run"),
        "{help}"
    );
    let out = inlet(&["send-test-event", "--help"], &bad, None);
    let help = text(&out.stdout);
    assert!(
        help.contains("Examples:\n  inlet send-test-event int_"),
        "{help}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_counts_what_a_replay_would_take_and_changes_nothing() {
    let app = spawn_app(AppOptions::embedded_sqlite()).await;
    let db = &app.services.db;
    for (integration, event_type) in [
        ("int_dry_a", "customer.created"),
        ("int_dry_a", "customer.created"),
        ("int_dry_a", "invoice.paid"),
        ("int_dry_b", "customer.created"),
    ] {
        dead_letters::store(db, &dead_record(integration, event_type))
            .await
            .unwrap();
    }
    let env = [("INLET_DATABASE_URL", app.db.url.clone())];
    let out = inlet(&["dlq", "replay", "--all", "--dry-run"], &env, None);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let lines: Vec<Vec<&str>> = stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines[0].join(" "),
        "Would replay 4 dead letter(s).",
        "{stdout}"
    );
    assert_eq!(
        lines[1],
        ["INTEGRATION", "EVENT", "TYPE", "COUNT"],
        "{stdout}"
    );
    assert_eq!(
        lines[2..],
        [
            ["int_dry_a", "customer.created", "2"],
            ["int_dry_a", "invoice.paid", "1"],
            ["int_dry_b", "customer.created", "1"],
        ],
        "{stdout}"
    );
    let out = inlet(
        &["dlq", "replay", "--integration", "int_dry_b", "--dry-run"],
        &env,
        None,
    );
    assert!(
        text(&out.stdout).starts_with("Would replay 1 dead letter(s)."),
        "{}",
        text(&out.stdout)
    );
    let unreplayed = dead_letters::count(db, &Filter::default()).await.unwrap();
    assert_eq!(unreplayed, 4, "a dry run replayed something");

    // The real replay: the count on stdout, and no progress bar on a stderr that is no
    // terminal.
    let out = inlet(&["dlq", "replay", "--all"], &env, None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "Replayed 4 dead letter(s).");
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    assert_eq!(
        dead_letters::count(db, &Filter::default()).await.unwrap(),
        0
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_commands_print_one_json_document_without_secrets() {
    let app = spawn_app(AppOptions::embedded_sqlite()).await;
    dead_letters::store(
        &app.services.db,
        &dead_record("int_json", "customer.created"),
    )
    .await
    .unwrap();
    let env = [("INLET_DATABASE_URL", app.db.url.clone())];
    let out = inlet(&["dlq", "list", "--output", "json"], &env, None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let listed: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    let rows = listed.as_array().expect("an array");
    assert_eq!(rows.len(), 1, "{listed}");
    let row = &rows[0];
    assert!(row["id"].as_str().unwrap().starts_with("dl_"), "{row}");
    assert!(
        row["deliveryId"].as_str().unwrap().starts_with("wh_"),
        "{row}"
    );
    assert_eq!(row["integrationId"], "int_json");
    assert_eq!(row["eventType"], "customer.created");
    assert_eq!(row["provider"], "stripe");
    assert_eq!(row["attempts"], 8);
    assert_eq!(row["error"], "gave up");
    assert!(row["deadAt"].as_str().unwrap().ends_with('Z'), "{row}");
    assert!(row["replayedAt"].is_null(), "{row}");
    assert!(row.get("body").is_none(), "{row}");

    let out = inlet(&["api-key", "list", "--output", "json"], &env, None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        !stdout.contains(&app.api_key),
        "a key was printed: {stdout}"
    );
    let keys: Value = serde_json::from_str(&stdout).expect("one JSON document");
    let key = &keys.as_array().expect("an array")[0];
    let mut fields: Vec<&str> = key
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        ["createdAt", "id", "name", "prefix", "revokedAt"],
        "{key}"
    );
    assert!(
        app.api_key.starts_with(key["prefix"].as_str().unwrap()),
        "{key}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_test_event_needs_only_the_server_from_any_folder() {
    let app = spawn_app(AppOptions::embedded_sqlite()).await;
    let integration = app.create_stripe_integration().await;
    let folder = empty_folder("cli-cwd");
    let out = inlet(
        &[
            "send-test-event",
            &integration,
            "customer.created",
            "--email",
            "ada.cli@example.com",
            "--name",
            "Ada King Lovelace",
            "--url",
            &app.address,
        ],
        &[("INLET_API_KEY", app.api_key.clone())],
        Some(&folder),
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(stdout.starts_with("202 {"), "{stdout}");
    let contact = app
        .wait_for_contact("ada.cli@example.com", Duration::from_secs(20))
        .await;
    assert_eq!(contact["firstName"], "Ada", "{contact}");
    assert_eq!(contact["lastName"], "King Lovelace", "{contact}");
    assert!(
        !folder.join("data").exists(),
        "send-test-event opened a database in its folder"
    );

    // The server's refusal, on one line.
    let out = inlet(
        &[
            "send-test-event",
            "int_missing",
            "customer.created",
            "--url",
            &app.address,
            "--api-key",
            &app.api_key,
        ],
        &[],
        Some(&folder),
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr,
        "inlet: the server answered 404: No integration with this id.\n"
    );
    let _ = std::fs::remove_dir_all(&folder);
    app.stop().await;
}
