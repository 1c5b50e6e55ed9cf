//! Database access: connecting (SQLite or PostgreSQL) and the sea-orm entities.

pub mod entities;
mod transient;

pub use transient::{is_transient, is_unique_violation};

use std::time::Duration;

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr};

/// Connects to `url`. For SQLite, creates the file's folder, switches the database to WAL
/// and uses a single connection (PostgreSQL uses `pool`): SQLite has one writer, and one connection avoids
/// `SQLITE_BUSY` upgrades between pooled connections.
pub async fn connect(url: &str, pool: u32) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        // No idle reaper: sqlx 0.9's reaps idle and old connections in a loop bounded by a
        // count that a race can wrap to usize::MAX (launchbadge/sqlx#3645), which then spins
        // a runtime thread at 100% and hangs shutdown; it was seen here. A broken connection
        // is still replaced: sqlx pings one before handing it out.
        .idle_timeout(None)
        .max_lifetime(None)
        .sqlx_logging(false);
    if url.starts_with("sqlite:") {
        if let Some(dir) =
            sqlite_path(url).and_then(|p| p.parent().map(std::path::Path::to_path_buf))
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(&dir)
                .map_err(|e| DbErr::Custom(format!("cannot create {}: {e}", dir.display())))?;
        }
        options.max_connections(1).min_connections(1);
    } else {
        options.max_connections(pool.max(1)).min_connections(1);
    }
    let db = Database::connect(options).await?;
    if db.get_database_backend() == DbBackend::Sqlite {
        db.execute_unprepared(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
        )
        .await?;
    }
    Ok(db)
}

/// The file path inside a `sqlite://path?options` URL.
pub(crate) fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| std::path::PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    use super::sqlite_path;

    #[test]
    fn sqlite_paths_are_read_from_urls() {
        assert_eq!(
            sqlite_path("sqlite://./data/inlet.db?mode=rwc")
                .unwrap()
                .to_str(),
            Some("./data/inlet.db")
        );
        assert_eq!(
            sqlite_path("sqlite:/tmp/x.db").unwrap().to_str(),
            Some("/tmp/x.db")
        );
        assert!(sqlite_path("sqlite::memory:").is_none());
    }
}
