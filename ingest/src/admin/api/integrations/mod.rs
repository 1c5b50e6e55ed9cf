//! `/api/v1/integrations`: connect a platform, tune its events, rotate its secrets.

pub mod secrets;
pub mod test_events;

pub use secrets::{
    AddSecret, SecretHeader, SecretView, UpdateSecret, add_secret, delete_secret, list_secrets,
    update_secret,
};
pub(crate) use secrets::{add_integration_secret, delete_integration_secret, set_secret_expiry};
pub use test_events::{SendTestEvent, TestEventAnswer, send_test_event};

use actix_web::{HttpResponse, web};
use inlet_shared::db::entities::integration;
use inlet_shared::domain::{IntegrationId, format_ms, now_ms};
use inlet_shared::integrations::secrets::{self as stored_secrets, SecretInfo};
use inlet_shared::integrations::{EventSettingsMap, effective_settings, parse_event_settings};
use inlet_shared::providers::{Provider, supabase};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ConnectionTrait, EntityTrait, QueryOrder, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::rows::{self, check_name};
use super::schemas::Message;
use crate::error::ApiError;
use crate::state::AppState;
use secrets::{SUPABASE_HEADER, secrets_of, views};

/// Body of `POST /api/v1/integrations`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateIntegration {
    pub(crate) provider: String,
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) signing_secrets: Vec<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub(crate) events: Map<String, Value>,
}

/// Body of `PATCH /api/v1/integrations/{id}`: only what changes.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateIntegration {
    pub(crate) name: Option<String>,
    /// Per event type, the settings fields to change (others keep their values).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub(crate) events: Map<String, Value>,
}

/// An integration as the API shows it. Secrets are never shown after creation, only counted
/// and dated.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IntegrationView {
    pub(crate) id: String,
    #[schema(value_type = String)]
    pub(crate) provider: Provider,
    pub(crate) name: String,
    pub(crate) endpoint_url: String,
    #[schema(value_type = Object)]
    pub(crate) events: EventSettingsMap,
    pub(crate) secret_count: usize,
    /// Each signing secret's age and expiry, oldest first (never its value).
    pub(crate) secrets: Vec<SecretView>,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub(crate) secret_header: Option<SecretHeader>,
}

fn stored_events(row: &integration::Model) -> EventSettingsMap {
    serde_json::from_str(&row.events).unwrap_or_default()
}

fn view(
    state: &AppState,
    row: integration::Model,
    provider: Provider,
    secrets: &[SecretInfo],
) -> IntegrationView {
    IntegrationView {
        secret_count: secrets.len(),
        secrets: views(secrets, now_ms()),
        endpoint_url: state.config.endpoint_url(&row.id),
        events: effective_settings(provider, &stored_events(&row)),
        id: row.id,
        provider,
        name: row.name,
        created_at: format_ms(row.created_at),
        updated_at: format_ms(row.updated_at),
        secret_header: None,
    }
}

fn parse_provider(name: &str) -> Result<Provider, ApiError> {
    Provider::parse(name).ok_or_else(|| {
        let names: Vec<&str> = Provider::ALL.iter().map(|p| p.as_str()).collect();
        ApiError::BadRequest(format!(
            "Unknown provider {name:?}. Supported: {}.",
            names.join(", ")
        ))
    })
}

/// Refuses settings that name mailing lists that do not exist.
async fn check_lists<C: ConnectionTrait>(
    db: &C,
    events: &EventSettingsMap,
) -> Result<(), ApiError> {
    let ids = events
        .values()
        .flat_map(|s| s.mailing_lists.keys())
        .map(String::as_str);
    rows::lists_exist(db, ids).await
}

async fn load(state: &AppState, id: &str) -> Result<(integration::Model, Provider), ApiError> {
    let row = rows::find::<integration::Entity, _>(&state.db, id, "integration").await?;
    let provider = parse_provider(&row.provider)?;
    Ok((row, provider))
}

/// A strictly later `updated_at`, so other processes' change detection never misses an edit.
fn touched(previous: i64) -> i64 {
    now_ms().max(previous + 1)
}

