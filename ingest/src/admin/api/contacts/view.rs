//! A contact as `contacts/find` shows it: the standard fields, its mailing lists as
//! `{listId: true}`, and its custom properties at the top level, as Loops shows them.

use std::collections::BTreeMap;

use inlet_shared::db::entities::contact;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// The keys of [`Contact`]'s own fields; a custom property with one of these names is not
/// shown (the field is), as in the template context (`inlet_shared::contacts::contact_json`).
const FIELDS: [&str; 10] = [
    "id",
    "email",
    "firstName",
    "lastName",
    "source",
    "subscribed",
    "userGroup",
    "userId",
    "mailingLists",
    "optInStatus",
];

/// A contact as `contacts/find` returns it; custom properties appear at the top level.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    id: String,
    email: String,
    first_name: Option<String>,
    last_name: Option<String>,
    source: Option<String>,
    subscribed: bool,
    user_group: Option<String>,
    user_id: Option<String>,
    /// `{listId: true}` for each list the contact is on.
    mailing_lists: BTreeMap<String, bool>,
    /// Loops' double opt-in status (`pending`, `accepted`, `rejected`). Inlet has no double
    /// opt-in, so it is always `null` ("not known", as Loops answers for a contact that
    /// never went through one).
    #[schema(value_type = Option<String>)]
    opt_in_status: Option<&'static str>,
    // Which keys a contact has is up to the clients and platforms that set them: a map.
    /// Custom properties: strings, numbers or booleans.
    #[serde(flatten)]
    custom: Map<String, Value>,
}

impl Contact {
    /// `c`, on the mailing lists `lists`.
    pub(crate) fn of(c: contact::Model, lists: Vec<String>) -> Self {
        let mut custom: Map<String, Value> =
            serde_json::from_str(&c.properties).unwrap_or_default();
        custom.retain(|key, _| !FIELDS.contains(&key.as_str()));
        Self {
            id: c.id,
            email: c.email,
            first_name: c.first_name,
            last_name: c.last_name,
            source: c.source,
            subscribed: c.subscribed,
            user_group: c.user_group,
            user_id: c.user_id,
            mailing_lists: lists.into_iter().map(|l| (l, true)).collect(),
            opt_in_status: None,
            custom,
        }
    }
}

#[cfg(test)]
mod tests {
    use inlet_shared::contacts::contact_json;
    use inlet_shared::db::entities::contact;
    use serde_json::{Value, json};

    use super::{Contact, FIELDS};

    fn ada(properties: Value) -> contact::Model {
        contact::Model {
            id: "c_1".into(),
            email: "ada@example.com".into(),
            user_id: Some("user_1".into()),
            first_name: Some("Ada".into()),
            last_name: None,
            source: Some("API".into()),
            user_group: None,
            subscribed: true,
            properties: properties.to_string(),
            created_at: 1,
            updated_at: 2,
            last_event_at: 3,
        }
    }

    /// The API shows a contact as templates see it (`contact_json`), custom properties at
    /// the top level, and a property named like a field does not hide the field.
    #[test]
    fn a_contact_is_shown_as_templates_see_it() {
        let lists = vec!["list_a".to_owned(), "list_b".to_owned()];
        for properties in [
            json!({}),
            json!({"plan": "pro", "seats": 3, "trial": false}),
            json!({"email": "other@example.com", "id": "x", "mailingLists": 1, "zeta": "z"}),
            json!("not an object"),
        ] {
            let c = ada(properties.clone());
            let shown = serde_json::to_value(Contact::of(c.clone(), lists.clone())).unwrap();
            assert_eq!(shown, contact_json(&c, &lists), "{properties}");
        }
    }

    /// `FIELDS` names every field the type has.
    #[test]
    fn fields_are_the_keys_of_a_contact_without_properties() {
        let shown = serde_json::to_value(Contact::of(ada(json!({})), vec![])).unwrap();
        let mut keys: Vec<&str> = shown
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut fields = FIELDS.to_vec();
        keys.sort_unstable();
        fields.sort_unstable();
        assert_eq!(keys, fields);
    }
}
