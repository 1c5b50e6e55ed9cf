//! The one way a test waits: poll a condition until it holds or a timeout passes, so every
//! wait has a bound and says what it waited for when it runs out.

use std::future::Future;
use std::time::{Duration, Instant};

/// How long to wait between two checks.
const INTERVAL: Duration = Duration::from_millis(50);

/// Checks `check` until it gives a value; `None` once `timeout` has passed without one.
/// For waits whose failure message needs what is there after the timeout.
pub async fn poll<T, F, Fut>(timeout: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(INTERVAL).await;
    }
}

/// [`poll`] for code that cannot await (a child process stopping, a server starting from a
/// constructor): the same loop, sleeping the thread.
pub fn poll_blocking<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(INTERVAL);
    }
}

/// Checks `check` until it gives a value and returns it; panics naming `what` after `timeout`.
pub async fn eventually_some<T, F, Fut>(timeout: Duration, what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    poll(timeout, check)
        .await
        .unwrap_or_else(|| panic!("timed out after {timeout:?} waiting for: {what}"))
}

/// Checks `check` until it returns true; panics naming `what` after `timeout`.
pub async fn eventually<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let check = || {
        let holds = check();
        async move { holds.await.then_some(()) }
    };
    eventually_some(timeout, what, check).await;
}
