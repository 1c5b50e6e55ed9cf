//! The OpenAPI document of the REST API, generated from the handlers' annotations and the
//! types they read and write (`GET /api/openapi.json`); the schemas the paths name are
//! collected from them.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::admin::api::{
    api_key, contacts, dead_letters, emails, events, integrations, lists, templates, transactional,
    webhook_events, workflows,
};

/// Declares the bearer API key every route needs.
struct BearerKey;

impl Modify for BearerKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "apiKey",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("inlet_…")
                    .build(),
            ),
        );
    }
}

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(title = "Inlet", description = "Contacts, events, lists, integrations and deliveries. The contact, event, list, transactional and api-key routes follow the Loops REST API."),
    paths(
        contacts::create, contacts::update, contacts::find, contacts::delete, events::send_event, api_key::api_key,
        lists::list, lists::create, lists::delete,
        integrations::create, integrations::list, integrations::get, integrations::update, integrations::delete,
        integrations::secrets::add_secret, integrations::secrets::list_secrets, integrations::secrets::update_secret, integrations::secrets::delete_secret, integrations::test_events::send_test_event,
        webhook_events::list, dead_letters::list, dead_letters::replay,
        templates::create, templates::list, templates::get, templates::update, templates::delete,
        workflows::create, workflows::list, workflows::get, workflows::update, workflows::delete,
        emails::list,
        transactional::send::send, transactional::list, transactional::get, transactional::create,
        transactional::update, transactional::ensure_draft, transactional::publish,
        transactional::messages::get, transactional::messages::update,
    ),
    modifiers(&BearerKey),
)]
pub struct ApiDoc;

/// `GET /api/openapi.json`.
pub async fn document() -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok().json(ApiDoc::openapi())
}

#[cfg(test)]
mod tests {
    use utoipa::OpenApi;

    /// The document names a trigger's fields as the API reads them (serde's
    /// `rename_all_fields` is not seen by the schema, so each field is renamed itself).
    #[test]
    fn trigger_fields_are_named_as_the_api_reads_them() {
        let doc = super::ApiDoc::openapi().to_json().unwrap();
        let doc: serde_json::Value = serde_json::from_str(&doc).unwrap();
        let variants = doc["components"]["schemas"]["Trigger"]["oneOf"].to_string();
        assert!(
            variants.contains("\"eventName\"") && variants.contains("\"listId\""),
            "{variants}"
        );
        assert!(!variants.contains("event_name") && !variants.contains("list_id"));
    }
}
