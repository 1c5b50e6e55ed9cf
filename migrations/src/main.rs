//! Standalone migration runner: `inlet-migrate [up|down|status]` against
//! `INLET_DATABASE_URL`. `inlet migrate` does the same from the main binary.

use inlet_migrations::{Migrator, MigratorTrait};
use sea_orm_migration::sea_orm::Database;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let url = std::env::var("INLET_DATABASE_URL")
        .unwrap_or_else(|_| "sqlite://./data/inlet.db?mode=rwc".into());
    let command = std::env::args().nth(1).unwrap_or_else(|| "up".into());
    let result = async {
        let db = Database::connect(&url).await?;
        match command.as_str() {
            "up" => Migrator::up(&db, None).await,
            "down" => Migrator::down(&db, Some(1)).await,
            "status" => Migrator::status(&db).await,
            other => Err(sea_orm_migration::DbErr::Custom(format!(
                "unknown command {other}; use up, down or status"
            ))),
        }
    }
    .await;
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("migration failed: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
