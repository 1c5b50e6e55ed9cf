//! `inlet secrets rotate-master-key` without downtime: every integration verifies before,
//! while a process holding both keys runs through the rotation, and after, under the new
//! key alone; the old key alone is then refused.

use serde_json::json;

use super::*;

async fn rotation_keeps_every_integration_verifying(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (old, old_id) = new_key();
    let (new, new_id) = new_key();

    let before = app_with(&db, backend, &[("INLET_MASTER_KEY", &old)]).await;
    let first = before.create_stripe_integration().await;
    assert_eq!(signed_delivery(&before, &first, STRIPE_SECRET).await.0, 202);
    before.stop().await;

    // Every process restarted with both keys: the old values open, new ones use the new key.
    let both = app_with(
        &db,
        backend,
        &[
            ("INLET_MASTER_KEY", &new),
            ("INLET_MASTER_KEY_PREVIOUS", &old),
        ],
    )
    .await;
    assert_eq!(signed_delivery(&both, &first, STRIPE_SECRET).await.0, 202);
    let second_secret = "whsec_second_integration_of_the_rotation_test";
    let second = both
        .create_integration(
            json!({"provider": "stripe", "name": "Second", "signingSecrets": [second_secret]}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let rows = secret_rows(&both.services.db).await;
    assert!(rows.iter().any(|r| r.contains(&old_id)) && rows.iter().any(|r| r.contains(&new_id)));

    // The rotation runs beside it; the running process never stops verifying.
    let (code, stdout, stderr) = inlet(
        &["secrets", "rotate-master-key"],
        &[
            ("INLET_DATABASE_URL", db.url.as_str()),
            ("INLET_MASTER_KEY", &new),
            ("INLET_MASTER_KEY_PREVIOUS", &old),
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains(&format!("under master key {new_id}")),
        "{stdout}"
    );
    assert!(stdout.contains(&old_id), "{stdout}");
    assert!(
        !stdout.contains(&new) && !stderr.contains(&old),
        "a key was printed"
    );
    let rows = secret_rows(&both.services.db).await;
    assert!(
        rows.iter()
            .all(|r| r.contains(&new_id) && !r.contains(&old_id)),
        "{rows:?}"
    );
    assert_eq!(signed_delivery(&both, &first, STRIPE_SECRET).await.0, 202);
    assert_eq!(signed_delivery(&both, &second, second_secret).await.0, 202);
    both.stop().await;

    // The new key alone: everything verifies; the old key alone no longer starts.
    let after = app_with(&db, backend, &[("INLET_MASTER_KEY", &new)]).await;
    assert_eq!(signed_delivery(&after, &first, STRIPE_SECRET).await.0, 202);
    assert_eq!(signed_delivery(&after, &second, second_secret).await.0, 202);
    let (code, _, stderr) = inlet(
        &["migrate"],
        &[
            ("INLET_DATABASE_URL", db.url.as_str()),
            ("INLET_MASTER_KEY", &old),
        ],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains(&new_id), "{stderr}");
    after.stop().await;
}

#[tokio::test]
async fn rotation_keeps_every_integration_verifying_postgres() {
    rotation_keeps_every_integration_verifying(Backend::Postgres).await;
}

#[tokio::test]
async fn rotation_keeps_every_integration_verifying_sqlite() {
    rotation_keeps_every_integration_verifying(Backend::Sqlite).await;
}
