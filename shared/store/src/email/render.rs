//! Rendering templates (minijinja, HTML autoescaped) within the limits of [`super::limits`],
//! on the blocking thread pool, so a hostile or data-dependent template can neither exhaust
//! memory nor hold an async thread.
//!
//! A render that passes its time limit is abandoned, not stopped: a blocking thread cannot
//! be cancelled. Fuel and the output cap are what end it; the time limit stops the caller
//! from waiting, and the slot the render holds stays taken until it ends, so abandoned
//! renders cannot pile up past [`super::RENDER_SLOTS`].
//!
//! The cap bounds what is written. A value built inside the template and never written
//! (`{% set %}`, concatenations) is bounded only by the engine's own limits and by fuel.

use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior};
use serde_json::{Value, json};

use super::limits::{Capped, Part, RENDER_FUEL, RenderError, RenderLimits, SLOTS};
use crate::db::entities::email_template;

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

/// The address of the sample contact.
pub const SAMPLE_EMAIL: &str = "jenny.rosen@example.com";
/// The unsubscribe link of a sample render.
pub const SAMPLE_UNSUBSCRIBE_URL: &str = "#unsubscribe";

/// The contact templates are tried on at save and previewed for when no real one is named.
pub fn sample_contact() -> Value {
    json!({
        "id": "c_sample", "email": SAMPLE_EMAIL, "firstName": "Jenny",
        "lastName": "Rosen", "source": "Stripe webhook", "subscribed": true,
        "userGroup": null, "userId": null, "mailingLists": {},
    })
}

/// The event properties of a sample render.
pub fn sample_event_properties() -> Value {
    json!({"amount": 4200, "currency": "usd", "plan": "pro"})
}

/// The whole context of a sample render: the sample contact and event.
pub fn sample_context() -> Value {
    context(
        &sample_contact(),
        "preview",
        &sample_event_properties(),
        SAMPLE_UNSUBSCRIBE_URL,
    )
}

/// Renders a template off the async threads, within `limits`. The HTML body is autoescaped
/// (a contact named `<script>` stays text); subject and text are not (they are not HTML).
/// A body that does not place `unsubscribeUrl` itself gets a footer with the link.
pub async fn render(
    template: &email_template::Model,
    ctx: &Value,
    limits: RenderLimits,
) -> Result<Rendered, RenderError> {
    render_off_thread(template, ctx, limits, Footer::Unsubscribe).await
}

/// Renders a transactional email: its data variables are the whole context (`{{ name }}`),
/// and no unsubscribe footer is added (it is not marketing; Loops adds none either).
pub async fn render_transactional(
    template: &email_template::Model,
    data: &serde_json::Map<String, Value>,
    limits: RenderLimits,
) -> Result<Rendered, RenderError> {
    render_off_thread(template, &Value::Object(data.clone()), limits, Footer::None).await
}

/// Whether a render adds an unsubscribe link where the template places none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Footer {
    /// Marketing (workflow) email: the link is always there.
    Unsubscribe,
    /// Transactional email: none.
    None,
}

async fn render_off_thread(
    template: &email_template::Model,
    ctx: &Value,
    limits: RenderLimits,
    footer: Footer,
) -> Result<Rendered, RenderError> {
    let slot = tokio::time::timeout(limits.slot_wait, SLOTS.acquire())
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or(RenderError::Busy(limits.slot_wait))?;
    let started = std::time::Instant::now();
    let (owned, ctx) = (template.clone(), ctx.clone());
    let task = tokio::task::spawn_blocking(move || {
        // Held until the render really ends, even when its caller stopped waiting.
        let _slot = slot;
        render_parts(&owned, &ctx, limits.max_bytes, footer)
    });
    let timed_out = || RenderError::TimedOut {
        template: template.id.clone(),
        limit: limits.timeout,
    };
    match tokio::time::timeout(limits.timeout, task).await {
        // Ended, but only after its time: as much over the limit as one still running.
        Ok(Ok(_)) if started.elapsed() >= limits.timeout => Err(timed_out()),
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err(RenderError::Panicked {
            template: template.id.clone(),
        }),
        Err(_) => Err(timed_out()),
    }
}

/// The render of a marketing email, on the calling thread.
#[cfg(test)]
fn render_blocking(
    template: &email_template::Model,
    ctx: &Value,
    max_bytes: usize,
) -> Result<Rendered, RenderError> {
    render_parts(template, ctx, max_bytes, Footer::Unsubscribe)
}