/// Connects a platform: validates the name, secrets and settings, stores them and reloads
/// the cache. For Supabase, the generated header is in the view (shown this once). `id` is
/// one the console generated earlier to show the endpoint URL before the platform's secret
/// exists; the API always generates a new one.
pub(crate) async fn create_integration(
    state: &AppState,
    id: Option<IntegrationId>,
    body: CreateIntegration,
) -> Result<IntegrationView, ApiError> {
    let provider = parse_provider(&body.provider)?;
    let name = check_name(&body.name)?;
    let mut secrets = body.signing_secrets;
    let mut secret_header = None;
    if provider.generates_secret() {
        if !secrets.is_empty() {
            return Err(ApiError::BadRequest(
                "signingSecrets: Supabase secrets are generated by Inlet; leave it out.".into(),
            ));
        }
        let value = supabase::generate_secret();
        secrets.push(value.clone());
        secret_header = Some(SecretHeader {
            name: SUPABASE_HEADER,
            value,
        });
    } else if secrets.is_empty() {
        return Err(ApiError::BadRequest(format!(
            "signingSecrets: paste the {} signing secret (whsec_…).",
            provider.display_name()
        )));
    }
    for (i, secret) in secrets.iter().enumerate() {
        provider
            .signing_key(secret)
            .map_err(|e| ApiError::BadRequest(format!("signingSecrets[{i}]: {e}.")))?;
    }
    let events = parse_event_settings(provider, &body.events).map_err(ApiError::BadRequest)?;
    check_lists(&state.db, &events).await?;

    let id = match id {
        Some(id) => {
            let taken = integration::Entity::find_by_id(id.to_string())
                .one(&state.db)
                .await?
                .is_some();
            if taken {
                return Err(ApiError::Conflict(
                    "This integration is connected already.".into(),
                ));
            }
            id
        }
        None => IntegrationId::generate(),
    };
    let now = now_ms();
    let row = integration::ActiveModel {
        id: Set(id.to_string()),
        provider: Set(provider.as_str().to_owned()),
        name: Set(name),
        events: Set(serde_json::to_string(&events).unwrap_or_else(|_| "{}".into())),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let txn = state.db.begin().await?;
    integration::Entity::insert(row)
        .exec_without_returning(&txn)
        .await?;
    for secret in &secrets {
        stored_secrets::add(&txn, &state.vault, id.as_str(), secret, now, None).await?;
    }
    let model = rows::find::<integration::Entity, _>(&txn, &id.to_string(), "integration").await?;
    let stored = secrets_of(&txn, id.as_str()).await?;
    txn.commit().await?;
    state.cache.reload().await?;
    tracing::info!(integration = %id, provider = %provider, "Created integration.");
    let mut created = view(state, model, provider, &stored);
    created.secret_header = secret_header;
    Ok(created)
}

/// `POST /api/v1/integrations`.
#[utoipa::path(post, path = "/api/v1/integrations", tag = "integrations", request_body = CreateIntegration, responses((status = 201, body = IntegrationView), (status = 400, description = "Invalid input", body = Message), (status = 401, description = "Missing or wrong API key", body = Message)), security(("apiKey" = [])))]
#[tracing::instrument(skip_all)]
pub async fn create(
    state: web::Data<AppState>,
    body: web::Json<CreateIntegration>,
) -> Result<HttpResponse, ApiError> {
    let created = create_integration(&state, None, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(created))
}

/// Every integration, oldest first.
pub(crate) async fn list_integrations(state: &AppState) -> Result<Vec<IntegrationView>, ApiError> {
    let rows = integration::Entity::find()
        .order_by_asc(integration::Column::CreatedAt)
        .all(&state.db)
        .await?;
    let secrets = stored_secrets::list_all(&state.db).await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let provider = Provider::parse(&row.provider)?;
            let of = secrets.get(&row.id).map(Vec::as_slice).unwrap_or_default();
            Some(view(state, row, provider, of))
        })
        .collect())
}

/// `GET /api/v1/integrations`.
#[utoipa::path(get, path = "/api/v1/integrations", tag = "integrations", responses((status = 200, body = Vec<IntegrationView>), (status = 401, description = "Missing or wrong API key", body = Message)), security(("apiKey" = [])))]
pub async fn list(state: web::Data<AppState>) -> Result<web::Json<Vec<IntegrationView>>, ApiError> {
    Ok(web::Json(list_integrations(&state).await?))
}

/// One integration.
pub(crate) async fn get_integration(
    state: &AppState,
    id: &str,
) -> Result<IntegrationView, ApiError> {
    let (row, provider) = load(state, id).await?;
    let stored = secrets_of(&state.db, &row.id).await?;
    Ok(view(state, row, provider, &stored))
}

