//! Reading the contact fields of a request body (`contacts/create`, `contacts/update`,
//! `events/send`): the Loops field names, limits and error messages.

use std::collections::BTreeMap;

use inlet_shared::domain::Email;
use sea_orm::ConnectionTrait;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::admin::api::rows;
use crate::error::ApiError;

/// Longest string value accepted in a contact or event property.
pub(crate) const MAX_CHARS: usize = 500;
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
// `contact_fields` reads the body as JSON itself, to tell an absent field from `null` and
// answer with Loops' messages; this type declares the `STANDARD` keys it reads (a test
// checks they are the same).
/// Contact fields (create, update, events). Any other key is a custom property: a string
/// (at most 500 characters), number, boolean, or `null` to clear it; a declared one
/// (`POST /api/v1/contacts/properties`) must be of its type, a date given as epoch
/// milliseconds or a date string and stored as RFC 3339 in UTC.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
#[expect(
    dead_code,
    reason = "declares the request body for the OpenAPI document; the parser reads the JSON, and a test ties the two"
)]
pub struct ContactBody {
    /// Required to create a contact.
    #[schema(format = "email")]
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    source: Option<String>,
    subscribed: Option<bool>,
    user_group: Option<String>,
    user_id: Option<String>,
    /// `{listId: true}` subscribes, `false` removes.
    mailing_lists: Option<BTreeMap<String, bool>>,
}

/// Keys a client may not set as custom properties.
const RESERVED: [&str; 4] = ["id", "createdAt", "updatedAt", "optInStatus"];

/// A field of a request: absent, `null` (clear it), or a value — the contact service's own.
pub(crate) use inlet_shared::contacts::Field;

/// Contact fields of a request body, validated.
#[derive(Debug)]
pub(crate) struct ContactFields {
    pub(crate) email: Field<Email>,
    pub(super) first_name: Field<String>,
    pub(super) last_name: Field<String>,
    pub(super) source: Field<String>,
    pub(super) user_group: Field<String>,
    pub(crate) user_id: Field<String>,
    pub(super) subscribed: Option<bool>,
    pub(crate) mailing_lists: BTreeMap<String, bool>,
    /// Custom properties; `Null` removes one.
    pub(super) custom: Map<String, Value>,
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

pub(crate) fn custom_value(name: &str, value: &Value) -> Result<(), ApiError> {
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
pub(crate) fn contact_fields(
    body: &Map<String, Value>,
    skip: &[&str],
) -> Result<ContactFields, ApiError> {
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

/// Checks the custom properties of `f` against their declared types, normalising dates;
/// a mismatch is a 400 naming the property. Undeclared ones pass as given.
pub(crate) async fn check_types<C: ConnectionTrait>(
    db: &C,
    f: &mut ContactFields,
) -> Result<(), ApiError> {
    if f.custom.is_empty() {
        return Ok(());
    }
    let declared = inlet_shared::contacts::properties::declared(db).await?;
    f.custom = declared.check(&f.custom)?;
    Ok(())
}

/// Refuses list ids that do not exist.
pub(crate) async fn check_lists<C: ConnectionTrait>(
    db: &C,
    lists: &BTreeMap<String, bool>,
) -> Result<(), ApiError> {
    rows::lists_exist(db, lists.keys().map(String::as_str)).await
}

pub(crate) fn object(body: Value) -> Result<Map<String, Value>, ApiError> {
    match body {
        Value::Object(map) => Ok(map),
        _ => Err(ApiError::BadRequest(
            "The body must be a JSON object.".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use utoipa::PartialSchema;

    use super::{ContactBody, STANDARD};

    /// The document's contact body names exactly the fields `contact_fields` reads.
    #[test]
    fn the_documented_body_has_the_standard_fields() {
        let schema = serde_json::to_value(ContactBody::schema()).unwrap();
        let mut documented: Vec<&str> = schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut standard = STANDARD.to_vec();
        documented.sort_unstable();
        standard.sort_unstable();
        assert_eq!(documented, standard);
    }
}
