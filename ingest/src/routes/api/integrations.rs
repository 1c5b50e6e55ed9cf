//! `/api/v1/integrations`: connect a platform, list connections.

use actix_web::{HttpResponse, web};
use inlet_shared::db::entities::{integration, integration_secret};
use inlet_shared::domain::{IntegrationId, format_ms, now_ms};
use inlet_shared::integrations::{EventSettingsMap, effective_settings, parse_event_settings};
use inlet_shared::providers::Provider;
use sea_orm::{ActiveValue::Set, EntityTrait, QueryOrder, TransactionTrait};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use crate::error::ApiError;
use crate::state::AppState;

/// Body of `POST /api/v1/integrations`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateIntegration {
    provider: String,
    name: String,
    #[serde(default)]
    signing_secrets: Vec<String>,
    #[serde(default)]
    events: serde_json::Map<String, serde_json::Value>,
}

/// An integration as the API shows it. Secrets are never shown, only counted.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IntegrationView {
    id: String,
    provider: Provider,
    name: String,
    endpoint_url: String,
    events: EventSettingsMap,
    secret_count: usize,
    created_at: String,
}

fn view(
    state: &AppState,
    row: integration::Model,
    provider: Provider,
    secret_count: usize,
) -> IntegrationView {
    let stored: EventSettingsMap = serde_json::from_str(&row.events).unwrap_or_default();
    IntegrationView {
        endpoint_url: state.config.endpoint_url(&row.id),
        events: effective_settings(provider, &stored),
        id: row.id,
        provider,
        name: row.name,
        secret_count,
        created_at: format_ms(row.created_at),
    }
}

/// `POST /api/v1/integrations`.
#[tracing::instrument(skip_all)]
pub async fn create(
    state: web::Data<AppState>,
    body: web::Json<CreateIntegration>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let provider = Provider::parse(&body.provider).ok_or_else(|| {
        let names: Vec<&str> = Provider::ALL.iter().map(|p| p.as_str()).collect();
        ApiError::BadRequest(format!(
            "Unknown provider {:?}. Supported: {}.",
            body.provider,
            names.join(", ")
        ))
    })?;
    let name = body.name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(ApiError::BadRequest(
            "name must be 1 to 200 characters.".into(),
        ));
    }
    if body.signing_secrets.is_empty() {
        return Err(ApiError::BadRequest(format!(
            "signingSecrets: paste the {} signing secret (whsec_…).",
            provider.display_name()
        )));
    }
    for (i, secret) in body.signing_secrets.iter().enumerate() {
        provider
            .signing_key(secret)
            .map_err(|e| ApiError::BadRequest(format!("signingSecrets[{i}]: {e}.")))?;
    }
    let events = parse_event_settings(provider, &body.events).map_err(ApiError::BadRequest)?;

    let id = IntegrationId::generate();
    let now = now_ms();
    let row = integration::ActiveModel {
        id: Set(id.to_string()),
        provider: Set(provider.as_str().to_owned()),
        name: Set(name.to_owned()),
        events: Set(serde_json::to_string(&events).unwrap_or_else(|_| "{}".into())),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let txn = state.db.begin().await?;
    let model = integration::Entity::insert(row)
        .exec_with_returning(&txn)
        .await?;
    for secret in &body.signing_secrets {
        let secret_row = integration_secret::ActiveModel {
            integration_id: Set(id.to_string()),
            secret: Set(secret.trim().to_owned()),
            created_at: Set(now),
            ..Default::default()
        };
        integration_secret::Entity::insert(secret_row)
            .exec_without_returning(&txn)
            .await?;
    }
    txn.commit().await?;
    state.cache.reload().await?;
    tracing::info!(integration = %id, provider = %provider, "Created integration.");
    Ok(HttpResponse::Created().json(view(&state, model, provider, body.signing_secrets.len())))
}

/// `GET /api/v1/integrations`.
pub async fn list(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let rows = integration::Entity::find()
        .order_by_asc(integration::Column::CreatedAt)
        .all(&state.db)
        .await?;
    let secrets = integration_secret::Entity::find().all(&state.db).await?;
    let mut counts: HashMap<String, usize> = HashMap::new();
    for s in secrets {
        *counts.entry(s.integration_id).or_default() += 1;
    }
    let views: Vec<IntegrationView> = rows
        .into_iter()
        .filter_map(|row| {
            let provider = Provider::parse(&row.provider)?;
            let count = counts.get(&row.id).copied().unwrap_or(0);
            Some(view(&state, row, provider, count))
        })
        .collect();
    Ok(HttpResponse::Ok().json(views))
}
