//! The store's own test databases: migrated, SQLite in memory or a PostgreSQL database of
//! one test's own (for what only PostgreSQL does: array parameters, row locks between
//! transactions), dropped with the test.

use inlet_migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};

fn pg_admin_url() -> String {
    std::env::var("INLET_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A migrated database; a PostgreSQL one is dropped with it.
pub(crate) struct TestDb {
    pub(crate) db: DatabaseConnection,
    postgres: Option<String>,
}

impl TestDb {
    /// A fresh SQLite database in memory (one connection, as Inlet opens SQLite).
    pub(crate) async fn sqlite() -> Self {
        let db = crate::db::connect("sqlite::memory:", 1).await.unwrap();
        Migrator::up(&db, None).await.unwrap();
        Self { db, postgres: None }
    }

    /// A fresh PostgreSQL database (`INLET_TEST_POSTGRES_URL`, by default the local server),
    /// with a pool wide enough for transactions at once.
    pub(crate) async fn postgres() -> Self {
        let admin = Database::connect(pg_admin_url()).await.expect(
            "PostgreSQL is required at 127.0.0.1:5432 (set INLET_TEST_POSTGRES_URL); is it running?",
        );
        let name = format!("inlet_store_test_{}", uuid::Uuid::new_v4().simple());
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap();
        let _ = admin.close().await;
        let base = pg_admin_url();
        let (prefix, _) = base.rsplit_once('/').expect("a database URL");
        let db = crate::db::connect(&format!("{prefix}/{name}"), 4)
            .await
            .unwrap();
        // Dropped with `Self` even if migrating fails.
        let this = Self {
            db,
            postgres: Some(name),
        };
        Migrator::up(&this.db, None).await.unwrap();
        this
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.postgres.take() else {
            return;
        };
        // Drop cannot await: the drop runs on a runtime of its own, and `WITH (FORCE)` ends
        // the test's connections still open.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(admin) = Database::connect(pg_admin_url()).await {
                    let _ = admin
                        .execute_unprepared(&format!(
                            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                        ))
                        .await;
                    let _ = admin.close().await;
                }
            });
        })
        .join();
    }
}
