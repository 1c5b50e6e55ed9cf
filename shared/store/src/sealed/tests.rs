//! The vault against real databases (SQLite and PostgreSQL): what is written is sealed,
//! start-up seals plain text left by a migration, a wrong key changes nothing, rotation
//! re-seals everything; and where the embedded key file is made.

use sea_orm::{ActiveValue::Set, DatabaseConnection, EntityTrait, QueryOrder};
use secrecy::ExposeSecret;

use super::*;
use crate::db::entities::{app_secret, integration, integration_secret};
use crate::integrations::secrets;
use crate::test_db::TestDb;

const SECRET: &str = "whsec_vault_test_0123456789abcdef";

async fn integration(db: &DatabaseConnection, id: &str) {
    integration::Entity::insert(integration::ActiveModel {
        id: Set(id.to_owned()),
        provider: Set("stripe".into()),
        name: Set("t".into()),
        events: Set("{}".into()),
        created_at: Set(1),
        updated_at: Set(1),
    })
    .exec_without_returning(db)
    .await
    .unwrap();
}

/// Rows as a migration leaves them: plain text, no key id.
async fn plaintext_rows(db: &DatabaseConnection) {
    integration(db, "int_plain").await;
    integration_secret::Entity::insert(integration_secret::ActiveModel {
        integration_id: Set("int_plain".into()),
        secret: Set(SECRET.into()),
        created_at: Set(1),
        ..Default::default()
    })
    .exec_without_returning(db)
    .await
    .unwrap();
    app_secret::Entity::insert(app_secret::ActiveModel {
        name: Set("unsubscribe_key".into()),
        value: Set("plain-app-key".into()),
        created_at: Set(1),
        key_id: Set(None),
    })
    .exec_without_returning(db)
    .await
    .unwrap();
}

/// Every stored secret row, as text, to compare byte for byte.
async fn snapshot(db: &DatabaseConnection) -> Vec<String> {
    let signing = integration_secret::Entity::find()
        .order_by_asc(integration_secret::Column::Id)
        .all(db)
        .await
        .unwrap();
    let app = app_secret::Entity::find()
        .order_by_asc(app_secret::Column::Name)
        .all(db)
        .await
        .unwrap();
    signing
        .iter()
        .map(|r| format!("{r:?}"))
        .chain(app.iter().map(|r| format!("{r:?}")))
        .collect()
}

fn vault_of(key: &MasterKey, previous: Option<&MasterKey>) -> Vault {
    Vault::sealed(Keyring::new(key.clone(), previous.cloned()))
}

async fn plaintext_is_sealed_once_and_opens(db: TestDb) {
    let db = &db.db;
    plaintext_rows(db).await;
    let key = MasterKey::generate();
    let vault = vault_of(&key, None);
    let prepared = prepare(db, &vault).await.unwrap();
    assert_eq!(
        prepared,
        Prepared {
            sealed: 2,
            plaintext: 0
        }
    );
    let rows = snapshot(db).await;
    assert!(
        rows.iter()
            .all(|r| !r.contains(SECRET) && !r.contains("plain-app-key")),
        "{rows:?}"
    );
    assert!(
        rows.iter().all(|r| r.contains(key.id().as_str())),
        "{rows:?}"
    );
    // The cache's view and the installation key both open.
    let newest = secrets::newest_usable(db, &vault, "int_plain", 2)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(newest.expose_secret(), SECRET);
    let app = app_secret(db, &vault, "unsubscribe_key").await.unwrap();
    assert_eq!(app.expose_secret(), "plain-app-key");
    // Nothing left to seal.
    assert_eq!(prepare(db, &vault).await.unwrap(), Prepared::default());
}

