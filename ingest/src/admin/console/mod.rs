//! The operator console under `/console`: server-rendered pages (minijinja templates built
//! into the binary, plain forms, one small script of our own), behind a session opened with
//! an API key. Nothing is loaded from elsewhere at run time, and no page shows a secret
//! after it was saved.

mod audience;
mod contacts;
mod dashboard;
mod deliveries;
mod email_templates;
mod integration_secrets;
mod integrations;
mod lists;
mod secret_ages;
pub mod session;
mod transactional;
mod workflows;

use std::sync::OnceLock;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::DefaultHeaders;
use actix_web::{HttpResponse, ResponseError, web};
use inlet_shared::db::entities::webhook_log::DeliveryStatus;
use minijinja::Environment;
use serde::Serialize;

use crate::error::ApiError;

/// The webhook log's statuses in the order the pages list them (the dashboard stacks its
/// bars so).
const STATUSES: [DeliveryStatus; 7] = [
    DeliveryStatus::Accepted,
    DeliveryStatus::Processed,
    DeliveryStatus::Ignored,
    DeliveryStatus::Duplicate,
    DeliveryStatus::Rejected,
    DeliveryStatus::Failed,
    DeliveryStatus::Dead,
];

/// The templates, built into the binary.
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("login.html", include_str!("templates/login.html")),
    ("error.html", include_str!("templates/error.html")),
    ("dashboard.html", include_str!("templates/dashboard.html")),
    (
        "integrations.html",
        include_str!("templates/integrations.html"),
    ),
    ("connect.html", include_str!("templates/connect.html")),
    (
        "integration.html",
        include_str!("templates/integration.html"),
    ),
    (
        "secret_once.html",
        include_str!("templates/secret_once.html"),
    ),
    ("test_sent.html", include_str!("templates/test_sent.html")),
    ("deliveries.html", include_str!("templates/deliveries.html")),
    ("delivery.html", include_str!("templates/delivery.html")),
    (
        "dead_letters.html",
        include_str!("templates/dead_letters.html"),
    ),
    (
        "replay_preview.html",
        include_str!("templates/replay_preview.html"),
    ),
    ("replayed.html", include_str!("templates/replayed.html")),
    ("contacts.html", include_str!("templates/contacts.html")),
    ("contact.html", include_str!("templates/contact.html")),
    ("lists.html", include_str!("templates/lists.html")),
    ("properties.html", include_str!("templates/properties.html")),
    (
        "suppressions.html",
        include_str!("templates/suppressions.html"),
    ),
    ("templates.html", include_str!("templates/templates.html")),
    ("template.html", include_str!("templates/template.html")),
    ("workflows.html", include_str!("templates/workflows.html")),
    ("workflow.html", include_str!("templates/workflow.html")),
    (
        "workflow_graph.html",
        include_str!("templates/workflow_graph.html"),
    ),
    ("emails.html", include_str!("templates/emails.html")),
    (
        "transactionals.html",
        include_str!("templates/transactionals.html"),
    ),
    (
        "transactional.html",
        include_str!("templates/transactional.html"),
    ),
];

/// Static files: (name, content type, bytes).
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "console.css",
        "text/css; charset=utf-8",
        include_str!("assets/console.css"),
    ),
    (
        "console.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/console.js"),
    ),
];

/// Part of asset URLs that changes with each release, so assets can be cached for a year.
const ASSET_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Every page: scripts and styles only from here, no framing, no inline script.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
    connect-src 'self'; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

fn build_env() -> Environment<'static> {
    let mut env = Environment::new();
    // Autoescaping is on for `.html` names (minijinja's default).
    for (name, source) in TEMPLATES {
        if let Err(e) = env.add_template(name, source) {
            tracing::error!(template = name, error = %e, "Console template does not parse.");
        }
    }
    // `urlencode` is minijinja's builtin filter.
    env.add_filter("time", format_time);
    env.add_global("asset_version", ASSET_VERSION);
    env
}

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(build_env)
}

