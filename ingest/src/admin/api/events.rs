//! `/api/v1/events/send`: a custom event on a contact, as the Loops REST API records it, with
//! an optional `Idempotency-Key`.

use actix_web::{HttpRequest, web};
use inlet_shared::contacts;
use inlet_shared::domain::now_ms;
use inlet_shared::telemetry::propagation;
use sea_orm::TransactionTrait;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::contacts::{
    ContactBody, MAX_CHARS, check_lists, check_types, contact_fields, custom_value, object, upsert,
};
use super::idempotency;
use super::schemas::Message;
use crate::error::ApiError;
use crate::state::AppState;

/// The keys of an event body that are not contact fields.
const EVENT_FIELDS: [&str; 2] = ["eventName", "eventProperties"];

// `send_event` reads the body as JSON itself, as `contact_fields` does; this type declares
// the keys it reads (a test checks they are the same).
/// Body of `POST /api/v1/events/send`: an event name, its properties, and contact fields
/// (email and/or userId identify the contact).
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
#[expect(
    dead_code,
    reason = "declares the request body for the OpenAPI document; the handler reads the JSON, and a test ties the two"
)]
pub struct EventBody {
    /// 1–500 characters, no `:`.
    event_name: String,
    /// String, number, boolean or `null` values.
    event_properties: Option<Map<String, Value>>,
    #[serde(flatten)]
    contact: ContactBody,
}

/// `{success: true}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Success {
    success: bool,
}

impl Success {
    /// `{success: true}`.
    pub fn ok() -> Self {
        Self { success: true }
    }
}

/// `POST /api/v1/events/send`: records a custom event on the contact (created if missing),
/// exactly as a webhook event is recorded. An `Idempotency-Key` seen in the last 24 hours
/// is refused with 409.
#[utoipa::path(post, path = "/api/v1/events/send", tag = "events", request_body = EventBody, params(("Idempotency-Key" = Option<String>, Header, description = "A repeat within 24 hours is refused with 409")), responses((status = 200, body = Success), (status = 400, description = "Invalid input", body = Message), (status = 401, description = "Missing or wrong API key", body = Message), (status = 409, description = "Idempotency-Key already used", body = Message)), security(("apiKey" = [])))]
pub async fn send_event(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<web::Json<Success>, ApiError> {
    let body = object(body.into_inner())?;
    let event_name = match body.get("eventName") {
        Some(Value::String(name)) => name.trim().to_owned(),
        Some(_) => return Err(ApiError::BadRequest("eventName must be a string.".into())),
        None => return Err(ApiError::BadRequest("eventName is required.".into())),
    };
    if event_name.is_empty() || event_name.chars().count() > MAX_CHARS || event_name.contains(':') {
        return Err(ApiError::BadRequest(format!(
            "eventName must be 1 to {MAX_CHARS} characters and may not contain ':'."
        )));
    }
    let event_properties = match body.get("eventProperties") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(props)) => {
            for (key, value) in props {
                custom_value(&format!("eventProperties.{key}"), value)?;
            }
            props.clone()
        }
        Some(_) => {
            return Err(ApiError::BadRequest(
                "eventProperties must be an object.".into(),
            ));
        }
    };
    let mut f = contact_fields(&body, &EVENT_FIELDS)?;
    if f.email.value().is_none() && f.user_id.value().is_none() {
        return Err(ApiError::BadRequest("Provide an email or a userId.".into()));
    }
    let idempotency_key = idempotency::key_of(&req)?;
    check_lists(&state.db, &f.mailing_lists).await?;
    check_types(&state.db, &mut f).await?;
    let now = now_ms();
    let txn = state.db.begin().await?;
    if let Some(key) = &idempotency_key {
        idempotency::claim(&txn, key, now).await?;
    }
    let contact = upsert(&txn, &f).await?;
    contacts::record_event(
        &txn,
        &contact,
        &event_name,
        &event_properties,
        now,
        None,
        &propagation::current(),
    )
    .await?;
    txn.commit().await?;
    Ok(web::Json(Success::ok()))
}

#[cfg(test)]
mod tests {
    use utoipa::PartialSchema;

    use super::{EVENT_FIELDS, EventBody};

    /// The document's event body is the contact body and the keys `send_event` reads besides.
    #[test]
    fn the_documented_body_has_the_event_fields_and_the_contact_ones() {
        let schema = serde_json::to_value(EventBody::schema()).unwrap();
        let parts = schema["allOf"].as_array().unwrap();
        assert_eq!(parts[0]["$ref"], "#/components/schemas/ContactBody");
        let mut documented: Vec<&str> = parts[1]["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        documented.sort_unstable();
        assert_eq!(documented, EVENT_FIELDS);
        assert_eq!(parts.len(), 2);
    }
}
