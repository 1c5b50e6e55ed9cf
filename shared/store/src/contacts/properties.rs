//! Declared contact properties, the one writer of `contact_properties`, and the check of a
//! write's custom properties against their declared types (the API refuses a mismatch;
//! a webhook drops the property and says so in its log).

use std::collections::HashMap;

use inlet_core::properties::{PropertyError, PropertyType, check_value};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait, QueryOrder};
use serde_json::{Map, Value};

use crate::db::entities::contact_property;
use crate::domain::now_ms;

/// The declared custom properties and their types.
#[derive(Debug, Clone, Default)]
pub struct Declared(HashMap<String, PropertyType>);

impl Declared {
    /// The type declared for `name`, if any.
    pub fn type_of(&self, name: &str) -> Option<PropertyType> {
        self.0.get(name).copied()
    }

    /// `properties` as stored: each declared one checked against its type (dates
    /// normalised), undeclared ones kept as given (as before properties had types). The
    /// first mismatch is the error, naming the property.
    pub fn check(
        &self,
        properties: &Map<String, Value>,
    ) -> Result<Map<String, Value>, PropertyError> {
        let mut out = Map::with_capacity(properties.len());
        for (name, value) in properties {
            let stored = match self.type_of(name) {
                Some(expected) => check_value(name, expected, value)?,
                None => value.clone(),
            };
            out.insert(name.clone(), stored);
        }
        Ok(out)
    }

    /// [`Declared::check`] that drops each mismatching property instead of refusing the
    /// whole write (webhooks: the delivery is not lost), with the reasons.
    pub fn check_lenient(
        &self,
        properties: &Map<String, Value>,
    ) -> (Map<String, Value>, Vec<String>) {
        let mut out = Map::with_capacity(properties.len());
        let mut dropped = Vec::new();
        for (name, value) in properties {
            match self.check(&Map::from_iter([(name.clone(), value.clone())])) {
                Ok(checked) => out.extend(checked),
                Err(e) => dropped.push(e.to_string()),
            }
        }
        (out, dropped)
    }
}

/// Every declared custom property, by name.
pub async fn declared<C: ConnectionTrait>(db: &C) -> Result<Declared, DbErr> {
    Ok(Declared(list(db).await?.into_iter().collect()))
}

/// Every declared custom property with its type, by name. A stored type this version
/// does not know (a newer one's) reads as a string.
pub async fn list<C: ConnectionTrait>(db: &C) -> Result<Vec<(String, PropertyType)>, DbErr> {
    let rows = contact_property::Entity::find()
        .order_by_asc(contact_property::Column::Key)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let kind = PropertyType::parse(&r.kind).unwrap_or(PropertyType::String);
            (r.key, kind)
        })
        .collect())
}

/// Declares `name` (already checked by `inlet_core::properties::check_name`) as `kind`;
/// false when it was declared already (its type is not changed).
pub async fn declare<C: ConnectionTrait>(
    db: &C,
    name: &str,
    kind: PropertyType,
) -> Result<bool, DbErr> {
    let inserted = contact_property::Entity::insert(contact_property::ActiveModel {
        key: Set(name.to_owned()),
        kind: Set(kind.as_str().to_owned()),
        created_at: Set(now_ms()),
    })
    .on_conflict(
        OnConflict::column(contact_property::Column::Key)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(inserted > 0)
}

#[cfg(test)]
mod tests {
    use inlet_core::properties::{PropertyError, PropertyType};
    use serde_json::{Map, json};

    use super::Declared;

    fn declared() -> Declared {
        Declared(
            [
                ("seats".to_owned(), PropertyType::Number),
                ("renewsAt".to_owned(), PropertyType::Date),
            ]
            .into_iter()
            .collect(),
        )
    }

    fn map(v: serde_json::Value) -> Map<String, serde_json::Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn declared_properties_are_typed_and_undeclared_ones_kept() {
        let d = declared();
        let out = d
            .check(&map(json!({"seats": 3, "renewsAt": 0, "plan": 7})))
            .unwrap();
        assert_eq!(
            serde_json::Value::Object(out),
            json!({"seats": 3, "renewsAt": "1970-01-01T00:00:00Z", "plan": 7})
        );
        let err = d.check(&map(json!({"seats": "three"}))).unwrap_err();
        assert_eq!(
            err,
            PropertyError::WrongType {
                name: "seats".into(),
                expected: PropertyType::Number
            }
        );
    }

    #[test]
    fn a_lenient_check_drops_only_the_mismatching_property() {
        let (kept, dropped) = declared().check_lenient(&map(
            json!({"seats": "three", "renewsAt": "2024-01-31", "plan": "pro"}),
        ));
        assert_eq!(
            serde_json::Value::Object(kept),
            json!({"renewsAt": "2024-01-31T00:00:00Z", "plan": "pro"})
        );
        assert_eq!(dropped.len(), 1);
        assert!(
            dropped[0].starts_with("seats must be a number"),
            "{dropped:?}"
        );
    }
}
