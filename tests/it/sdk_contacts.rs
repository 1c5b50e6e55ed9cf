//! The official `loops` SDK against Inlet's contact properties, suppression and event
//! patterns (tests/sdk/contacts2.test.mjs), as `api::loops_sdk_works_against_inlet` runs
//! tests/sdk/loops.test.mjs.

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
    run_sdk_file(
        "contacts2.test.mjs",
        vec![
            ("INLET_API_ROOT", format!("{}/api/", app.address)),
            ("INLET_API_KEY", app.api_key.clone()),
            ("INLET_SUPPRESSED_EMAIL", email.to_owned()),
        ],
        3,
    )
    .await;
    app.stop().await;
}
