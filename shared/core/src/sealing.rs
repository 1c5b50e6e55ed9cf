//! Sealed values: how a secret is kept encrypted at rest (pure, no I/O). AES-256-GCM under
//! a 32-byte master key, a random 96-bit nonce per value, and a self-describing text
//! `v1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>`.
//!
//! The key id (the first 8 bytes of the key's SHA-256, in hex) says which key sealed a
//! value, so one sealed under another key is recognised as such rather than failing as
//! garbage; the associated data binds a value to its row (kind and owner), so a sealed
//! value copied to another integration or another installation secret does not open.
//! The store's `sealed` module is the one caller.

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use rand::RngCore;
use secrecy::zeroize::Zeroize;
use secrecy::{CloneableSecret, ExposeSecret, SecretBox, SecretString};
use sha2::{Digest, Sha256};

/// Bytes of a master key.
pub const KEY_BYTES: usize = 32;
/// Bytes of a nonce (96 bits, GCM's own size).
const NONCE_BYTES: usize = 12;
/// Bytes of GCM's tag.
const TAG_BYTES: usize = 16;
/// Bytes of the key's SHA-256 kept as its id.
const KEY_ID_BYTES: usize = 8;
/// The format's version, first in every sealed value and in its associated data.
const VERSION: &str = "v1";

/// A master key's bytes, wiped when dropped.
#[derive(Clone)]
struct KeyBytes([u8; KEY_BYTES]);

impl Zeroize for KeyBytes {
    fn zeroize(&mut self) {
        self.0.zeroize();
    }
}

impl CloneableSecret for KeyBytes {}

/// Why a master key's text is not usable. Never carries the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Neither 64 hex characters nor base64.
    #[error("expected 32 random bytes as 64 hex characters or as base64")]
    Encoding,
    /// Decodes, but not to 32 bytes.
    #[error("expected 32 bytes, got {0} (make one with `openssl rand -hex 32`)")]
    Length(usize),
}

/// A key-encryption key (`INLET_MASTER_KEY`). `Debug` shows its id only.
#[derive(Clone)]
pub struct MasterKey {
    bytes: SecretBox<KeyBytes>,
    id: KeyId,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey({})", self.id)
    }
}

impl MasterKey {
    /// A key from its text: 64 hex characters, or base64 (standard or URL-safe, padded or
    /// not) of 32 bytes. Surrounding whitespace (a key file's newline) is ignored.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        let decoded = if text.len() == 2 * KEY_BYTES && text.bytes().all(|b| b.is_ascii_hexdigit())
        {
            hex::decode(text).map_err(|_| KeyError::Encoding)?
        } else {
            [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
                .iter()
                .find_map(|engine| engine.decode(text).ok())
                .ok_or(KeyError::Encoding)?
        };
        let length = decoded.len();
        let mut decoded = decoded;
        let bytes: Result<[u8; KEY_BYTES], _> = decoded.as_slice().try_into();
        decoded.zeroize();
        bytes
            .map(Self::from_bytes)
            .map_err(|_| KeyError::Length(length))
    }

    /// 32 random bytes.
    pub fn generate() -> Self {
        let mut bytes = [0u8; KEY_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        Self::from_bytes(bytes)
    }

    /// The key of these bytes (the array is wiped once copied in).
    pub fn from_bytes(mut bytes: [u8; KEY_BYTES]) -> Self {
        let digest = Sha256::digest(bytes);
        let id = KeyId(hex::encode(digest.get(..KEY_ID_BYTES).unwrap_or_default()));
        let key = Self {
            bytes: SecretBox::new(Box::new(KeyBytes(bytes))),
            id,
        };
        bytes.zeroize();
        key
    }

    /// Its id: the first 8 bytes of its SHA-256, in hex (16 characters).
    pub fn id(&self) -> &KeyId {
        &self.id
    }

    /// The key as 64 hex characters (what a key file holds).
    pub fn to_hex(&self) -> SecretString {
        SecretString::from(hex::encode(self.bytes.expose_secret().0))
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&self.bytes.expose_secret().0))
    }
}

/// Which key sealed a value: 16 lowercase hex characters. Not secret.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(String);

impl KeyId {
    /// A key id as stored, if it has the form of one.
    pub fn parse(text: &str) -> Option<Self> {
        let valid = text.len() == 2 * KEY_ID_BYTES
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        valid.then(|| Self(text.to_owned()))
    }

    /// The id's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What kind of row a sealed value belongs to (part of its associated data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    /// An integration's signing secret (`integration_secrets`); its owner is the
    /// integration's id.
    Signing,
    /// A secret of the installation (`app_secrets`); its owner is the secret's name.
    App,
}

impl SecretKind {
    fn label(self) -> &'static str {
        match self {
            Self::Signing => "integration_secret",
            Self::App => "app_secret",
        }
    }
}

/// The row a value is sealed for: opening it for any other fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding<'a> {
    /// The kind of row.
    pub kind: SecretKind,
    /// The integration's id or the installation secret's name.
    pub owner: &'a str,
}

impl<'a> Binding<'a> {
    /// A signing secret of the integration `integration_id`.
    pub fn signing(integration_id: &'a str) -> Self {
        Self {
            kind: SecretKind::Signing,
            owner: integration_id,
        }
    }

    /// The installation secret named `name`.
    pub fn app(name: &'a str) -> Self {
        Self {
            kind: SecretKind::App,
            owner: name,
        }
    }

