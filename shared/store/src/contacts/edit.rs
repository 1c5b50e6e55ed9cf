//! The rules of every contact write, from a webhook or the API alike: how an edit merges
//! into a row, when a change is too old to overwrite it, and when a deleted contact may
//! come back. Pure: the writers decide what to change, these decide how.

use serde_json::{Map, Value};

use crate::db::entities::contact;

/// What an edit does to one field: leaves it, clears it, or sets it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Field<T> {
    /// Left as it is.
    #[default]
    Absent,
    /// Cleared.
    Null,
    /// Set to this value.
    Set(T),
}

impl<T> Field<T> {
    /// The value it sets, if any.
    pub fn value(&self) -> Option<&T> {
        match self {
            Field::Set(v) => Some(v),
            Field::Absent | Field::Null => None,
        }
    }

    /// `Set(v)` for `Some(v)`, `Absent` for `None`: a value that is only ever given, never
    /// cleared (a platform's name fields).
    pub fn given(value: Option<T>) -> Self {
        value.map_or(Field::Absent, Field::Set)
    }
}

/// One write to a contact: each field left, cleared or set. Whoever builds it has
/// already applied its own policy (a webhook's `updateNames`, an API request's fields).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Edit {
    /// A new address (validated by the caller); `None` keeps the address.
    pub email: Option<String>,
    /// The platform's or the caller's user id.
    pub user_id: Field<String>,
    /// First name.
    pub first_name: Field<String>,
    /// Last name.
    pub last_name: Field<String>,
    /// Where the contact came from.
    pub source: Field<String>,
    /// The contact's user group.
    pub user_group: Field<String>,
    /// Subscribed to marketing email; `None` keeps it (a new contact is subscribed).
    pub subscribed: Option<bool>,
    /// Custom properties: a value sets one, `null` removes it (as Loops does).
    pub properties: Map<String, Value>,
}

/// Whether a change timed `at` comes too late for a contact last changed at
/// `last_change`: strictly older only, since an equal time applies (SPEC §6.2: Stripe's
/// one-second `created` often gives a create and an update the same second).
pub fn is_stale(at: i64, last_change: i64) -> bool {
    at < last_change
}

/// Whether a change timed `at` may bring back a contact deleted at `deleted_at`: only a
/// newer one, so a late, older event does not resurrect it (SPEC §6.2).
pub fn revives(at: i64, deleted_at: i64) -> bool {
    at > deleted_at
}

fn set(target: &mut Option<String>, field: &Field<String>) {
    match field {
        Field::Absent => {}
        Field::Null => *target = None,
        Field::Set(v) => *target = Some(v.clone()),
    }
}

/// `stored` (a contact's properties as kept: a JSON object, anything else read as empty)
/// with `edit` merged in.
fn merge_properties(stored: &str, edit: &Map<String, Value>) -> String {
    if edit.is_empty() {
        return stored.to_owned();
    }
    let mut properties = match serde_json::from_str::<Value>(stored) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    for (key, value) in edit {
        if value.is_null() {
            properties.remove(key);
        } else {
            properties.insert(key.clone(), value.clone());
        }
    }
    Value::Object(properties).to_string()
}

impl Edit {
    /// The row `existing` becomes under this edit, made at `at` (the change's time) and
    /// written at `now`. The contact's last change is the newer of the two, so a write is
    /// never the reason an older change overwrites a newer one.
    pub fn merged(&self, existing: &contact::Model, at: i64, now: i64) -> contact::Model {
        let mut after = existing.clone();
        if let Some(email) = &self.email {
            after.email.clone_from(email);
        }
        set(&mut after.user_id, &self.user_id);
        set(&mut after.first_name, &self.first_name);
        set(&mut after.last_name, &self.last_name);
        set(&mut after.source, &self.source);
        set(&mut after.user_group, &self.user_group);
        if let Some(subscribed) = self.subscribed {
            after.subscribed = subscribed;
        }
        after.properties = merge_properties(&existing.properties, &self.properties);
        after.last_event_at = existing.last_event_at.max(at);
        after.updated_at = now;
        after
    }

