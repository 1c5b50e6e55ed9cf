//! Rotation with expiry: a roll gives the old secret `expiresAt`; once it passes, a
//! delivery signed with it gets the usual signature error while the new one verifies; the
//! API and console show each secret's age and expiry, never its value; the pruner's call
//! removes it.

use std::time::Duration;

use inlet_shared::domain::{format_ms, now_ms};
use serde_json::json;

use super::*;

const NEW: &str = "whsec_the_new_secret_after_the_roll_0123456789";

async fn an_expired_secret_is_refused_as_a_bad_signature(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = app_with(&db, backend, &[]).await;
    let id = app.create_stripe_integration().await;
    let secrets_path = format!("/api/v1/integrations/{id}/secrets");

    // A roll: the new secret is added and the old one expires shortly.
    let expiry = now_ms() + 2500;
    let (status, body) = app
        .api_post(
            &secrets_path,
            json!({"secret": NEW, "previousExpiresAt": format_ms(expiry)}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["secretCount"], 2);
    let (status, listed) = app.api_get(&secrets_path).await;
    assert_eq!(status, 200, "{listed}");
    let text = listed.to_string();
    assert!(
        !text.contains(STRIPE_SECRET) && !text.contains(NEW),
        "a value was shown"
    );
    assert_eq!(listed[0]["index"], 0);
    assert_eq!(listed[0]["expiresAt"], format_ms(expiry));
    assert_eq!(listed[0]["expired"], false);
    assert!(listed[0]["ageSeconds"].as_i64().unwrap() >= 0);
    assert_eq!(listed[1]["expiresAt"], Value::Null);
    let (_, view) = app.api_get(&format!("/api/v1/integrations/{id}")).await;
    assert_eq!(view["secrets"], listed, "{view}");
    assert!(!view.to_string().contains(STRIPE_SECRET));

    // Both verify until the expiry.
    assert_eq!(signed_delivery(&app, &id, STRIPE_SECRET).await.0, 202);
    assert_eq!(signed_delivery(&app, &id, NEW).await.0, 202);
    let wait = u64::try_from(expiry - now_ms() + 200).unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(wait)).await;

    // After it, the old secret is refused exactly as a wrong one is; the new one verifies.
    let expired = signed_delivery(&app, &id, STRIPE_SECRET).await;
    let wrong = signed_delivery(&app, &id, "whsec_never_a_secret_of_this_integration").await;
    assert_eq!(expired.0, 401, "{}", expired.1);
    assert_eq!(expired.1["message"], wrong.1["message"]);
    assert_eq!(expired.1["success"], false);
    assert_eq!(signed_delivery(&app, &id, NEW).await.0, 202);
    let (_, listed) = app.api_get(&secrets_path).await;
    assert_eq!(listed[0]["expired"], true);

    // An explicit expiry on one secret: in the future only; null clears it.
    let one = format!("{secrets_path}/1");
    for (body, status) in [
        (json!({"expiresAt": format_ms(now_ms() - 1000)}), 400),
        (json!({"expiresAt": "tomorrow"}), 400),
        (json!({"expiresAt": null, "value": "x"}), 400),
    ] {
        let (got, answer) = patch(&app, &one, body).await;
        assert_eq!(got, status, "{answer}");
    }
    let (got, _) = patch(
        &app,
        &format!("{secrets_path}/7"),
        json!({"expiresAt": null}),
    )
    .await;
    assert_eq!(got, 404);
    let later = now_ms() + 3_600_000;
    let (got, answer) = patch(&app, &one, json!({"expiresAt": format_ms(later)})).await;
    assert_eq!(
        (got, answer["expiresAt"].clone()),
        (200, json!(format_ms(later))),
        "{answer}"
    );
    let (got, answer) = patch(&app, &one, json!({"expiresAt": null})).await;
    assert_eq!(
        (got, answer["expiresAt"].clone()),
        (200, Value::Null),
        "{answer}"
    );

    // The console lists ages and expiries and sets one; no value is on the page.
    let mut console = Console::new(&app.address);
    console.login(&app.api_key).await;
    let page = format!("/console/integrations/{id}");
    let (status, html, _) = console.get(&page).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("expired ") && html.contains("never"),
        "{html}"
    );
    assert!(!html.contains(STRIPE_SECRET) && !html.contains(NEW));
    let csrf = field(&html, "_csrf");
    let (status, _, headers) = console
        .post(
            &format!("{page}/secrets/1/expiry"),
            &[("_csrf", &csrf), ("in", "24h")],
        )
        .await;
    assert_eq!(status, 303);
    assert!(
        headers["location"]
            .to_str()
            .unwrap()
            .ends_with("done=secret-expiry")
    );
    let (_, listed) = app.api_get(&secrets_path).await;
    assert!(listed[1]["expiresAt"].is_string(), "{listed}");

    // The pruner's call removes the expired one only.
    let pruned = inlet_shared::integrations::prune_expired_secrets(&app.services.db, now_ms())
        .await
        .unwrap();
    assert_eq!(pruned, 1);
    let (_, view) = app.api_get(&format!("/api/v1/integrations/{id}")).await;
    assert_eq!(view["secretCount"], 1);
    assert_eq!(signed_delivery(&app, &id, NEW).await.0, 202);
    app.stop().await;
}

async fn patch(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    let r = app
        .client
        .patch(format!("{}{path}", app.address))
        .bearer_auth(&app.api_key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_expired_secret_is_refused_as_a_bad_signature_postgres() {
    an_expired_secret_is_refused_as_a_bad_signature(Backend::Postgres).await;
}

#[tokio::test]
async fn an_expired_secret_is_refused_as_a_bad_signature_sqlite() {
    an_expired_secret_is_refused_as_a_bad_signature(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_past_previous_expiry_is_refused_and_nothing_is_added() {
    let app = spawn_app(AppOptions::embedded_postgres()).await;
    let id = app.create_stripe_integration().await;
    let (status, body) = app
        .api_post(
            &format!("/api/v1/integrations/{id}/secrets"),
            json!({"secret": NEW, "previousExpiresAt": format_ms(now_ms() - 1)}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("previousExpiresAt")
    );
    let (_, view) = app.api_get(&format!("/api/v1/integrations/{id}")).await;
    assert_eq!(view["secretCount"], 1);
    app.stop().await;
}
