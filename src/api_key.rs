//! `inlet api-key create|list|revoke`: API keys are stored hashed and shown once.

use anyhow::bail;
use clap::Subcommand;
use inlet_shared::apikeys;
use inlet_shared::config::Config;
use inlet_shared::db::entities::api_key;
use inlet_shared::domain::format_ms;
use serde::Serialize;

use crate::output::{Output, print_json};

/// `inlet api-key …`
#[derive(Subcommand)]
pub enum ApiKeyCommand {
    /// Creates a key and prints it once.
    #[command(after_help = "Example:\n  inlet api-key create --name ci")]
    Create {
        /// A name to tell keys apart.
        #[arg(long, default_value = "api key")]
        name: String,
    },
    /// Lists keys (id, name, first characters, created, revoked).
    #[command(after_help = "Examples:\n  inlet api-key list\n  inlet api-key list --output json")]
    List {
        /// `text` (a table) or `json` (one array on stdout).
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Revokes a key by id; it stops working at once.
    #[command(after_help = "Example:\n  inlet api-key revoke key_0123456789abcdef")]
    Revoke {
        /// The key's id (`key_…`).
        id: String,
    },
}

/// A key as `api-key list --output json` prints it: the prefix, never the key or its hash.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct KeyView {
    id: String,
    name: String,
    prefix: String,
    created_at: String,
    revoked_at: Option<String>,
}

impl From<api_key::Model> for KeyView {
    fn from(k: api_key::Model) -> Self {
        Self {
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            created_at: format_ms(k.created_at),
            revoked_at: k.revoked_at.map(format_ms),
        }
    }
}

/// Runs an `api-key` command.
pub async fn run(config: Config, command: ApiKeyCommand) -> anyhow::Result<()> {
    let db = crate::connect_database(&config).await?;
    match command {
        ApiKeyCommand::Create { name } => {
            let (id, key) = apikeys::create(&db, &name).await?;
            println!("Created API key {id} ({name}). Shown once, keep it:\n{key}");
        }
        ApiKeyCommand::List { output } => {
            let keys: Vec<KeyView> = apikeys::list(&db)
                .await?
                .into_iter()
                .map(KeyView::from)
                .collect();
            if output == Output::Json {
                return print_json(&keys);
            }
            println!(
                "{:<36} {:<20} {:<14} {:<26} REVOKED",
                "ID", "NAME", "STARTS WITH", "CREATED"
            );
            for k in keys {
                println!(
                    "{:<36} {:<20} {:<14} {:<26} {}",
                    k.id,
                    k.name,
                    k.prefix,
                    k.created_at,
                    k.revoked_at.as_deref().unwrap_or("-")
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
