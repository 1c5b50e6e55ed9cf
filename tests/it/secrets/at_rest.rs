//! What a backup holds: no signing secret in a `pg_dump` or in the SQLite files; and a
//! start-up with the wrong master key (or none, on PostgreSQL) stops with the key ids named
//! and leaves every row as it was.

use std::path::Path;

use serde_json::json;

use super::*;

const CLERK_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

/// Connects Stripe (with a second secret, as a rotation), Clerk and Supabase; returns the
/// secret values Inlet was given or made.
async fn integrations_with_secrets(app: &TestApp) -> Vec<String> {
    let id = app.create_stripe_integration().await;
    let rolled = "whsec_rolled_secret_of_the_at_rest_test_0123";
    let (status, added) = app
        .api_post(
            &format!("/api/v1/integrations/{id}/secrets"),
            json!({"secret": rolled}),
        )
        .await;
    assert_eq!(status, 201, "{added}");
    app.create_integration(
        json!({"provider": "clerk", "name": "Clerk", "signingSecrets": [CLERK_SECRET]}),
    )
    .await;
    let supabase = app
        .create_integration(json!({"provider": "supabase", "name": "Supabase"}))
        .await;
    let generated = supabase["secretHeader"]["value"]
        .as_str()
        .expect("the generated header, shown once")
        .to_owned();
    // A delivery still verifies with either Stripe secret.
    assert_eq!(signed_delivery(app, &id, STRIPE_SECRET).await.0, 202);
    assert_eq!(signed_delivery(app, &id, rolled).await.0, 202);
    vec![
        STRIPE_SECRET.to_owned(),
        rolled.to_owned(),
        CLERK_SECRET.to_owned(),
        generated,
    ]
}

fn assert_no_secret_in(what: &str, bytes: &[u8], secrets: &[String]) {
    let text = String::from_utf8_lossy(bytes);
    for secret in secrets {
        assert!(
            !text.contains(secret.as_str()),
            "{what} holds a secret in plain text"
        );
    }
    assert!(!text.contains("whsec_"), "{what} holds a whsec_ value");
}

#[tokio::test]
async fn a_pg_dump_holds_no_signing_secret() {
    let app = spawn_app(AppOptions::embedded_postgres()).await;
    let secrets = integrations_with_secrets(&app).await;
    // The console's session key too.
    let mut console = Console::new(&app.address);
    assert_eq!(console.login(&app.api_key).await.status().as_u16(), 303);
    let dump = Command::new("pg_dump")
        .args(["--dbname", &app.db.url, "--no-owner"])
        .output()
        .expect("pg_dump is installed with PostgreSQL's client");
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    assert_no_secret_in("pg_dump", &dump.stdout, &secrets);
    // The dump is of the rows: sealed values, under the tests' key, are in it.
    let text = String::from_utf8_lossy(&dump.stdout);
    let id = key_id(TEST_MASTER_KEY);
    assert!(
        text.matches(&format!("v1:{id}:")).count() >= 6,
        "sealed values missing"
    );
    assert!(text.contains("unsubscribe_key") && text.contains("console_session"));
    app.stop().await;
}

#[tokio::test]
async fn the_sqlite_files_hold_no_signing_secret_and_the_key_file_is_private() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = app_with(&db, Backend::Sqlite, &[]).await;
    let secrets = integrations_with_secrets(&app).await;
    app.stop().await;
    let path = db.url.trim_start_matches("sqlite://");
    let path = Path::new(path.split('?').next().unwrap());
    let dir = path.parent().unwrap();
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let file = entry.unwrap().path();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        if name == "inlet.master-key" {
            continue;
        }
        // The database and its write-ahead log (where recent pages are).
        assert!(name.starts_with("inlet.db"), "unexpected file {name}");
        assert_no_secret_in(&name, &std::fs::read(&file).unwrap(), &secrets);
        seen += 1;
    }
    assert!(seen >= 1);
    let key_file = dir.join("inlet.master-key");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the key file is readable by others");
    // The next start reuses it: every integration still verifies.
    let again = app_with(&db, Backend::Sqlite, &[]).await;
    let (_, list) = again.api_get("/api/v1/integrations").await;
    let stripe = list
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["provider"] == "stripe")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(signed_delivery(&again, &stripe, STRIPE_SECRET).await.0, 202);
    again.stop().await;
}

