//! `/api/v1/api-key`: tells a client its key works, as the Loops REST API does.

use actix_web::{HttpResponse, web};
use serde_json::json;

#[allow(unused_imports)]
use super::schemas::*;
use crate::state::AppState;

/// `GET /api/v1/api-key` → `{success, teamName}` (the key was checked by the middleware).
#[utoipa::path(get, path = "/api/v1/api-key", tag = "api key", responses((status = 200, body = ApiKeyInfo), (status = 401, description = "Missing or wrong API key", body = Message)), security(("apiKey" = [])))]
pub async fn api_key(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(json!({"success": true, "teamName": state.config.team_name}))
}
