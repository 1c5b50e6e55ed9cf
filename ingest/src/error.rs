//! Typed errors of the HTTP boundary, each mapped once to a status and a JSON message
//! `{"success": false, "message": "…"}`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use inlet_shared::providers::{EnvelopeError, SignatureError};
use inlet_shared::queue::QueueError;
use inlet_shared::sealed::VaultError;
use sea_orm::DbErr;
use serde::Serialize;

// Every API error and webhook answer is one (the OpenAPI document declares it, so what it
// declares is what is written), and so are the API's confirmations that are only a sentence.
/// An error, or a confirmation that is only a sentence: `{success, message}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Message {
    /// Whether the request did what it asked.
    pub success: bool,
    /// What happened, for a person to read.
    pub message: String,
}

impl Message {
    /// A confirmation: `{success: true, message}`.
    pub fn done(message: &str) -> Self {
        Self {
            success: true,
            message: message.to_owned(),
        }
    }
}

/// A [`Message`] with the id of the recorded delivery, where there is one (webhook answers).
#[derive(Debug, Serialize)]
struct Outcome<'a> {
    #[serde(flatten)]
    message: Message,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
}

/// Builds a JSON response with the common shape.
pub fn outcome(status: StatusCode, success: bool, message: &str, id: Option<&str>) -> HttpResponse {
    HttpResponse::build(status).json(Outcome {
        message: Message {
            success,
            message: message.to_owned(),
        },
        id,
    })
}

/// Why a webhook delivery was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// No integration has this id (or it is not a valid id).
    #[error("No integration with this id.")]
    UnknownIntegration,
    /// The body is over `INLET_MAX_BODY_BYTES`.
    #[error("Payload too large.")]
    PayloadTooLarge,
    /// The body could not be read from the connection.
    #[error("Could not read the request body.")]
    BodyRead(#[source] actix_web::error::PayloadError),
    /// The body did not arrive within `INLET_BODY_TIMEOUT_MS`.
    #[error("The request body did not arrive in time.")]
    BodyTimeout,
    /// Signature headers missing, malformed, or not verifying.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// A verified body that is not the provider's envelope.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// The queue could not confirm the delivery: the sender must retry.
    #[error("Temporarily unavailable; please retry.")]
    QueueUnavailable(#[source] QueueError),
}

impl IngestError {
    /// Label for logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::UnknownIntegration => "unknown_integration",
            Self::PayloadTooLarge => "payload_too_large",
            Self::BodyRead(_) => "body_read",
            Self::BodyTimeout => "body_timeout",
            Self::Signature(e) => e.reason(),
            Self::Envelope(_) => "bad_envelope",
            Self::QueueUnavailable(_) => "queue_unavailable",
        }
    }
}

impl ResponseError for IngestError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::UnknownIntegration => StatusCode::NOT_FOUND,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::BodyRead(_) | Self::Envelope(_) => StatusCode::BAD_REQUEST,
            Self::Signature(e) if e.is_malformed() => StatusCode::BAD_REQUEST,
            Self::Signature(_) => StatusCode::UNAUTHORIZED,
            Self::QueueUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = outcome(self.status_code(), false, &self.to_string(), None);
        match self {
            Self::QueueUnavailable(_) => {
                response.headers_mut().insert(
                    actix_web::http::header::RETRY_AFTER,
                    actix_web::http::header::HeaderValue::from_static("5"),
                );
            }
            // The rest of a slow body may still be on its way: the connection cannot carry
            // another request, and holding it is what a slow client wants.
            Self::BodyTimeout => response
                .head_mut()
                .set_connection_type(actix_web::http::ConnectionType::Close),
            _ => {}
        }
        response
    }
}

/// Errors of the REST API.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Missing or wrong API key.
    #[error("Invalid API key")]
    Unauthorized,
    /// The request is invalid; the message says how.
    #[error("{0}")]
    BadRequest(String),
    /// No such resource.
    #[error("{0}")]
    NotFound(String),
    /// The resource exists already.
    #[error("{0}")]
    Conflict(String),
    /// The API key made more requests than its rate limit (`INLET_API_RATE_LIMIT`).
    #[error("Rate limit exceeded: at most {limit} requests a second per API key.")]
    RateLimited {
        /// The limit, requests a second.
        limit: u32,
    },
    /// A bounded resource (such as template rendering) is busy; the message says which.
    #[error("{0}")]
    Unavailable(String),
    /// A contact property's name or value is refused (400); the message names it.
    #[error(transparent)]
    Property(#[from] inlet_shared::properties::PropertyError),
    /// The database failed.
    #[error("Temporarily unavailable; please retry.")]
    Database(#[from] DbErr),
    /// A stored secret does not open (wrong master key, altered row); the log says which.
    #[error("A stored secret cannot be read; see the server's log.")]
    Sealed(#[source] VaultError),
}

impl From<VaultError> for ApiError {
    fn from(e: VaultError) -> Self {
        match e {
            VaultError::Db(e) => Self::Database(e),
            e => Self::Sealed(e),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::BadRequest(_) | Self::Property(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) | Self::Database(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Sealed(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Database(e) => tracing::error!(error = %e, "Database error in an API request."),
            Self::Sealed(e) => tracing::error!(error = %e, "A stored secret does not open."),
            _ => {}
        }
        let mut response = outcome(self.status_code(), false, &self.to_string(), None);
        if let Self::RateLimited { limit } = self {
            let headers = response.headers_mut();
            headers.insert(
                crate::admin::rate_limit::LIMIT_HEADER,
                actix_web::http::header::HeaderValue::from(*limit),
            );
            headers.insert(
                crate::admin::rate_limit::REMAINING_HEADER,
                actix_web::http::header::HeaderValue::from(0u32),
            );
        }
        response
    }
}