#[tokio::test]
async fn plaintext_is_sealed_once_and_opens_sqlite() {
    plaintext_is_sealed_once_and_opens(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn plaintext_is_sealed_once_and_opens_postgres() {
    plaintext_is_sealed_once_and_opens(TestDb::postgres().await).await;
}

async fn a_wrong_key_is_named_and_changes_nothing(db: TestDb) {
    let db = &db.db;
    let right = MasterKey::generate();
    let right_vault = vault_of(&right, None);
    integration(db, "int_a").await;
    secrets::add(db, &right_vault, "int_a", SECRET, 1, None)
        .await
        .unwrap();
    app_secret(db, &right_vault, "console_session")
        .await
        .unwrap();
    // And a plain-text row, which a successful start would seal.
    plaintext_rows(db).await;
    let before = snapshot(db).await;

    let wrong = MasterKey::generate();
    for vault in [
        vault_of(&wrong, None),
        vault_of(&wrong, Some(&MasterKey::generate())),
        Vault::plaintext(),
    ] {
        let err = prepare(db, &vault).await.unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, VaultError::WrongKey { .. }), "{message}");
        assert!(message.contains(right.id().as_str()), "{message}");
        if let Some(ring) = vault.keyring() {
            assert!(message.contains(ring.current_id().as_str()), "{message}");
        }
        assert!(!message.contains(SECRET), "{message}");
        let err = rotate(db, &vault).await.unwrap_err();
        assert!(
            matches!(
                err,
                VaultError::WrongKey { .. } | VaultError::RotateWithoutKey
            ),
            "{err}"
        );
        assert_eq!(snapshot(db).await, before, "a wrong key changed rows");
    }
    // A wrong key's cache skips the secret rather than guessing.
    let err = secrets::newest_usable(db, &vault_of(&wrong, None), "int_a", 2)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            VaultError::Open {
                source: OpenError::UnknownKey(_),
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn a_wrong_key_is_named_and_changes_nothing_sqlite() {
    a_wrong_key_is_named_and_changes_nothing(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn a_wrong_key_is_named_and_changes_nothing_postgres() {
    a_wrong_key_is_named_and_changes_nothing(TestDb::postgres().await).await;
}

async fn rotation_reseals_everything_under_the_new_key(db: TestDb) {
    let db = &db.db;
    let old = MasterKey::generate();
    let new = MasterKey::generate();
    let old_vault = vault_of(&old, None);
    integration(db, "int_a").await;
    secrets::add(db, &old_vault, "int_a", SECRET, 1, None)
        .await
        .unwrap();
    let app_before = app_secret(db, &old_vault, "console_session").await.unwrap();
    plaintext_rows(db).await;

    // During the rotation, both keys open and new values use the new one.
    let both = vault_of(&new, Some(&old));
    integration(db, "int_b").await;
    secrets::add(db, &both, "int_b", "whsec_b", 1, None)
        .await
        .unwrap();
    let rotated = rotate(db, &both).await.unwrap();
    assert_eq!(
        rotated,
        Rotated {
            resealed: 4,
            unchanged: 1
        }
    );
    assert_eq!(
        rotate(db, &both).await.unwrap(),
        Rotated {
            resealed: 0,
            unchanged: 5
        }
    );

    // The new key alone now opens every value, and the old one none.
    let new_only = vault_of(&new, None);
    prepare(db, &new_only).await.unwrap();
    for (id, secret) in [
        ("int_a", SECRET),
        ("int_b", "whsec_b"),
        ("int_plain", SECRET),
    ] {
        let opened = secrets::newest_usable(db, &new_only, id, 2)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(opened.expose_secret(), secret);
    }
    let app_after = app_secret(db, &new_only, "console_session").await.unwrap();
    assert_eq!(app_after.expose_secret(), app_before.expose_secret());
    assert!(prepare(db, &old_vault).await.is_err());
}

#[tokio::test]
async fn rotation_reseals_everything_under_the_new_key_sqlite() {
    rotation_reseals_everything_under_the_new_key(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn rotation_reseals_everything_under_the_new_key_postgres() {
    rotation_reseals_everything_under_the_new_key(TestDb::postgres().await).await;
}

#[tokio::test]
async fn a_value_moved_to_another_row_or_relabelled_does_not_open() {
    let db = TestDb::sqlite().await;
    let db = &db.db;
    let vault = Vault::ephemeral();
    integration(db, "int_a").await;
    integration(db, "int_b").await;
    secrets::add(db, &vault, "int_a", SECRET, 1, None)
        .await
        .unwrap();
    let row = integration_secret::Entity::find()
        .one(db)
        .await
        .unwrap()
        .unwrap();
    // Copied to another integration.
    let err = vault
        .open(
            Binding::signing("int_b"),
            &row.secret,
            row.key_id.as_deref(),
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            VaultError::Open {
                source: OpenError::Tampered,
                ..
            }
        ),
        "{err}"
    );
    // A key id column that disagrees with the value.
    let err = vault
        .open(
            Binding::signing("int_a"),
            &row.secret,
            Some("0123456789abcdef"),
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            VaultError::Open {
                source: OpenError::Tampered,
                ..
            }
        ),
        "{err}"
    );
    // A sealed vault reads no plain text; a plain-text one reads nothing sealed.
    let err = vault
        .open(Binding::signing("int_a"), SECRET, None)
        .unwrap_err();
    assert!(matches!(err, VaultError::Plaintext { .. }), "{err}");
    let err = Vault::plaintext()
        .open(
            Binding::signing("int_a"),
            &row.secret,
            row.key_id.as_deref(),
        )
        .unwrap_err();
    assert!(matches!(err, VaultError::WrongKey { .. }), "{err}");
}

#[tokio::test]
async fn a_plaintext_vault_stores_and_reports_plain_text() {
    let db = TestDb::sqlite().await;
    let db = &db.db;
    let vault = Vault::plaintext();
    let key = app_secret(db, &vault, "console_session").await.unwrap();
    let row = app_secret::Entity::find().one(db).await.unwrap().unwrap();
    assert_eq!(
        (row.value.as_str(), row.key_id),
        (key.expose_secret(), None)
    );
    assert_eq!(
        prepare(db, &vault).await.unwrap(),
        Prepared {
            sealed: 0,
            plaintext: 1
        }
    );
    assert!(matches!(
        rotate(db, &vault).await,
        Err(VaultError::RotateWithoutKey)
    ));
}

fn config(vars: &[(&str, &str)]) -> Config {
    Config::from_vars(vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))).unwrap()
}

#[test]
fn sqlite_without_a_key_makes_a_private_key_file_and_reuses_it() {
    let dir = std::env::temp_dir().join(format!("inlet-vault-{}", uuid::Uuid::new_v4().simple()));
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.join("sub").join("inlet.db").display()
    );
    let cfg = config(&[("INLET_DATABASE_URL", &url)]);
    let first = Vault::from_config(&cfg).unwrap();
    let path = dir.join("sub").join(KEY_FILE_NAME);
    assert_eq!(key_file_path(&url), Some(path.clone()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let again = Vault::from_config(&cfg).unwrap();
    let id = |v: &Vault| v.keyring().unwrap().current_id().clone();
    assert_eq!(id(&first), id(&again));
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(MasterKey::parse(&text).unwrap().id(), &id(&first));
    // INLET_MASTER_KEY wins over the file.
    let given = MasterKey::generate();
    let hex = given.to_hex();
    let cfg_key = config(&[
        ("INLET_DATABASE_URL", &url),
        ("INLET_MASTER_KEY", hex.expose_secret()),
    ]);
    assert_eq!(&id(&Vault::from_config(&cfg_key).unwrap()), given.id());
    // A file that holds no key is named, not replaced.
    std::fs::write(&path, "garbage").unwrap();
    let err = Vault::from_config(&cfg).unwrap_err();
    assert!(matches!(err, VaultError::KeyFileContent { .. }), "{err}");
    assert!(err.to_string().contains(KEY_FILE_NAME), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "garbage");
    std::fs::remove_dir_all(&dir).unwrap();
    // An in-memory database has no file.
    assert_eq!(key_file_path("sqlite::memory:"), None);
}

/// Processes starting together on a new database: every one ends with the same key, the
/// one file holds it, and no half-written file is ever read.
#[test]
fn processes_starting_together_share_one_key_file() {
    for _ in 0..20 {
        let dir =
            std::env::temp_dir().join(format!("inlet-vault-{}", uuid::Uuid::new_v4().simple()));
        let url = format!("sqlite://{}?mode=rwc", dir.join("inlet.db").display());
        let ids: Vec<_> = std::thread::scope(|scope| {
            let starts: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| key_file::load_or_create(&url).map(|k| k.id().clone())))
                .collect();
            starts
                .into_iter()
                .map(|s| s.join().expect("no panic").expect("a key"))
                .collect()
        });
        let text = std::fs::read_to_string(dir.join(KEY_FILE_NAME)).unwrap();
        let stored = MasterKey::parse(&text).unwrap().id().clone();
        assert!(ids.iter().all(|id| *id == stored), "{ids:?} vs {stored:?}");
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(left.len(), 1, "only the key file is left: {left:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn postgres_needs_a_key_unless_plain_text_is_allowed() {
    let pg = ("INLET_DATABASE_URL", "postgres://u@db/inlet");
    let err = Vault::from_config(&config(&[pg])).unwrap_err();
    assert!(matches!(err, VaultError::NoMasterKey), "{err}");
    assert!(
        err.to_string().contains("INLET_ALLOW_PLAINTEXT_SECRETS"),
        "{err}"
    );
    let allowed = config(&[pg, ("INLET_ALLOW_PLAINTEXT_SECRETS", "true")]);
    assert!(Vault::from_config(&allowed).unwrap().keyring().is_none());
    let hex = MasterKey::generate().to_hex();
    let previous_only = config(&[pg, ("INLET_MASTER_KEY_PREVIOUS", hex.expose_secret())]);
    let err = Vault::from_config(&previous_only).unwrap_err();
    assert!(matches!(err, VaultError::PreviousWithoutCurrent), "{err}");
    let current = MasterKey::generate().to_hex();
    let both = config(&[
        pg,
        ("INLET_MASTER_KEY", current.expose_secret()),
        ("INLET_MASTER_KEY_PREVIOUS", hex.expose_secret()),
    ]);
    let vault = Vault::from_config(&both).unwrap();
    assert!(vault.keyring().unwrap().previous_id().is_some());
    assert!(vault.held().contains("INLET_MASTER_KEY_PREVIOUS"));
}