/// `{{ ms | time }}`: epoch milliseconds as `2026-01-31 12:00:05` (UTC).
fn format_time(ms: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

/// What the layout of a signed-in page needs.
#[derive(Debug, Serialize)]
pub struct Page {
    /// The session's CSRF token, put in every form.
    pub csrf: String,
    /// The API key's name, shown in the header.
    pub key_name: String,
    /// The highlighted section of the navigation.
    pub section: &'static str,
}

/// Why a console request failed; each maps to a status and an HTML page.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// No valid session: go to the sign-in page.
    #[error("Please sign in.")]
    SignIn,
    /// A form without its CSRF token (or with another session's).
    #[error(
        "This form is missing its security token or is from another session. Reload the page and try again."
    )]
    Csrf,
    /// The request is invalid; the message says how.
    #[error("{0}")]
    BadRequest(String),
    /// No such thing.
    #[error("{0}")]
    NotFound(String),
    /// An error of the shared API logic.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The queue failed; the message says what happened before it did.
    #[error("{0}")]
    Unavailable(String),
    /// The database failed.
    #[error("Temporarily unavailable; please retry.")]
    Database(#[from] sea_orm::DbErr),
    /// A template failed to render.
    #[error("The page could not be rendered.")]
    Template(#[from] minijinja::Error),
    /// A wiring mistake.
    #[error("Internal error.")]
    Internal(&'static str),
}

impl ResponseError for ConsoleError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::SignIn => StatusCode::SEE_OTHER,
            Self::Csrf => StatusCode::FORBIDDEN,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Api(e) => e.status_code(),
            Self::Database(_) | Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Template(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::SignIn => return redirect("/console/login"),
            Self::Database(e) | Self::Api(ApiError::Database(e)) => {
                tracing::error!(error = %e, "Database error in a console request.");
            }
            Self::Template(e) => tracing::error!(error = %e, "Console template error."),
            Self::Internal(what) => tracing::error!(what, "Console wiring error."),
            _ => {}
        }
        let status = self.status_code();
        let ctx = minijinja::context! {
            status => status.as_u16(),
            reason => status.canonical_reason().unwrap_or("Error"),
            message => self.to_string(),
        };
        match env().get_template("error.html").and_then(|t| t.render(ctx)) {
            Ok(html) => html_response(status, html),
            Err(_) => HttpResponse::build(status).body(self.to_string()),
        }
    }
}

/// The status of a page shown again with its form's error.
pub fn bad_request() -> StatusCode {
    StatusCode::BAD_REQUEST
}

fn html_response(status: StatusCode, html: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(html)
}

/// Renders template `name` with `ctx` as a 200 page.
pub fn render(name: &str, ctx: minijinja::Value) -> Result<HttpResponse, ConsoleError> {
    render_with_status(StatusCode::OK, name, ctx)
}

/// Renders template `name` with `ctx` and `status`.
pub fn render_with_status(
    status: StatusCode,
    name: &str,
    ctx: minijinja::Value,
) -> Result<HttpResponse, ConsoleError> {
    let html = env().get_template(name)?.render(ctx)?;
    Ok(html_response(status, html))
}

