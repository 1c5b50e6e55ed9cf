//! API-key authentication for every `/api` route: `Authorization: Bearer <key>`.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, web};

use crate::error::ApiError;
use crate::state::AppState;

/// Middleware: lets the request through only with an active API key.
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
    match inlet_shared::apikeys::verify(&state.db, &key).await {
        Ok(Some(_)) => next.call(req).await,
        Ok(None) => Err(ApiError::Unauthorized.into()),
        Err(e) => Err(ApiError::Database(e).into()),
    }
}