    /// A new contact `id` at `email` with this edit's fields, made at `at`, written at
    /// `now`; subscribed unless the edit says otherwise.
    pub fn created(&self, id: String, email: String, at: i64, now: i64) -> contact::Model {
        let blank = contact::Model {
            id,
            email,
            user_id: None,
            first_name: None,
            last_name: None,
            source: None,
            user_group: None,
            subscribed: true,
            properties: "{}".to_owned(),
            created_at: now,
            updated_at: now,
            last_event_at: at,
        };
        let mut created = Edit {
            email: None,
            ..self.clone()
        }
        .merged(&blank, at, now);
        created.last_event_at = at;
        created
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn props(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    fn existing() -> contact::Model {
        Edit {
            user_id: Field::Set("u_1".into()),
            first_name: Field::Set("Ada".into()),
            last_name: Field::Set("Lovelace".into()),
            source: Field::Set("Stripe".into()),
            properties: props(json!({"plan": "pro", "seats": 3})),
            ..Edit::default()
        }
        .created("c_1".into(), "ada@example.com".into(), 1_000, 5_000)
    }

    #[test]
    fn a_created_contact_is_subscribed_and_keeps_no_null_property() {
        let c = Edit {
            properties: props(json!({"plan": "pro", "gone": null})),
            ..Edit::default()
        }
        .created("c_2".into(), "b@example.com".into(), 10, 20);
        assert!(c.subscribed);
        assert_eq!(c.properties, r#"{"plan":"pro"}"#);
        assert_eq!((c.last_event_at, c.created_at, c.updated_at), (10, 20, 20));
        let unsubscribed = Edit {
            subscribed: Some(false),
            ..Edit::default()
        }
        .created("c_3".into(), "c@example.com".into(), 10, 20);
        assert!(!unsubscribed.subscribed);
    }

    #[test]
    fn an_edit_sets_clears_and_leaves_each_field() {
        let before = existing();
        let after = Edit {
            email: Some("ada@new.example".into()),
            first_name: Field::Null,
            last_name: Field::Absent,
            user_group: Field::Set("beta".into()),
            properties: props(json!({"plan": "team", "seats": null, "new": true})),
            ..Edit::default()
        }
        .merged(&before, 2_000, 6_000);
        assert_eq!(after.email, "ada@new.example");
        assert_eq!(after.first_name, None);
        assert_eq!(after.last_name.as_deref(), Some("Lovelace"));
        assert_eq!(after.user_id.as_deref(), Some("u_1"));
        assert_eq!(after.user_group.as_deref(), Some("beta"));
        let properties: Value = serde_json::from_str(&after.properties).unwrap();
        assert_eq!(properties, json!({"plan": "team", "new": true}));
        assert_eq!((after.last_event_at, after.updated_at), (2_000, 6_000));
        assert_eq!(after.created_at, before.created_at);
    }

    #[test]
    fn a_write_never_moves_the_last_change_back() {
        let after = Edit::default().merged(&existing(), 500, 6_000);
        assert_eq!(after.last_event_at, 1_000);
    }

    #[test]
    fn unreadable_stored_properties_are_replaced_not_fatal() {
        let mut before = existing();
        before.properties = "not json".into();
        let after = Edit {
            properties: props(json!({"plan": "pro"})),
            ..Edit::default()
        }
        .merged(&before, 2_000, 6_000);
        assert_eq!(after.properties, r#"{"plan":"pro"}"#);
    }

    #[test]
    fn older_changes_are_stale_and_equal_ones_apply() {
        assert!(is_stale(999, 1_000));
        assert!(!is_stale(1_000, 1_000));
        assert!(!is_stale(1_001, 1_000));
    }

    #[test]
    fn only_a_newer_change_revives_a_deleted_contact() {
        assert!(!revives(999, 1_000));
        assert!(!revives(1_000, 1_000));
        assert!(revives(1_001, 1_000));
    }
}
