//! `POST /api/v1/transactional` (SDK `sendTransactionalEmail`): checks the request against
//! the published message (its data variables), claims the `Idempotency-Key`, creates the
//! contact when asked (`addToAudience`), and starts the send — a run the worker sends once
//! through the same path as workflow email — in one transaction. Errors take Loops' shapes:
//! `{success: false, path, message}`, and for missing data variables the nested one with
//! the transactional id.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use inlet_shared::db::entities::contact;
use inlet_shared::domain::{Email, now_ms};
use inlet_shared::telemetry::propagation;
use inlet_shared::transactional::{self, Attachment, Payload};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, TransactionTrait};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::super::contacts::{contact_fields, object, upsert};
use super::super::events::Success;
use super::super::idempotency;
use super::super::schemas::Message;
use super::variables_of;
use crate::error::ApiError;
use crate::state::AppState;

/// Body of `POST /api/v1/transactional`.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
#[expect(
    dead_code,
    reason = "declares the request body for the OpenAPI document; the handler reads the JSON itself, for errors naming the path"
)]
pub struct TransactionalBody {
    /// The transactional email to send.
    transactional_id: String,
    #[schema(format = "email")]
    email: String,
    /// Create a contact with this email if none exists [false].
    add_to_audience: Option<bool>,
    /// The values of the published message's data variables: strings, numbers, or arrays
    /// of objects of strings and numbers.
    data_variables: Option<Map<String, Value>>,
    /// Files sent along; together at most `INLET_ATTACHMENTS_MAX_BYTES` decoded.
    attachments: Option<Vec<Attachment>>,
}

/// Loops' `TransactionalError`: `{type: "error", success: false, path, message}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldError {
    /// `"error"`.
    r#type: &'static str,
    success: bool,
    /// The request field at fault.
    path: String,
    message: String,
}

/// `{path, message}` inside a [`NestedError`].
#[derive(Debug, Serialize, ToSchema)]
pub struct NestedDetail {
    path: String,
    message: String,
}

/// Loops' `TransactionalNestedError`:
/// `{type: "nestedError", success: false, error: {path, message}, transactionalId}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NestedError {
    /// `"nestedError"`.
    r#type: &'static str,
    success: bool,
    error: NestedDetail,
    transactional_id: String,
}

/// Why a send is refused.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// A field is missing or wrong (400), or the transactional email is unknown (404).
    #[error("{path}: {message}")]
    Field {
        status: StatusCode,
        path: &'static str,
        message: String,
    },
    /// Data variables the published message uses are missing.
    #[error("dataVariables: {message}")]
    Missing {
        message: String,
        transactional_id: String,
    },
    /// Everything else takes the API's shape (a used `Idempotency-Key`, the database).
    #[error(transparent)]
    Api(ApiError),
}

impl From<ApiError> for SendError {
    /// A 400 of a shared check keeps this route's shape, at `body`; the rest keep theirs.
    fn from(e: ApiError) -> Self {
        at("body")(e)
    }
}

impl From<sea_orm::DbErr> for SendError {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::Api(ApiError::from(e))
    }
}

/// Puts a shared check's 400 at `path`, in this route's shape.
fn at(path: &'static str) -> impl Fn(ApiError) -> SendError {
    move |e| match e {
        ApiError::BadRequest(message) => field(path, message),
        e => SendError::Api(e),
    }
}

/// Any 400 of this route: [`FieldError`] or, for missing data variables, [`NestedError`].
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum Refused {
    /// A field is missing or wrong.
    Field(FieldError),
    /// Data variables are missing.
    Nested(NestedError),
}

fn field(path: &'static str, message: impl Into<String>) -> SendError {
    SendError::Field {
        status: StatusCode::BAD_REQUEST,
        path,
        message: message.into(),
    }
}

impl ResponseError for SendError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Field { status, .. } => *status,
            Self::Missing { .. } => StatusCode::BAD_REQUEST,
            Self::Api(e) => e.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Field {
                status,
                path,
                message,
            } => HttpResponse::build(*status).json(FieldError {
                r#type: "error",
                success: false,
                path: (*path).to_owned(),
                message: message.clone(),
            }),
            Self::Missing {
                message,
                transactional_id,
            } => HttpResponse::BadRequest().json(NestedError {
                r#type: "nestedError",
                success: false,
                error: NestedDetail {
                    path: "dataVariables".into(),
                    message: message.clone(),
                },
                transactional_id: transactional_id.clone(),
            }),
            Self::Api(e) => e.error_response(),
        }
    }
}

/// A data variable's value: a string, a number, or an array of objects of those.
fn check_value(name: &str, value: &Value) -> Result<(), SendError> {
    let scalar = |v: &Value| v.is_string() || v.is_number();
    let ok = match value {
        Value::Null => true,
        Value::Array(items) => items
            .iter()
            .all(|item| item.as_object().is_some_and(|o| o.values().all(scalar))),
        other => scalar(other),
    };
    if ok {
        Ok(())
    } else {
        Err(field(
            "dataVariables",
            format!(
                "dataVariables.{name} must be a string, a number, or an array of objects of strings and numbers."
            ),
        ))
    }
}

fn string<'a>(body: &'a Map<String, Value>, name: &'static str) -> Result<&'a str, SendError> {
    match body.get(name) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim()),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            Err(field(name, format!("{name} is required.")))
        }
        Some(_) => Err(field(name, format!("{name} must be a string."))),
    }
}

