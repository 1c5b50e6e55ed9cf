//! Every route of the public listener, composed from its surfaces: the webhook source
//! ([`crate::source`]), the recipients' unsubscribe page ([`crate::unsubscribe`]), health
//! ([`crate::ops`]) and the admin surface ([`crate::admin`]).

use actix_web::{HttpResponse, web};

use crate::error::{ApiError, outcome};
use crate::source::webhooks;
use crate::{admin, ops, unsubscribe};

/// Registers every route; `attachments_max_bytes` (`INLET_ATTACHMENTS_MAX_BYTES`) sizes the
/// body limit of the one route that takes files.
pub fn configure(cfg: &mut web::ServiceConfig, attachments_max_bytes: usize) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(256 * 1024)
            .error_handler(|err, _| {
                ApiError::BadRequest(format!("Invalid JSON body: {err}")).into()
            }),
    )
    .app_data(
        web::QueryConfig::default()
            .error_handler(|err, _| ApiError::BadRequest(format!("Invalid query: {err}")).into()),
    )
    .app_data(
        web::PathConfig::default()
            .error_handler(|err, _| ApiError::BadRequest(format!("Invalid path: {err}")).into()),
    )
    // A static prefix, not a `{integration_id}` pattern: the hottest route is matched by a
    // string comparison instead of a regex, and `receive` reads the id from the rest.
    .service(web::scope("/webhooks").default_service(web::to(webhooks::receive)))
    .service(
        web::resource("/unsubscribe/{token}")
            .route(web::get().to(unsubscribe::confirm))
            .route(web::post().to(unsubscribe::unsubscribe)),
    )
    // Someone opening the service's address in a browser is looking for the console.
    .route("/", web::get().to(home))
    .route("/health/live", web::get().to(ops::live))
    .route("/health/ready", web::get().to(ops::ready))
    // No `/metrics` here: this listener faces the platforms and the internet; metrics are on
    // the ops listener (`INLET_OPS_LISTEN`).
    .configure(|cfg| admin::configure(cfg, attachments_max_bytes));
}

/// `GET /`: to the console (its own sign-in page when there is no session).
async fn home() -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((actix_web::http::header::LOCATION, "/console"))
        .finish()
}

/// JSON 404 for unknown paths.
pub async fn not_found() -> HttpResponse {
    outcome(
        actix_web::http::StatusCode::NOT_FOUND,
        false,
        "Not found.",
        None,
    )
}
