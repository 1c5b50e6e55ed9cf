//! Contacts in the console: search by email or user id; a contact's fields, lists, events
//! and the emails workflows sent it. Read only.

use actix_web::{HttpResponse, web};
use inlet_shared::contacts::{contact_json, lists_of};
use inlet_shared::db::entities::{contact, contact_event, email_send, mailing_list};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Deserialize;
use serde_json::{Value, json};

use super::session::Session;
use super::{ConsoleError, render};

/// The search box.
#[derive(Deserialize)]
pub struct Search {
    q: Option<String>,
}

fn contact_row(c: &contact::Model) -> Value {
    json!({
        "id": c.id,
        "email": c.email,
        "first_name": c.first_name,
        "last_name": c.last_name,
        "user_id": c.user_id,
        "source": c.source,
        "subscribed": c.subscribed,
        "updated_at": c.updated_at,
    })
}

/// `GET /console/contacts?q=…`: the newest 100 matching a part of the email or exactly the
/// user id (all contacts without `q`).
pub async fn list(
    session: Session,
    query: web::Query<Search>,
) -> Result<HttpResponse, ConsoleError> {
    let q = query
        .q
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(str::to_owned);
    let mut select = contact::Entity::find();
    if let Some(q) = &q {
        select = select.filter(
            Condition::any()
                .add(contact::Column::Email.contains(q.to_lowercase()))
                .add(contact::Column::UserId.eq(q.as_str())),
        );
    }
    let contacts: Vec<Value> = select
        .order_by_desc(contact::Column::UpdatedAt)
        .limit(100)
        .all(&session.state.db)
        .await?
        .iter()
        .map(contact_row)
        .collect();
    render(
        "contacts.html",
        minijinja::context! { page => session.page("contacts"), contacts, q },
    )
}

fn text(value: &Value) -> String {
    match value {
        Value::Null => "—".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `GET /console/contacts/{id}`.
pub async fn show(session: Session, path: web::Path<String>) -> Result<HttpResponse, ConsoleError> {
    let db = &session.state.db;
    let c = contact::Entity::find_by_id(path.into_inner())
        .one(db)
        .await?
        .ok_or_else(|| ConsoleError::NotFound("No contact with this id.".into()))?;
    let list_ids = lists_of(db, &c.id).await?;
    let fields: Vec<(String, String)> = match contact_json(&c, &list_ids) {
        Value::Object(map) => map
            .iter()
            .filter(|(k, _)| k.as_str() != "mailingLists")
            .map(|(k, v)| (k.clone(), text(v)))
            .collect(),
        _ => vec![],
    };
    let lists: Vec<Value> = mailing_list::Entity::find()
        .filter(mailing_list::Column::Id.is_in(list_ids.iter().map(String::as_str)))
        .all(db)
        .await?
        .into_iter()
        .map(|l| json!({"id": l.id, "name": l.name}))
        .collect();
    let events: Vec<Value> = contact_event::Entity::find()
        .filter(contact_event::Column::ContactId.eq(c.id.as_str()))
        .order_by_desc(contact_event::Column::OccurredAt)
        .limit(200)
        .all(db)
        .await?
        .into_iter()
        .map(|e| {
            json!({
                "event_name": e.event_name,
                "properties": e.properties,
                "occurred_at": e.occurred_at,
                "delivery_id": e.delivery_id,
            })
        })
        .collect();
    let emails: Vec<Value> = email_send::Entity::find()
        .filter(email_send::Column::ContactId.eq(c.id.as_str()))
        .order_by_desc(email_send::Column::CreatedAt)
        .limit(200)
        .all(db)
        .await?
        .into_iter()
        .map(|m| {
            json!({
                "subject": m.subject,
                "status": m.status,
                "error": m.error,
                "created_at": m.created_at,
                "sent_at": m.sent_at,
            })
        })
        .collect();
    render(
        "contact.html",
        minijinja::context! {
            page => session.page("contacts"),
            contact => contact_row(&c),
            fields,
            lists,
            events,
            emails,
        },
    )
}
