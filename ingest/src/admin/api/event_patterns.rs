//! `/api/v1/event-patterns`: every platform event Inlet can record and every custom event
//! recorded so far, with their typed properties, as Loops' API lists them
//! (`listEventPatterns`, `getEventPattern`, `getEventPatternByName`).

use actix_web::web;
use inlet_shared::contacts::patterns::{self, Pattern};
use inlet_shared::properties::PropertyType;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::schemas::Message;
use crate::error::ApiError;
use crate::state::AppState;

/// Fewest and most results a page may ask for (as Loops' other cursor-paged lists).
const PER_PAGE: std::ops::RangeInclusive<usize> = 10..=50;
/// Results a page has when `perPage` is not given.
const DEFAULT_PER_PAGE: usize = 20;

/// Query of `GET /api/v1/event-patterns`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// 10 to 50; 20 when not given.
    #[param(example = "20")]
    per_page: Option<String>,
    /// `nextCursor` of the previous page.
    cursor: Option<String>,
}

/// Loops' `PaginationData`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Pagination {
    pub(crate) total_results: usize,
    pub(crate) returned_results: usize,
    pub(crate) per_page: usize,
    pub(crate) total_pages: usize,
    /// Pass as `cursor` for the next page; `null` on the last one.
    pub(crate) next_cursor: Option<String>,
    /// The next page's URL; `null` on the last one.
    pub(crate) next_page: Option<String>,
}

/// An event pattern in a listing.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventPatternSummary {
    id: String,
    /// The name events are sent (and recorded) with.
    event_name: String,
    /// `stripe`, `clerk`, `polar` or `supabase` for a platform event; `null` for a custom one.
    #[schema(value_type = Option<String>, example = "stripe")]
    incoming_webhook_platform: Option<inlet_shared::providers::Provider>,
}

/// A property of an event pattern.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventProperty {
    name: String,
    /// `string`, `number`, `boolean` or `date`.
    #[schema(value_type = String, example = "number")]
    r#type: PropertyType,
}

/// An event pattern with its properties.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventPattern {
    #[serde(flatten)]
    summary: EventPatternSummary,
    event_properties: Vec<EventProperty>,
}

/// `GET /api/v1/event-patterns` → `{pagination, data}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventPatternList {
    pagination: Pagination,
    data: Vec<EventPatternSummary>,
}

fn summary(p: &Pattern) -> EventPatternSummary {
    EventPatternSummary {
        id: p.id.clone(),
        event_name: p.event_name.clone(),
        incoming_webhook_platform: p.platform,
    }
}

fn detail(p: Pattern) -> EventPattern {
    EventPattern {
        summary: summary(&p),
        event_properties: p
            .properties
            .into_iter()
            .map(|(name, r#type)| EventProperty { name, r#type })
            .collect(),
    }
}

/// `perPage` as given, or a 400.
pub(crate) fn per_page(raw: Option<&str>) -> Result<usize, ApiError> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_PER_PAGE);
    };
    raw.parse::<usize>()
        .ok()
        .filter(|n| PER_PAGE.contains(n))
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "perPage must be a number from {} to {}.",
                PER_PAGE.start(),
                PER_PAGE.end()
            ))
        })
}

/// The position a cursor stands for (the index of the page's first pattern), or a 400.
pub(crate) fn offset(cursor: Option<&str>, total: usize) -> Result<usize, ApiError> {
    let Some(cursor) = cursor else {
        return Ok(0);
    };
    cursor
        .parse::<usize>()
        .ok()
        .filter(|n| *n > 0 && *n < total)
        .ok_or_else(|| ApiError::BadRequest("cursor is not valid.".into()))
}

/// `GET /api/v1/event-patterns?perPage=…&cursor=…`: the platform patterns (platform by
/// platform, in each provider's order), then the custom ones by name.
#[utoipa::path(get, path = "/api/v1/event-patterns", tag = "events", params(ListQuery), responses((status = 200, body = EventPatternList), (status = 400, description = "Invalid perPage or cursor", body = Message), (status = 401, description = "Missing or wrong API key", body = Message)), security(("apiKey" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<web::Json<EventPatternList>, ApiError> {
    let per_page = per_page(query.per_page.as_deref())?;
    let all = patterns::all(&state.db).await?;
    let total = all.len();
    let start = offset(query.cursor.as_deref(), total)?;
    let data: Vec<EventPatternSummary> =
        all.iter().skip(start).take(per_page).map(summary).collect();
    let next = start.saturating_add(per_page);
    let next_cursor = (next < total).then(|| next.to_string());
    let next_page = next_cursor.as_ref().map(|cursor| {
        format!(
            "{}/api/v1/event-patterns?perPage={per_page}&cursor={cursor}",
            state.config.public_url.trim_end_matches('/')
        )
    });
    Ok(web::Json(EventPatternList {
        pagination: Pagination {
            total_results: total,
            returned_results: data.len(),
            per_page,
            total_pages: total.div_ceil(per_page),
            next_cursor,
            next_page,
        },
        data,
    }))
}

/// `GET /api/v1/event-patterns/{id}`; 404 when there is none.
#[utoipa::path(get, path = "/api/v1/event-patterns/{id}", tag = "events", params(("id" = String, Path, description = "The pattern's id")), responses((status = 200, body = EventPattern), (status = 401, description = "Missing or wrong API key", body = Message), (status = 404, description = "No such event pattern", body = Message)), security(("apiKey" = [])))]
pub async fn get(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<web::Json<EventPattern>, ApiError> {
    patterns::by_id(&state.db, &id)
        .await?
        .map(|p| web::Json(detail(p)))
        .ok_or_else(|| ApiError::NotFound("Event pattern not found.".into()))
}

/// `GET /api/v1/event-patterns/by-name/{eventName}` (the name URI-encoded, as the SDK
/// sends it); 404 when there is none.
#[utoipa::path(get, path = "/api/v1/event-patterns/by-name/{eventName}", tag = "events", params(("eventName" = String, Path, description = "The event's name, URI-encoded")), responses((status = 200, body = EventPattern), (status = 401, description = "Missing or wrong API key", body = Message), (status = 404, description = "No such event pattern", body = Message)), security(("apiKey" = [])))]
pub async fn by_name(
    state: web::Data<AppState>,
    name: web::Path<String>,
) -> Result<web::Json<EventPattern>, ApiError> {
    patterns::by_name(&state.db, &name)
        .await?
        .map(|p| web::Json(detail(p)))
        .ok_or_else(|| ApiError::NotFound("Event pattern not found.".into()))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{offset, per_page};

    #[test]
    fn per_page_is_10_to_50_and_20_by_default() {
        assert_eq!(per_page(None).unwrap(), 20);
        assert_eq!(per_page(Some("10")).unwrap(), 10);
        assert_eq!(per_page(Some("50")).unwrap(), 50);
        for bad in ["9", "51", "-1", "", "abc", "1e3", "20 "] {
            assert!(per_page(Some(bad)).is_err(), "{bad:?}");
        }
    }

    proptest! {
        /// Any cursor is a position inside the list or a 400, never a panic.
        #[test]
        fn hostile_cursors_are_refused_or_inside(cursor in "\\PC{0,30}|[0-9]{1,25}", total in 0usize..200) {
            if let Ok(n) = offset(Some(&cursor), total) {
                prop_assert!(n > 0 && n < total);
            }
        }
    }
}
