//! The webhook source: `POST /webhooks/{integration_id}`.
//!
//! Raw bytes in, verify the signature on them, read the envelope, enqueue, answer. No
//! database query here: the integration comes from the in-memory cache, and a 202 is sent
//! only after the queue confirmed the message (SPEC §4).

use actix_web::http::header::{CONTENT_LENGTH, HeaderMap};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use bytes::BytesMut;
use futures_util::StreamExt;
use inlet_shared::config::KeepRequests;
use inlet_shared::db::entities::webhook_log::DeliveryStatus;
use inlet_shared::domain::{new_id, now_ms};
use inlet_shared::integrations::IntegrationRuntime;
use inlet_shared::messages::TraceContext;
use inlet_shared::metrics::label;
use inlet_shared::providers::Headers;
use inlet_shared::queue::{QueueMessage, UnavailableCause};
use tracing::Instrument;

use crate::error::{IngestError, outcome};
use crate::source::delivery_log::{BODY_KEPT, Entry, REJECTED_BODY_KEPT, Request, kept_headers};
use crate::state::AppState;

/// Adapts actix's header map to the providers' [`Headers`].
struct RequestHeaders<'a>(&'a HeaderMap);

impl Headers for RequestHeaders<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(|v| v.to_str().ok())
    }

    fn for_each(&self, f: &mut dyn FnMut(&str, &str)) {
        for (name, value) in self.0 {
            if let Ok(value) = value.to_str() {
                f(name.as_str(), value);
            }
        }
    }
}

/// Room reserved for a body before it arrives. A declared `Content-Length` is only a claim:
/// it is believed up to this much, and the buffer grows as the bytes really come.
const BODY_RESERVED: usize = 16 * 1024;

