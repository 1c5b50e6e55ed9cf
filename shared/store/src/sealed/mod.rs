//! Secrets at rest: the one place that seals and opens stored secrets — integrations'
//! signing secrets (`integration_secrets`) and the installation's own keys
//! (`app_secrets`: the unsubscribe-link key, the console session key).
//!
//! A [`Vault`] holds the master keys from `INLET_MASTER_KEY` (and `…_PREVIOUS` during a
//! rotation), or on SQLite the key file beside the database; the envelope itself is
//! `inlet_core::sealing`. Start-up checks the keys against what is stored and seals what a
//! migration left in plain text ([`prepare`]); `inlet secrets rotate-master-key` re-seals
//! everything under the current key ([`rotate`]). No value, key or ciphertext is logged.

mod app;
mod key_file;
mod startup;

pub use app::app_secret;
pub use inlet_core::sealing::{Binding, KeyError, KeyId, Keyring, MasterKey, OpenError};
pub use key_file::{KEY_FILE_NAME, key_file_path};
pub use startup::{Prepared, Rotated, prepare, rotate};

use std::path::PathBuf;
use std::sync::Arc;

use inlet_core::sealing::{SealError, SecretKind, sealed_key_id};
use sea_orm::DbErr;
use secrecy::{ExposeSecret, SecretString};

use crate::config::Config;

/// Why secrets cannot be sealed, opened or checked. Never carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// PostgreSQL without a master key, plain text not allowed.
    #[error(
        "INLET_MASTER_KEY is not set: on PostgreSQL, stored secrets are sealed under a master key. Set it to 32 random bytes (`openssl rand -hex 32`; keep it safe, apart from the database backups), or, for development only, set INLET_ALLOW_PLAINTEXT_SECRETS=true"
    )]
    NoMasterKey,
    /// A previous key alone: nothing would seal.
    #[error(
        "INLET_MASTER_KEY_PREVIOUS is set without INLET_MASTER_KEY: a rotation needs the new key in INLET_MASTER_KEY"
    )]
    PreviousWithoutCurrent,
    /// The SQLite key file exists but cannot be read.
    #[error("cannot read the master key file {}: {source}", .path.display())]
    KeyFileRead {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The SQLite key file cannot be created.
    #[error("cannot create the master key file {}: {source}", .path.display())]
    KeyFileCreate {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The SQLite key file holds no key.
    #[error("the master key file {} does not hold a key: {source}", .path.display())]
    KeyFileContent {
        /// The file.
        path: PathBuf,
        /// What is wrong with its text.
        #[source]
        source: KeyError,
    },
    /// Stored values are sealed under keys this process was not given.
    #[error(
        "stored secrets are sealed under master key id(s) {}, but this process holds {held}: is INLET_MASTER_KEY the right key? Nothing was changed", join(.found)
    )]
    WrongKey {
        /// The unknown key ids found in the database.
        found: Vec<String>,
        /// The ids this process holds, and which setting gave each.
        held: String,
    },
    /// A stored value does not open.
    #[error("{what} {source}")]
    Open {
        /// Which value (kind and owner, never its content).
        what: String,
        /// Why.
        #[source]
        source: OpenError,
    },
    /// A value is still in plain text where only sealed ones are read.
    #[error("{what} is still stored in plain text; restart Inlet to seal it")]
    Plaintext {
        /// Which value.
        what: String,
    },
    /// A value could not be sealed.
    #[error("cannot seal {what}: {source}")]
    Seal {
        /// Which value.
        what: String,
        /// Why.
        #[source]
        source: SealError,
    },
    /// Rotation without a key to rotate to.
    #[error(
        "rotating needs the new key in INLET_MASTER_KEY (and the old one in INLET_MASTER_KEY_PREVIOUS)"
    )]
    RotateWithoutKey,
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] DbErr),
}

fn join(ids: &[String]) -> String {
    ids.join(", ")
}

/// What a process seals with: master keys, or — explicitly allowed, for development —
/// nothing. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Vault(Arc<Mode>);

#[derive(Debug)]
enum Mode {
    Sealed(Keyring),
    Plaintext,
}

/// A value as stored: its text and the key that sealed it (`None`: plain text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stored {
    pub(crate) value: String,
    pub(crate) key_id: Option<String>,
}

/// How a row is named in messages (never its content).
pub(crate) fn describe(binding: Binding<'_>) -> String {
    match binding.kind {
        SecretKind::Signing => format!("a signing secret of integration {}", binding.owner),
        SecretKind::App => format!("the installation secret {}", binding.owner),
    }
}

