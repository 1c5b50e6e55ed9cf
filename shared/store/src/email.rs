//! Email: rendering templates within bounds of output, fuel and time (`render`, `limits`),
//! senders checked before lettre sees them, signed unsubscribe links, and the mailer — SMTP
//! through lettre when `INLET_SMTP_URL` is set, otherwise `.eml` files in the outbox folder.

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use lettre::message::header::ContentType;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Attachment, MultiPart};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sea_orm::ConnectionTrait;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use crate::config::{Config, ConfigError};
use crate::sealed::{Vault, VaultError, app_secret};

mod limits;
mod render;

/// A sender or recipient, as lettre writes it (re-exported: callers need not name lettre).
pub use lettre::message::Mailbox;

pub use limits::{
    DEFAULT_MAX_BYTES, Part, RENDER_SLOTS, RENDER_TIMEOUT, RenderError, RenderLimits,
};
pub use render::{
    Rendered, SAMPLE_EMAIL, SAMPLE_UNSUBSCRIBE_URL, context, render, render_transactional,
    sample_contact, sample_context, sample_event_properties,
};

/// How long one SMTP conversation may take before it counts as a (transient) failure.
const SMTP_TIMEOUT: Duration = Duration::from_secs(15);

/// Why an email could not be sent. Each variant keeps the error it came from as its
/// source; [`SendError::is_transient`] is the one place that says whether to retry.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The SMTP server is unreachable, timed out, or answered 4xx (transient) or 5xx.
    #[error("SMTP: {0}")]
    Smtp(#[source] lettre::transport::smtp::Error),
    /// The `.eml` file could not be written to the outbox folder.
    #[error("outbox: {0}")]
    Outbox(#[source] lettre::transport::file::Error),
    /// The template could not be rendered (only a busy renderer is transient).
    #[error("{0}")]
    Render(#[from] RenderError),
    /// The sender's display name cannot be written in a header.
    #[error("the sender's name {0}")]
    SenderName(#[source] SenderError),
    /// The contact's address is not one lettre accepts.
    #[error("recipient address is not usable: {0}")]
    Recipient(#[source] lettre::address::AddressError),
    /// The contact's display name cannot be written in a header.
    #[error("the recipient's name {0}")]
    RecipientName(#[source] SenderError),
    /// lettre refused to assemble the message.
    #[error("cannot build the message: {0}")]
    Build(#[source] lettre::error::Error),
    /// An attachment that cannot be put in the message (checked when accepted, so only a
    /// stored payload altered since reaches this).
    #[error("the attachment {0} cannot be attached")]
    Attachment(String),
    /// The transactional email was deleted, or has no published message any more.
    #[error("transactional email {0} has no published message")]
    NotPublished(String),
    /// A transactional run's stored payload cannot be read.
    #[error("the transactional send's payload cannot be read: {0}")]
    Payload(#[source] serde_json::Error),
    /// The step's template was deleted after the run started.
    #[error("template {0} no longer exists")]
    TemplateGone(String),
    /// The template's saved sender cannot be used.
    #[error("template {template}: {} {source}", .source.field())]
    TemplateSender {
        /// The template's id.
        template: String,
        /// What is wrong with the sender.
        #[source]
        source: SenderError,
    },
    /// The workflow's stored steps are not valid JSON for [`crate::workflows::Step`].
    #[error("the workflow's steps cannot be read: {0}")]
    Steps(#[source] serde_json::Error),
    /// Running the step panicked: a bug that the same input would hit again.
    #[error("the step {0}")]
    Panicked(#[source] crate::isolate::Panicked),
}

impl SendError {
    /// True for failures worth retrying: an unreachable or 4xx SMTP server, an outbox that
    /// could not be written, a renderer too busy to start. Everything else would fail again.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Smtp(e) => !e.is_permanent(),
            Self::Outbox(_) => true,
            Self::Render(e) => e.is_transient(),
            Self::SenderName(_)
            | Self::Recipient(_)
            | Self::RecipientName(_)
            | Self::Build(_)
            | Self::Attachment(_)
            | Self::NotPublished(_)
            | Self::Payload(_)
            | Self::TemplateGone(_)
            | Self::TemplateSender { .. }
            | Self::Steps(_)
            | Self::Panicked(_) => false,
        }
    }
}

/// The SMTP replies that mean the recipient's address cannot take mail — mailbox
/// unavailable (550), user not local (551), mailbox name not allowed (553), transaction
/// failed (554) — given to RCPT or DATA. lettre does not say which command was answered;
/// an authentication refusal (530, 535) or a full mailbox (552) is not one of these.
const HARD_BOUNCE_CODES: [u16; 4] = [550, 551, 553, 554];

impl SendError {
    /// True for a hard bounce: the SMTP server refused the recipient for good
    /// ([`HARD_BOUNCE_CODES`]), so the address is suppressed.
    pub fn is_hard_bounce(&self) -> bool {
        match self {
            Self::Smtp(e) => {
                e.is_permanent()
                    && e.status()
                        .is_some_and(|code| HARD_BOUNCE_CODES.contains(&u16::from(code)))
            }
            _ => false,
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

/// Why the mailer cannot be set up at start. Each variant keeps the error it came from as
/// its source.
#[derive(Debug, thiserror::Error)]
pub enum MailerError {
    /// `INLET_SMTP_URL` does not parse, or names a scheme or TLS mode lettre does not know.
    #[error("INLET_SMTP_URL is not usable: {0}")]
    SmtpUrl(#[source] lettre::transport::smtp::Error),
    /// The outbox folder (`INLET_OUTBOX_DIR`) is missing and cannot be created.
    #[error("cannot create the outbox folder {}: {source}", .path.display())]
    Outbox {
        /// The folder.
        path: PathBuf,
        /// Why it could not be created.
        #[source]
        source: std::io::Error,
    },
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
    pub fn new(smtp_url: Option<&SecretString>, outbox: PathBuf) -> Result<Self, MailerError> {
        match smtp_url {
            Some(url) => {
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
                    .map_err(MailerError::SmtpUrl)?
                    .timeout(Some(SMTP_TIMEOUT))
                    .build();
                Ok(Self::Smtp(transport))
            }
            None => {
                if let Err(source) = std::fs::create_dir_all(&outbox) {
                    return Err(MailerError::Outbox {
                        path: outbox,
                        source,
                    });
                }
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
            Self::Smtp(t) => t.send(message).await.map(|_| ()).map_err(SendError::Smtp),
            Self::Outbox(_, t) => t.send(message).await.map(|_| ()).map_err(SendError::Outbox),
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
    let body =
        MultiPart::alternative_plain_html(out.rendered.text.clone(), out.rendered.html.clone());
    let mut message = assemble(&out.from, out.to, out.rendered, &out.message_id, body)?;
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

/// A transactional email to build: no unsubscribe headers (it is not marketing), and the
/// files it carries.
pub struct TransactionalOutgoing<'a> {
    /// From (the template's, else the installation's default).
    pub from: Mailbox,
    /// The recipient.
    pub to: &'a str,
    /// Rendered content.
    pub rendered: &'a Rendered,
    /// A stable Message-ID (the send's id).
    pub message_id: String,
    /// The files, as the request gave them (base64, checked when it was accepted).
    pub attachments: &'a [crate::transactional::Attachment],
}

/// Builds a transactional email: text and HTML, then each attachment, in a
/// `multipart/mixed` when there are any.
pub fn build_transactional(out: &TransactionalOutgoing<'_>) -> Result<Message, SendError> {
    let alternative =
        MultiPart::alternative_plain_html(out.rendered.text.clone(), out.rendered.html.clone());
    let body = if out.attachments.is_empty() {
        alternative
    } else {
        let mut mixed = MultiPart::mixed().multipart(alternative);
        for a in out.attachments {
            let data = crate::transactional::decode(&a.data)
                .ok_or_else(|| SendError::Attachment(a.filename.clone()))?;
            let content_type = ContentType::parse(&a.content_type)
                .map_err(|_| SendError::Attachment(a.filename.clone()))?;
            mixed = mixed.singlepart(Attachment::new(a.filename.clone()).body(data, content_type));
        }
        mixed
    };
    assemble(&out.from, out.to, out.rendered, &out.message_id, body)
}

/// The message's headers and `body`, checked first as lettre will write them.
fn assemble(
    from: &Mailbox,
    to: &str,
    rendered: &Rendered,
    message_id: &str,
    body: MultiPart,
) -> Result<Message, SendError> {
    // Checked here, not only at save: older templates, `INLET_EMAIL_FROM` and contacts'
    // addresses reach this too, and lettre panics on a mailbox it cannot write.
    writable(from).map_err(SendError::SenderName)?;
    let to: Mailbox = to.parse().map_err(SendError::Recipient)?;
    writable(&to).map_err(SendError::RecipientName)?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(rendered.subject.clone())
        .message_id(Some(message_id.to_owned()))
        .multipart(body)
        .map_err(SendError::Build)
}

/// The key that signs unsubscribe links: `INLET_UNSUBSCRIBE_SECRET` when set, otherwise one
/// generated on first start and kept (sealed) in the database, so every process (and
/// restart) signs and verifies with the same key.
#[derive(Clone)]
pub struct UnsubscribeKey(SecretString);

const UNSUBSCRIBE_SECRET: &str = "unsubscribe_key";
/// Bytes of MAC kept in a token (128 bits).
const TAG_BYTES: usize = 16;

impl UnsubscribeKey {
    /// A key from configuration.
    pub fn new(secret: SecretString) -> Self {
        Self(secret)
    }

    /// The stored key (sealed by `vault`), created if this is the first process to need it.
    pub async fn load_or_create<C: ConnectionTrait>(
        db: &C,
        vault: &Vault,
    ) -> Result<Self, VaultError> {
        Ok(Self(app_secret(db, vault, UNSUBSCRIBE_SECRET).await?))
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
mod tests;
