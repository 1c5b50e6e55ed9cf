//! `/api/v1/contacts/*` and `/api/v1/events/send`: the Loops REST API's paths, fields, status
//! codes and error shapes, so code written for Loops works against Inlet.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, web};
use inlet_shared::db::entities::{api_idempotency_key, contact, mailing_list};
use inlet_shared::domain::{Email, new_id, now_ms};
use inlet_shared::{contacts, workflows};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QuerySelect, TransactionTrait,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};

#[allow(unused_imports)]
use super::schemas::*;
use crate::error::ApiError;
use crate::state::AppState;

/// Longest string value accepted in a contact or event property.
const MAX_CHARS: usize = 500;
/// An `Idempotency-Key` repeated within this window is refused.
const IDEMPOTENCY_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;
/// Contact fields with a meaning of their own; every other key is a custom property.
const STANDARD: [&str; 8] = [
    "email",
    "firstName",
    "lastName",
    "source",
    "subscribed",
    "userGroup",
    "userId",
    "mailingLists",
];
/// Keys a client may not set as custom properties.
const RESERVED: [&str; 4] = ["id", "createdAt", "updatedAt", "optInStatus"];

/// A field of a request: absent, `null` (clear it), or a value.
#[derive(Debug, Clone, PartialEq)]
enum Field<T> {
    Absent,
    Null,
    Set(T),
}

impl<T> Field<T> {
    fn value(&self) -> Option<&T> {
        match self {
            Field::Set(v) => Some(v),
            _ => None,
        }
    }
}

/// Contact fields of a request body, validated.
#[derive(Debug)]
struct ContactFields {
    email: Field<Email>,
    first_name: Field<String>,
    last_name: Field<String>,
    source: Field<String>,
    user_group: Field<String>,
    user_id: Field<String>,
    subscribed: Option<bool>,
    mailing_lists: BTreeMap<String, bool>,
    /// Custom properties; `Null` removes one.
    custom: Map<String, Value>,
}

fn text(name: &str, value: Option<&Value>) -> Result<Field<String>, ApiError> {
    match value {
        None => Ok(Field::Absent),
        Some(Value::Null) => Ok(Field::Null),
        Some(Value::String(s)) if s.chars().count() > MAX_CHARS => Err(ApiError::BadRequest(
            format!("{name} must be at most {MAX_CHARS} characters."),
        )),
        Some(Value::String(s)) => Ok(Field::Set(s.trim().to_owned())),
        Some(_) => Err(ApiError::BadRequest(format!("{name} must be a string."))),
    }
}

fn custom_value(name: &str, value: &Value) -> Result<(), ApiError> {
    match value {
        Value::String(s) if s.chars().count() > MAX_CHARS => Err(ApiError::BadRequest(format!(
            "{name} must be at most {MAX_CHARS} characters."
        ))),
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => Ok(()),
        _ => Err(ApiError::BadRequest(format!(
            "{name} must be a string, number, boolean or null."
        ))),
    }
}

/// Reads the contact fields of `body`; keys in `skip` belong to the caller (e.g. eventName).
fn contact_fields(body: &Map<String, Value>, skip: &[&str]) -> Result<ContactFields, ApiError> {
    let email =
        match body.get("email") {
            None => Field::Absent,
            Some(Value::Null) => Field::Null,
            Some(Value::String(s)) => Field::Set(Email::parse(s).ok_or_else(|| {
                ApiError::BadRequest("email is not a valid email address.".into())
            })?),
            Some(_) => return Err(ApiError::BadRequest("email must be a string.".into())),
        };
    let subscribed = match body.get("subscribed") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            return Err(ApiError::BadRequest(
                "subscribed must be true or false.".into(),
            ));
        }
    };
    let mut mailing_lists = BTreeMap::new();
    match body.get("mailingLists") {
        None | Some(Value::Null) => {}
        Some(Value::Object(lists)) => {
            for (id, v) in lists {
                let Value::Bool(b) = v else {
                    return Err(ApiError::BadRequest(format!(
                        "mailingLists.{id} must be true or false."
                    )));
                };
                mailing_lists.insert(id.clone(), *b);
            }
        }
        Some(_) => {
            return Err(ApiError::BadRequest(
                "mailingLists must be an object of list ids to booleans.".into(),
            ));
        }
    }
    let user_id = text("userId", body.get("userId"))?;
    if user_id.value().is_some_and(String::is_empty) {
        return Err(ApiError::BadRequest("userId must not be empty.".into()));
    }
    let mut custom = Map::new();
    for (key, value) in body {
        if STANDARD.contains(&key.as_str()) || skip.contains(&key.as_str()) {
            continue;
        }
        if RESERVED.contains(&key.as_str()) {
            return Err(ApiError::BadRequest(format!("{key} cannot be set.")));
        }
        if key.chars().count() > 100 {
            return Err(ApiError::BadRequest(
                "Property names must be at most 100 characters.".into(),
            ));
        }
        custom_value(key, value)?;
        custom.insert(key.clone(), value.clone());
    }
    Ok(ContactFields {
        email,
        first_name: text("firstName", body.get("firstName"))?,
        last_name: text("lastName", body.get("lastName"))?,
        source: text("source", body.get("source"))?,
        user_group: text("userGroup", body.get("userGroup"))?,
        user_id,
        subscribed,
        mailing_lists,
        custom,
    })
}