/// What the body asks, checked.
struct Request {
    transactional_id: String,
    email: Email,
    add_to_audience: bool,
    data_variables: Option<Map<String, Value>>,
    attachments: Vec<Attachment>,
}

fn read(body: Value, limit: usize) -> Result<Request, SendError> {
    let body = object(body)?;
    let transactional_id = string(&body, "transactionalId")?.to_owned();
    let email = Email::parse(string(&body, "email")?)
        .ok_or_else(|| field("email", "email is not a valid email address."))?;
    let add_to_audience = match body.get("addToAudience") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(field("addToAudience", "addToAudience must be a boolean.")),
    };
    let data_variables = match body.get("dataVariables") {
        None | Some(Value::Null) => None,
        Some(Value::Object(vars)) => {
            for (name, value) in vars {
                check_value(name, value)?;
            }
            Some(vars.clone())
        }
        Some(_) => return Err(field("dataVariables", "dataVariables must be an object.")),
    };
    let attachments: Vec<Attachment> = match body.get("attachments") {
        None | Some(Value::Null) => Vec::new(),
        Some(list) => serde_json::from_value(list.clone()).map_err(|e| {
            field(
                "attachments",
                format!("attachments must be a list of {{filename, contentType, data}}: {e}."),
            )
        })?,
    };
    transactional::check_attachments(&attachments, limit)
        .map_err(|e| field("attachments", e.to_string()))?;
    Ok(Request {
        transactional_id,
        email,
        add_to_audience,
        data_variables,
        attachments,
    })
}

/// `POST /api/v1/transactional` → `{success: true}` once the send is queued; the worker
/// sends it (see `GET /api/v1/emails`). The contact's `subscribed` flag does not apply:
/// transactional email is not marketing.
#[utoipa::path(post, path = "/api/v1/transactional", tag = "transactional", request_body = TransactionalBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "A repeat within 24 hours is refused with 409")),
    responses((status = 200, body = Success),
        (status = 400, description = "Invalid input; missing data variables take the nested shape", body = Refused),
        (status = 401, description = "Missing or wrong API key", body = Message),
        (status = 404, description = "No transactional email with this id", body = FieldError),
        (status = 409, description = "Idempotency-Key already used", body = Message)),
    security(("apiKey" = [])))]
pub async fn send(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<web::Json<Success>, SendError> {
    let r = read(body.into_inner(), state.config.attachments_max_bytes)?;
    let idempotency_key = idempotency::key_of(&req).map_err(at("Idempotency-Key"))?;
    let t = match super::load(&state.db, &r.transactional_id).await {
        Ok(t) => t,
        Err(ApiError::NotFound(_)) => {
            return Err(SendError::Field {
                status: StatusCode::NOT_FOUND,
                path: "transactionalId",
                message: "Transactional email not found.".into(),
            });
        }
        Err(e) => return Err(e.into()),
    };
    if t.published_template_id.is_none() {
        return Err(field(
            "transactionalId",
            "This transactional email is not published.",
        ));
    }
    let required = variables_of(&t);
    let data_variables = match r.data_variables {
        Some(vars) => vars,
        None if required.is_empty() => Map::new(),
        None => {
            return Err(field(
                "dataVariables",
                "There are required fields for this email. You need to include a 'dataVariables' object with the required fields.",
            ));
        }
    };
    let missing = transactional::missing(&required, &data_variables);
    if !missing.is_empty() {
        return Err(SendError::Missing {
            message: format!("Missing required fields: {}", missing.join(", ")),
            transactional_id: t.id,
        });
    }
    let now = now_ms();
    let txn = state.db.begin().await?;
    if let Some(key) = &idempotency_key {
        idempotency::claim(&txn, key, now).await?;
    }
    let found = contact::Entity::find()
        .filter(contact::Column::Email.eq(r.email.as_str()))
        .one(&txn)
        .await?;
    let contact_id = match found {
        Some(c) => c.id,
        None if r.add_to_audience => {
            let mut only_email = Map::new();
            only_email.insert("email".into(), Value::String(r.email.as_str().to_owned()));
            let fields = contact_fields(&only_email, &[]).map_err(at("email"))?;
            upsert(&txn, &fields).await.map_err(at("email"))?.id
        }
        None => String::new(),
    };
    let payload = Payload {
        email: r.email.as_str().to_owned(),
        data_variables,
        attachments: r.attachments,
    };
    transactional::start(&txn, &t.id, &contact_id, &payload, &propagation::current()).await?;
    txn.commit().await?;
    Ok(web::Json(Success::ok()))
}

/// The answer to a body over [`body_limit`] or not JSON, in the route's shape.
pub fn body_error(err: actix_web::error::JsonPayloadError) -> SendError {
    match err {
        actix_web::error::JsonPayloadError::OverflowKnownLength { .. }
        | actix_web::error::JsonPayloadError::Overflow { .. } => field(
            "attachments",
            "The request is larger than the attachments limit allows (INLET_ATTACHMENTS_MAX_BYTES).",
        ),
        other => field("body", format!("Invalid JSON body: {other}")),
    }
}

/// The body limit of this route: the attachments' base64 (4 characters per 3 bytes) and
/// room for the rest; a larger body is refused before it is read whole.
pub fn body_limit(attachments_max_bytes: usize) -> usize {
    attachments_max_bytes
        .saturating_add(2)
        .saturating_div(3)
        .saturating_mul(4)
        .saturating_add(256 * 1024)
}

#[cfg(test)]
mod tests;
