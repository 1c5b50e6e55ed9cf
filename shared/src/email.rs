//! Email: rendering templates within bounds of output, fuel and time (`render`, `limits`),
//! senders checked before lettre sees them, signed unsubscribe links, and the mailer — SMTP
//! through lettre when `INLET_SMTP_URL` is set, otherwise `.eml` files in the outbox folder.

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use lettre::message::MultiPart;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use crate::config::{Config, ConfigError};
use crate::db::entities::app_secret;
use crate::domain::now_ms;

mod limits;
mod render;

/// A sender or recipient, as lettre writes it (re-exported: callers need not name lettre).
pub use lettre::message::Mailbox;

pub use limits::{
    DEFAULT_MAX_BYTES, Part, RENDER_SLOTS, RENDER_TIMEOUT, RenderError, RenderLimits,
};
pub use render::{
    Rendered, SAMPLE_EMAIL, SAMPLE_UNSUBSCRIBE_URL, context, render, sample_contact,
    sample_context, sample_event_properties,
};

/// How long one SMTP conversation may take before it counts as a (transient) failure.
const SMTP_TIMEOUT: Duration = Duration::from_secs(15);

/// Why an email could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Worth retrying: the server is unreachable, timed out or answered 4xx.
    #[error("{0}")]
    Transient(String),
    /// Retrying will not help: the server answered 5xx, or the message cannot be built.
    #[error("{0}")]
    Permanent(String),
}

impl SendError {
    /// True for failures worth retrying.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient(_))
    }
}

impl From<RenderError> for SendError {
    fn from(e: RenderError) -> Self {
        if e.is_transient() {
            Self::Transient(e.to_string())
        } else {
            Self::Permanent(e.to_string())
        }
    }
}

/// Why a mailbox cannot be put in a message ([`SenderError::field`] names the template field
/// when it is a template's sender).
#[derive(Debug, thiserror::Error)]
pub enum SenderError {
    /// Not an address lettre accepts.
    #[error("is not a usable email address: {0}")]
    Address(#[source] lettre::address::AddressError),
    /// The display name cannot be written in a header.
    #[error("cannot be written in an email header (it has a line break)")]
    Name,
}

impl SenderError {
    /// The template field at fault.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Address(_) => "fromEmail",
            Self::Name => "fromName",
        }
    }
}

/// The sender `name <address>`, built as the message will carry it and checked as lettre
/// will write it.
pub fn sender(name: Option<&str>, address: &str) -> Result<Mailbox, SenderError> {
    let address: lettre::Address = address.trim().parse().map_err(SenderError::Address)?;
    let mailbox = Mailbox::new(name.map(str::to_owned), address);
    writable(&mailbox)?;
    Ok(mailbox)
}

/// The sender of emails whose template names none (`INLET_EMAIL_FROM`), parsed as before
/// the setting's text moved to the pure core. The binary calls this as it reads the
/// configuration, so a bad value stops it there like any other bad setting.
pub fn default_sender(config: &Config) -> Result<Mailbox, ConfigError> {
    config
        .email_from
        .parse()
        .map_err(|e: lettre::address::AddressError| ConfigError {
            name: "INLET_EMAIL_FROM",
            reason: e.to_string(),
        })
}

/// Checks that lettre can write `mailbox` in a header. Its header encoder formats the
/// mailbox with `to_string()`, which panics where `Display` fails: on a CR or LF in the
/// name. Formatting it here first turns that into an error.
pub fn writable(mailbox: &Mailbox) -> Result<(), SenderError> {
    use std::fmt::Write;
    let mut out = String::new();
    write!(out, "{mailbox}").map_err(|_| SenderError::Name)
}

/// Where emails go.
#[derive(Clone)]
pub enum Mailer {
    /// An SMTP server.
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// `.eml` files in a folder (the outbox).
    Outbox(PathBuf, AsyncFileTransport<Tokio1Executor>),
}

impl Mailer {
    /// SMTP when a URL is given (`smtp://host:port`, `smtps://…`, `?tls=required`, with
    /// optional credentials), otherwise the outbox folder (created if missing).
    pub fn new(smtp_url: Option<&SecretString>, outbox: PathBuf) -> Result<Self, String> {
        match smtp_url {
            Some(url) => {
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
                    .map_err(|e| format!("INLET_SMTP_URL is not usable: {e}"))?
                    .timeout(Some(SMTP_TIMEOUT))
                    .build();
                Ok(Self::Smtp(transport))
            }
            None => {
                std::fs::create_dir_all(&outbox).map_err(|e| {
                    format!("cannot create the outbox folder {}: {e}", outbox.display())
                })?;
                let transport = AsyncFileTransport::<Tokio1Executor>::new(&outbox);
                Ok(Self::Outbox(outbox, transport))
            }
        }
    }

    /// A short description for logs (no credentials).
    pub fn describe(&self) -> String {
        match self {
            Self::Smtp(_) => "SMTP".into(),
            Self::Outbox(dir, _) => format!("outbox {}", dir.display()),
        }
    }

