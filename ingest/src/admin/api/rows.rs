//! What the API's stored resources share: the rule for their names, finding one by id (or
//! a 404), and refusing mailing-list ids that do not exist.

use inlet_shared::db::entities::mailing_list;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PrimaryKeyTrait, QueryFilter};

use crate::error::ApiError;

/// The name of an integration, mailing list, template or workflow, trimmed: 1 to 200
/// characters.
pub(crate) fn check_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::BadRequest(
            "name must be 1 to 200 characters.".into(),
        ));
    }
    Ok(name.to_owned())
}

/// The row of `E` whose id is `id`, or a 404 "No `what` with this id.".
pub(crate) async fn find<E, C>(db: &C, id: &str, what: &str) -> Result<E::Model, ApiError>
where
    E: EntityTrait,
    C: ConnectionTrait,
    <E::PrimaryKey as PrimaryKeyTrait>::ValueType: From<String>,
{
    E::find_by_id(id.to_owned())
        .one(db)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("No {what} with this id.")))
}

/// Refuses mailing-list ids that do not exist, naming them (sorted, each once).
pub(crate) async fn lists_exist<'a, C: ConnectionTrait>(
    db: &C,
    ids: impl IntoIterator<Item = &'a str>,
) -> Result<(), ApiError> {
    let mut wanted: Vec<&str> = ids.into_iter().collect();
    wanted.sort_unstable();
    wanted.dedup();
    if wanted.is_empty() {
        return Ok(());
    }
    let found = mailing_list::Entity::find()
        .filter(mailing_list::Column::Id.is_in(wanted.iter().copied()))
        .all(db)
        .await?;
    let missing: Vec<&str> = wanted
        .into_iter()
        .filter(|id| !found.iter().any(|l| l.id == *id))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "Unknown mailing list id(s): {}.",
            missing.join(", ")
        )))
    }
}
