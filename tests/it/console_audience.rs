//! The console's contact properties and suppressions pages: declaring a typed property (the
//! API's rules), listing suppressed addresses and removing one within the quota.

use serde_json::json;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn properties_are_declared_and_suppressions_removed_from_the_console() {
    let app = spawn_app(AppOptions::embedded_sqlite()).await;
    let mut console = Console::new(&app.address);
    console.login(&app.api_key).await;

    let csrf = console.csrf("/console/properties").await;
    let (status, _, _) = console
        .post(
            "/console/properties",
            &[("_csrf", &csrf), ("name", "planName"), ("type", "number")],
        )
        .await;
    assert_eq!(status, 303);
    let (status, html, _) = console
        .post(
            "/console/properties",
            &[("_csrf", &csrf), ("name", "Plan Name"), ("type", "string")],
        )
        .await;
    assert_eq!(status, 400);
    assert!(html.contains("camelCase"), "{html}");
    let (_, page, _) = console.get("/console/properties").await;
    assert!(page.contains("<code>planName</code>") && page.contains("<code>email</code>"));
    let (_, custom) = app.api_get("/api/v1/contacts/properties?list=custom").await;
    assert_eq!(
        custom,
        json!([{"key": "planName", "label": "Plan Name", "type": "number"}])
    );

    inlet_shared::suppressions::suppress(
        &app.services.db,
        "gone@example.com",
        "550 5.1.1 Mailbox unavailable",
        0,
    )
    .await
    .unwrap();
    let (_, page, _) = console.get("/console/suppressions").await;
    assert!(
        page.contains("gone@example.com") && page.contains("100 of 100"),
        "{page}"
    );
    let csrf = field(&page, "_csrf");
    let (status, _, _) = console
        .post(
            "/console/suppressions/remove",
            &[("_csrf", &csrf), ("email", "gone@example.com")],
        )
        .await;
    assert_eq!(status, 303);
    let (_, page, _) = console.get("/console/suppressions").await;
    assert!(
        !page.contains("gone@example.com") && page.contains("99 of 100"),
        "{page}"
    );
    let (status, html, _) = console
        .post(
            "/console/suppressions/remove",
            &[("_csrf", &csrf), ("email", "gone@example.com")],
        )
        .await;
    assert_eq!(status, 400);
    assert!(html.contains("is not suppressed"), "{html}");
    app.stop().await;
}
