//! Telemetry: the tracing subscriber (pretty or JSON lines on stderr, filtered by
//! `RUST_LOG`) and, when an OTLP endpoint is set, the export of spans as OpenTelemetry traces.
//!
//! Traces are configured by the standard OpenTelemetry variables, which the OpenTelemetry SDK
//! reads from the environment itself (they are not Inlet settings, and `inlet config` does not
//! list them):
//!
//! - `OTEL_EXPORTER_OTLP_ENDPOINT` (a base URL; `/v1/traces` is appended) or
//!   `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (the full URL): export is on when either is set and
//!   off otherwise — then no exporter runs and nothing changes. `http://` or `https://`
//!   (rustls, webpki roots); OTLP over HTTP with protobuf bodies, not gRPC.
//! - `OTEL_SERVICE_NAME` (default `inlet-<process>`, e.g. `inlet-serve`),
//!   `OTEL_RESOURCE_ATTRIBUTES`.
//! - `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_TIMEOUT` (and their `_TRACES_` forms),
//!   `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG`, `OTEL_BSP_*` (the batch processor:
//!   schedule delay, queue and batch sizes).
//! - `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` turn export off.
//!
//! Exported spans pass the same `RUST_LOG` filter as the logs. A delivery's trace crosses the
//! queue in its message ([`propagation`]): ingest's `webhook` span, then the worker's
//! `delivery` span as its child.

mod otlp;
pub mod propagation;

use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::LogFormat;

pub use otlp::TelemetryError;

/// Whether spans are exported: set once the exporter is installed.
static EXPORTING: AtomicBool = AtomicBool::new(false);

/// True when spans are exported over OTLP. Spans worth nothing but their export (one per
/// webhook delivery at `info`) are opened at `debug` otherwise, where they cost nothing.
pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

/// Keeps the trace export running; dropping it flushes the spans not yet sent (waiting up to
/// the exporter's timeout) and stops the export. Keep it for the life of the process, inside
/// the Tokio runtime (in `main`'s body, not past it): the export runs on that runtime.
#[must_use = "dropping the guard stops the trace export"]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl TelemetryGuard {
    /// Sends the spans not yet exported and stops the export, now rather than on drop.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(provider) = self.provider.take() {
            EXPORTING.store(false, Ordering::Relaxed);
            if let Err(e) = provider.shutdown() {
                // The subscriber may be the one failing: stderr, as `main` reports errors.
                eprintln!("inlet: the last spans were not exported: {e}");
            }
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        self.stop();
    }
}

fn env_filter(filter: &str) -> EnvFilter {
    EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Installs the global subscriber: logs per `format` and `filter`, and the OTLP export of
/// spans when the OpenTelemetry variables ask for it, as service `OTEL_SERVICE_NAME` or
/// else `inlet-<process>`. `process` names the subcommand (`serve`, `ingest`, `worker`,
/// `migrate`…). Call inside the Tokio runtime and keep the guard (see [`TelemetryGuard`]).
///
/// Safe to call more than once: later calls install nothing and export nothing, so tests
/// that boot several applications in one process can call it freely. Fails only when export
/// is asked for and its settings are wrong (an endpoint that is no URL, no runtime).
pub fn init(
    format: LogFormat,
    filter: &str,
    process: &str,
) -> Result<TelemetryGuard, TelemetryError> {
    let provider = otlp::provider(process)?;
    let logs = match format {
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_writer(std::io::stderr)
            .boxed(),
    };
    let registry = tracing_subscriber::registry().with(logs.with_filter(env_filter(filter)));
    let installed = match &provider {
        Some(provider) => {
            use opentelemetry::trace::TracerProvider as _;
            let traces = tracing_opentelemetry::layer()
                .with_tracer(provider.tracer("inlet"))
                .with_filter(env_filter(filter));
            registry.with(traces).try_init().is_ok()
        }
        None => registry.try_init().is_ok(),
    };
    let provider = provider.filter(|_| installed);
    if let Some(provider) = provider {
        EXPORTING.store(true, Ordering::Relaxed);
        return Ok(TelemetryGuard {
            provider: Some(provider),
        });
    }
    Ok(TelemetryGuard { provider: None })
}
