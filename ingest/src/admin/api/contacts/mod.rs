//! `/api/v1/contacts/*`: the Loops REST API's paths, fields, status codes and error shapes,
//! so code written for Loops works against Inlet.

mod fields;
pub mod properties;
pub mod suppression;
mod view;
mod write;

/// The other Loops routes, reachable beside the contact ones as before.
pub use super::{api_key::api_key, events::send_event};
pub use fields::ContactBody;
pub(crate) use fields::{
    MAX_CHARS, check_lists, check_types, contact_fields, custom_value, object,
};
pub use view::Contact;
pub(crate) use write::upsert;

use actix_web::web;
use inlet_shared::contacts;
use inlet_shared::db::entities::contact;
use inlet_shared::domain::{Email, now_ms};
use sea_orm::TransactionTrait;
use serde::Deserialize;
use serde_json::Value;

use super::schemas::{Created, Message};
use crate::error::ApiError;
use crate::state::AppState;
use fields::Field;
use write::{create_contact, find_by};

/// `POST /api/v1/contacts/create` → `{success, id}`; 409 when the email or userId exists.
#[utoipa::path(post, path = "/api/v1/contacts/create", tag = "contacts", request_body = ContactBody, responses((status = 200, body = Created), (status = 400, description = "Invalid input", body = Message), (status = 401, description = "Missing or wrong API key", body = Message), (status = 409, description = "Email or userId exists", body = Message)), security(("apiKey" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<web::Json<Created>, ApiError> {
    let body = object(body.into_inner())?;
    let mut f = contact_fields(&body, &[])?;
    let Field::Set(email) = &f.email else {
        return Err(ApiError::BadRequest("email is required.".into()));
    };
    let email = email.clone();
    check_lists(&state.db, &f.mailing_lists).await?;
    check_types(&state.db, &mut f).await?;
    let txn = state.db.begin().await?;
    let taken_email = find_by(&txn, contact::Column::Email, email.as_str())
        .await?
        .is_some();
    let taken_user = match f.user_id.value() {
        Some(user_id) => find_by(&txn, contact::Column::UserId, user_id)
            .await?
            .is_some(),
        None => false,
    };
    if taken_email || taken_user {
        return Err(ApiError::Conflict(
            "Email or userId is already on your audience.".into(),
        ));
    }
    let id = create_contact(&txn, &email, &f).await?.id;
    txn.commit().await?;
    Ok(web::Json(Created::new(id)))
}

/// `PUT /api/v1/contacts/update`: upsert by `userId` or `email`; `null` clears a property.
#[utoipa::path(put, path = "/api/v1/contacts/update", tag = "contacts", request_body = ContactBody, responses((status = 200, body = Created), (status = 400, description = "Invalid input", body = Message), (status = 401, description = "Missing or wrong API key", body = Message), (status = 409, description = "Email or userId belongs to another contact", body = Message)), security(("apiKey" = [])))]
pub async fn update(
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<web::Json<Created>, ApiError> {
    let body = object(body.into_inner())?;
    let mut f = contact_fields(&body, &[])?;
    if f.email.value().is_none() && f.user_id.value().is_none() {
        return Err(ApiError::BadRequest("Provide an email or a userId.".into()));
    }
    check_lists(&state.db, &f.mailing_lists).await?;
    check_types(&state.db, &mut f).await?;
    let txn = state.db.begin().await?;
    let id = upsert(&txn, &f).await?.id;
    txn.commit().await?;
    Ok(web::Json(Created::new(id)))
}

/// Query of `GET /api/v1/contacts/find`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct FindQuery {
    /// Exactly one of `email` and `userId`.
    #[param(example = "ada@example.com")]
    email: Option<String>,
    /// Exactly one of `email` and `userId`.
    #[param(example = "user_123")]
    user_id: Option<String>,
}

/// `GET /api/v1/contacts/find?email=…` or `?userId=…` → an array (empty when none).
#[utoipa::path(get, path = "/api/v1/contacts/find", tag = "contacts", params(FindQuery), responses((status = 200, body = Vec<Contact>), (status = 400, description = "Invalid input", body = Message), (status = 401, description = "Missing or wrong API key", body = Message)), security(("apiKey" = [])))]
pub async fn find(
    state: web::Data<AppState>,
    query: web::Query<FindQuery>,
) -> Result<web::Json<Vec<Contact>>, ApiError> {
    let found = match (&query.email, &query.user_id) {
        (Some(email), None) => {
            let email = Email::parse(email).ok_or_else(|| {
                ApiError::BadRequest("email is not a valid email address.".into())
            })?;
            find_by(&state.db, contact::Column::Email, email.as_str()).await?
        }
        (None, Some(user_id)) if !user_id.is_empty() => {
            find_by(&state.db, contact::Column::UserId, user_id).await?
        }
        _ => {
            return Err(ApiError::BadRequest(
                "Provide exactly one of email or userId.".into(),
            ));
        }
    };
    let mut out = Vec::new();
    if let Some(c) = found {
        let lists = contacts::lists_of(&state.db, &c.id).await?;
        out.push(Contact::of(c, lists));
    }
    Ok(web::Json(out))
}

/// Body of `POST /api/v1/contacts/delete`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteBody {
    email: Option<String>,
    user_id: Option<String>,
}

/// `POST /api/v1/contacts/delete` with `{email}` or `{userId}`; 404 when none matches.
#[utoipa::path(post, path = "/api/v1/contacts/delete", tag = "contacts", request_body = DeleteBody, responses((status = 200, body = Message), (status = 400, description = "Invalid input", body = Message), (status = 401, description = "Missing or wrong API key", body = Message), (status = 404, description = "No such contact", body = Message)), security(("apiKey" = [])))]
pub async fn delete(
    state: web::Data<AppState>,
    body: web::Json<DeleteBody>,
) -> Result<web::Json<Message>, ApiError> {
    let txn = state.db.begin().await?;
    let found = match (&body.email, &body.user_id) {
        (Some(email), None) => {
            let email = Email::parse(email).ok_or_else(|| {
                ApiError::BadRequest("email is not a valid email address.".into())
            })?;
            find_by(&txn, contact::Column::Email, email.as_str()).await?
        }
        (None, Some(user_id)) if !user_id.is_empty() => {
            find_by(&txn, contact::Column::UserId, user_id).await?
        }
        _ => {
            return Err(ApiError::BadRequest(
                "Provide exactly one of email or userId.".into(),
            ));
        }
    };
    let existing = found.ok_or_else(|| ApiError::NotFound("Contact not found.".into()))?;
    contacts::delete(&txn, &existing, now_ms()).await?;
    txn.commit().await?;
    Ok(web::Json(Message::done("Contact deleted.")))
}
