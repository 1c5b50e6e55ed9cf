//! `inlet api-key create|list|revoke`: API keys are stored hashed and shown once.

use anyhow::bail;
use clap::Subcommand;
use inlet_shared::apikeys;
use inlet_shared::config::Config;
use inlet_shared::domain::format_ms;

/// `inlet api-key …`
#[derive(Subcommand)]
pub enum ApiKeyCommand {
    /// Creates a key and prints it once.
    Create {
        /// A name to tell keys apart.
        #[arg(long, default_value = "api key")]
        name: String,
    },
    /// Lists keys (id, name, first characters, created, revoked).
    List,
    /// Revokes a key by id; it stops working at once.
    Revoke {
        /// The key's id (`key_…`).
        id: String,
    },
}

/// Runs an `api-key` command.
pub async fn run(config: Config, command: ApiKeyCommand) -> anyhow::Result<()> {
    let db = crate::connect_database(&config).await?;
    match command {
        ApiKeyCommand::Create { name } => {
            let (id, key) = apikeys::create(&db, &name).await?;
            println!("Created API key {id} ({name}). Shown once, keep it:\n{key}");
        }
        ApiKeyCommand::List => {
            println!(
                "{:<36} {:<20} {:<14} {:<26} REVOKED",
                "ID", "NAME", "STARTS WITH", "CREATED"
            );
            for k in apikeys::list(&db).await? {
                let revoked = k.revoked_at.map(format_ms).unwrap_or_else(|| "-".into());
                println!(
                    "{:<36} {:<20} {:<14} {:<26} {revoked}",
                    k.id,
                    k.name,
                    k.prefix,
                    format_ms(k.created_at)
                );
            }
        }
        ApiKeyCommand::Revoke { id } => {
            if !apikeys::revoke(&db, &id).await? {
                bail!("no active API key {id}");
            }
            println!("Revoked API key {id}.");
        }
    }
    Ok(())
}
