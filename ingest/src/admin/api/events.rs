//! `/api/v1/events/send`: a custom event on a contact, as the Loops REST API records it, with
//! an optional `Idempotency-Key`.

use actix_web::{HttpRequest, HttpResponse, web};
use inlet_shared::contacts;
use inlet_shared::db::entities::api_idempotency_key;
use inlet_shared::domain::now_ms;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ActiveValue::Set, EntityTrait, TransactionTrait};
use serde_json::{Map, Value, json};

use super::contacts::{MAX_CHARS, check_lists, contact_fields, custom_value, object, upsert};
#[allow(unused_imports)]
use super::schemas::*;
use crate::error::ApiError;
use crate::state::AppState;

/// An `Idempotency-Key` repeated within this window is refused.
const IDEMPOTENCY_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;

/// `POST /api/v1/events/send`: records a custom event on the contact (created if missing),
/// exactly as a webhook event is recorded. An `Idempotency-Key` seen in the last 24 hours
/// is refused with 409.
#[utoipa::path(post, path = "/api/v1/events/send", tag = "events", request_body = EventBody, params(("Idempotency-Key" = Option<String>, Header, description = "A repeat within 24 hours is refused with 409")), responses((status = 200, body = Success), (status = 400, description = "Invalid input", body = Message), (status = 401, description = "Missing or wrong API key", body = Message), (status = 409, description = "Idempotency-Key already used", body = Message)), security(("apiKey" = [])))]
pub async fn send_event(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
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
    let f = contact_fields(&body, &["eventName", "eventProperties"])?;
    if f.email.value().is_none() && f.user_id.value().is_none() {
        return Err(ApiError::BadRequest("Provide an email or a userId.".into()));
    }
    let idempotency_key = match req.headers().get("idempotency-key") {
        None => None,
        Some(v) => match v.to_str() {
            Ok(k) if !k.is_empty() && k.len() <= 100 => Some(k.to_owned()),
            _ => {
                return Err(ApiError::BadRequest(
                    "Idempotency-Key must be 1 to 100 visible characters.".into(),
                ));
            }
        },
    };
    check_lists(&state.db, &f.mailing_lists).await?;
    let now = now_ms();
    let txn = state.db.begin().await?;
    if let Some(key) = &idempotency_key {
        // One conditional statement claims the key: inserted, or taken over when its last
        // use is out of the window. A concurrent request with the same key waits on the
        // unique key until this transaction ends, then finds it used and changes nothing,
        // where a read followed by a write would let both through.
        let claimed = api_idempotency_key::Entity::insert(api_idempotency_key::ActiveModel {
            key: Set(key.clone()),
            created_at: Set(now),
        })
        .on_conflict(
            OnConflict::column(api_idempotency_key::Column::Key)
                .update_column(api_idempotency_key::Column::CreatedAt)
                .action_and_where(
                    Expr::col((
                        api_idempotency_key::Entity,
                        api_idempotency_key::Column::CreatedAt,
                    ))
                    .lte(now - IDEMPOTENCY_WINDOW_MS),
                )
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
        if claimed == 0 {
            return Err(ApiError::Conflict(format!(
                "Idempotency-Key {key} was already used in the last 24 hours."
            )));
        }
    }
    let contact = upsert(&txn, &f).await?;
    contacts::record_event(&txn, &contact, &event_name, &event_properties, now, None).await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(json!({"success": true})))
}
