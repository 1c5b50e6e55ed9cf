//! Reading contacts as the API and the console show them.

use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

use crate::db::entities::{contact, contact_list};

/// The ids of the lists a contact belongs to.
pub async fn lists_of<C: ConnectionTrait>(db: &C, contact_id: &str) -> Result<Vec<String>, DbErr> {
    Ok(contact_list::Entity::find()
        .filter(contact_list::Column::ContactId.eq(contact_id))
        .all(db)
        .await?
        .into_iter()
        .map(|m| m.list_id)
        .collect())
}

/// A contact as `contacts/find` shows it: standard fields, its mailing lists as
/// `{listId: true}`, and custom properties at the top level (as Loops does).
pub fn contact_json(c: &contact::Model, lists: &[String]) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    if let Ok(serde_json::Value::Object(custom)) =
        serde_json::from_str::<serde_json::Value>(&c.properties)
    {
        out.extend(custom);
    }
    let standard = serde_json::json!({
        "id": c.id,
        "email": c.email,
        "firstName": c.first_name,
        "lastName": c.last_name,
        "source": c.source,
        "subscribed": c.subscribed,
        "userGroup": c.user_group,
        "userId": c.user_id,
        // Inlet has no double opt-in: no contact has an opt-in status (Loops' `null`).
        "optInStatus": serde_json::Value::Null,
        "mailingLists": lists.iter().map(|l| (l.clone(), serde_json::Value::Bool(true))).collect::<serde_json::Map<String, serde_json::Value>>(),
    });
    if let serde_json::Value::Object(standard) = standard {
        out.extend(standard);
    }
    serde_json::Value::Object(out)
}
