//! A request body has `INLET_BODY_TIMEOUT_MS` to arrive, counted from the moment its headers
//! were read, on every route: past it, whatever reads the body (the webhook source, a JSON or
//! form extractor) gets an error, and the request is answered 408 with the connection closed.
//!
//! actix-web bounds the time to send the request head (`client_request_timeout`, 408) and the
//! idle time between requests (keep-alive), but not the body: a client trickling one byte a
//! second would otherwise hold its connection, and the handler reading it, for as long as it
//! likes. Nor does it bound the rest of a body nobody read: it closes the connection after a
//! second (`client_disconnect_timeout`) when a `Content-Length` body is left unread, but
//! drains a chunked one to its end, at the client's pace, before it can close — unless the
//! body's receiving end is still alive when the answer is written. So a body left unfinished
//! keeps its receiving end a moment longer than the answer.

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::middleware::Next;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::time::Sleep;

use crate::error::IngestError;

/// How long an unfinished body's receiving end outlives the answer (which is written in the
/// same turn of the connection's task: a second is ample).
const KEEP_UNREAD: Duration = Duration::from_secs(1);

/// Middleware: gives the request's body until `timeout` to arrive.
pub async fn limit<B: MessageBody>(
    timeout: Duration,
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, actix_web::Error> {
    let (http, payload) = req.into_parts();
    if matches!(payload, Payload::None) {
        return next.call(ServiceRequest::from_parts(http, payload)).await;
    }
    let body = Rc::new(RefCell::new(Body {
        payload,
        timer: Box::pin(tokio::time::sleep(timeout)),
        state: State::Arriving,
    }));
    let stream = Deadline(body.clone());
    let req = ServiceRequest::from_parts(
        http,
        Payload::Stream {
            payload: Box::pin(stream),
        },
    );
    let response = next.call(req).await;
    let state = body.borrow().state;
    if state != State::Complete {
        actix_web::rt::spawn(async move {
            tokio::time::sleep(KEEP_UNREAD).await;
            drop(body);
        });
    }
    // Whatever the handler made of the error (a 400 for "invalid JSON", say), the cause is
    // the client's slowness.
    if state == State::Expired {
        return Err(IngestError::BodyTimeout.into());
    }
    response
}

/// Whether a body read failed because its time ran out (see [`limit`]).
pub fn is_timeout(error: &PayloadError) -> bool {
    matches!(error, PayloadError::Io(e) if e.kind() == io::ErrorKind::TimedOut)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Arriving,
    Complete,
    Expired,
}

/// A request's body and its deadline, shared by the stream the handler reads and
/// [`limit`].
struct Body {
    payload: Payload,
    timer: Pin<Box<Sleep>>,
    state: State,
}

/// The body as the handler reads it: ends in an error once the deadline has passed.
struct Deadline(Rc<RefCell<Body>>);

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut body = self.0.borrow_mut();
        if body.state != State::Arriving {
            return Poll::Ready(None);
        }
        // The timer first: a body still arriving at the deadline is late, however steadily
        // its bytes come.
        if body.timer.as_mut().poll(cx).is_ready() {
            body.state = State::Expired;
            return Poll::Ready(Some(Err(PayloadError::Io(io::Error::new(
                io::ErrorKind::TimedOut,
                "the request body did not arrive in time",
            )))));
        }
        let item = ready!(body.payload.poll_next_unpin(cx));
        if item.is_none() {
            body.state = State::Complete;
        }
        Poll::Ready(item)
    }
}