/// 303 to `location` (after a form post, so a reload does not post again).
pub fn redirect(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// `GET /console/assets/{version}/{name}`: built-in files, cached for a year (the version
/// in the path changes with each release).
async fn asset(path: web::Path<(String, String)>) -> Result<HttpResponse, ConsoleError> {
    let (_, name) = path.into_inner();
    let (_, content_type, body) = ASSETS
        .iter()
        .find(|(n, _, _)| *n == name)
        .ok_or_else(|| ConsoleError::NotFound("No such file.".into()))?;
    Ok(HttpResponse::Ok()
        .content_type(*content_type)
        .insert_header((
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=31536000, immutable"),
        ))
        .body(*body))
}

async fn not_found() -> HttpResponse {
    ConsoleError::NotFound("There is no console page here.".into()).error_response()
}

/// Registers the `/console` scope. Every page except sign-in and the assets needs a session (the
/// [`session::Session`] extractor); every state-changing route takes a [`session::Form`],
/// which refuses a missing or wrong CSRF token.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let scope = web::scope("/console")
        .app_data(web::Data::new(session::KeyCell::default()))
        .app_data(
            web::FormConfig::default()
                .limit(256 * 1024)
                .error_handler(|_, _| {
                    ConsoleError::BadRequest("The form could not be read.".into()).into()
                }),
        )
        .wrap(
            DefaultHeaders::new()
                .add((header::CONTENT_SECURITY_POLICY, CSP))
                .add((header::X_FRAME_OPTIONS, "DENY"))
                .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
                .add((header::REFERRER_POLICY, "same-origin"))
                .add((header::CACHE_CONTROL, "no-store")),
        )
        .route("", web::get().to(dashboard::show))
        .route("/", web::get().to(dashboard::show))
        .route("/assets/{version}/{name}", web::get().to(asset))
        .service(
            web::resource("/login")
                .route(web::get().to(session::login_page))
                .route(web::post().to(session::login)),
        )
        .route("/logout", web::post().to(session::logout))
        .service(
            web::resource("/integrations")
                .route(web::get().to(integrations::list))
                .route(web::post().to(integrations::create)),
        )
        .route("/integrations/new", web::get().to(integrations::connect))
        .route("/integrations/{id}", web::get().to(integrations::show))
        .route(
            "/integrations/{id}/settings",
            web::post().to(integrations::save_settings),
        )
        .route(
            "/integrations/{id}/secrets",
            web::post().to(integration_secrets::add_secret),
        )
        .route(
            "/integrations/{id}/secrets/{n}/expiry",
            web::post().to(integration_secrets::set_expiry),
        )
        .route(
            "/integrations/{id}/secrets/{n}/delete",
            web::post().to(integration_secrets::delete_secret),
        )
        .route(
            "/integrations/{id}/test",
            web::post().to(integrations::send_test),
        )
        .route(
            "/integrations/{id}/delete",
            web::post().to(integrations::delete),
        )
        .route("/deliveries", web::get().to(deliveries::list))
        .route("/deliveries/{id}", web::get().to(deliveries::show))
        .route("/dead-letters", web::get().to(deliveries::dead_letters))
        .service(
            web::resource("/dead-letters/replay")
                .route(web::get().to(deliveries::replay_preview))
                .route(web::post().to(deliveries::replay_filtered)),
        )
        .route(
            "/dead-letters/{id}/replay",
            web::post().to(deliveries::replay_one),
        )
        .route("/contacts", web::get().to(contacts::list))
        .route("/contacts/{id}", web::get().to(contacts::show))
        .service(
            web::resource("/lists")
                .route(web::get().to(lists::lists))
                .route(web::post().to(lists::create_list)),
        )
        .route("/lists/{id}/delete", web::post().to(lists::delete_list))
        .service(
            web::resource("/properties")
                .route(web::get().to(audience::properties))
                .route(web::post().to(audience::create_property)),
        )
        .route("/suppressions", web::get().to(audience::suppression_list))
        .route(
            "/suppressions/remove",
            web::post().to(audience::remove_suppression),
        )
        .service(
            web::resource("/templates")
                .route(web::get().to(email_templates::templates))
                .route(web::post().to(email_templates::create_template)),
        )
        .route(
            "/templates/new",
            web::get().to(email_templates::new_template),
        )
        .service(
            web::resource("/templates/{id}")
                .route(web::get().to(email_templates::template))
                .route(web::post().to(email_templates::update_template)),
        )
        .route(
            "/templates/{id}/preview",
            web::get().to(email_templates::preview),
        )
        .service(
            web::resource("/workflows")
                .route(web::get().to(workflows::workflows))
                .route(web::post().to(workflows::create_workflow)),
        )
        .route("/workflows/new", web::get().to(workflows::new_workflow))
        .service(
            web::resource("/workflows/{id}")
                .route(web::get().to(workflows::show))
                .route(web::post().to(workflows::update_workflow)),
        )
        .route(
            "/workflows/{id}/edit",
            web::get().to(workflows::edit_workflow),
        )
        .route(
            "/workflows/{id}/enabled",
            web::post().to(workflows::set_enabled),
        )
        .route("/emails", web::get().to(workflows::emails))
        .route("/transactional", web::get().to(transactional::list))
        .route("/transactional/{id}", web::get().to(transactional::show))
        .route(
            "/transactional/{id}/preview/{which}",
            web::get().to(transactional::preview_frame),
        )
        .default_service(web::to(not_found));
    cfg.service(scope);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_template_parses_and_escapes() {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let html = env
            .get_template("error.html")
            .unwrap()
            .render(minijinja::context! { status => 400, reason => "Bad Request", message => "<script>" })
            .unwrap();
        assert!(html.contains("&lt;script&gt;") && !html.contains("<script>x"));
    }

    #[test]
    fn query_values_are_percent_encoded_by_the_builtin_filter() {
        let encode = |v: &str| {
            env()
                .render_str("{{ v | urlencode }}", minijinja::context! { v })
                .unwrap()
        };
        assert_eq!(encode("a b&c=d?é"), "a%20b%26c%3Dd%3F%C3%A9");
        assert_eq!(encode("ada+news@example.com"), "ada%2Bnews%40example.com");
    }

    #[test]
    fn times_are_utc_and_readable() {
        assert_eq!(format_time(0), "1970-01-01 00:00:00");
        assert_eq!(format_time(1_700_000_000_123), "2023-11-14 22:13:20");
    }
}