/// Refuses list ids that do not exist.
async fn check_lists<C: ConnectionTrait>(
    db: &C,
    lists: &BTreeMap<String, bool>,
) -> Result<(), ApiError> {
    if lists.is_empty() {
        return Ok(());
    }
    let found = mailing_list::Entity::find()
        .filter(mailing_list::Column::Id.is_in(lists.keys().cloned()))
        .all(db)
        .await?;
    let missing: Vec<&str> = lists
        .keys()
        .filter(|id| !found.iter().any(|l| &l.id == *id))
        .map(String::as_str)
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "Unknown mailing list id(s): {}.",
            missing.join(", ")
        )))
    }
}

fn object(body: Value) -> Result<Map<String, Value>, ApiError> {
    match body {
        Value::Object(map) => Ok(map),
        _ => Err(ApiError::BadRequest(
            "The body must be a JSON object.".into(),
        )),
    }
}

/// The contact whose unique `column` (email or user id) holds `value`.
fn contact_with(column: contact::Column, value: &str) -> sea_orm::Select<contact::Entity> {
    contact::Entity::find().filter(column.eq(value))
}

async fn find_by<C: ConnectionTrait>(
    db: &C,
    column: contact::Column,
    value: &str,
) -> Result<Option<contact::Model>, ApiError> {
    Ok(contact_with(column, value).one(db).await?)
}

/// [`find_by`], locking the row until the transaction ends (PostgreSQL; SQLite has one
/// writer at a time): an update merges into the row as it is, and a concurrent writer (a
/// worker applying a webhook, another API call) waits instead of being overwritten.
async fn find_for_update<C: ConnectionTrait>(
    db: &C,
    column: contact::Column,
    value: &str,
) -> Result<Option<contact::Model>, ApiError> {
    Ok(contact_with(column, value).lock_exclusive().one(db).await?)
}

async fn create_contact<C: ConnectionTrait>(
    db: &C,
    email: &Email,
    f: &ContactFields,
) -> Result<String, ApiError> {
    let now = now_ms();
    let id = new_id("c_");
    let custom: Map<String, Value> = f
        .custom
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let row = contact::ActiveModel {
        id: Set(id.clone()),
        email: Set(email.as_str().to_owned()),
        user_id: Set(f.user_id.value().cloned()),
        first_name: Set(f.first_name.value().cloned()),
        last_name: Set(f.last_name.value().cloned()),
        source: Set(Some(
            f.source
                .value()
                .cloned()
                .unwrap_or_else(|| "API".to_owned()),
        )),
        user_group: Set(f.user_group.value().cloned()),
        subscribed: Set(f.subscribed.unwrap_or(true)),
        properties: Set(Value::Object(custom).to_string()),
        created_at: Set(now),
        updated_at: Set(now),
        last_event_at: Set(now),
    };
    contact::Entity::insert(row)
        .exec_without_returning(db)
        .await?;
    let joined = contacts::apply_lists(db, &id, &f.mailing_lists).await?;
    workflows::contact_written(db, &id, true, &joined).await?;
    Ok(id)
}

fn set_text(target: &mut sea_orm::ActiveValue<Option<String>>, field: &Field<String>) {
    match field {
        Field::Absent => {}
        Field::Null => *target = Set(None),
        Field::Set(v) => *target = Set(Some(v.clone())),
    }
}

