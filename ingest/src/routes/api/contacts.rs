//! `/api/v1/contacts/*` (Loops-compatible shapes).

use actix_web::{HttpResponse, web};
use inlet_shared::db::entities::{contact, contact_list};
use inlet_shared::domain::Email;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::error::ApiError;
use crate::state::AppState;

/// A contact as `contacts/find` shows it: standard fields, its mailing lists as
/// `{listId: true}`, and custom properties at the top level (as Loops does).
pub fn contact_json(c: &contact::Model, lists: &[String]) -> Value {
    let mut out = Map::new();
    if let Ok(Value::Object(custom)) = serde_json::from_str::<Value>(&c.properties) {
        out.extend(custom);
    }
    let standard = json!({
        "id": c.id,
        "email": c.email,
        "firstName": c.first_name,
        "lastName": c.last_name,
        "source": c.source,
        "subscribed": c.subscribed,
        "userGroup": c.user_group,
        "userId": c.user_id,
        "mailingLists": lists.iter().map(|l| (l.clone(), Value::Bool(true))).collect::<Map<String, Value>>(),
    });
    if let Value::Object(standard) = standard {
        out.extend(standard);
    }
    Value::Object(out)
}

/// Query of `GET /api/v1/contacts/find`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FindQuery {
    email: Option<String>,
    user_id: Option<String>,
}

/// `GET /api/v1/contacts/find?email=…` or `?userId=…` → an array (empty when none).
pub async fn find(
    state: web::Data<AppState>,
    query: web::Query<FindQuery>,
) -> Result<HttpResponse, ApiError> {
    let filter = match (&query.email, &query.user_id) {
        (Some(email), None) => {
            let email = Email::parse(email).ok_or_else(|| {
                ApiError::BadRequest("email is not a valid email address.".into())
            })?;
            contact::Column::Email.eq(email.as_str())
        }
        (None, Some(user_id)) if !user_id.is_empty() => {
            contact::Column::UserId.eq(user_id.as_str())
        }
        _ => {
            return Err(ApiError::BadRequest(
                "Provide exactly one of email or userId.".into(),
            ));
        }
    };
    let found = contact::Entity::find()
        .filter(filter)
        .all(&state.db)
        .await?;
    let mut out = Vec::with_capacity(found.len());
    for c in &found {
        let lists: Vec<String> = contact_list::Entity::find()
            .filter(contact_list::Column::ContactId.eq(c.id.as_str()))
            .all(&state.db)
            .await?
            .into_iter()
            .map(|m| m.list_id)
            .collect();
        out.push(contact_json(c, &lists));
    }
    Ok(HttpResponse::Ok().json(out))
}
