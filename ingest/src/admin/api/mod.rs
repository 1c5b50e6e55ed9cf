//! The REST API under `/api/v1`, every route behind an API key.

pub mod api_key;
pub mod contacts;
pub mod dead_letters;
pub mod emails;
pub mod event_patterns;
pub mod events;
mod idempotency;
pub mod integrations;
pub mod lists;
mod rows;
pub mod schemas;
pub mod templates;
pub mod transactional;
pub mod webhook_events;
pub mod workflows;

use actix_web::http::StatusCode;
use actix_web::http::header::{ALLOW, HeaderValue};
use actix_web::{HttpResponse, Resource, middleware::from_fn, web};

/// JSON 405 for a method a path does not have, with the `Allow` header (RFC 9110).
fn method_not_allowed(allow: &'static str) -> HttpResponse {
    let mut response = crate::error::outcome(
        StatusCode::METHOD_NOT_ALLOWED,
        false,
        "Method not allowed for this path.",
        None,
    );
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    response
}

/// A path whose other methods answer 405; `allow` lists the ones it has.
fn resource(path: &str, allow: &'static str) -> Resource {
    web::resource(path).default_service(web::to(move || async move { method_not_allowed(allow) }))
}

/// Registers the `/api` scope; `attachments_max_bytes` sizes the body limit of
/// `/v1/transactional` (`INLET_ATTACHMENTS_MAX_BYTES`).
pub fn configure(cfg: &mut web::ServiceConfig, attachments_max_bytes: usize) {
    let scope = web::scope("/api")
        .wrap(from_fn(crate::admin::auth::require_api_key))
        .service(
            resource("/v1/integrations", "POST, GET")
                .route(web::post().to(integrations::create))
                .route(web::get().to(integrations::list)),
        )
        .service(
            resource("/v1/integrations/{id}", "GET, PATCH, DELETE")
                .route(web::get().to(integrations::get))
                .route(web::patch().to(integrations::update))
                .route(web::delete().to(integrations::delete)),
        )
        .service(
            resource("/v1/integrations/{id}/secrets", "POST, GET")
                .route(web::post().to(integrations::add_secret))
                .route(web::get().to(integrations::list_secrets)),
        )
        .service(
            resource("/v1/integrations/{id}/secrets/{n}", "PATCH, DELETE")
                .route(web::patch().to(integrations::update_secret))
                .route(web::delete().to(integrations::delete_secret)),
        )
        .service(
            resource("/v1/integrations/{id}/test-events", "POST")
                .route(web::post().to(integrations::send_test_event)),
        )
        .service(resource("/v1/contacts/find", "GET").route(web::get().to(contacts::find)))
        .service(resource("/v1/contacts/create", "POST").route(web::post().to(contacts::create)))
        .service(resource("/v1/contacts/update", "PUT").route(web::put().to(contacts::update)))
        .service(resource("/v1/contacts/delete", "POST").route(web::post().to(contacts::delete)))
        .service(
            resource("/v1/contacts/properties", "POST, GET")
                .route(web::post().to(contacts::properties::create))
                .route(web::get().to(contacts::properties::list)),
        )
        .service(
            resource("/v1/contacts/suppression", "GET, DELETE")
                .route(web::get().to(contacts::suppression::check))
                .route(web::delete().to(contacts::suppression::remove)),
        )
        .service(resource("/v1/event-patterns", "GET").route(web::get().to(event_patterns::list)))
        .service(
            resource("/v1/event-patterns/by-name/{eventName}", "GET")
                .route(web::get().to(event_patterns::by_name)),
        )
        .service(
            resource("/v1/event-patterns/{id}", "GET").route(web::get().to(event_patterns::get)),
        )
        .service(resource("/v1/events/send", "POST").route(web::post().to(events::send_event)))
        .service(resource("/v1/api-key", "GET").route(web::get().to(api_key::api_key)))
        .service(
            resource("/v1/lists", "GET, POST")
                .route(web::get().to(lists::list))
                .route(web::post().to(lists::create)),
        )
        .service(resource("/v1/lists/{id}", "DELETE").route(web::delete().to(lists::delete)))
        .service(resource("/v1/dead-letters", "GET").route(web::get().to(dead_letters::list)))
        .service(
            resource("/v1/dead-letters/replay", "POST").route(web::post().to(dead_letters::replay)),
        )
        .service(
            resource("/v1/templates", "POST, GET")
                .route(web::post().to(templates::create))
                .route(web::get().to(templates::list)),
        )
        .service(
            resource("/v1/templates/{id}", "GET, PATCH, DELETE")
                .route(web::get().to(templates::get))
                .route(web::patch().to(templates::update))
                .route(web::delete().to(templates::delete)),
        )
        .service(
            resource("/v1/workflows", "POST, GET")
                .route(web::post().to(workflows::create))
                .route(web::get().to(workflows::list)),
        )
        .service(
            resource("/v1/workflows/{id}", "GET, POST, PATCH, DELETE")
                .route(web::get().to(workflows::get))
                .route(web::post().to(workflows::update))
                .route(web::patch().to(workflows::patch))
                .route(web::delete().to(workflows::delete)),
        )
        .service(
            resource("/v1/workflows/{id}/mailing-list", "POST")
                .route(web::post().to(workflows::mailing_list)),
        )
        .service(
            resource("/v1/workflows/{id}/status", "POST")
                .route(web::post().to(workflows::set_status)),
        )
        .service(
            resource("/v1/workflows/{id}/nodes", "POST")
                .route(web::post().to(workflows::create_node)),
        )
        .service(
            resource("/v1/workflows/{id}/nodes/{nodeId}", "GET, POST, DELETE")
                .route(web::get().to(workflows::get_node))
                .route(web::post().to(workflows::update_node))
                .route(web::delete().to(workflows::delete_node)),
        )
        .service(
            resource("/v1/workflows/{id}/nodes/{nodeId}/add-branch", "POST")
                .route(web::post().to(workflows::add_branch)),
        )
        .service(
            resource("/v1/workflows/{id}/nodes/{nodeId}/reroute", "POST")
                .route(web::post().to(workflows::reroute)),
        )
        .service(
            resource("/v1/workflows/{id}/nodes/{nodeId}/recursive", "DELETE")
                .route(web::delete().to(workflows::delete_recursive)),
        )
        .service(
            resource("/v1/transactional", "POST")
                .app_data(
                    web::JsonConfig::default()
                        .limit(transactional::send::body_limit(attachments_max_bytes))
                        .error_handler(|err, _| transactional::send::body_error(err).into()),
                )
                .route(web::post().to(transactional::send::send)),
        )
        .service(
            resource("/v1/transactional-emails", "GET, POST")
                .route(web::get().to(transactional::list))
                .route(web::post().to(transactional::create)),
        )
        .service(
            resource("/v1/transactional-emails/{id}", "GET, POST")
                .route(web::get().to(transactional::get))
                .route(web::post().to(transactional::update)),
        )
        .service(
            resource("/v1/transactional-emails/{id}/draft", "POST")
                .route(web::post().to(transactional::ensure_draft)),
        )
        .service(
            resource("/v1/transactional-emails/{id}/publish", "POST")
                .route(web::post().to(transactional::publish)),
        )
        .service(
            resource("/v1/email-messages/{id}", "GET, POST")
                .route(web::get().to(transactional::messages::get))
                .route(web::post().to(transactional::messages::update)),
        )
        .service(resource("/v1/emails", "GET").route(web::get().to(emails::list)))
        .service(resource("/v1/webhook-events", "GET").route(web::get().to(webhook_events::list)))
        .service(
            resource("/openapi.json", "GET").route(web::get().to(crate::admin::openapi::document)),
        );
    cfg.service(scope);
}