async fn update_contact<C: ConnectionTrait>(
    db: &C,
    existing: contact::Model,
    f: &ContactFields,
) -> Result<String, ApiError> {
    let id = existing.id.clone();
    let mut properties = match serde_json::from_str::<Value>(&existing.properties) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    for (key, value) in &f.custom {
        if value.is_null() {
            properties.remove(key);
        } else {
            properties.insert(key.clone(), value.clone());
        }
    }
    let mut row: contact::ActiveModel = existing.clone().into();
    if let Field::Set(email) = &f.email
        && email.as_str() != existing.email
    {
        if find_by(db, contact::Column::Email, email.as_str())
            .await?
            .is_some()
        {
            return Err(ApiError::Conflict(
                "Email or userId is already on your audience.".into(),
            ));
        }
        row.email = Set(email.as_str().to_owned());
    }
    if let Field::Set(user_id) = &f.user_id
        && existing.user_id.as_deref() != Some(user_id.as_str())
    {
        if find_by(db, contact::Column::UserId, user_id)
            .await?
            .is_some()
        {
            return Err(ApiError::Conflict(
                "Email or userId is already on your audience.".into(),
            ));
        }
        row.user_id = Set(Some(user_id.clone()));
    }
    set_text(&mut row.first_name, &f.first_name);
    set_text(&mut row.last_name, &f.last_name);
    set_text(&mut row.source, &f.source);
    set_text(&mut row.user_group, &f.user_group);
    if let Some(subscribed) = f.subscribed {
        row.subscribed = Set(subscribed);
    }
    row.properties = Set(Value::Object(properties).to_string());
    row.updated_at = Set(now_ms());
    row.update(db).await?;
    let joined = contacts::apply_lists(db, &id, &f.mailing_lists).await?;
    workflows::contact_written(db, &id, false, &joined).await?;
    Ok(id)
}

/// Finds the contact for an update or event: by userId first, then by email; creates it
/// when there is none (an email is needed for that).
async fn upsert<C: ConnectionTrait>(db: &C, f: &ContactFields) -> Result<String, ApiError> {
    let by_user = match f.user_id.value() {
        Some(user_id) => find_for_update(db, contact::Column::UserId, user_id).await?,
        None => None,
    };
    let found = match (by_user, f.email.value()) {
        (Some(c), _) => Some(c),
        (None, Some(email)) => find_for_update(db, contact::Column::Email, email.as_str()).await?,
        (None, None) => None,
    };
    match (found, f.email.value()) {
        (Some(existing), _) => update_contact(db, existing, f).await,
        (None, Some(email)) => create_contact(db, email, f).await,
        (None, None) => Err(ApiError::BadRequest(
            "No contact has this userId; an email is needed to create one.".into(),
        )),
    }
}

/// `POST /api/v1/contacts/create` → `{success, id}`; 409 when the email or userId exists.
#[utoipa::path(post, path = "/api/v1/contacts/create", tag = "contacts", request_body = ContactBody, responses((status = 200, body = Created), (status = 400, description = "Invalid input", body = Message), (status = 401, description = "Missing or wrong API key", body = Message), (status = 409, description = "Email or userId exists", body = Message)), security(("apiKey" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let body = object(body.into_inner())?;
    let f = contact_fields(&body, &[])?;
    let Field::Set(email) = &f.email else {
        return Err(ApiError::BadRequest("email is required.".into()));
    };
    check_lists(&state.db, &f.mailing_lists).await?;
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
    let id = create_contact(&txn, email, &f).await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(json!({"success": true, "id": id})))
}

/// `PUT /api/v1/contacts/update`: upsert by `userId` or `email`; `null` clears a property.
#[utoipa::path(put, path = "/api/v1/contacts/update", tag = "contacts", request_body = ContactBody, responses((status = 200, body = Created), (status = 400, description = "Invalid input", body = Message), (status = 401, description = "Missing or wrong API key", body = Message), (status = 409, description = "Email or userId belongs to another contact", body = Message)), security(("apiKey" = [])))]
pub async fn update(
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let body = object(body.into_inner())?;
    let f = contact_fields(&body, &[])?;
    if f.email.value().is_none() && f.user_id.value().is_none() {
        return Err(ApiError::BadRequest("Provide an email or a userId.".into()));
    }
    check_lists(&state.db, &f.mailing_lists).await?;
    let txn = state.db.begin().await?;
    let id = upsert(&txn, &f).await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(json!({"success": true, "id": id})))
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
) -> Result<HttpResponse, ApiError> {
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
        out.push(inlet_shared::contacts::contact_json(&c, &lists));
    }
    Ok(HttpResponse::Ok().json(out))
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
) -> Result<HttpResponse, ApiError> {
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
    Ok(HttpResponse::Ok().json(json!({"success": true, "message": "Contact deleted."})))
}

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
    let id = upsert(&txn, &f).await?;
    contacts::record_event(&txn, &id, &event_name, &event_properties, now, None).await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(json!({"success": true})))
}

/// `GET /api/v1/api-key` → `{success, teamName}` (the key was checked by the middleware).
#[utoipa::path(get, path = "/api/v1/api-key", tag = "api key", responses((status = 200, body = ApiKeyInfo), (status = 401, description = "Missing or wrong API key", body = Message)), security(("apiKey" = [])))]
pub async fn api_key(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(json!({"success": true, "teamName": state.config.team_name}))
}
