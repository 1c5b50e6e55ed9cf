//! The official `loops` SDK against Inlet's contact properties, suppression and event
//! patterns (tests/sdk/contacts2.test.mjs), as `api::loops_sdk_works_against_inlet` runs
//! tests/sdk/loops.test.mjs.

use std::process::Command;

use serde_json::json;

use crate::support::*;

/// The SDK's contact-property, suppression and event-pattern methods (tests/sdk/contacts2.test.mjs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loops_sdk_drives_properties_suppression_and_event_patterns() {
    let app = spawn_app(AppOptions::embedded_sqlite()).await;
    let email = "sdk.suppressed@example.com";
    let (status, created) = app
        .api_post(
            "/api/v1/contacts/create",
            json!({"email": email, "userId": "sdk-suppressed"}),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    // As a hard bounce leaves it (tests/it/email/suppression.rs sends one for real).
    inlet_shared::suppressions::suppress(&app.services.db, email, "550 test", 0)
        .await
        .unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk");
    assert!(
        dir.join("node_modules/loops").exists(),
        "the loops SDK is not installed: run `npm ci --prefix tests/sdk` (./scripts/test.sh does)"
    );
    let api_root = format!("{}/api/", app.address);
    let key = app.api_key.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .args(["--test", "contacts2.test.mjs"])
            .current_dir(dir)
            .env("INLET_API_ROOT", api_root)
            .env("INLET_API_KEY", key)
            .env("INLET_SUPPRESSED_EMAIL", email)
            .output()
            .expect("Node.js is required for the SDK test")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "loops SDK tests failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("# pass 3") && stdout.contains("# fail 0"),
        "{stdout}"
    );
    app.stop().await;
}
