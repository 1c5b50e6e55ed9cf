//! API-key authentication for every `/api` route: `Authorization: Bearer <key>`, and the
//! key's rate limit (`rate_limit`).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, web};

use super::rate_limit::Decision;
use crate::error::ApiError;
use crate::state::AppState;

/// `x-ratelimit-limit`: the requests a second an API key may make.
pub const LIMIT_HEADER: HeaderName = HeaderName::from_static("x-ratelimit-limit");
/// `x-ratelimit-remaining`: how many more it may make at once.
pub const REMAINING_HEADER: HeaderName = HeaderName::from_static("x-ratelimit-remaining");

/// Middleware: lets the request through only with an active API key, within its rate
/// limit.
pub async fn require_api_key(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let key = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_owned);
    let Some(key) = key else {
        return Err(ApiError::Unauthorized.into());
    };
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Err(ApiError::Unauthorized.into());
    };
    let key = match inlet_shared::apikeys::verify(&state.db, &key).await {
        Ok(Some(key)) => key,
        Ok(None) => return Err(ApiError::Unauthorized.into()),
        Err(e) => return Err(ApiError::Database(e).into()),
    };
    match state.api_limit.check(&key.id) {
        Decision::Unlimited => next.call(req).await,
        Decision::Limited { limit } => Err(ApiError::RateLimited { limit }.into()),
        Decision::Allowed { limit, remaining } => {
            let mut response = next.call(req).await?;
            let headers = response.headers_mut();
            headers.insert(LIMIT_HEADER, HeaderValue::from(limit));
            headers.insert(REMAINING_HEADER, HeaderValue::from(remaining));
            Ok(response)
        }
    }
}
