//! How long each kind of stored data is kept (`INLET_RETAIN_*`), and how often the pruner
//! runs (`INLET_PRUNE_INTERVAL`).

use std::time::Duration;

use super::ConfigError;

/// The shortest dedupe window allowed: Stripe retries a delivery for up to 3 days, the
/// longest automatic retry of the four platforms (Clerk's, through Svix, last about 28
/// hours; Supabase's database webhooks are not retried). A shorter window would let a
/// platform's own retry of an applied event apply it again.
pub const MIN_DEDUPE: Duration = Duration::from_secs(3 * 86_400);

/// How long each kind of data is kept; `None` keeps it forever (a setting of `0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// `INLET_RETAIN_WEBHOOK_LOG` [30d]: the webhook log's rows.
    pub webhook_log: Option<Duration>,
    /// `INLET_RETAIN_REQUESTS` [7d]: the requests (headers and body) kept for the console.
    pub requests: Option<Duration>,
    /// `INLET_RETAIN_DEDUPE` [30d]: the claims by which a duplicate delivery is recognised,
    /// counted from the event's own time; at least [`MIN_DEDUPE`].
    pub dedupe: Option<Duration>,
    /// `INLET_RETAIN_EMAILS` [90d]: email sends that are finished (sent, skipped, failed).
    pub emails: Option<Duration>,
    /// `INLET_RETAIN_DEAD_LETTERS` [30d]: dead letters replayed that long ago; unresolved
    /// ones are never pruned.
    pub dead_letters: Option<Duration>,
    /// `INLET_RETAIN_EVENTS` [365d]: events recorded on contacts (platform and custom).
    pub events: Option<Duration>,
    /// `INLET_RETAIN_WORKFLOW_RUNS` [90d]: workflow runs finished (completed or cancelled)
    /// that long ago; a pending run stays, and so does a failed one (it waits in the dead
    /// letters for a replay).
    pub workflow_runs: Option<Duration>,
    /// `INLET_PRUNE_INTERVAL` [10m]: how often the elected worker prunes.
    pub interval: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        let days = |n: u64| Some(Duration::from_secs(n * 86_400));
        Self {
            webhook_log: days(30),
            requests: days(7),
            dedupe: days(30),
            emails: days(90),
            dead_letters: days(30),
            events: days(365),
            workflow_runs: days(90),
            interval: Duration::from_secs(600),
        }
    }
}

/// A retention: a duration such as `12h` or `30d`, or `0` to keep forever.
pub fn keep_for(value: &str, name: &'static str) -> Result<Option<Duration>, ConfigError> {
    let value = value.trim();
    if value == "0" {
        return Ok(None);
    }
    let duration = humantime::parse_duration(value).map_err(|e| ConfigError {
        name,
        reason: format!("expected a duration such as 12h or 30d, or 0 to keep forever ({e})"),
    })?;
    if duration.is_zero() {
        return Ok(None);
    }
    Ok(Some(duration))
}

impl Retention {
    /// Reads the settings through `get`, each falling back to its default.
    pub fn from_vars<'a>(
        get: impl Fn(&'static str) -> Option<&'a str>,
    ) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let read = |name: &'static str, default: Option<Duration>| match get(name) {
            Some(value) => keep_for(value, name),
            None => Ok(default),
        };
        let dedupe = read("INLET_RETAIN_DEDUPE", defaults.dedupe)?;
        if dedupe.is_some_and(|d| d < MIN_DEDUPE) {
            return Err(ConfigError {
                name: "INLET_RETAIN_DEDUPE",
                reason: "must be at least 3d: Stripe retries a delivery for up to 3 days \
                         (Clerk's retries last about 28 hours), and a retry after its event's \
                         claim is gone would be applied again"
                    .into(),
            });
        }
        let interval = match get("INLET_PRUNE_INTERVAL") {
            Some(value) => keep_for(value, "INLET_PRUNE_INTERVAL")?.ok_or(ConfigError {
                name: "INLET_PRUNE_INTERVAL",
                reason: "must be a duration above zero".into(),
            })?,
            None => defaults.interval,
        };
        Ok(Self {
            webhook_log: read("INLET_RETAIN_WEBHOOK_LOG", defaults.webhook_log)?,
            requests: read("INLET_RETAIN_REQUESTS", defaults.requests)?,
            dedupe,
            emails: read("INLET_RETAIN_EMAILS", defaults.emails)?,
            dead_letters: read("INLET_RETAIN_DEAD_LETTERS", defaults.dead_letters)?,
            events: read("INLET_RETAIN_EVENTS", defaults.events)?,
            workflow_runs: read("INLET_RETAIN_WORKFLOW_RUNS", defaults.workflow_runs)?,
            interval,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(pairs: &[(&'static str, &'static str)]) -> Result<Retention, ConfigError> {
        Retention::from_vars(|name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| *v))
    }

    #[test]
    fn reads_durations_and_zero_as_forever() {
        let r = from(&[
            ("INLET_RETAIN_WEBHOOK_LOG", "12h"),
            ("INLET_RETAIN_REQUESTS", "0"),
            ("INLET_RETAIN_EMAILS", "1y"),
            ("INLET_RETAIN_WORKFLOW_RUNS", "0"),
        ])
        .unwrap();
        assert_eq!(r.webhook_log, Some(Duration::from_secs(12 * 3600)));
        assert_eq!(r.requests, None);
        assert_eq!(r.dedupe, Some(Duration::from_secs(30 * 86_400)));
        assert_eq!(r.events, Some(Duration::from_secs(365 * 86_400)));
        assert_eq!(r.workflow_runs, None);
        assert!(
            r.emails
                .is_some_and(|d| d > Duration::from_secs(365 * 86_400 - 1))
        );
    }

    #[test]
    fn refuses_a_dedupe_window_shorter_than_the_platforms_retries() {
        let err = from(&[("INLET_RETAIN_DEDUPE", "2d")]).unwrap_err();
        assert_eq!(err.name, "INLET_RETAIN_DEDUPE");
        assert!(err.reason.contains("3 days"), "{}", err.reason);
        assert!(from(&[("INLET_RETAIN_DEDUPE", "3d")]).is_ok());
        assert_eq!(from(&[("INLET_RETAIN_DEDUPE", "0")]).unwrap().dedupe, None);
    }

    #[test]
    fn names_the_setting_of_a_bad_value() {
        let err = from(&[("INLET_RETAIN_EMAILS", "soon")]).unwrap_err();
        assert_eq!(err.name, "INLET_RETAIN_EMAILS");
        assert!(from(&[("INLET_PRUNE_INTERVAL", "0")]).is_err());
    }

    proptest::proptest! {
        /// Any text is a duration, forever, or an error naming the setting; never a panic.
        #[test]
        fn any_text_is_read_or_refused(value in ".{0,40}") {
            if let Err(err) = keep_for(&value, "INLET_RETAIN_WEBHOOK_LOG") {
                proptest::prop_assert_eq!(err.name, "INLET_RETAIN_WEBHOOK_LOG");
            }
        }
    }
}