/// The render itself, on the calling thread.
fn render_parts(
    template: &email_template::Model,
    ctx: &Value,
    max_bytes: usize,
    footer: Footer,
) -> Result<Rendered, RenderError> {
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
    let render_one = |part: Part, source: &str| -> Result<String, RenderError> {
        let engine = |source| RenderError::Engine {
            template: template.id.clone(),
            part,
            source,
        };
        let compiled = env
            .template_from_named_str(part.template_name(), source)
            .map_err(engine)?;
        let mut out = Capped::new(max_bytes);
        match compiled.render_captured_to(ctx, &mut out) {
            Ok(_) => Ok(out.into_string()),
            Err(_) if out.over => Err(RenderError::TooLarge {
                template: template.id.clone(),
                part,
                limit: max_bytes,
            }),
            Err(e) => Err(engine(e)),
        }
    };
    let unsubscribe_url = ctx
        .get("unsubscribeUrl")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let subject = render_one(Part::Subject, &template.subject)?
        .replace(['\r', '\n'], " ")
        .trim()
        .to_owned();
    let mut html = render_one(Part::Html, &template.html)?;
    let mut text = match &template.text {
        Some(source) => render_one(Part::Text, source)?,
        None => html_to_text(&template.id, &html)?,
    };
    if footer == Footer::None {
        return Ok(Rendered {
            subject,
            html,
            text,
        });
    }
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

/// Width of the plain-text part: RFC 5322 (2.1.1) asks for lines of at most 78 characters.
const TEXT_WIDTH: usize = 78;

/// A plain-text fallback for templates without a text body, by html2text: paragraphs and
/// line breaks kept, `<style>` and `<script>` dropped, every entity decoded, each link's
/// URL in a numbered footnote, no `**` or `*` for bold and italics (noise in a mail
/// reader). Layout tables are read cell after cell (`raw_mode`), as email layouts use
/// them; URLs and over-long words are never cut, so links stay whole.
fn html_to_text(template: &str, html: &str) -> Result<String, RenderError> {
    html2text::config::plain_no_decorate()
        .link_footnotes(true)
        .raw_mode(true)
        .no_link_wrapping()
        .allow_width_overflow()
        .string_from_read(html.as_bytes(), TEXT_WIDTH)
        .map(|text| text.trim().to_owned())
        .map_err(|e| RenderError::Engine {
            template: template.to_owned(),
            part: Part::Text,
            source: minijinja::Error::new(
                ErrorKind::InvalidOperation,
                "the HTML body cannot be converted to text",
            )
            .with_source(e),
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::time::Duration;

    use super::super::DEFAULT_MAX_BYTES;
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

    fn sync(t: &email_template::Model, ctx: &Value) -> Result<Rendered, RenderError> {
        render_blocking(t, ctx, DEFAULT_MAX_BYTES)
    }

    #[test]
    fn html_is_escaped_and_text_is_not() {
        let ctx = context(
            &json!({"firstName": "<script>alert(1)</script>"}),
            "stripe:checkout.session.completed",
            &json!({"amount": 4200}),
            "http://x/unsubscribe/t",
        );
        let r = sync(
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
        let r = sync(
            &template(
                "<b>Hello {{ contact.firstName }}!</b> <a href=\"{{ unsubscribeUrl }}\">x</a>",
                None,
            ),
            &ctx,
        )
        .unwrap();
        assert!(r.html.starts_with("<b>Hello !</b>"));
        assert!(r.text.starts_with("Hello ! [x][1]"), "{}", r.text);
        assert!(r.text.contains("\n[1]: u\n"), "{}", r.text);
        // The template placed the link itself: no extra footer in the HTML.
        assert!(!r.html.contains("Unsubscribe</a>"));
    }

    #[test]
    fn the_text_fallback_keeps_breaks_links_and_entities_and_drops_styles_and_scripts() {
        let ctx = context(&json!({"firstName": "Zoë"}), "signup", &json!({}), "u");
        let html = "<html><head><style>p { color: red }</style>\
            <script>track()</script></head><body>\
            <p>Bonjour {{ contact.firstName }},<br>caf&eacute; &#8212; d&eacute;j&agrave;&nbsp;vu</p>\
            <p>Second paragraph &amp; more: <a href=\"https://example.com/confirm?id=1&amp;t=2\">confirm</a></p>\
            <p>Unsubscribe: {{ unsubscribeUrl }}</p></body></html>";
        let r = sync(&template(html, None), &ctx).unwrap();
        let lines: Vec<&str> = r.text.lines().collect();
        assert_eq!(
            lines.get(..4),
            Some(
                &[
                    "Bonjour Zoë,",
                    "café — déjà\u{a0}vu",
                    "",
                    "Second paragraph & more: [confirm][1]",
                ][..]
            ),
            "{}",
            r.text
        );
        assert!(
            lines.contains(&"[1]: https://example.com/confirm?id=1&t=2"),
            "{}",
            r.text
        );
        assert!(!r.text.contains("color"), "{}", r.text);
        assert!(!r.text.contains("track"), "{}", r.text);
        assert!(!r.text.contains('<') && !r.text.contains("&eacute;"));
    }

    #[test]
    fn the_text_fallback_never_cuts_a_long_url() {
        let url = format!("https://example.com/{}", "a".repeat(120));
        let ctx = context(&json!({}), "signup", &json!({}), "u");
        let html = format!(
            "<p>Read <a href=\"{url}\">this</a>. {}</p>",
            "word ".repeat(40)
        );
        let r = sync(&template(&html, None), &ctx).unwrap();
        let lines: Vec<&str> = r.text.lines().collect();
        assert!(
            lines.contains(&format!("[1]: {url}").as_str()),
            "{}",
            r.text
        );
        // The prose itself wraps within the width.
        assert!(
            lines
                .iter()
                .filter(|l| l.starts_with("Read") || l.starts_with("word"))
                .all(|l| l.chars().count() <= TEXT_WIDTH),
            "{}",
            r.text
        );
    }

    #[test]
    fn query_values_are_encoded_with_the_builtin_urlencode() {
        let ctx = context(
            &json!({"email": "ada+news@example.com", "firstName": "Zoë & co"}),
            "signup",
            &json!({}),
            "u",
        );
        let t = template(
            "<a href=\"https://x.test/p?e={{ contact.email | urlencode }}&amp;n={{ contact.firstName | urlencode }}\">p</a>",
            Some("https://x.test/p?e={{ contact.email | urlencode }}"),
        );
        let r = sync(&t, &ctx).unwrap();
        assert!(
            r.html
                .contains("?e=ada%2Bnews%40example.com&amp;n=Zo%C3%AB%20%26%20co\""),
            "{}",
            r.html
        );
        assert!(
            r.text
                .starts_with("https://x.test/p?e=ada%2Bnews%40example.com"),
            "{}",
            r.text
        );
    }

    #[test]
    fn endless_templates_run_out_of_fuel() {
        let ctx = context(&json!({}), "e", &json!({}), "u");
        let t = template(
            "{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}",
            None,
        );
        let err = sync(&t, &ctx).unwrap_err();
        assert!(err.is_limit() && err.part() == Some(Part::Html), "{err}");
    }

    #[test]
    fn output_stops_at_the_cap_of_each_part() {
        let ctx = sample_context();
        // Exactly at the cap renders; one byte more is refused, naming the part.
        let t = template("{{ 'x' * 64 }}", Some("short"));
        assert!(
            render_blocking(&t, &ctx, 64)
                .unwrap()
                .html
                .starts_with(&"x".repeat(64))
        );
        let t = template("{{ 'x' * 65 }}", Some("short"));
        let err = render_blocking(&t, &ctx, 64).unwrap_err();
        assert!(
            matches!(
                err,
                RenderError::TooLarge {
                    part: Part::Html,
                    limit: 64,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "template tpl_1: html renders to more than 64 bytes"
        );
        let mut t = template(
            "<p>ok</p>",
            Some("{% for i in range(100) %}abc{% endfor %}"),
        );
        let err = render_blocking(&t, &ctx, 64).unwrap_err();
        assert!(err.is_limit() && err.part() == Some(Part::Text), "{err}");
        t.text = None;
        t.subject = "{{ 'y' * 100 }}".into();
        let err = render_blocking(&t, &ctx, 64).unwrap_err();
        assert!(err.is_limit() && err.part() == Some(Part::Subject), "{err}");
    }

    #[tokio::test]
    async fn a_render_past_its_time_limit_is_abandoned() {
        let limits = RenderLimits {
            timeout: Duration::ZERO,
            ..RenderLimits::default()
        };
        let t = template(
            "{% for a in range(10000) %}{{ a }}{% endfor %}",
            Some("{% for a in range(10000) %}{{ a }}{% endfor %}"),
        );
        let err = render(&t, &sample_context(), limits).await.unwrap_err();
        assert!(matches!(err, RenderError::TimedOut { .. }), "{err}");
        assert!(err.is_limit() && !err.is_transient());
        let r = render(&t, &sample_context(), RenderLimits::default())
            .await
            .unwrap();
        assert!(r.html.starts_with("0123"));
    }
}
