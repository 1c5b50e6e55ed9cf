//! Event patterns, as Loops lists them: every platform event Inlet can record (its
//! properties declared by its provider) and every custom event recorded so far, with the
//! properties it was recorded with. The one writer of `event_patterns`: one row per custom
//! event name, written only when a new name or property appears, so it grows with distinct
//! names and not with traffic, and outlives the events that retention prunes.

use std::collections::BTreeMap;

use inlet_core::properties::PropertyType;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde_json::{Map, Value};

use crate::db::entities::event_pattern;
use crate::domain::{new_id, now_ms};
use crate::providers::Provider;

/// One event pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    /// `ep_<provider>.<type>` for a platform event, a generated id for a custom one.
    pub id: String,
    /// The name events are recorded (and workflows triggered) under.
    pub event_name: String,
    /// The platform whose webhooks record it; `None` for a custom event.
    pub platform: Option<Provider>,
    /// Its properties, by name.
    pub properties: Vec<(String, PropertyType)>,
}

/// Every platform event Inlet can record, platform by platform, in each provider's order.
pub fn platform_patterns() -> Vec<Pattern> {
    Provider::ALL
        .into_iter()
        .flat_map(|provider| {
            provider.supported_events().iter().map(move |event_type| {
                let mut properties: Vec<(String, PropertyType)> = provider
                    .event_properties(event_type)
                    .iter()
                    .map(|(name, kind)| ((*name).to_owned(), *kind))
                    .collect();
                properties.sort_unstable();
                Pattern {
                    id: format!("ep_{provider}.{event_type}"),
                    event_name: format!("{provider}:{event_type}"),
                    platform: Some(provider),
                    properties,
                }
            })
        })
        .collect()
}

fn of_row(row: event_pattern::Model) -> Pattern {
    let stored: BTreeMap<String, String> =
        serde_json::from_str(&row.properties).unwrap_or_default();
    Pattern {
        id: row.id,
        event_name: row.event_name,
        platform: None,
        properties: stored
            .into_iter()
            .map(|(name, kind)| {
                let kind = PropertyType::parse(&kind).unwrap_or(PropertyType::String);
                (name, kind)
            })
            .collect(),
    }
}

/// The custom events recorded so far, by name.
pub async fn custom<C: ConnectionTrait>(db: &C) -> Result<Vec<Pattern>, DbErr> {
    Ok(event_pattern::Entity::find()
        .order_by_asc(event_pattern::Column::EventName)
        .all(db)
        .await?
        .into_iter()
        .map(of_row)
        .collect())
}

/// Every pattern: the platform ones, then the custom ones by name.
pub async fn all<C: ConnectionTrait>(db: &C) -> Result<Vec<Pattern>, DbErr> {
    let mut patterns = platform_patterns();
    patterns.extend(custom(db).await?);
    Ok(patterns)
}

/// The pattern with id `id`.
pub async fn by_id<C: ConnectionTrait>(db: &C, id: &str) -> Result<Option<Pattern>, DbErr> {
    if let Some(p) = platform_patterns().into_iter().find(|p| p.id == id) {
        return Ok(Some(p));
    }
    Ok(event_pattern::Entity::find_by_id(id.to_owned())
        .one(db)
        .await?
        .map(of_row))
}

/// The pattern of the event named `name`.
pub async fn by_name<C: ConnectionTrait>(db: &C, name: &str) -> Result<Option<Pattern>, DbErr> {
    if let Some(p) = platform_patterns()
        .into_iter()
        .find(|p| p.event_name == name)
    {
        return Ok(Some(p));
    }
    Ok(event_pattern::Entity::find()
        .filter(event_pattern::Column::EventName.eq(name))
        .one(db)
        .await?
        .map(of_row))
}

/// The (name → type) of recorded properties: each value's own type; `null` has none.
fn typed(properties: &Map<String, Value>) -> BTreeMap<String, PropertyType> {
    properties
        .iter()
        .filter_map(|(name, value)| PropertyType::of_value(value).map(|t| (name.clone(), t)))
        .collect()
}

fn stored(types: &BTreeMap<String, PropertyType>) -> String {
    let names: BTreeMap<&str, &str> = types
        .iter()
        .map(|(name, kind)| (name.as_str(), kind.as_str()))
        .collect();
    serde_json::to_string(&names).unwrap_or_else(|_| "{}".to_owned())
}