    /// The associated data: version, kind and owner, each length-prefixed so no two
    /// bindings give the same bytes.
    fn aad(&self) -> Vec<u8> {
        let mut aad = Vec::new();
        for part in [VERSION, self.kind.label(), self.owner] {
            aad.extend_from_slice(&(part.len() as u64).to_be_bytes());
            aad.extend_from_slice(part.as_bytes());
        }
        aad
    }
}

/// Why a stored value does not open. Never carries the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// Not `v1:<key id>:<base64>` at all (or truncated).
    #[error("is not a sealed value (expected v1:<key id>:<data>)")]
    Malformed,
    /// A later format than this version of Inlet reads.
    #[error("is sealed in a format this version of Inlet cannot read")]
    UnknownVersion,
    /// Sealed under a key this process was not given.
    #[error(
        "is sealed under key {0}, which is neither INLET_MASTER_KEY nor INLET_MASTER_KEY_PREVIOUS"
    )]
    UnknownKey(KeyId),
    /// The right key, but the value was altered or belongs to another row.
    #[error("does not decrypt: it was altered, or copied from another row")]
    Tampered,
    /// Decrypts, but not to text.
    #[error("decrypts to bytes that are not UTF-8 text")]
    NotText,
}

/// A value too long for AES-GCM (over 64 GiB): no secret is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("is too long to seal")]
pub struct SealError;

/// A freshly sealed value and the key that sealed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The stored text, `v1:<key id>:<data>`.
    pub text: String,
    /// The key that sealed it (the current one).
    pub key_id: KeyId,
}

/// The master keys a process holds: the current one seals, either opens.
#[derive(Debug, Clone)]
pub struct Keyring {
    current: MasterKey,
    previous: Option<MasterKey>,
}

impl Keyring {
    /// Seals with `current`; opens with `current` or `previous` (during a rotation). A
    /// previous key equal to the current one is dropped.
    pub fn new(current: MasterKey, previous: Option<MasterKey>) -> Self {
        let previous = previous.filter(|p| p.id != current.id);
        Self { current, previous }
    }

    /// The id of the key that seals.
    pub fn current_id(&self) -> &KeyId {
        &self.current.id
    }

    /// The id of the previous key, if one is held.
    pub fn previous_id(&self) -> Option<&KeyId> {
        self.previous.as_ref().map(|k| &k.id)
    }

    /// Whether a value sealed under `id` opens here.
    pub fn knows(&self, id: &KeyId) -> bool {
        self.key(id).is_some()
    }

    fn key(&self, id: &KeyId) -> Option<&MasterKey> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| &k.id == id)
    }

    /// Seals `plaintext` for `binding` under the current key, with a fresh random nonce.
    pub fn seal(&self, binding: Binding<'_>, plaintext: &str) -> Result<Sealed, SealError> {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rng().fill_bytes(&mut nonce);
        let aad = binding.aad();
        let payload = Payload {
            msg: plaintext.as_bytes(),
            aad: &aad,
        };
        // GCM refuses only inputs over 64 GiB.
        let ciphertext = self
            .current
            .cipher()
            .encrypt(Nonce::from_slice(&nonce), payload)
            .map_err(|_| SealError)?;
        let mut data = Vec::with_capacity(NONCE_BYTES + ciphertext.len());
        data.extend_from_slice(&nonce);
        data.extend_from_slice(&ciphertext);
        Ok(Sealed {
            text: format!(
                "{VERSION}:{}:{}",
                self.current.id,
                URL_SAFE_NO_PAD.encode(&data)
            ),
            key_id: self.current.id.clone(),
        })
    }

    /// Opens a stored value sealed for `binding`, under whichever held key sealed it.
    pub fn open(&self, binding: Binding<'_>, stored: &str) -> Result<SecretString, OpenError> {
        let envelope = Envelope::parse(stored)?;
        let key = self
            .key(&envelope.key_id)
            .ok_or_else(|| OpenError::UnknownKey(envelope.key_id.clone()))?;
        let data = URL_SAFE_NO_PAD
            .decode(envelope.data)
            .map_err(|_| OpenError::Malformed)?;
        let (nonce, ciphertext) = data
            .split_at_checked(NONCE_BYTES)
            .filter(|(_, c)| c.len() >= TAG_BYTES)
            .ok_or(OpenError::Malformed)?;
        let aad = binding.aad();
        let plaintext = key
            .cipher()
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| OpenError::Tampered)?;
        String::from_utf8(plaintext)
            .map(SecretString::from)
            .map_err(|e| {
                let mut bytes = e.into_bytes();
                bytes.zeroize();
                OpenError::NotText
            })
    }
}

/// The key id a stored value names, read without opening it.
pub fn sealed_key_id(stored: &str) -> Result<KeyId, OpenError> {
    Envelope::parse(stored).map(|e| e.key_id)
}

/// A stored value's three parts.
struct Envelope<'a> {
    key_id: KeyId,
    data: &'a str,
}

impl<'a> Envelope<'a> {
    fn parse(stored: &'a str) -> Result<Self, OpenError> {
        let mut parts = stored.splitn(3, ':');
        let (Some(version), Some(key_id), Some(data)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(OpenError::Malformed);
        };
        if version != VERSION {
            // `v2:…` is a later format; anything else is no sealed value.
            let later = version.len() > 1
                && version.starts_with('v')
                && version.bytes().skip(1).all(|b| b.is_ascii_digit());
            return Err(if later {
                OpenError::UnknownVersion
            } else {
                OpenError::Malformed
            });
        }
        let key_id = KeyId::parse(key_id).ok_or(OpenError::Malformed)?;
        Ok(Self { key_id, data })
    }
}

#[cfg(test)]
mod tests;
