//! Loops-style rate limit of the REST API, per API key (`INLET_API_RATE_LIMIT`, 10
//! requests a second by default): every answer carries `x-ratelimit-limit` and
//! `x-ratelimit-remaining`, and a request past the limit gets `429` with Loops' error
//! shape. Webhook ingest and the console are not limited by it.
//!
//! The limit is a token bucket per key (governor's GCRA): up to the limit at once, then
//! one request per 1/limit seconds. Each HTTP process keeps its own buckets, so N ingest
//! processes behind a balancer allow N times the limit in all.

use std::num::NonZeroU32;

use actix_web::http::header::HeaderName;
use governor::middleware::StateInformationMiddleware;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// `x-ratelimit-limit`: the requests a second an API key may make.
pub const LIMIT_HEADER: HeaderName = HeaderName::from_static("x-ratelimit-limit");
/// `x-ratelimit-remaining`: how many more it may make at once.
pub const REMAINING_HEADER: HeaderName = HeaderName::from_static("x-ratelimit-remaining");

/// The answer for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Let through; `remaining` more fit in the bucket now.
    Allowed {
        /// The limit (requests a second).
        limit: u32,
        /// Requests that would still be let through at once.
        remaining: u32,
    },
    /// Past the limit.
    Limited {
        /// The limit (requests a second).
        limit: u32,
    },
    /// No limit is set (`INLET_API_RATE_LIMIT=0`).
    Unlimited,
}

/// The buckets of every API key this process has seen.
pub struct ApiRateLimit {
    limiter: Option<(
        DefaultKeyedRateLimiter<String, StateInformationMiddleware>,
        u32,
    )>,
}

impl ApiRateLimit {
    /// `per_second` requests a second per key, `None` for no limit.
    pub fn new(per_second: Option<NonZeroU32>) -> Self {
        Self {
            limiter: per_second.map(|n| {
                (
                    RateLimiter::dashmap(Quota::per_second(n))
                        .with_middleware::<StateInformationMiddleware>(),
                    n.get(),
                )
            }),
        }
    }

    /// Takes one request from `key_id`'s bucket.
    pub fn check(&self, key_id: &str) -> Decision {
        let Some((limiter, limit)) = &self.limiter else {
            return Decision::Unlimited;
        };
        // Buckets of keys idle long enough to be full again hold nothing worth keeping;
        // the map stays as small as the keys in use.
        if limiter.len() > 1024 {
            limiter.retain_recent();
        }
        match limiter.check_key(&key_id.to_owned()) {
            Ok(state) => Decision::Allowed {
                limit: *limit,
                remaining: state.remaining_burst_capacity(),
            },
            Err(_) => Decision::Limited { limit: *limit },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_past_the_limit_is_refused_per_key() {
        let limit = ApiRateLimit::new(NonZeroU32::new(3));
        let answers: Vec<Decision> = (0..4).map(|_| limit.check("key_a")).collect();
        assert_eq!(
            answers,
            [
                Decision::Allowed {
                    limit: 3,
                    remaining: 2
                },
                Decision::Allowed {
                    limit: 3,
                    remaining: 1
                },
                Decision::Allowed {
                    limit: 3,
                    remaining: 0
                },
                Decision::Limited { limit: 3 },
            ]
        );
        // Another key has its own bucket.
        assert_eq!(
            limit.check("key_b"),
            Decision::Allowed {
                limit: 3,
                remaining: 2
            }
        );
    }

    #[test]
    fn the_bucket_refills_at_the_limit() {
        let limit = ApiRateLimit::new(NonZeroU32::new(20));
        while limit.check("key_a") != (Decision::Limited { limit: 20 }) {}
        // One token every 50 ms.
        std::thread::sleep(std::time::Duration::from_millis(120));
        assert!(matches!(limit.check("key_a"), Decision::Allowed { .. }));
    }

    #[test]
    fn no_limit_lets_everything_through() {
        let limit = ApiRateLimit::new(None);
        assert!((0..1000).all(|_| limit.check("key_a") == Decision::Unlimited));
    }
}
