//! `/api/v1/transactional-emails` (Loops' transactional emails: list, get, create, update,
//! ensure a draft, publish) and, in [`send`], `/api/v1/transactional`; the content of their
//! drafts is edited through [`messages`] (`/api/v1/email-messages/{id}`). The one writer of
//! `transactional_emails`.
//!
//! A transactional email's draft and published messages are email templates (the same
//! rows, checks and minijinja rendering as workflow templates; an email message id is a
//! template id). Publishing makes the draft the published message, as Loops does (the
//! draft id becomes `publishedEmailMessageId`, `draftEmailMessageId` becomes `null`),
//! records the data variables its content reads, and deletes the message it replaces; a
//! new draft starts as a copy of the published one.

pub mod messages;
pub mod send;

use actix_web::web;
use inlet_shared::db::entities::{email_template, transactional_email};
use inlet_shared::domain::{format_ms, new_id, now_ms};
use inlet_shared::transactional;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait,
    IntoActiveModel, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::rows::{self, check_name};
use super::schemas::Message;
use super::templates;
use crate::error::ApiError;
use crate::state::AppState;

/// Most characters of a `transactionalGroupId` (Inlet has no groups; the id is kept as given).
const MAX_GROUP_ID: usize = 100;

/// `PaginationData`, as Loops' list endpoints answer it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Pagination {
    total_results: u64,
    returned_results: u64,
    per_page: u64,
    total_pages: u64,
    /// Pass as `cursor` for the next page; `null` on the last.
    next_cursor: Option<String>,
    /// The next page's URL; `null` on the last.
    next_page: Option<String>,
}

/// A transactional email (`TransactionalEmailResource`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TransactionalEmail {
    id: String,
    /// Its page in the console.
    url: String,
    name: String,
    draft_email_message_id: Option<String>,
    published_email_message_id: Option<String>,
    transactional_group_id: Option<String>,
    created_at: String,
    updated_at: String,
    /// The data variables the published message uses; empty until published.
    data_variables: Vec<String>,
}

/// A transactional email with its draft (`TransactionalDraftResponse`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TransactionalDraft {
    #[serde(flatten)]
    email: TransactionalEmail,
    /// The draft's `contentRevisionId`: the `expectedRevisionId` of its first update.
    draft_email_message_content_revision_id: Option<String>,
}

/// `{pagination, data}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransactionalList {
    pagination: Pagination,
    data: Vec<TransactionalEmail>,
}

/// The data variables stored with a transactional email (a JSON array of names).
pub(crate) fn variables_of(t: &transactional_email::Model) -> Vec<String> {
    serde_json::from_str(&t.data_variables).unwrap_or_default()
}

fn view(state: &AppState, t: transactional_email::Model) -> TransactionalEmail {
    TransactionalEmail {
        url: format!(
            "{}/console/transactional/{}",
            state.config.public_url.trim_end_matches('/'),
            t.id
        ),
        data_variables: variables_of(&t),
        id: t.id,
        name: t.name,
        draft_email_message_id: t.draft_template_id,
        published_email_message_id: t.published_template_id,
        transactional_group_id: t.group_id,
        created_at: format_ms(t.created_at),
        updated_at: format_ms(t.updated_at),
    }
}

async fn draft_view<C: ConnectionTrait>(
    db: &C,
    state: &AppState,
    t: transactional_email::Model,
) -> Result<TransactionalDraft, ApiError> {
    let revision = match &t.draft_template_id {
        Some(id) => email_template::Entity::find_by_id(id.clone())
            .one(db)
            .await?
            .map(|d| transactional::revision(&d)),
        None => None,
    };
    Ok(TransactionalDraft {
        email: view(state, t),
        draft_email_message_content_revision_id: revision,
    })
}

pub(crate) async fn load<C: ConnectionTrait>(
    db: &C,
    id: &str,
) -> Result<transactional_email::Model, ApiError> {
    rows::find::<transactional_email::Entity, _>(db, id, "transactional email").await
}

/// Query of `GET /api/v1/transactional-emails`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListQuery {
    /// 10 to 50 [20].
    per_page: Option<String>,
    /// `pagination.nextCursor` of the previous page.
    cursor: Option<String>,
}

