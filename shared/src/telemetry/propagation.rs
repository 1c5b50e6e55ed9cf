//! W3C trace context across the queue: the publishing span's `traceparent` and `tracestate`
//! go into the message ([`TraceContext`]; AMQP headers on RabbitMQ, two columns of the
//! embedded queue's row), and the consuming span continues that trace.
//!
//! Without the OpenTelemetry layer (export off) spans have no trace context: nothing is
//! written into messages and what a message carries is ignored.

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::messages::TraceContext;

const TRACEPARENT: &str = "traceparent";
const TRACESTATE: &str = "tracestate";

struct Carrier<'a>(&'a mut TraceContext);

impl Injector for Carrier<'_> {
    fn set(&mut self, key: &str, value: String) {
        match key {
            TRACEPARENT => self.0.traceparent = Some(value),
            // An empty `tracestate` says nothing; it is left out.
            TRACESTATE if !value.is_empty() => self.0.tracestate = Some(value),
            _ => {}
        }
    }
}

struct Reader<'a>(&'a TraceContext);

impl Extractor for Reader<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        match key {
            TRACEPARENT => self.0.traceparent.as_deref(),
            TRACESTATE => self.0.tracestate.as_deref(),
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        vec![TRACEPARENT, TRACESTATE]
    }
}

/// The trace context of `span`, for a message published inside it (empty when the span
/// has none).
pub fn of(span: &tracing::Span) -> TraceContext {
    let mut trace = TraceContext::default();
    TraceContextPropagator::new().inject_context(&span.context(), &mut Carrier(&mut trace));
    trace
}

/// The trace context of the current span.
pub fn current() -> TraceContext {
    of(&tracing::Span::current())
}

/// What `trace` names, when it names a valid remote span.
fn remote(trace: &TraceContext) -> Option<opentelemetry::Context> {
    trace.traceparent.as_ref()?;
    let cx = TraceContextPropagator::new().extract(&Reader(trace));
    cx.span().span_context().is_valid().then_some(cx)
}

/// Makes `span` a child of the span that published the message carrying `trace`. Call
/// before `span` is first entered; a context that is missing or malformed changes nothing
/// (the span starts a trace of its own).
pub fn continue_trace(span: &tracing::Span, trace: &TraceContext) {
    if let Some(cx) = remote(trace) {
        // Fails only without the layer or once the span started: nothing to join then.
        let _ = span.set_parent(cx);
    }
}

/// Links `span` to the span that published the message carrying `trace`: for a span that
/// handles several messages at once, each from a trace of its own, where one parent cannot
/// be chosen.
pub fn link(span: &tracing::Span, trace: &TraceContext) {
    if let Some(cx) = remote(trace) {
        span.add_link(cx.span().span_context().clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_the_layer_nothing_is_injected_and_nothing_breaks() {
        let span = tracing::info_span!("publish");
        assert_eq!(of(&span), TraceContext::default());
        let garbage = TraceContext {
            traceparent: Some("not-a-traceparent".into()),
            tracestate: Some("x".into()),
        };
        assert!(remote(&garbage).is_none());
        continue_trace(&span, &garbage);
        link(&span, &garbage);
    }

    #[test]
    fn a_valid_traceparent_is_read_back() {
        let trace = TraceContext {
            traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
            tracestate: Some("congo=t61rcWkgMzE".into()),
        };
        let cx = remote(&trace).unwrap();
        let span = cx.span();
        let context = span.span_context();
        assert_eq!(
            context.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert!(context.is_remote());
        assert_eq!(
            context.trace_state().header(),
            "congo=t61rcWkgMzE".to_owned()
        );
    }
}