/// Reads the body, refusing more than `limit` bytes (413) before buffering them. Its time
/// limit is [`crate::source::body_deadline`]'s (408).
async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<bytes::Bytes, IngestError> {
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(IngestError::PayloadTooLarge);
    }
    let mut body = BytesMut::with_capacity(declared.unwrap_or(8 * 1024).min(BODY_RESERVED));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            if crate::source::body_deadline::is_timeout(&e) {
                IngestError::BodyTimeout
            } else {
                IngestError::BodyRead(e)
            }
        })?;
        if body.len() + chunk.len() > limit {
            return Err(IngestError::PayloadTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// What ingest decided about a delivery it did not refuse.
struct Decision {
    status: StatusCode,
    log_status: DeliveryStatus,
    message: String,
}

/// What was read from the delivery before a decision (for the webhook log).
#[derive(Default)]
struct Seen {
    event_type: Option<String>,
    idempotency_key: Option<String>,
}

/// Receives one delivery: `POST /webhooks/{integration_id}` (mounted as the `/webhooks`
/// scope, so the id is what follows the prefix).
pub async fn receive(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let Some(integration_id) = req
        .match_info()
        .unprocessed()
        .strip_prefix('/')
        .filter(|id| !id.is_empty() && !id.contains('/'))
    else {
        return outcome(StatusCode::NOT_FOUND, false, "Not found.", None);
    };
    if req.method() != Method::POST {
        return outcome(
            StatusCode::METHOD_NOT_ALLOWED,
            false,
            "Webhooks are delivered with POST.",
            None,
        );
    }
    // The root of the delivery's trace when traces are exported; otherwise a debug span: at
    // the default level it costs nothing, where an enabled span is registered, has its
    // fields formatted and is entered at every poll, for every delivery. The warnings below
    // name the integration themselves.
    let span = if inlet_shared::telemetry::exporting() {
        tracing::info_span!("webhook", integration = integration_id)
    } else {
        tracing::debug_span!("webhook", integration = integration_id)
    };
    receive_delivery(&req, integration_id, payload, &state)
        .instrument(span)
        .await
        .unwrap_or_else(|e| e.error_response())
}

async fn receive_delivery(
    req: &HttpRequest,
    integration_id: &str,
    payload: web::Payload,
    state: &AppState,
) -> Result<HttpResponse, IngestError> {
    let headers = RequestHeaders(req.headers());
    let body = read_body(req, payload, state.config.max_body_bytes);
    let answer = ingest(state, integration_id, &headers, body).await?;
    Ok(outcome(
        answer.status,
        true,
        &answer.message,
        Some(&answer.delivery_id),
    ))
}

/// What ingest answered a delivery it did not refuse.
pub struct Answer {
    /// 202 when enqueued, 200 when ignored.
    pub status: StatusCode,
    /// The sentence for the sender's webhook log.
    pub message: String,
    /// Id of the recorded delivery.
    pub delivery_id: String,
}

/// The whole source path of one delivery, whatever brought it (an HTTP request, or the
/// console's "send a test event"): find the integration, read the body, verify, enqueue
/// and count it. An accepted delivery's message carries what its log row needs (with the
/// kept headers, per `INLET_KEEP_REQUESTS`) and the worker writes it; an ignored or
/// rejected one is logged here (with the request: its headers that are no signature or
/// secret, and the body).
pub async fn ingest(
    state: &AppState,
    integration_id: &str,
    headers: &dyn Headers,
    body: impl Future<Output = Result<bytes::Bytes, IngestError>>,
) -> Result<Answer, IngestError> {
    let started = std::time::Instant::now();
    let metrics = &state.metrics;
    let Some(integration) = state.cache.get(integration_id) else {
        tracing::debug!(reason = "unknown_integration", "Rejected webhook.");
        metrics
            .rejected
            .get_or_create(&label("reason", "unknown_integration"))
            .inc();
        return Err(IngestError::UnknownIntegration);
    };
    let provider = label("provider", integration.provider.as_str());
    metrics.received.get_or_create(&provider).inc();
    let received_at_ms = now_ms();
    let delivery_id = new_id("wh_");
    let mut seen = Seen::default();
    // The body, for the request kept beside the log entry (built only when it is kept).
    let mut received = None;
    let result = match body.await {
        Ok(body) => {
            received = Some(body.clone());
            decide(
                headers,
                body,
                &integration,
                state,
                &delivery_id,
                received_at_ms,
                &mut seen,
            )
            .await
        }
        Err(e) => Err(e),
    };
    // Up to `body_kept` bytes of the body: of a delivery that passed its signature, as much
    // as the console shows; of a rejected one (anyone can send most of those), a glance.
    let request = |keep: bool, body_kept: usize| {
        received
            .clone()
            .filter(|_| keep)
            .map(|body| Request::new(headers, body, body_kept))
    };
    let entry = |status: DeliveryStatus, message: String, request: Option<Request>| Entry {
        id: delivery_id.clone(),
        integration_id: integration.id.clone(),
        provider: integration.provider.as_str(),
        event_type: seen.event_type.clone(),
        idempotency_key: seen.idempotency_key.clone(),
        status,
        message,
        received_at_ms,
        request,
    };
    let answer = match result {
        Ok(decision) => {
            let counter = if decision.log_status == DeliveryStatus::Accepted {
                &metrics.accepted
            } else {
                &metrics.ignored
            };
            counter.get_or_create(&provider).inc();
            // An accepted delivery's row and kept request are the worker's to write, from
            // what its message carries: the hot path is verify and publish.
            if decision.log_status != DeliveryStatus::Accepted {
                let keep = state.config.keep_requests == KeepRequests::All;
                state.delivery_log.record(entry(
                    decision.log_status,
                    decision.message.clone(),
                    request(keep, BODY_KEPT),
                ));
            }
            Ok(Answer {
                status: decision.status,
                message: decision.message,
                delivery_id: delivery_id.clone(),
            })
        }
        Err(e) => {
            tracing::debug!(reason = e.reason(), "Rejected webhook.");
            metrics
                .rejected
                .get_or_create(&label("reason", e.reason()))
                .inc();
            let keep = state.config.keep_requests != KeepRequests::None;
            state.delivery_log.record_rejected(
                e.reason(),
                entry(
                    DeliveryStatus::Rejected,
                    e.to_string(),
                    request(keep, REJECTED_BODY_KEPT),
                ),
            );
            Err(e)
        }
    };
    metrics
        .ingest_latency
        .observe(started.elapsed().as_secs_f64());
    answer
}

async fn decide(
    headers: &dyn Headers,
    body: bytes::Bytes,
    integration: &IntegrationRuntime,
    state: &AppState,
    delivery_id: &str,
    received_at_ms: i64,
    seen: &mut Seen,
) -> Result<Decision, IngestError> {
    let tolerance = i64::try_from(state.config.signature_tolerance.as_secs()).unwrap_or(i64::MAX);
    let provider = integration.provider;
    provider.verify(
        integration.keys_at(received_at_ms),
        headers,
        &body,
        received_at_ms / 1000,
        tolerance,
    )?;
    let envelope = provider.envelope(headers, &body)?;
    let event_type = envelope.event_type;
    seen.event_type = Some(event_type.clone());
    seen.idempotency_key = Some(envelope.idempotency_key.clone());
    let ignored = |message: String| Decision {
        status: StatusCode::OK,
        log_status: DeliveryStatus::Ignored,
        message,
    };

    if let Some(reason) = envelope.ignore {
        return Ok(ignored(reason));
    }
    if !provider.supports(&event_type) {
        return Ok(ignored(format!(
            "Ignored: {event_type} is not a supported {} event.",
            provider.display_name()
        )));
    }
    if !integration.enabled(&event_type) {
        return Ok(ignored(format!(
            "Ignored: {event_type} is turned off for this integration."
        )));
    }

    let message = QueueMessage {
        delivery_id: delivery_id.to_owned(),
        integration_id: integration.id.clone(),
        provider,
        event_type,
        idempotency_key: envelope.idempotency_key,
        received_at_ms,
        body,
        // The worker's span continues this delivery's trace. Read only when exporting: the
        // span has no context otherwise, and this is every delivery's path.
        trace: if inlet_shared::telemetry::exporting() {
            inlet_shared::telemetry::propagation::current()
        } else {
            TraceContext::default()
        },
        kept_headers: (state.config.keep_requests == KeepRequests::All)
            .then(|| kept_headers(headers)),
    };
    match tokio::time::timeout(state.config.publish_timeout, state.queue.publish(&message)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(error = %e, integration = %message.integration_id, "Could not enqueue a delivery; answering 503.");
            return Err(IngestError::QueueUnavailable(e));
        }
        Err(_) => {
            tracing::warn!(integration = %message.integration_id, "Enqueueing timed out; answering 503.");
            return Err(IngestError::QueueUnavailable(
                UnavailableCause::PublishTimeout.into(),
            ));
        }
    }
    tracing::debug!(event_type = %message.event_type, delivery = %message.delivery_id, "Enqueued webhook.");
    Ok(Decision {
        status: StatusCode::ACCEPTED,
        log_status: DeliveryStatus::Accepted,
        message: format!(
            "Accepted {}; it will be processed shortly.",
            message.event_type
        ),
    })
}