/// `GET /api/v1/transactional-emails`: newest first, `perPage` at a time.
#[utoipa::path(get, path = "/api/v1/transactional-emails", tag = "transactional", params(ListQuery),
    responses((status = 200, body = TransactionalList), (status = 400, description = "Invalid input", body = Message),
        (status = 401, description = "Missing or wrong API key", body = Message)),
    security(("apiKey" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<web::Json<TransactionalList>, ApiError> {
    let query = query.into_inner();
    let per_page = match query.per_page.as_deref() {
        None => 20,
        Some(p) => p
            .parse::<u64>()
            .ok()
            .filter(|p| (10..=50).contains(p))
            .ok_or_else(|| ApiError::BadRequest("perPage must be between 10 and 50.".into()))?,
    };
    let mut page = transactional_email::Entity::find();
    if let Some(cursor) = query.cursor.as_deref().filter(|c| !c.is_empty()) {
        let at = transactional_email::Entity::find_by_id(cursor.to_owned())
            .one(&state.db)
            .await?
            .ok_or_else(|| ApiError::BadRequest("cursor is not valid.".into()))?;
        page = page.filter(
            Condition::any()
                .add(transactional_email::Column::CreatedAt.lt(at.created_at))
                .add(
                    Condition::all()
                        .add(transactional_email::Column::CreatedAt.eq(at.created_at))
                        .add(transactional_email::Column::Id.lte(at.id)),
                ),
        );
    }
    let total = transactional_email::Entity::find().count(&state.db).await?;
    let mut rows = page
        .order_by_desc(transactional_email::Column::CreatedAt)
        .order_by_desc(transactional_email::Column::Id)
        .limit(per_page + 1)
        .all(&state.db)
        .await?;
    let next = if rows.len() as u64 > per_page {
        rows.pop().map(|extra| extra.id)
    } else {
        None
    };
    let next_page = next.as_ref().map(|cursor| {
        format!(
            "{}/api/v1/transactional-emails?cursor={cursor}&perPage={per_page}",
            state.config.public_url.trim_end_matches('/')
        )
    });
    let data: Vec<TransactionalEmail> = rows.into_iter().map(|t| view(&state, t)).collect();
    Ok(web::Json(TransactionalList {
        pagination: Pagination {
            total_results: total,
            returned_results: data.len() as u64,
            per_page,
            total_pages: total.div_ceil(per_page),
            next_cursor: next,
            next_page,
        },
        data,
    }))
}

/// `GET /api/v1/transactional-emails/{id}`.
#[utoipa::path(get, path = "/api/v1/transactional-emails/{id}", tag = "transactional", params(("id" = String, Path)),
    responses((status = 200, body = TransactionalEmail), (status = 401, description = "Missing or wrong API key", body = Message),
        (status = 404, description = "No such transactional email", body = Message)),
    security(("apiKey" = [])))]
pub async fn get(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<TransactionalEmail>, ApiError> {
    let t = load(&state.db, &path).await?;
    Ok(web::Json(view(&state, t)))
}

/// Body of `POST /api/v1/transactional-emails`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateBody {
    name: String,
    /// Kept as given (Inlet has no groups).
    transactional_group_id: Option<String>,
}

/// Body of `POST /api/v1/transactional-emails/{id}`: at least one field.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateBody {
    name: Option<String>,
    transactional_group_id: Option<String>,
}

fn check_group(group: Option<&str>) -> Result<(), ApiError> {
    if group.is_some_and(|g| g.is_empty() || g.chars().count() > MAX_GROUP_ID) {
        return Err(ApiError::BadRequest(format!(
            "transactionalGroupId must be 1 to {MAX_GROUP_ID} characters."
        )));
    }
    Ok(())
}