    /// Sends one message; the error says whether to retry.
    pub async fn send(&self, message: Message) -> Result<(), SendError> {
        match self {
            Self::Smtp(t) => t.send(message).await.map(|_| ()).map_err(|e| {
                let text = format!("SMTP: {e}");
                if e.is_permanent() {
                    SendError::Permanent(text)
                } else {
                    SendError::Transient(text)
                }
            }),
            Self::Outbox(_, t) => t
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| SendError::Transient(format!("outbox: {e}"))),
        }
    }
}

/// Everything needed to build one message.
pub struct Outgoing<'a> {
    /// From (the template's, else the installation's default).
    pub from: Mailbox,
    /// The contact's address.
    pub to: &'a str,
    /// Rendered content.
    pub rendered: &'a Rendered,
    /// The signed unsubscribe link.
    pub unsubscribe_url: &'a str,
    /// A stable Message-ID (the send's id), so a resend after a crash can be recognised.
    pub message_id: String,
}

/// Builds the MIME message, with `List-Unsubscribe` and one-click `List-Unsubscribe-Post`
/// (RFC 8058).
pub fn build(out: &Outgoing<'_>) -> Result<Message, SendError> {
    // Checked here, not only at save: older templates, `INLET_EMAIL_FROM` and contacts'
    // addresses reach this too, and lettre panics on a mailbox it cannot write.
    writable(&out.from).map_err(|e| SendError::Permanent(format!("the sender's name {e}")))?;
    let to: Mailbox = out
        .to
        .parse()
        .map_err(|e| SendError::Permanent(format!("recipient address is not usable: {e}")))?;
    writable(&to).map_err(|e| SendError::Permanent(format!("the recipient's name {e}")))?;
    let mut message = Message::builder()
        .from(out.from.clone())
        .to(to)
        .subject(out.rendered.subject.clone())
        .message_id(Some(out.message_id.clone()))
        .multipart(MultiPart::alternative_plain_html(
            out.rendered.text.clone(),
            out.rendered.html.clone(),
        ))
        .map_err(|e| SendError::Permanent(format!("cannot build the message: {e}")))?;
    let headers = message.headers_mut();
    headers.insert_raw(HeaderValue::new(
        HeaderName::new_from_ascii_str("List-Unsubscribe"),
        format!("<{}>", out.unsubscribe_url),
    ));
    headers.insert_raw(HeaderValue::new(
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
        "List-Unsubscribe=One-Click".to_owned(),
    ));
    Ok(message)
}

/// The key that signs unsubscribe links: `INLET_UNSUBSCRIBE_SECRET` when set, otherwise one
/// generated on first start and kept in the database, so every process (and restart) signs
/// and verifies with the same key.
#[derive(Clone)]
pub struct UnsubscribeKey(SecretString);

const UNSUBSCRIBE_SECRET: &str = "unsubscribe_key";
/// Bytes of MAC kept in a token (128 bits).
const TAG_BYTES: usize = 16;

/// The installation's secret named `name` in `app_secrets` (256 random bits), generated by
/// the first process that needs it; every process then reads the same one.
pub async fn stored_secret<C: ConnectionTrait>(db: &C, name: &str) -> Result<SecretString, DbErr> {
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    let row = app_secret::ActiveModel {
        name: Set(name.to_owned()),
        value: Set(URL_SAFE_NO_PAD.encode(bytes)),
        created_at: Set(now_ms()),
    };
    // Two processes starting together: the first insert wins, both read it.
    app_secret::Entity::insert(row)
        .on_conflict(
            OnConflict::column(app_secret::Column::Name)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    let stored = app_secret::Entity::find_by_id(name.to_owned())
        .one(db)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("secret {name}")))?;
    Ok(SecretString::from(stored.value))
}

impl UnsubscribeKey {
    /// A key from configuration.
    pub fn new(secret: SecretString) -> Self {
        Self(secret)
    }

    /// The stored key, created if this is the first process to need it.
    pub async fn load_or_create<C: ConnectionTrait>(db: &C) -> Result<Self, DbErr> {
        Ok(Self(stored_secret(db, UNSUBSCRIBE_SECRET).await?))
    }

