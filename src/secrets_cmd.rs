//! `inlet secrets rotate-master-key`: re-seals every stored secret under `INLET_MASTER_KEY`,
//! opening those sealed under `INLET_MASTER_KEY_PREVIOUS`. Processes run with both keys
//! meanwhile, so nothing stops (docs/deploy, Secrets at rest).

use anyhow::Context;
use clap::Subcommand;
use inlet_shared::config::Config;
use inlet_shared::sealed::{self, Vault};

/// `inlet secrets …`
#[derive(Subcommand)]
pub enum SecretsCommand {
    /// Re-seals every stored secret under INLET_MASTER_KEY; values under
    /// INLET_MASTER_KEY_PREVIOUS (and any still in plain text) are opened and sealed again.
    #[command(
        after_help = "Example (both keys set while every process runs with both):
  INLET_MASTER_KEY=<new> INLET_MASTER_KEY_PREVIOUS=<old> inlet secrets rotate-master-key"
    )]
    RotateMasterKey,
}

/// Runs a `secrets` subcommand.
pub async fn run(config: Config, command: SecretsCommand) -> anyhow::Result<()> {
    match command {
        SecretsCommand::RotateMasterKey => {
            let vault = Vault::from_config(&config)?;
            let ring = vault
                .keyring()
                .ok_or(sealed::VaultError::RotateWithoutKey)?;
            let (current, previous) = (ring.current_id().clone(), ring.previous_id().cloned());
            let db = crate::connect_database(&config).await?;
            let rotated = sealed::rotate(&db, &vault)
                .await
                .context("nothing was re-sealed")?;
            println!(
                "Re-sealed {} secret(s) under master key {current}; {} already were.",
                rotated.resealed, rotated.unchanged
            );
            if let Some(previous) = previous {
                println!(
                    "Nothing is sealed under {previous} any more: restart every process without INLET_MASTER_KEY_PREVIOUS."
                );
            }
            Ok(())
        }
    }
}
