//! Mailing lists in the console: the lists with their member counts, create, delete.

use actix_web::{HttpResponse, web};
use inlet_shared::db::entities::{contact_list, mailing_list};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::{Value, json};

use super::session::{Form, Session};
use super::{ConsoleError, bad_request, redirect, render_with_status};
use crate::admin::api::lists as list_api;
use crate::error::ApiError;

/// Every mailing list, by name.
pub(super) async fn all_lists(session: &Session) -> Result<Vec<Value>, ConsoleError> {
    Ok(mailing_list::Entity::find()
        .order_by_asc(mailing_list::Column::Name)
        .all(&session.state.db)
        .await?
        .into_iter()
        .map(|l| {
            json!({"id": l.id, "name": l.name, "description": l.description, "is_public": l.is_public})
        })
        .collect())
}

async fn lists_page(
    session: &Session,
    error: Option<String>,
) -> Result<HttpResponse, ConsoleError> {
    let mut lists = all_lists(session).await?;
    for l in &mut lists {
        let id = l["id"].as_str().unwrap_or_default().to_owned();
        let members = contact_list::Entity::find()
            .filter(contact_list::Column::ListId.eq(id))
            .select_only()
            .column(contact_list::Column::Id)
            .into_tuple::<i64>()
            .all(&session.state.db)
            .await?
            .len();
        l["members"] = json!(members);
    }
    render_with_status(
        if error.is_some() {
            bad_request()
        } else {
            actix_web::http::StatusCode::OK
        },
        "lists.html",
        minijinja::context! { page => session.page("lists"), lists, error },
    )
}

/// `GET /console/lists`.
pub async fn lists(session: Session) -> Result<HttpResponse, ConsoleError> {
    lists_page(&session, None).await
}

/// `POST /console/lists`.
pub async fn create_list(form: Form) -> Result<HttpResponse, ConsoleError> {
    let body = list_api::CreateList {
        name: form.get("name").unwrap_or_default().to_owned(),
        description: form.get("description").map(str::to_owned),
        is_public: form.checked("is_public"),
    };
    match list_api::create_list(&form.session.state, body).await {
        Ok(_) => Ok(redirect("/console/lists")),
        Err(ApiError::BadRequest(message)) => lists_page(&form.session, Some(message)).await,
        Err(e) => Err(e.into()),
    }
}

/// `POST /console/lists/{id}/delete`.
pub async fn delete_list(
    form: Form,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    list_api::delete_list(&form.session.state, path.into_inner()).await?;
    Ok(redirect("/console/lists"))
}