    fn mac(&self, contact_id: &str) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.0.expose_secret().as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(b"unsubscribe:");
        mac.update(contact_id.as_bytes());
        mac
    }

    /// The token in a contact's unsubscribe link: the contact id and a MAC over it.
    #[expect(
        clippy::indexing_slicing,
        reason = "an HMAC-SHA256 tag has 32 bytes, more than TAG_BYTES"
    )]
    pub fn sign(&self, contact_id: &str) -> String {
        let tag = self.mac(contact_id).finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(contact_id),
            URL_SAFE_NO_PAD.encode(&tag[..TAG_BYTES])
        )
    }

    /// The contact id of a valid token (checked in constant time); `None` for anything else.
    pub fn verify(&self, token: &str) -> Option<String> {
        let (id, tag) = token.split_once('.')?;
        let id = String::from_utf8(URL_SAFE_NO_PAD.decode(id).ok()?).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        self.mac(&id).verify_truncated_left(&tag).ok()?;
        (tag.len() == TAG_BYTES).then_some(id)
    }

    /// The public unsubscribe URL for a contact.
    pub fn url(&self, public_url: &str, contact_id: &str) -> String {
        format!(
            "{}/unsubscribe/{}",
            public_url.trim_end_matches('/'),
            self.sign(contact_id)
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn unsubscribe_tokens_verify_only_unaltered() {
        let key = UnsubscribeKey::new(SecretString::from("k".repeat(32)));
        let token = key.sign("c_123");
        assert_eq!(key.verify(&token).as_deref(), Some("c_123"));
        let other = UnsubscribeKey::new(SecretString::from("j".repeat(32)));
        assert_eq!(other.verify(&token), None);
        let (id, tag) = token.split_once('.').unwrap();
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode("c_124"));
        assert_eq!(key.verify(&forged), None);
        assert_eq!(key.verify(&format!("{id}.")), None);
        assert_eq!(key.verify(&format!("{id}.{}", &tag[..4])), None);
        assert_eq!(key.verify("garbage"), None);
        assert!(
            key.url("http://h:1/", "c_123")
                .starts_with("http://h:1/unsubscribe/")
        );
    }

    #[test]
    fn messages_carry_one_click_unsubscribe_headers() {
        let rendered = Rendered {
            subject: "S".into(),
            html: "<p>h</p>".into(),
            text: "t".into(),
        };
        let message = build(&Outgoing {
            from: "Inlet <inlet@example.com>".parse().unwrap(),
            to: "ada@example.com",
            rendered: &rendered,
            unsubscribe_url: "http://h/unsubscribe/tok",
            message_id: "<em_1@inlet>".into(),
        })
        .unwrap();
        let raw = String::from_utf8(message.formatted()).unwrap();
        assert!(
            raw.contains("List-Unsubscribe: <http://h/unsubscribe/tok>"),
            "{raw}"
        );
        assert!(raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
        assert!(raw.contains("Message-ID: <em_1@inlet>"));
        assert!(
            build(&Outgoing {
                from: "inlet@example.com".parse().unwrap(),
                to: "not an address",
                rendered: &rendered,
                unsubscribe_url: "u",
                message_id: "<x@y>".into(),
            })
            .is_err_and(|e| !e.is_transient())
        );
    }

    #[test]
    fn senders_with_line_breaks_are_errors_not_panics() {
        assert!(sender(Some("Acme Support"), "help@acme.test").is_ok());
        assert!(sender(Some("Ünïcode, \"quoted\""), "help@acme.test").is_ok());
        for name in ["Acme\r\nBcc: victim@example.com", "A\nB", "A\rB"] {
            let err = sender(Some(name), "help@acme.test").unwrap_err();
            assert_eq!(err.field(), "fromName", "{name:?}");
        }
        let err = sender(Some("Acme"), "not an address").unwrap_err();
        assert_eq!(err.field(), "fromEmail");

        // A mailbox built elsewhere (an old template, `INLET_EMAIL_FROM`) fails the message,
        // permanently, where lettre would panic writing the From header.
        let rendered = Rendered {
            subject: "S".into(),
            html: "<p>h</p>".into(),
            text: "t".into(),
        };
        let from = Mailbox::new(
            Some("Acme\r\nBcc: victim@example.com".into()),
            "help@acme.test".parse().unwrap(),
        );
        let err = build(&Outgoing {
            from,
            to: "ada@example.com",
            rendered: &rendered,
            unsubscribe_url: "u",
            message_id: "<x@y>".into(),
        })
        .unwrap_err();
        assert!(!err.is_transient());
        assert_eq!(
            err.to_string(),
            "the sender's name cannot be written in an email header (it has a line break)"
        );
    }

    #[test]
    fn the_default_sender_is_parsed_from_its_setting() {
        let config = |from: Option<&str>| {
            let vars = from.map(|v| ("INLET_EMAIL_FROM".to_owned(), v.to_owned()));
            Config::from_vars(vars).unwrap()
        };
        let default = default_sender(&config(None)).unwrap();
        assert_eq!(default.name.as_deref(), Some("Inlet"));
        assert_eq!(default.email.to_string(), "inlet@localhost");
        let set = default_sender(&config(Some("Acme <hello@acme.test>"))).unwrap();
        assert_eq!(set.to_string(), "Acme <hello@acme.test>");
        // A name with a line break (which lettre would panic writing) does not parse.
        for bad in ["\"Acme\r\n Support\" <help@acme.test>", "not an address"] {
            let err = default_sender(&config(Some(bad))).unwrap_err();
            assert_eq!(err.name, "INLET_EMAIL_FROM", "{bad:?}");
        }
    }
}
