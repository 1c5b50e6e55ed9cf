//! Embedded mode's master key: with SQLite and no `INLET_MASTER_KEY`, a key file beside
//! the database (`inlet.master-key`, mode 0600), made on the first start and read on every
//! later one. Backups of the database alone then hold no usable secret; the file must be
//! backed up on its own.

use std::io::Write;
use std::path::{Path, PathBuf};

use secrecy::ExposeSecret;

use super::{MasterKey, VaultError};
use crate::db::sqlite_path;

/// The key file's name, in the database's folder.
pub const KEY_FILE_NAME: &str = "inlet.master-key";

/// Where the key file of a `sqlite:` URL is; `None` for an in-memory database.
pub fn key_file_path(database_url: &str) -> Option<PathBuf> {
    if database_url.contains("mode=memory") {
        return None;
    }
    let db = sqlite_path(database_url)?;
    let dir = db.parent().map(Path::to_path_buf).unwrap_or_default();
    Some(dir.join(KEY_FILE_NAME))
}

/// The key in the database's key file, created (with a new random key) if there is none.
/// An in-memory database gets a key of its own that dies with it.
pub(super) fn load_or_create(database_url: &str) -> Result<MasterKey, VaultError> {
    let Some(path) = key_file_path(database_url) else {
        return Ok(MasterKey::generate());
    };
    match read(&path)? {
        Some(key) => {
            tracing::debug!(path = %path.display(), key_id = %key.id(), "Using the master key file.");
            Ok(key)
        }
        None => create(&path),
    }
}

/// The file's key, or `None` if there is no file.
fn read(path: &Path) -> Result<Option<MasterKey>, VaultError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(VaultError::KeyFileRead {
                path: path.to_owned(),
                source,
            });
        }
    };
    warn_if_readable_by_others(path);
    MasterKey::parse(&text)
        .map(Some)
        .map_err(|source| VaultError::KeyFileContent {
            path: path.to_owned(),
            source,
        })
}

/// Writes a new key to a file no one else can read, without replacing one that another
/// process made meanwhile (then that one is used). The key is written in full to a file
/// of this process's own and only then linked to its name, so a process starting at the
/// same moment finds either no file or a whole one — never one still being written.
fn create(path: &Path) -> Result<MasterKey, VaultError> {
    let failed = |source| VaultError::KeyFileCreate {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(failed)?;
    }
    let key = MasterKey::generate();
    let mut draft = path.as_os_str().to_owned();
    draft.push(format!(".{}.new", uuid::Uuid::new_v4().simple()));
    let draft = PathBuf::from(draft);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&draft).and_then(|mut file| {
        file.write_all(format!("{}\n", key.to_hex().expose_secret()).as_bytes())?;
        file.sync_all()
    });
    // A link fails if the name exists: exactly one process's key becomes the file's.
    let linked = written.and_then(|()| std::fs::hard_link(&draft, path));
    let _ = std::fs::remove_file(&draft);
    match linked {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return read(path)?.ok_or_else(|| failed(e));
        }
        Err(e) => return Err(failed(e)),
    }
    tracing::info!(
        path = %path.display(),
        key_id = %key.id(),
        "Created the master key file that seals this database's secrets; back it up apart from the database (without it they cannot be read), or set INLET_MASTER_KEY."
    );
    Ok(key)
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(path = %path.display(), "The master key file can be read by other users; `chmod 600` it.");
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_: &Path) {}