/// A new draft: a copy of `from` (the published message), or empty.
fn new_draft(name: &str, from: Option<&email_template::Model>) -> email_template::Model {
    let now = now_ms();
    email_template::Model {
        id: new_id("tpl_"),
        name: format!("{name} (transactional)"),
        subject: from.map(|f| f.subject.clone()).unwrap_or_default(),
        html: from.map(|f| f.html.clone()).unwrap_or_default(),
        text: from.and_then(|f| f.text.clone()),
        from_name: from.and_then(|f| f.from_name.clone()),
        from_email: from.and_then(|f| f.from_email.clone()),
        created_at: now,
        updated_at: now,
    }
}

/// `POST /api/v1/transactional-emails`: a new transactional email with an empty draft.
#[utoipa::path(post, path = "/api/v1/transactional-emails", tag = "transactional", request_body = CreateBody,
    responses((status = 200, body = TransactionalDraft), (status = 400, description = "Invalid input", body = Message),
        (status = 401, description = "Missing or wrong API key", body = Message)),
    security(("apiKey" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    body: web::Json<CreateBody>,
) -> Result<web::Json<TransactionalDraft>, ApiError> {
    let body = body.into_inner();
    let name = check_name(&body.name)?;
    check_group(body.transactional_group_id.as_deref())?;
    let draft = new_draft(&name, None);
    let now = now_ms();
    let t = transactional_email::Model {
        id: new_id(transactional::ID_PREFIX),
        name,
        group_id: body.transactional_group_id,
        draft_template_id: Some(draft.id.clone()),
        published_template_id: None,
        data_variables: "[]".into(),
        created_at: now,
        updated_at: now,
    };
    let txn = state.db.begin().await?;
    email_template::Entity::insert(draft.into_active_model())
        .exec_without_returning(&txn)
        .await?;
    transactional_email::Entity::insert(t.clone().into_active_model())
        .exec_without_returning(&txn)
        .await?;
    let answer = draft_view(&txn, &state, t).await?;
    txn.commit().await?;
    Ok(web::Json(answer))
}

/// `POST /api/v1/transactional-emails/{id}`: renames it or moves it to a group.
#[utoipa::path(post, path = "/api/v1/transactional-emails/{id}", tag = "transactional", params(("id" = String, Path)),
    request_body = UpdateBody,
    responses((status = 200, body = TransactionalEmail), (status = 400, description = "Invalid input", body = Message),
        (status = 401, description = "Missing or wrong API key", body = Message),
        (status = 404, description = "No such transactional email", body = Message)),
    security(("apiKey" = [])))]
pub async fn update(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<UpdateBody>,
) -> Result<web::Json<TransactionalEmail>, ApiError> {
    let body = body.into_inner();
    if body.name.is_none() && body.transactional_group_id.is_none() {
        return Err(ApiError::BadRequest(
            "Provide a name or a transactionalGroupId.".into(),
        ));
    }
    let existing = load(&state.db, &path).await?;
    let mut row: transactional_email::ActiveModel = existing.into();
    if let Some(name) = &body.name {
        row.name = Set(check_name(name)?);
    }
    if let Some(group) = body.transactional_group_id {
        check_group(Some(&group))?;
        row.group_id = Set(Some(group));
    }
    row.updated_at = Set(now_ms());
    let saved = row.update(&state.db).await?;
    Ok(web::Json(view(&state, saved)))
}

/// `POST /api/v1/transactional-emails/{id}/draft`: its draft, made (a copy of the published
/// message) if it has none.
#[utoipa::path(post, path = "/api/v1/transactional-emails/{id}/draft", tag = "transactional", params(("id" = String, Path)),
    responses((status = 200, body = TransactionalDraft), (status = 401, description = "Missing or wrong API key", body = Message),
        (status = 404, description = "No such transactional email", body = Message)),
    security(("apiKey" = [])))]
