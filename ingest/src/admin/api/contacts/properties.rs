//! `/api/v1/contacts/properties`: declaring a typed custom contact property and listing
//! the properties contacts have, as Loops' API does (`createContactProperty`,
//! `listContactProperties`).

use actix_web::web;
use inlet_shared::contacts::properties as declared;
use inlet_shared::properties::{BUILT_IN, PropertyType, check_name, label_of};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::object;
use crate::admin::api::events::Success;
use crate::admin::api::schemas::Message;
use crate::error::ApiError;
use crate::state::AppState;

// The handler reads the JSON itself, to answer Loops' messages for a missing or mistyped
// field; this type declares the body for the document.
/// Body of `POST /api/v1/contacts/properties`.
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "declares the request body for the OpenAPI document; the handler reads the JSON"
)]
pub struct PropertyBody {
    /// camelCase, like `planName`: a lowercase letter, then letters and digits.
    #[schema(example = "planName")]
    name: String,
    /// `string`, `number`, `boolean` or `date`.
    #[schema(example = "string")]
    r#type: String,
}

/// `POST /api/v1/contacts/properties` with `{name, type}` → `{success: true}`; 400 when the
/// name is not camelCase, reserved, built in or taken, or the type is not one of Loops'.
#[utoipa::path(post, path = "/api/v1/contacts/properties", tag = "contacts", request_body = PropertyBody, responses((status = 200, body = Success), (status = 400, description = "Invalid name or type, or the property exists", body = Message), (status = 401, description = "Missing or wrong API key", body = Message)), security(("apiKey" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<web::Json<Success>, ApiError> {
    let body = object(body.into_inner())?;
    let name = match body.get("name") {
        Some(Value::String(name)) => name.as_str(),
        Some(_) => return Err(ApiError::BadRequest("name must be a string.".into())),
        None => return Err(ApiError::BadRequest("name is required.".into())),
    };
    let kind = match body.get("type") {
        Some(Value::String(kind)) => PropertyType::parse(kind).ok_or_else(|| {
            ApiError::BadRequest("type must be one of string, number, boolean or date.".into())
        })?,
        Some(_) => return Err(ApiError::BadRequest("type must be a string.".into())),
        None => return Err(ApiError::BadRequest("type is required.".into())),
    };
    check_name(name)?;
    if !declared::declare(&state.db, name, kind).await? {
        return Err(ApiError::BadRequest(format!(
            "A contact property named {name} already exists."
        )));
    }
    Ok(web::Json(Success::ok()))
}

/// Query of `GET /api/v1/contacts/properties`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `all` (the default: built-in and custom) or `custom`.
    #[param(example = "custom")]
    list: Option<String>,
}

/// A contact property as Loops lists it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContactProperty {
    /// The name used in the API.
    key: String,
    /// A human-friendly label.
    label: String,
    /// `string`, `number`, `boolean` or `date`.
    #[schema(value_type = String, example = "string")]
    r#type: PropertyType,
}

/// `GET /api/v1/contacts/properties?list=all|custom` → the built-in properties (for `all`)
/// then the declared custom ones, by name.
#[utoipa::path(get, path = "/api/v1/contacts/properties", tag = "contacts", params(ListQuery), responses((status = 200, body = Vec<ContactProperty>), (status = 400, description = "Invalid list", body = Message), (status = 401, description = "Missing or wrong API key", body = Message)), security(("apiKey" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<web::Json<Vec<ContactProperty>>, ApiError> {
    let built_in = match query.list.as_deref() {
        None | Some("all") => true,
        Some("custom") => false,
        Some(_) => {
            return Err(ApiError::BadRequest("list must be all or custom.".into()));
        }
    };
    let mut out = Vec::new();
    if built_in {
        out.extend(BUILT_IN.iter().map(|(key, label, kind)| ContactProperty {
            key: (*key).to_owned(),
            label: (*label).to_owned(),
            r#type: *kind,
        }));
    }
    out.extend(
        declared::list(&state.db)
            .await?
            .into_iter()
            .map(|(key, kind)| ContactProperty {
                label: label_of(&key),
                key,
                r#type: kind,
            }),
    );
    Ok(web::Json(out))
}
