//! The reconnecting loop every broker consumer runs: connect (backing off while the broker is
//! away), serve the consumer until it fails or the broker cancels it, connect again — until
//! shutdown. Each consumer supplies only how to connect and how to serve one connection.

use std::fmt::Display;
use std::future::Future;

use std::sync::Arc;

use inlet_shared::retry::ReconnectBackoff;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

/// How serving one connection ended.
pub enum Served<C, E> {
    /// The consumer failed (with its error) or the broker cancelled it (`None`): connect again.
    Lost(Option<E>),
    /// Shutdown came. A consumer handed back stays open so in-flight work can still be
    /// acknowledged on its channel; the caller closes it.
    Stopped(Option<C>),
}

/// Runs `what`'s consumer until `shutdown`, returning `state` and the consumer `serve` handed
/// back, if any. `connect` yielding `Ok(None)` means there is nothing to consume (the embedded
/// queue): the loop returns at once. `serve` takes `state` (what outlives one connection, such
/// as in-flight tasks) and gives it back, so its future borrows nothing from the loop.
pub async fn run<S, C, E, Connect, Serve>(
    shutdown: &CancellationToken,
    what: &'static str,
    mut state: S,
    mut connect: impl FnMut() -> Connect,
    mut serve: impl FnMut(S, C) -> Serve,
) -> (S, Option<C>)
where
    E: Display,
    Connect: Future<Output = Result<Option<C>, E>>,
    Serve: Future<Output = (S, Served<C, E>)>,
{
    let mut backoff = ReconnectBackoff::new();
    while !shutdown.is_cancelled() {
        let connected = tokio::select! {
            () = shutdown.cancelled() => return (state, None),
            c = connect() => c,
        };
        let consumer = match connected {
            Ok(Some(c)) => {
                backoff.reset();
                c
            }
            Ok(None) => return (state, None),
            Err(e) => {
                let delay = backoff.next_delay();
                tracing::warn!(consumer = what, error = %e, retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX), "Cannot consume; retrying.");
                tokio::select! {
                    () = shutdown.cancelled() => return (state, None),
                    () = tokio::time::sleep(delay) => continue,
                }
            }
        };
        let (back, served) = serve(state, consumer).await;
        state = back;
        match served {
            Served::Stopped(kept) => return (state, kept),
            Served::Lost(Some(e)) => {
                tracing::warn!(consumer = what, error = %e, "Consumer lost; reconnecting.");
            }
            Served::Lost(None) => {
                tracing::warn!(
                    consumer = what,
                    "Consumer cancelled by the broker; reconnecting."
                );
            }
        }
    }
    (state, None)
}

/// Why [`take`] handed out nothing.
pub enum Stop<E> {
    /// Shutdown came: the consumer stays open for in-flight work.
    Shutdown,
    /// The permits were closed.
    Closed,
    /// The consumer failed, or the broker cancelled it (`None`).
    Lost(Option<E>),
}

impl<E> Stop<E> {
    /// How serving `consumer` ended, for [`run`].
    pub fn served<C>(self, consumer: C) -> Served<C, E> {
        match self {
            Self::Shutdown => Served::Stopped(Some(consumer)),
            Self::Closed => Served::Stopped(None),
            Self::Lost(e) => Served::Lost(e),
        }
    }
}

/// The consumer's next item with a permit for handling it: a permit first (so no more is
/// taken from the broker than can be handled), then the item, either wait cut short by
/// shutdown. `next` is the consumer's `next()`, polled only once the permit is held.
pub async fn take<T, E>(
    shutdown: &CancellationToken,
    permits: &Arc<Semaphore>,
    next: impl Future<Output = Option<Result<T, E>>>,
) -> Result<(T, OwnedSemaphorePermit), Stop<E>> {
    let permit = tokio::select! {
        () = shutdown.cancelled() => return Err(Stop::Shutdown),
        permit = permits.clone().acquire_owned() => permit.map_err(|_| Stop::Closed)?,
    };
    let next = tokio::select! {
        () = shutdown.cancelled() => return Err(Stop::Shutdown),
        next = next => next,
    };
    match next {
        Some(Ok(item)) => Ok((item, permit)),
        Some(Err(e)) => Err(Stop::Lost(Some(e))),
        None => Err(Stop::Lost(None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::ready;
    use std::time::Duration;
    use tokio::time::Instant;

    /// A consumer source that fails twice, then yields a consumer of two items that the
    /// broker then cancels, then fails for good: the loop must back off by the policy, start
    /// over after a connection stood, and return on shutdown.
    #[tokio::test(start_paused = true)]
    async fn reconnects_with_the_policys_delays_and_stops_on_shutdown() {
        let start = Instant::now();
        let shutdown = CancellationToken::new();
        let stopper = shutdown.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(2500)).await;
            stopper.cancel();
        });
        let mut attempts = Vec::new();
        let (served, kept) = run(
            &shutdown,
            "test",
            Vec::new(),
            || {
                attempts.push(start.elapsed().as_millis());
                ready(if attempts.len() == 3 {
                    Ok(Some(vec![1, 2]))
                } else {
                    Err("broker away")
                })
            },
            |mut served: Vec<u32>, items: Vec<u32>| async move {
                served.extend(items);
                (served, Served::Lost(None))
            },
        )
        .await;
        assert!(kept.is_none());
        assert_eq!(start.elapsed(), Duration::from_millis(2500));
        // 500 ms, 1 s; connected at 1.5 s; lost, so again at once; then 500 ms afresh and
        // a 1 s wait that shutdown cuts short.
        assert_eq!(attempts, [0, 500, 1500, 1500, 2000]);
        assert_eq!(served, [1, 2]);
    }

    #[tokio::test(start_paused = true)]
    async fn hands_back_the_consumer_kept_at_shutdown() {
        let shutdown = CancellationToken::new();
        let ((), kept) = run(
            &shutdown,
            "test",
            (),
            || ready(Ok::<_, &str>(Some(7))),
            |(), c: u32| ready(((), Served::Stopped(Some(c)))),
        )
        .await;
        assert_eq!(kept, Some(7));
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_to_consume_returns_at_once() {
        let shutdown = CancellationToken::new();
        let start = Instant::now();
        let ((), kept) = run(
            &shutdown,
            "test",
            (),
            || ready(Ok::<Option<u32>, &str>(None)),
            |(), c: u32| ready(((), Served::Stopped(Some(c)))),
        )
        .await;
        assert!(kept.is_none());
        assert_eq!(start.elapsed(), Duration::ZERO);
    }
}