/// Notes that the custom event `name` was recorded with `properties`: its pattern is
/// created, or given the properties it had not had (a property keeps the type it was
/// first seen with). Reads one row when nothing is new.
pub async fn observe<C: ConnectionTrait>(
    db: &C,
    name: &str,
    properties: &Map<String, Value>,
) -> Result<(), DbErr> {
    let seen = typed(properties);
    let covers = |row: &event_pattern::Model| {
        let known: BTreeMap<String, String> =
            serde_json::from_str(&row.properties).unwrap_or_default();
        seen.keys().all(|k| known.contains_key(k))
    };
    let find = || event_pattern::Entity::find().filter(event_pattern::Column::EventName.eq(name));
    if let Some(row) = find().one(db).await?
        && covers(&row)
    {
        return Ok(());
    }
    let now = now_ms();
    let inserted = event_pattern::Entity::insert(event_pattern::ActiveModel {
        id: Set(new_id("ep_")),
        event_name: Set(name.to_owned()),
        properties: Set(stored(&seen)),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(event_pattern::Column::EventName)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    if inserted > 0 {
        return Ok(());
    }
    // Locked, so two writers adding different properties at once both keep theirs.
    let Some(row) = find().lock_exclusive().one(db).await? else {
        return Ok(());
    };
    let mut merged: BTreeMap<String, PropertyType> =
        of_row(row.clone()).properties.into_iter().collect();
    for (name, kind) in seen {
        merged.entry(name).or_insert(kind);
    }
    event_pattern::Entity::update_many()
        .col_expr(
            event_pattern::Column::Properties,
            Expr::value(stored(&merged)),
        )
        .col_expr(event_pattern::Column::UpdatedAt, Expr::value(now))
        .filter(event_pattern::Column::Id.eq(row.id))
        .exec(db)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use inlet_core::properties::PropertyType;

    use super::platform_patterns;
    use crate::providers::Provider;

    #[test]
    fn every_supported_platform_event_has_one_pattern_with_a_unique_id() {
        let patterns = platform_patterns();
        let total: usize = Provider::ALL
            .iter()
            .map(|p| p.supported_events().len())
            .sum();
        assert_eq!(patterns.len(), total);
        let mut ids: Vec<&str> = patterns.iter().map(|p| p.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), total);
        let trial = patterns
            .iter()
            .find(|p| p.event_name == "stripe:customer.subscription.trial_will_end")
            .unwrap();
        assert_eq!(trial.platform, Some(Provider::Stripe));
        assert!(
            trial
                .properties
                .contains(&("trialEnd".to_owned(), PropertyType::Date))
        );
    }

    async fn custom_patterns_keep_every_property_with_its_first_type(test: crate::test_db::TestDb) {
        use serde_json::json;
        let db = &test.db;
        let props = |v: serde_json::Value| v.as_object().cloned().unwrap();
        super::observe(
            db,
            "creditWarning",
            &props(json!({"used": 903, "plan": "pro"})),
        )
        .await
        .unwrap();
        super::observe(
            db,
            "creditWarning",
            &props(json!({"used": "many", "at": "2024-01-31T12:00:00Z", "gone": null})),
        )
        .await
        .unwrap();
        super::observe(db, "signup", &props(json!({})))
            .await
            .unwrap();
        let custom = super::custom(db).await.unwrap();
        assert_eq!(custom.len(), 2);
        assert_eq!(custom[0].event_name, "creditWarning");
        assert_eq!(custom[0].platform, None);
        assert_eq!(
            custom[0].properties,
            [
                ("at".to_owned(), PropertyType::Date),
                ("plan".to_owned(), PropertyType::String),
                ("used".to_owned(), PropertyType::Number),
            ]
        );
        let by_name = super::by_name(db, "creditWarning").await.unwrap().unwrap();
        assert_eq!(super::by_id(db, &by_name.id).await.unwrap(), Some(by_name));
        assert!(super::by_name(db, "nothing").await.unwrap().is_none());
        let platform = super::by_name(db, "clerk:user.created")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(platform.platform, Some(Provider::Clerk));
        assert_eq!(
            super::all(db).await.unwrap().len(),
            platform_patterns().len() + 2
        );
    }

    #[tokio::test]
    async fn custom_patterns_keep_every_property_with_its_first_type_sqlite() {
        custom_patterns_keep_every_property_with_its_first_type(
            crate::test_db::TestDb::sqlite().await,
        )
        .await;
    }

    #[tokio::test]
    async fn custom_patterns_keep_every_property_with_its_first_type_postgres() {
        custom_patterns_keep_every_property_with_its_first_type(
            crate::test_db::TestDb::postgres().await,
        )
        .await;
    }
}