/// `GET /api/v1/integrations/{id}`.
#[utoipa::path(get, path = "/api/v1/integrations/{id}", tag = "integrations", params(("id" = String, Path)), responses((status = 200, body = IntegrationView), (status = 400, description = "Invalid input", body = Message), (status = 401, description = "Missing or wrong API key", body = Message), (status = 404, description = "No such integration", body = Message)), security(("apiKey" = [])))]
pub async fn get(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<IntegrationView>, ApiError> {
    Ok(web::Json(get_integration(&state, &path).await?))
}

/// Renames an integration or changes its event settings field by field, then reloads the
/// cache so the change applies to the next delivery.
pub(crate) async fn update_integration(
    state: &AppState,
    id: &str,
    body: UpdateIntegration,
) -> Result<IntegrationView, ApiError> {
    let (row, provider) = load(state, id).await?;
    let mut stored = stored_events(&row);
    if !body.events.is_empty() {
        // Overlay the given fields on each type's current settings, then validate the whole.
        let mut merged = Map::new();
        for (event_type, patch) in &body.events {
            let Value::Object(patch) = patch else {
                return Err(ApiError::BadRequest(format!(
                    "Settings for {event_type} must be an object."
                )));
            };
            let current = stored.get(event_type).cloned().unwrap_or_default();
            let mut value = match serde_json::to_value(current) {
                Ok(Value::Object(m)) => m,
                _ => Map::new(),
            };
            value.extend(patch.clone());
            merged.insert(event_type.clone(), Value::Object(value));
        }
        let parsed = parse_event_settings(provider, &merged).map_err(ApiError::BadRequest)?;
        check_lists(&state.db, &parsed).await?;
        stored.extend(parsed);
    }
    let mut active: integration::ActiveModel = row.clone().into();
    if let Some(name) = &body.name {
        active.name = Set(check_name(name)?);
    }
    active.events = Set(serde_json::to_string(&stored).unwrap_or_else(|_| "{}".into()));
    active.updated_at = Set(touched(row.updated_at));
    let saved = active.update(&state.db).await?;
    state.cache.reload().await?;
    tracing::info!(integration = %saved.id, "Updated integration settings.");
    let stored = secrets_of(&state.db, &saved.id).await?;
    Ok(view(state, saved, provider, &stored))
}

/// `PATCH /api/v1/integrations/{id}`: rename, or change event settings field by field.
#[utoipa::path(patch, path = "/api/v1/integrations/{id}", tag = "integrations", params(("id" = String, Path)), request_body = UpdateIntegration, responses((status = 200, body = IntegrationView), (status = 400, description = "Invalid input", body = Message), (status = 401, description = "Missing or wrong API key", body = Message), (status = 404, description = "No such integration", body = Message)), security(("apiKey" = [])))]
#[tracing::instrument(skip_all, fields(integration = %path.as_str()))]
pub async fn update(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<UpdateIntegration>,
) -> Result<web::Json<IntegrationView>, ApiError> {
    let updated = update_integration(&state, &path, body.into_inner()).await?;
    Ok(web::Json(updated))
}

/// Deletes an integration and its secrets.
pub(crate) async fn delete_integration(state: &AppState, id: &str) -> Result<(), ApiError> {
    let (row, _) = load(state, id).await?;
    let txn = state.db.begin().await?;
    stored_secrets::delete_all(&txn, &row.id).await?;
    integration::Entity::delete_by_id(row.id.clone())
        .exec(&txn)
        .await?;
    txn.commit().await?;
    state.cache.reload().await?;
    tracing::info!(integration = %row.id, "Deleted integration.");
    Ok(())
}

/// `DELETE /api/v1/integrations/{id}`.
#[utoipa::path(delete, path = "/api/v1/integrations/{id}", tag = "integrations", params(("id" = String, Path)), responses((status = 200, body = Message), (status = 400, description = "Invalid input", body = Message), (status = 401, description = "Missing or wrong API key", body = Message), (status = 404, description = "No such integration", body = Message)), security(("apiKey" = [])))]
pub async fn delete(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<Message>, ApiError> {
    delete_integration(&state, &path).await?;
    Ok(web::Json(Message::done("Integration deleted.")))
}
