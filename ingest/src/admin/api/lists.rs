//! `/api/v1/lists`: mailing lists (Loops-compatible listing, Inlet's create/delete).

use actix_web::web;
use inlet_shared::db::entities::mailing_list;
use inlet_shared::domain::{new_id, now_ms};
use sea_orm::{ActiveValue::Set, EntityTrait, QueryOrder, TransactionTrait};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::rows::check_name;
use super::schemas::{Created, Message};
use crate::error::ApiError;
use crate::state::AppState;

/// Body of `POST /api/v1/lists`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateList {
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    #[serde(default)]
    pub(crate) is_public: bool,
}

/// A mailing list.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MailingList {
    id: String,
    name: String,
    description: Option<String>,
    is_public: bool,
}

impl From<mailing_list::Model> for MailingList {
    fn from(l: mailing_list::Model) -> Self {
        Self {
            id: l.id,
            name: l.name,
            description: l.description,
            is_public: l.is_public,
        }
    }
}

/// `GET /api/v1/lists` → `[{id, name, description, isPublic}]`.
#[utoipa::path(get, path = "/api/v1/lists", tag = "lists", responses((status = 200, body = Vec<MailingList>), (status = 401, description = "Missing or wrong API key", body = Message)), security(("apiKey" = [])))]
pub async fn list(state: web::Data<AppState>) -> Result<web::Json<Vec<MailingList>>, ApiError> {
    let lists = mailing_list::Entity::find()
        .order_by_asc(mailing_list::Column::CreatedAt)
        .all(&state.db)
        .await?;
    Ok(web::Json(
        lists.into_iter().map(MailingList::from).collect(),
    ))
}

/// `POST /api/v1/lists` → `{success, id}`.
#[utoipa::path(post, path = "/api/v1/lists", tag = "lists", request_body = CreateList, responses((status = 200, body = Created), (status = 400, description = "Invalid input", body = Message), (status = 401, description = "Missing or wrong API key", body = Message)), security(("apiKey" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    body: web::Json<CreateList>,
) -> Result<web::Json<Created>, ApiError> {
    let id = create_list(&state, body.into_inner()).await?;
    Ok(web::Json(Created::new(id)))
}

/// Creates a mailing list; returns its id.
pub(crate) async fn create_list(state: &AppState, body: CreateList) -> Result<String, ApiError> {
    let name = check_name(&body.name)?;
    if body
        .description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 500)
    {
        return Err(ApiError::BadRequest(
            "description must be at most 500 characters.".into(),
        ));
    }
    let id = new_id("list_");
    let row = mailing_list::ActiveModel {
        id: Set(id.clone()),
        name: Set(name),
        description: Set(body.description),
        is_public: Set(body.is_public),
        created_at: Set(now_ms()),
    };
    mailing_list::Entity::insert(row)
        .exec_without_returning(&state.db)
        .await?;
    Ok(id)
}

/// `DELETE /api/v1/lists/{id}`: removes the list and its memberships.
#[utoipa::path(delete, path = "/api/v1/lists/{id}", tag = "lists", params(("id" = String, Path)), responses((status = 200, body = Message), (status = 400, description = "Invalid input", body = Message), (status = 401, description = "Missing or wrong API key", body = Message), (status = 404, description = "No such list", body = Message)), security(("apiKey" = [])))]
pub async fn delete(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<Message>, ApiError> {
    delete_list(&state, path.into_inner()).await?;
    Ok(web::Json(Message::done("Mailing list deleted.")))
}

/// Deletes a mailing list and its memberships.
pub(crate) async fn delete_list(state: &AppState, id: String) -> Result<(), ApiError> {
    let txn = state.db.begin().await?;
    let deleted = mailing_list::Entity::delete_by_id(id.clone())
        .exec(&txn)
        .await?;
    if deleted.rows_affected == 0 {
        return Err(ApiError::NotFound("No mailing list with this id.".into()));
    }
    inlet_shared::contacts::remove_list(&txn, &id).await?;
    txn.commit().await?;
    Ok(())
}
