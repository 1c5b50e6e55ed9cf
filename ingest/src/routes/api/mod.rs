//! The REST API under `/api/v1`, every route behind an API key.

pub mod contacts;
pub mod dead_letters;
pub mod integrations;
pub mod lists;
pub mod schemas;
pub mod templates;
pub mod webhook_events;
pub mod workflows;

use actix_web::{Scope, middleware::from_fn, web};

/// The `/api` scope.
pub fn scope() -> Scope<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    web::scope("/api")
        .wrap(from_fn(crate::auth::require_api_key))
        .route("/v1/integrations", web::post().to(integrations::create))
        .route("/v1/integrations", web::get().to(integrations::list))
        .route("/v1/integrations/{id}", web::get().to(integrations::get))
        .route(
            "/v1/integrations/{id}",
            web::patch().to(integrations::update),
        )
        .route(
            "/v1/integrations/{id}",
            web::delete().to(integrations::delete),
        )
        .route(
            "/v1/integrations/{id}/secrets",
            web::post().to(integrations::add_secret),
        )
        .route(
            "/v1/integrations/{id}/secrets/{n}",
            web::delete().to(integrations::delete_secret),
        )
        .route("/v1/contacts/find", web::get().to(contacts::find))
        .route("/v1/contacts/create", web::post().to(contacts::create))
        .route("/v1/contacts/update", web::put().to(contacts::update))
        .route("/v1/contacts/delete", web::post().to(contacts::delete))
        .route("/v1/events/send", web::post().to(contacts::send_event))
        .route("/v1/api-key", web::get().to(contacts::api_key))
        .route("/v1/lists", web::get().to(lists::list))
        .route("/v1/lists", web::post().to(lists::create))
        .route("/v1/lists/{id}", web::delete().to(lists::delete))
        .route("/v1/dead-letters", web::get().to(dead_letters::list))
        .route(
            "/v1/dead-letters/replay",
            web::post().to(dead_letters::replay),
        )
        .route("/v1/templates", web::post().to(templates::create))
        .route("/v1/templates", web::get().to(templates::list))
        .route("/v1/templates/{id}", web::get().to(templates::get))
        .route("/v1/templates/{id}", web::patch().to(templates::update))
        .route("/v1/templates/{id}", web::delete().to(templates::delete))
        .route("/v1/workflows", web::post().to(workflows::create))
        .route("/v1/workflows", web::get().to(workflows::list))
        .route("/v1/workflows/{id}", web::get().to(workflows::get))
        .route("/v1/workflows/{id}", web::patch().to(workflows::update))
        .route("/v1/workflows/{id}", web::delete().to(workflows::delete))
        .route("/openapi.json", web::get().to(crate::openapi::document))
        .route("/v1/webhook-events", web::get().to(webhook_events::list))
}
