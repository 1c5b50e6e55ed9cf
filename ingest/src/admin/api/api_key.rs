//! `/api/v1/api-key`: tells a client its key works, as the Loops REST API does.

use actix_web::web;
use serde::Serialize;
use utoipa::ToSchema;

use super::schemas::Message;
use crate::state::AppState;

/// `{success, teamName}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyInfo {
    success: bool,
    /// `INLET_TEAM_NAME`.
    team_name: String,
}

/// `GET /api/v1/api-key` → `{success, teamName}` (the key was checked by the middleware).
#[utoipa::path(get, path = "/api/v1/api-key", tag = "api key", responses((status = 200, body = ApiKeyInfo), (status = 401, description = "Missing or wrong API key", body = Message)), security(("apiKey" = [])))]
pub async fn api_key(state: web::Data<AppState>) -> web::Json<ApiKeyInfo> {
    web::Json(ApiKeyInfo {
        success: true,
        team_name: state.config.team_name.clone(),
    })
}