pub async fn ensure_draft(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<TransactionalDraft>, ApiError> {
    let txn = state.db.begin().await?;
    let t = load(&txn, &path).await?;
    if t.draft_template_id.is_some() {
        let answer = draft_view(&txn, &state, t).await?;
        return Ok(web::Json(answer));
    }
    let published = match &t.published_template_id {
        Some(id) => {
            email_template::Entity::find_by_id(id.clone())
                .one(&txn)
                .await?
        }
        None => None,
    };
    let draft = new_draft(&t.name, published.as_ref());
    let draft_id = draft.id.clone();
    email_template::Entity::insert(draft.into_active_model())
        .exec_without_returning(&txn)
        .await?;
    // Only while it still has no draft: two requests at once make one.
    let set = transactional_email::Entity::update_many()
        .col_expr(
            transactional_email::Column::DraftTemplateId,
            sea_orm::sea_query::Expr::value(draft_id),
        )
        .col_expr(
            transactional_email::Column::UpdatedAt,
            sea_orm::sea_query::Expr::value(now_ms()),
        )
        .filter(transactional_email::Column::Id.eq(t.id.as_str()))
        .filter(transactional_email::Column::DraftTemplateId.is_null())
        .exec(&txn)
        .await?;
    if set.rows_affected == 0 {
        txn.rollback().await?;
        let t = load(&state.db, &path).await?;
        return Ok(web::Json(draft_view(&state.db, &state, t).await?));
    }
    let t = load(&txn, &path).await?;
    let answer = draft_view(&txn, &state, t).await?;
    txn.commit().await?;
    Ok(web::Json(answer))
}

/// `POST /api/v1/transactional-emails/{id}/publish`: the draft becomes the published
/// message, its data variables recorded. Refused (400) without a draft, or when the draft
/// has no subject or does not make a sendable email.
#[utoipa::path(post, path = "/api/v1/transactional-emails/{id}/publish", tag = "transactional", params(("id" = String, Path)),
    responses((status = 200, body = TransactionalEmail), (status = 400, description = "No draft, or a draft that cannot be sent", body = Message),
        (status = 401, description = "Missing or wrong API key", body = Message),
        (status = 404, description = "No such transactional email", body = Message),
        (status = 503, description = "Template rendering busy", body = Message)),
    security(("apiKey" = [])))]
pub async fn publish(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<TransactionalEmail>, ApiError> {
    let t = load(&state.db, &path).await?;
    let draft_id = t
        .draft_template_id
        .clone()
        .ok_or_else(|| ApiError::BadRequest("There is no draft to publish.".into()))?;
    let draft = templates::load(&state, &draft_id).await?;
    if draft.subject.trim().is_empty() {
        return Err(ApiError::BadRequest(
            "The draft has no subject; set one before publishing.".into(),
        ));
    }
    let variables = transactional::data_variables(&draft)
        .map_err(|e| ApiError::BadRequest(format!("The draft is not a valid template: {e}")))?;
    templates::check_sendable(&state, &draft).await?;
    let txn = state.db.begin().await?;
    // Only from the draft checked above: a publish racing an edit or another publish
    // changes nothing and says so.
    let published = transactional_email::Entity::update_many()
        .col_expr(
            transactional_email::Column::PublishedTemplateId,
            sea_orm::sea_query::Expr::value(draft_id.clone()),
        )
        .col_expr(
            transactional_email::Column::DraftTemplateId,
            sea_orm::sea_query::Expr::value(Option::<String>::None),
        )
        .col_expr(
            transactional_email::Column::DataVariables,
            sea_orm::sea_query::Expr::value(
                serde_json::to_string(&variables).unwrap_or_else(|_| "[]".into()),
            ),
        )
        .col_expr(
            transactional_email::Column::UpdatedAt,
            sea_orm::sea_query::Expr::value(now_ms()),
        )
        .filter(transactional_email::Column::Id.eq(t.id.as_str()))
        .filter(transactional_email::Column::DraftTemplateId.eq(draft_id.as_str()))
        .exec(&txn)
        .await?;
    let changed = email_template::Entity::find_by_id(draft_id.clone())
        .one(&txn)
        .await?
        .is_none_or(|now| now != draft);
    if published.rows_affected == 0 || changed {
        txn.rollback().await?;
        return Err(ApiError::Conflict(
            "The draft changed while it was being published; publish again.".into(),
        ));
    }
    if let Some(old) = t.published_template_id {
        email_template::Entity::delete_by_id(old).exec(&txn).await?;
    }
    let saved = load(&txn, &t.id).await?;
    txn.commit().await?;
    Ok(web::Json(view(&state, saved)))
}
