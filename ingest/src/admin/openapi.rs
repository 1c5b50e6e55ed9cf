//! The OpenAPI document of the REST API, generated from the handlers' annotations and the
//! types they read and write (`GET /api/openapi.json`); the schemas the paths name are
//! collected from them.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::admin::api::{
    api_key, contacts, dead_letters, emails, event_patterns, events, integrations, lists,
    templates, transactional, webhook_events, workflows,
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

/// Declares the rate limit's `429` on every route (`rate_limit`), with the headers every
/// answer carries.
struct RateLimited;

impl Modify for RateLimited {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{
            ContentBuilder, HttpMethod, ObjectBuilder, RefOr, ResponseBuilder, Type,
            header::HeaderBuilder,
        };
        let integer = || {
            HeaderBuilder::new()
                .schema(ObjectBuilder::new().schema_type(Type::Integer))
                .build()
        };
        let response = ResponseBuilder::new()
            .description(
                "The API key made more requests than its rate limit (`INLET_API_RATE_LIMIT`).",
            )
            .header("x-ratelimit-limit", integer())
            .header("x-ratelimit-remaining", integer())
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                        "Message",
                    ))))
                    .build(),
            )
            .build();
        for item in openapi.paths.paths.values_mut() {
            for method in [
                HttpMethod::Get,
                HttpMethod::Post,
                HttpMethod::Put,
                HttpMethod::Patch,
                HttpMethod::Delete,
            ] {
                let operation = match method {
                    HttpMethod::Get => item.get.as_mut(),
                    HttpMethod::Post => item.post.as_mut(),
                    HttpMethod::Put => item.put.as_mut(),
                    HttpMethod::Patch => item.patch.as_mut(),
                    HttpMethod::Delete => item.delete.as_mut(),
                    _ => None,
                };
                if let Some(operation) = operation {
                    operation
                        .responses
                        .responses
                        .insert("429".into(), RefOr::T(response.clone()));
                }
            }
        }
    }
}

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(title = "Inlet", description = "Contacts, events, lists, integrations and deliveries. The contact, contact-property, suppression, event, event-pattern, list, transactional, workflow and api-key routes follow the Loops REST API (`POST /api/v1/workflows/{id}/status` and the timer unit `s` are Inlet's own; `PATCH /api/v1/workflows/{id}` and the `trigger`/`steps` create body are deprecated)."),
    paths(
        contacts::create, contacts::update, contacts::find, contacts::delete, events::send_event, api_key::api_key,
        contacts::properties::create, contacts::properties::list, contacts::suppression::check, contacts::suppression::remove,
        event_patterns::list, event_patterns::get, event_patterns::by_name,
        lists::list, lists::create, lists::delete,
        integrations::create, integrations::list, integrations::get, integrations::update, integrations::delete,
        integrations::secrets::add_secret, integrations::secrets::list_secrets, integrations::secrets::update_secret, integrations::secrets::delete_secret, integrations::test_events::send_test_event,
        webhook_events::list, dead_letters::list, dead_letters::replay,
        templates::create, templates::list, templates::get, templates::update, templates::delete,
        workflows::create, workflows::list, workflows::get, workflows::update, workflows::patch, workflows::delete,
        workflows::mailing_list, workflows::set_status, workflows::create_node, workflows::get_node,
        workflows::update_node, workflows::delete_node, workflows::add_branch, workflows::reroute,
        workflows::delete_recursive,
        emails::list,
        transactional::send::send, transactional::list, transactional::get, transactional::create,
        transactional::update, transactional::ensure_draft, transactional::publish,
        transactional::messages::get, transactional::messages::update,
    ),
    modifiers(&BearerKey, &RateLimited),
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

    /// Every route declares the rate limit's answer.
    #[test]
    fn every_route_can_answer_429() {
        let doc = super::ApiDoc::openapi().to_json().unwrap();
        let doc: serde_json::Value = serde_json::from_str(&doc).unwrap();
        let mut operations = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                operations += 1;
                let limited = &op["responses"]["429"];
                assert!(
                    limited["headers"]["x-ratelimit-limit"].is_object(),
                    "{method} {path}: {limited}"
                );
            }
        }
        assert!(operations > 20, "{operations}");
    }

    /// The new Loops routes are in the document, with their answers' field names.
    #[test]
    fn properties_suppression_and_event_patterns_are_documented() {
        let doc = super::ApiDoc::openapi().to_json().unwrap();
        let doc: serde_json::Value = serde_json::from_str(&doc).unwrap();
        for path in [
            "/api/v1/contacts/properties",
            "/api/v1/contacts/suppression",
            "/api/v1/event-patterns",
            "/api/v1/event-patterns/{id}",
            "/api/v1/event-patterns/by-name/{eventName}",
        ] {
            assert!(doc["paths"][path].is_object(), "{path} is not documented");
        }
        let schemas = &doc["components"]["schemas"];
        assert!(schemas["SuppressionStatus"]["properties"]["removalQuota"].is_object());
        assert!(
            schemas["EventPatternSummary"]["properties"]["incomingWebhookPlatform"].is_object()
        );
        assert!(schemas["Contact"]["properties"]["optInStatus"].is_object());
        assert!(schemas["ContactProperty"]["properties"]["type"].is_object());
    }
}
