//! Email: rendering templates (minijinja, HTML autoescaped), signed unsubscribe links, and
//! the mailer — SMTP through lettre when `INLET_SMTP_URL` is set, otherwise `.eml` files in
//! the outbox folder.

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::db::entities::{app_secret, email_template};
use crate::domain::now_ms;

/// How long one SMTP conversation may take before it counts as a (transient) failure.
const SMTP_TIMEOUT: Duration = Duration::from_secs(15);
/// Template evaluation budget: a template cannot loop forever.
const RENDER_FUEL: u64 = 100_000;

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

/// A template rendered for one contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The subject line.
    pub subject: String,
    /// The HTML body (variables escaped).
    pub html: String,
    /// The plain-text body.
    pub text: String,
}

/// What a template can read: `contact` (as `contacts/find` shows it), `event` (`name`,
/// `properties`) and `unsubscribeUrl`.
pub fn context(
    contact: &Value,
    event_name: &str,
    event_properties: &Value,
    unsubscribe_url: &str,
) -> Value {
    json!({
        "contact": contact,
        "event": {"name": event_name, "properties": event_properties},
        "unsubscribeUrl": unsubscribe_url,
    })
}

/// Renders a template. The HTML body is autoescaped (a contact named `<script>` stays text);
/// subject and text are not (they are not HTML). A body that does not place
/// `unsubscribeUrl` itself gets a footer with the link.
pub fn render(template: &email_template::Model, ctx: &Value) -> Result<Rendered, String> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env.set_undefined_behavior(UndefinedBehavior::Lenient);
    env.set_fuel(Some(RENDER_FUEL));
    let render_one = |name: &str, source: &str| -> Result<String, String> {
        env.template_from_named_str(name, source)
            .and_then(|t| t.render(ctx))
            .map_err(|e| format!("template {}: {name}: {e}", template.id))
    };
    let unsubscribe_url = ctx
        .get("unsubscribeUrl")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let subject = render_one("subject.txt", &template.subject)?
        .replace(['\r', '\n'], " ")
        .trim()
        .to_owned();
    let mut html = render_one("body.html", &template.html)?;
    let mut text = match &template.text {
        Some(source) => render_one("body.txt", source)?,
        None => html_to_text(&html),
    };
    if !template.html.contains("unsubscribeUrl") {
        let href = minijinja::HtmlEscape(unsubscribe_url).to_string();
        html.push_str(&format!(
            "\n<p style=\"font-size:12px;color:#888\"><a href=\"{href}\">Unsubscribe</a></p>\n"
        ));
    }
    if template
        .text
        .as_deref()
        .is_none_or(|t| !t.contains("unsubscribeUrl"))
    {
        text.push_str(&format!("\n\nUnsubscribe: {unsubscribe_url}\n"));
    }
    Ok(Rendered {
        subject,
        html,
        text,
    })
}

/// A plain-text fallback for templates without a text body: the HTML without its tags.
fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#x2f;", "/")
        .replace("&amp;", "&")
        .trim()
        .to_owned()
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
    let to: Mailbox = out
        .to
        .parse()
        .map_err(|e| SendError::Permanent(format!("recipient address is not usable: {e}")))?;
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

    fn template(html: &str, text: Option<&str>) -> email_template::Model {
        email_template::Model {
            id: "tpl_1".into(),
            name: "t".into(),
            subject: "Thanks {{ contact.firstName }}".into(),
            html: html.into(),
            text: text.map(Into::into),
            from_name: None,
            from_email: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn html_is_escaped_and_text_is_not() {
        let ctx = context(
            &json!({"firstName": "<script>alert(1)</script>"}),
            "stripe:checkout.session.completed",
            &json!({"amount": 4200}),
            "http://x/unsubscribe/t",
        );
        let r = render(
            &template(
                "<p>Hi {{ contact.firstName }}, {{ event.properties.amount }}</p>",
                Some("Hi {{ contact.firstName }}"),
            ),
            &ctx,
        )
        .unwrap();
        assert!(
            r.html
                .contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
            "{}",
            r.html
        );
        assert!(!r.html.contains("<script>"));
        assert!(r.html.contains("4200"));
        assert!(r.text.starts_with("Hi <script>alert(1)</script>"));
        assert_eq!(r.subject, "Thanks <script>alert(1)</script>");
        // No unsubscribeUrl in the template: a footer carries it.
        assert!(
            r.html
                .contains("href=\"http:&#x2f;&#x2f;x&#x2f;unsubscribe&#x2f;t\"")
        );
        assert!(r.text.contains("Unsubscribe: http://x/unsubscribe/t"));
    }

    #[test]
    fn missing_variables_render_empty_and_text_falls_back_to_html() {
        let ctx = context(&json!({}), "signup", &json!({}), "u");
        let r = render(
            &template(
                "<b>Hello {{ contact.firstName }}!</b> <a href=\"{{ unsubscribeUrl }}\">x</a>",
                None,
            ),
            &ctx,
        )
        .unwrap();
        assert!(r.html.starts_with("<b>Hello !</b>"));
        assert!(r.text.starts_with("Hello ! x"), "{}", r.text);
        // The template placed the link itself: no extra footer in the HTML.
        assert!(!r.html.contains("Unsubscribe</a>"));
    }

    #[test]
    fn endless_templates_run_out_of_fuel() {
        let ctx = context(&json!({}), "e", &json!({}), "u");
        let t = template(
            "{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}",
            None,
        );
        assert!(render(&t, &ctx).is_err());
    }

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
}
