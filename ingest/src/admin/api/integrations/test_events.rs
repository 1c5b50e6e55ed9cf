//! `POST /api/v1/integrations/{id}/test-events`: a realistic sample of one of the platform's
//! event types, signed with the integration's newest secret and taken through the webhook
//! source as a real delivery is (`inlet send-test-event`, like `stripe trigger`).

use actix_web::{HttpResponse, ResponseError, web};
use inlet_shared::domain::{Email, new_id, now_ms};
use inlet_shared::integrations::secrets;
use inlet_shared::providers::Provider;
use inlet_shared::providers::samples::{Person, sample, sign};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use super::load;
use crate::admin::api::schemas::Message;
use crate::error::ApiError;
use crate::state::AppState;

/// Body of `POST /api/v1/integrations/{id}/test-events`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SendTestEvent {
    /// One of the platform's supported event types, e.g. `customer.created`.
    event_type: String,
    /// The sample person's email address.
    email: String,
    /// The sample person's first name [default: Jenny, when no name is given].
    first_name: Option<String>,
    /// The sample person's last name [default: Rosen, when no name is given].
    last_name: Option<String>,
}

/// What the webhook endpoint answered the signed sample: `{success, message, id}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TestEventAnswer {
    success: bool,
    /// The sentence the platform would see in its webhook log.
    message: String,
    /// The id of the recorded delivery (`wh_…`).
    id: String,
}

/// The platform's id for the sample person (Stripe customer, Clerk/Supabase user, Polar
/// customer): the same for every test event, so they are about one person.
pub(crate) fn sample_person_id(provider: Provider) -> &'static str {
    match provider {
        Provider::Stripe => "cus_TestInlet0001",
        Provider::Clerk => "user_2TestInletUser0001",
        Provider::Polar => "7b6f1f6e-2c44-4a39-9a55-1b2f0d6f6a01",
        Provider::Supabase => "0d4f7a52-95a1-4d7c-9d9b-3f4a2b1c0e11",
    }
}

/// The sample's body and the platform's signature headers for it.
async fn signed_sample(
    state: &AppState,
    id: &str,
    body: &SendTestEvent,
) -> Result<(String, Vec<(String, String)>), ApiError> {
    let (row, provider) = load(state, id).await?;
    if !provider.supports(&body.event_type) {
        return Err(ApiError::BadRequest(format!(
            "eventType: {:?} is not a supported {} event. Supported: {}.",
            body.event_type,
            provider.display_name(),
            provider.supported_events().join(", ")
        )));
    }
    let email = Email::parse(&body.email)
        .ok_or_else(|| ApiError::BadRequest("email: not a valid email address.".into()))?;
    let (first_name, last_name) = match (&body.first_name, &body.last_name) {
        (None, None) => ("Jenny", "Rosen"),
        (first, last) => (
            first.as_deref().unwrap_or_default(),
            last.as_deref().unwrap_or_default(),
        ),
    };
    // The newest secret still valid: the one the platform signs with after a rotation.
    let secret = secrets::newest_usable(&state.db, &state.vault, &row.id, now_ms())
        .await?
        .ok_or_else(|| {
            ApiError::BadRequest(
                "This integration has no signing secret that is still valid.".into(),
            )
        })?;
    let person = Person {
        email: email.as_str(),
        first_name,
        last_name,
        id: sample_person_id(provider),
    };
    // Now, so a later test event is never older than an earlier one (the ordering guard
    // would ignore it).
    let now = now_ms() / 1000;
    let sampled = sample(provider, &body.event_type, &person, now)
        .ok_or_else(|| ApiError::BadRequest("No sample for this event type.".into()))?;
    let headers = sign(
        provider,
        secret.expose_secret(),
        &sampled,
        now,
        &new_id("msg_"),
    )
    .ok_or_else(|| ApiError::BadRequest("The stored secret cannot sign.".into()))?;
    Ok((sampled, headers))
}

/// `POST /api/v1/integrations/{id}/test-events`: answers what the webhook endpoint answered
/// the signed sample (202 enqueued, 200 ignored, or its refusal).
#[utoipa::path(post, path = "/api/v1/integrations/{id}/test-events", tag = "integrations", params(("id" = String, Path)), request_body = SendTestEvent, responses((status = 202, description = "Enqueued, as a real delivery", body = TestEventAnswer), (status = 200, description = "Verified and ignored by the integration's settings", body = TestEventAnswer), (status = 400, description = "Invalid input, or an unsupported event type (the message lists the supported ones)", body = Message), (status = 401, description = "Missing or wrong API key", body = Message), (status = 404, description = "No such integration", body = Message), (status = 503, description = "The queue or the database is unavailable; retry", body = Message)), security(("apiKey" = [])))]
#[tracing::instrument(skip_all, fields(integration = %path.as_str()))]
pub async fn send_test_event(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<SendTestEvent>,
) -> Result<HttpResponse, ApiError> {
    let (sampled, signed) = signed_sample(&state, &path, &body).await?;
    let mut headers: Vec<(&str, &str)> = signed
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    headers.push(("content-type", "application/json"));
    headers.push(("user-agent", "Inlet test event"));
    let answer = crate::source::webhooks::ingest(&state, &path, &headers, async {
        Ok(bytes::Bytes::from(sampled))
    })
    .await;
    Ok(match answer {
        Ok(a) => HttpResponse::build(a.status).json(TestEventAnswer {
            success: true,
            message: a.message,
            id: a.delivery_id,
        }),
        Err(e) => e.error_response(),
    })
}
