//! The OTLP trace exporter: OTLP over HTTP with protobuf bodies, sent by hyper (rustls with
//! ring for `https://`), batched by the SDK's span processor.

use std::time::Duration;

use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use opentelemetry_http::hyper::HyperClient;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;

/// How long one export request may take (the OTLP default); also bounds the flush at exit.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// Trace export was asked for and cannot start.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The exporter refused its settings (an endpoint that is no URL, an unknown protocol).
    #[error("OTLP trace export: {0}")]
    Exporter(#[source] opentelemetry_otlp::ExporterBuildError),
    /// TLS for `https://` endpoints could not be set up.
    #[error("OTLP trace export: TLS: {0}")]
    Tls(#[source] rustls::Error),
    /// Called outside a Tokio runtime, which the exporter's HTTP client runs on.
    #[error("OTLP trace export needs a Tokio runtime: {0}")]
    NoRuntime(#[source] tokio::runtime::TryCurrentError),
}

/// Set and not empty.
fn set(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty())
}

/// Whether the OpenTelemetry variables ask for trace export.
fn wanted() -> bool {
    let disabled = std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.eq_ignore_ascii_case("true"))
        || std::env::var("OTEL_TRACES_EXPORTER").is_ok_and(|v| v.eq_ignore_ascii_case("none"));
    !disabled && (set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
}

/// The tracer provider exporting to the configured endpoint, or `None` when export is off.
pub(super) fn provider(process: &str) -> Result<Option<SdkTracerProvider>, TelemetryError> {
    if !wanted() {
        return Ok(None);
    }
    let runtime = tokio::runtime::Handle::try_current().map_err(TelemetryError::NoRuntime)?;
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
        .map_err(TelemetryError::Tls)?
        .https_or_http()
        .enable_http1()
        .build();
    let client = OnRuntime {
        client: HyperClient::new(https, EXPORT_TIMEOUT, None),
        runtime,
    };
    // Endpoint, headers and timeout come from the OTEL_EXPORTER_OTLP_* variables.
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_http_client(client)
        .build()
        .map_err(TelemetryError::Exporter)?;
    // The SDK's builder reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES; the default
    // name applies only when neither names the service.
    let mut resource = Resource::builder();
    if !set("OTEL_SERVICE_NAME")
        && !std::env::var("OTEL_RESOURCE_ATTRIBUTES").is_ok_and(|a| a.contains("service.name="))
    {
        resource = resource.with_service_name(format!("inlet-{process}"));
    }
    Ok(Some(
        SdkTracerProvider::builder()
            .with_resource(resource.build())
            .with_batch_exporter(exporter)
            .build(),
    ))
}

/// Hyper's client, driven on the process's Tokio runtime: the SDK's batch processor exports
/// from a thread of its own, outside the runtime, where hyper's connections cannot run.
#[derive(Debug)]
struct OnRuntime {
    client: HyperClient<HttpsConnector<HttpConnector>>,
    runtime: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl HttpClient for OnRuntime {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = self.client.clone();
        self.runtime
            .spawn(async move { client.send_bytes(request).await })
            .await?
    }
}