impl Vault {
    /// The vault the configuration asks for: `INLET_MASTER_KEY` (with
    /// `INLET_MASTER_KEY_PREVIOUS`); else on SQLite the key file beside the database
    /// (created on first start); else, on PostgreSQL, plain text only when
    /// `INLET_ALLOW_PLAINTEXT_SECRETS=true`, an error otherwise.
    pub fn from_config(config: &Config) -> Result<Self, VaultError> {
        let url = config.database_url.expose_secret();
        let current = match &config.master_key {
            Some(key) => Some(key.clone()),
            None if url.starts_with("sqlite:") => Some(key_file::load_or_create(url)?),
            None => None,
        };
        match current {
            Some(key) => Ok(Self::sealed(Keyring::new(
                key,
                config.master_key_previous.clone(),
            ))),
            None if config.master_key_previous.is_some() => Err(VaultError::PreviousWithoutCurrent),
            None if config.allow_plaintext_secrets => {
                tracing::warn!(
                    "INLET_ALLOW_PLAINTEXT_SECRETS=true and no INLET_MASTER_KEY: stored secrets are kept in plain text (development only)."
                );
                Ok(Self::plaintext())
            }
            None => Err(VaultError::NoMasterKey),
        }
    }

    /// Seals with `keyring`'s current key, opens with either.
    pub fn sealed(keyring: Keyring) -> Self {
        Self(Arc::new(Mode::Sealed(keyring)))
    }

    /// Under a random key that lives as long as the process (tests, in-memory databases).
    pub fn ephemeral() -> Self {
        Self::sealed(Keyring::new(MasterKey::generate(), None))
    }

    /// Stores secrets in plain text (`INLET_ALLOW_PLAINTEXT_SECRETS`).
    pub fn plaintext() -> Self {
        Self(Arc::new(Mode::Plaintext))
    }

    /// The keyring, unless secrets are kept in plain text.
    pub fn keyring(&self) -> Option<&Keyring> {
        match &*self.0 {
            Mode::Sealed(ring) => Some(ring),
            Mode::Plaintext => None,
        }
    }

    /// The ids held, each with the setting it came from, for messages.
    pub fn held(&self) -> String {
        match self.keyring() {
            None => "no master key".to_owned(),
            Some(ring) => match ring.previous_id() {
                None => format!("{} (the current key)", ring.current_id()),
                Some(previous) => format!(
                    "{} (INLET_MASTER_KEY) and {previous} (INLET_MASTER_KEY_PREVIOUS)",
                    ring.current_id()
                ),
            },
        }
    }

    /// Seals `plaintext` for its row (plain text stays as it is in a plain-text vault).
    pub(crate) fn seal(&self, binding: Binding<'_>, plaintext: &str) -> Result<Stored, VaultError> {
        match &*self.0 {
            Mode::Plaintext => Ok(Stored {
                value: plaintext.to_owned(),
                key_id: None,
            }),
            Mode::Sealed(ring) => {
                let sealed = ring
                    .seal(binding, plaintext)
                    .map_err(|source| VaultError::Seal {
                        what: describe(binding),
                        source,
                    })?;
                Ok(Stored {
                    value: sealed.text,
                    key_id: Some(sealed.key_id.as_str().to_owned()),
                })
            }
        }
    }

    /// Opens a stored value of its row. The row's `key_id` must agree with the key the
    /// value names: start-up's check of the keys reads the column alone.
    pub(crate) fn open(
        &self,
        binding: Binding<'_>,
        value: &str,
        key_id: Option<&str>,
    ) -> Result<SecretString, VaultError> {
        let opened = match (&*self.0, key_id) {
            (Mode::Plaintext, None) => return Ok(SecretString::from(value.to_owned())),
            (Mode::Sealed(_), None) => {
                return Err(VaultError::Plaintext {
                    what: describe(binding),
                });
            }
            (Mode::Plaintext, Some(id)) => {
                return Err(VaultError::WrongKey {
                    found: vec![id.to_owned()],
                    held: self.held(),
                });
            }
            (Mode::Sealed(ring), Some(id)) => match sealed_key_id(value) {
                Ok(named) if named.as_str() == id => ring.open(binding, value),
                Ok(_) => Err(OpenError::Tampered),
                Err(e) => Err(e),
            },
        };
        opened.map_err(|source| VaultError::Open {
            what: describe(binding),
            source,
        })
    }
}

#[cfg(test)]
mod tests;
