//! Short in-process retries with exponential backoff and jitter. The `backoff` crate is
//! unmaintained, so it is used here and nowhere else: swapping it touches one file.

use std::future::Future;
use std::time::Duration;

/// Retries `op` while `is_transient` says its error is worth another try, for at most
/// `max_elapsed`. Permanent errors return at once.
pub async fn retry_transient<T, E, F, Fut>(
    max_elapsed: Duration,
    is_transient: impl Fn(&E) -> bool,
    mut op: F,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let policy = backoff::ExponentialBackoffBuilder::new()
        .with_initial_interval(Duration::from_millis(50))
        .with_max_interval(Duration::from_secs(2))
        .with_max_elapsed_time(Some(max_elapsed))
        .build();
    backoff::future::retry(policy, || {
        let fut = op();
        let is_transient = &is_transient;
        async move {
            fut.await.map_err(|e| {
                if is_transient(&e) {
                    backoff::Error::transient(e)
                } else {
                    backoff::Error::permanent(e)
                }
            })
        }
    })
    .await
}

/// The delays between a broker consumer's attempts to connect: 500 ms, doubling to at most
/// 8 s, without jitter (one worker per consumer, so there is no burst to spread). Reset once a
/// connection stands.
pub struct ReconnectBackoff(backoff::ExponentialBackoff);

impl ReconnectBackoff {
    const FIRST: Duration = Duration::from_millis(500);
    const LONGEST: Duration = Duration::from_secs(8);

    /// A policy that has seen no failure yet.
    #[must_use]
    pub fn new() -> Self {
        Self(
            backoff::ExponentialBackoffBuilder::new()
                .with_initial_interval(Self::FIRST)
                .with_randomization_factor(0.0)
                .with_multiplier(2.0)
                .with_max_interval(Self::LONGEST)
                .with_max_elapsed_time(None)
                .build(),
        )
    }

    /// How long to wait after one more failure.
    pub fn next_delay(&mut self) -> Duration {
        use backoff::backoff::Backoff;
        // Never exhausted without a maximum elapsed time; the cap is the safe answer anyway.
        self.0.next_backoff().unwrap_or(Self::LONGEST)
    }

    /// Forgets past failures.
    pub fn reset(&mut self) {
        use backoff::backoff::Backoff;
        self.0.reset();
    }
}

impl Default for ReconnectBackoff {
    fn default() -> Self {
        Self::new()
    }
}

/// `delay` shortened by up to 20 % at random, so the retries of a failed burst do not all
/// come back at the same moment.
pub fn jittered(delay: Duration) -> Duration {
    use rand::Rng;
    delay.mul_f64(rand::rng().random_range(0.8..=1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn transient_errors_are_retried_until_success() {
        let calls = AtomicU32::new(0);
        let result: Result<u32, &str> = retry_transient(
            Duration::from_secs(5),
            |_| true,
            || {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                async move { if n < 2 { Err("busy") } else { Ok(n) } }
            },
        )
        .await;
        assert_eq!(result, Ok(2));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn permanent_errors_return_at_once() {
        let calls = AtomicU32::new(0);
        let result: Result<(), &str> = retry_transient(
            Duration::from_secs(5),
            |_| false,
            || {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err("bad input") }
            },
        )
        .await;
        assert_eq!(result, Err("bad input"));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn reconnect_delays_double_up_to_the_cap_and_reset() {
        let mut policy = ReconnectBackoff::new();
        let ms: Vec<u128> = (0..7).map(|_| policy.next_delay().as_millis()).collect();
        assert_eq!(ms, [500, 1000, 2000, 4000, 8000, 8000, 8000]);
        policy.reset();
        assert_eq!(policy.next_delay(), Duration::from_millis(500));
    }

    #[test]
    fn jitter_stays_within_a_fifth_below() {
        for _ in 0..100 {
            let d = jittered(Duration::from_secs(10));
            assert!(
                d >= Duration::from_secs(8) && d <= Duration::from_secs(10),
                "{d:?}"
            );
        }
    }
}