async fn a_wrong_master_key_fails_start_up_and_changes_nothing(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (right, right_id) = new_key();
    let app = app_with(&db, backend, &[("INLET_MASTER_KEY", &right)]).await;
    integrations_with_secrets(&app).await;
    let services_db = app.services.db.clone();
    app.stop().await;
    let before = secret_rows(&services_db).await;
    assert!(before.iter().all(|r| r.contains(&right_id)));

    let (wrong, wrong_id) = new_key();
    let url = db.url.as_str();
    for command in ["serve", "migrate", "worker", "ingest"] {
        let listen = format!("127.0.0.1:{}", free_port());
        let (code, _, stderr) = inlet(
            &[command],
            &[
                ("INLET_DATABASE_URL", url),
                ("INLET_MASTER_KEY", &wrong),
                ("INLET_LISTEN", &listen),
            ],
        );
        assert_eq!(
            code,
            Some(1),
            "inlet {command} started with a wrong key: {stderr}"
        );
        assert!(
            stderr.contains(&format!("sealed under master key id(s) {right_id}"))
                && stderr.contains(&wrong_id)
                && stderr.contains("Nothing was changed"),
            "inlet {command}: {stderr}"
        );
        assert!(
            !stderr.contains(&wrong) && !stderr.contains(&right),
            "a key was printed"
        );
    }
    // During a rotation gone wrong: neither key is the right one.
    let (other, _) = new_key();
    let (code, _, stderr) = inlet(
        &["secrets", "rotate-master-key"],
        &[
            ("INLET_DATABASE_URL", url),
            ("INLET_MASTER_KEY", &wrong),
            ("INLET_MASTER_KEY_PREVIOUS", &other),
        ],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains(&right_id), "{stderr}");
    if backend == Backend::Postgres {
        // No key at all, on PostgreSQL: refused before the database is touched.
        let (code, _, stderr) = inlet(&["migrate"], &[("INLET_DATABASE_URL", url)]);
        assert_eq!(code, Some(1), "{stderr}");
        assert!(stderr.contains("INLET_MASTER_KEY is not set"), "{stderr}");
    } else {
        // SQLite's key file is not the key these rows were sealed under either.
        let (code, _, stderr) = inlet(&["migrate"], &[("INLET_DATABASE_URL", url)]);
        assert_eq!(code, Some(1), "{stderr}");
        assert!(stderr.contains(&right_id), "{stderr}");
    }
    assert_eq!(
        secret_rows(&services_db).await,
        before,
        "a failed start changed rows"
    );
}

#[tokio::test]
async fn a_wrong_master_key_fails_start_up_and_changes_nothing_postgres() {
    a_wrong_master_key_fails_start_up_and_changes_nothing(Backend::Postgres).await;
}

#[tokio::test]
async fn a_wrong_master_key_fails_start_up_and_changes_nothing_sqlite() {
    a_wrong_master_key_fails_start_up_and_changes_nothing(Backend::Sqlite).await;
}

#[tokio::test]
async fn plain_text_on_postgres_is_development_only_and_sealed_once_a_key_is_given() {
    let db = TestDb::new(Backend::Postgres).await;
    let plain = app_with(
        &db,
        Backend::Postgres,
        &[
            ("INLET_MASTER_KEY", ""),
            ("INLET_ALLOW_PLAINTEXT_SECRETS", "true"),
        ],
    )
    .await;
    let id = plain.create_stripe_integration().await;
    let services_db = plain.services.db.clone();
    plain.stop().await;
    assert!(
        secret_rows(&services_db)
            .await
            .iter()
            .any(|r| r.contains(STRIPE_SECRET))
    );
    // Given a key, start-up seals what was left in plain text, and it still verifies.
    let sealed = app_with(&db, Backend::Postgres, &[]).await;
    let rows = secret_rows(&services_db).await;
    assert!(rows.iter().all(|r| !r.contains(STRIPE_SECRET)), "{rows:?}");
    assert_eq!(signed_delivery(&sealed, &id, STRIPE_SECRET).await.0, 202);
    sealed.stop().await;
}
