//! `inlet config`'s table: every setting's effective value and origin, secrets redacted.

use std::fmt::Display;
use std::time::Duration;

use secrecy::SecretString;

use super::registry::{CONFIG_FILE, SETTINGS};
use super::{Config, KeepRequests, LogFormat, Origin};

/// A value as `inlet config` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Shown {
    Value(String),
    Unset,
    /// A secret: only whether it is set.
    Secret {
        set: bool,
    },
}

impl Shown {
    fn of(value: impl Display) -> Self {
        Self::Value(value.to_string())
    }

    fn optional<T: Display>(value: Option<&T>) -> Self {
        value.map_or(Self::Unset, Self::of)
    }

    fn millis(value: Duration) -> Self {
        Self::of(value.as_millis())
    }

    fn secret(value: Option<&SecretString>) -> Self {
        Self::Secret {
            set: value.is_some(),
        }
    }

    pub(crate) fn text(&self) -> String {
        match self {
            Self::Value(value) => value.clone(),
            Self::Unset | Self::Secret { set: false } => "<unset>".to_owned(),
            Self::Secret { set: true } => "<redacted>".to_owned(),
        }
    }
}

impl Config {
    /// Every setting's effective value by variable name. The exhaustive destructuring makes
    /// a new field a compile error here until it is shown (and a test checks it is
    /// registered); secrets are typed [`SecretString`] and only say whether they are set.
    pub(crate) fn shown(&self) -> Vec<(&'static str, Shown)> {
        let Config {
            listen,
            public_url,
            database_url,
            database_pool,
            master_key,
            master_key_previous,
            allow_plaintext_secrets,
            amqp_url,
            amqp_tls_ca_file,
            amqp_tls_cert_file,
            amqp_tls_key_file,
            smtp_url,
            outbox_dir,
            email_from,
            unsubscribe_secret,
            bootstrap_api_key,
            worker_concurrency,
            worker_batch,
            prefetch,
            max_body_bytes,
            body_timeout,
            template_max_bytes,
            suppression_removal_limit,
            attachments_max_bytes,
            keep_requests,
            signature_tolerance,
            publish_timeout,
            cache_refresh,
            retry_delays,
            max_attempts,
            worker_listen,
            ops_listen,
            team_name,
            http_workers,
            api_rate_limit,
            retention,
            log_format,
            log_filter,
            sources: _,
        } = self;
        let path = |p: &Option<std::path::PathBuf>| {
            p.as_ref().map_or(Shown::Unset, |p| Shown::of(p.display()))
        };
        let kept = |d: Option<Duration>| {
            d.map_or_else(
                || Shown::of(0),
                |d| Shown::of(humantime::format_duration(d)),
            )
        };
        let retry: Vec<String> = retry_delays
            .iter()
            .map(|d| d.as_millis().to_string())
            .collect();
        vec![
            ("INLET_LISTEN", Shown::of(listen)),
            ("INLET_PUBLIC_URL", Shown::of(public_url)),
            ("INLET_DATABASE_URL", Shown::secret(Some(database_url))),
            ("INLET_DATABASE_POOL", Shown::of(database_pool)),
            (
                "INLET_MASTER_KEY",
                Shown::Secret {
                    set: master_key.is_some(),
                },
            ),
            (
                "INLET_MASTER_KEY_PREVIOUS",
                Shown::Secret {
                    set: master_key_previous.is_some(),
                },
            ),
            (
                "INLET_ALLOW_PLAINTEXT_SECRETS",
                Shown::of(allow_plaintext_secrets),
            ),
            ("INLET_AMQP_URL", Shown::secret(amqp_url.as_ref())),
            ("INLET_AMQP_TLS_CA_FILE", path(amqp_tls_ca_file)),
            ("INLET_AMQP_TLS_CERT_FILE", path(amqp_tls_cert_file)),
            ("INLET_AMQP_TLS_KEY_FILE", path(amqp_tls_key_file)),
            ("INLET_SMTP_URL", Shown::secret(smtp_url.as_ref())),
            ("INLET_OUTBOX_DIR", Shown::of(outbox_dir.display())),
            ("INLET_EMAIL_FROM", Shown::of(email_from)),
            ("INLET_TEMPLATE_MAX_BYTES", Shown::of(template_max_bytes)),
            (
                "INLET_SUPPRESSION_REMOVAL_LIMIT",
                Shown::of(suppression_removal_limit),
            ),
            (
                "INLET_ATTACHMENTS_MAX_BYTES",
                Shown::of(attachments_max_bytes),
            ),
            (
                "INLET_UNSUBSCRIBE_SECRET",
                Shown::secret(unsubscribe_secret.as_ref()),
            ),
            (
                "INLET_BOOTSTRAP_API_KEY",
                Shown::secret(bootstrap_api_key.as_ref()),
            ),
            ("INLET_WORKER_CONCURRENCY", Shown::of(worker_concurrency)),
            ("INLET_WORKER_BATCH", Shown::of(worker_batch)),
            ("INLET_PREFETCH", Shown::of(prefetch)),
            ("INLET_MAX_BODY_BYTES", Shown::of(max_body_bytes)),
            ("INLET_BODY_TIMEOUT_MS", Shown::millis(*body_timeout)),
            (
                "INLET_KEEP_REQUESTS",
                Shown::of(match keep_requests {
                    KeepRequests::All => "all",
                    KeepRequests::Rejected => "rejected",
                    KeepRequests::None => "none",
                }),
            ),
            (
                "INLET_SIGNATURE_TOLERANCE_SECS",
                Shown::of(signature_tolerance.as_secs()),
            ),
            ("INLET_PUBLISH_TIMEOUT_MS", Shown::millis(*publish_timeout)),
            ("INLET_CACHE_REFRESH_MS", Shown::millis(*cache_refresh)),
            ("INLET_RETRY_DELAYS_MS", Shown::of(retry.join(","))),
            ("INLET_MAX_ATTEMPTS", Shown::of(max_attempts)),
            ("INLET_RETAIN_WEBHOOK_LOG", kept(retention.webhook_log)),
            ("INLET_RETAIN_REQUESTS", kept(retention.requests)),
            ("INLET_RETAIN_DEDUPE", kept(retention.dedupe)),
            ("INLET_RETAIN_EMAILS", kept(retention.emails)),
            ("INLET_RETAIN_DEAD_LETTERS", kept(retention.dead_letters)),
            ("INLET_RETAIN_EVENTS", kept(retention.events)),
            ("INLET_RETAIN_WORKFLOW_RUNS", kept(retention.workflow_runs)),
            (
                "INLET_PRUNE_INTERVAL",
                Shown::of(humantime::format_duration(retention.interval)),
            ),
            (
                "INLET_WORKER_LISTEN",
                Shown::optional(worker_listen.as_ref()),
            ),
            ("INLET_OPS_LISTEN", Shown::optional(ops_listen.as_ref())),
            ("INLET_TEAM_NAME", Shown::of(team_name)),
            ("INLET_HTTP_WORKERS", Shown::of(http_workers)),
            (
                "INLET_API_RATE_LIMIT",
                Shown::of(api_rate_limit.map_or(0, std::num::NonZeroU32::get)),
            ),
            (
                "INLET_LOG_FORMAT",
                Shown::of(match log_format {
                    LogFormat::Pretty => "pretty",
                    LogFormat::Json => "json",
                }),
            ),
            ("RUST_LOG", Shown::of(log_filter)),
        ]
    }
}

/// `inlet config`'s output: one line per setting, `name  value  source`, in registry order.
/// A secret shows as `<redacted>` or `<unset>`: [`Config::shown`] never has its value, and a
/// test holds the registry's `secret` marks to the fields typed [`SecretString`].
pub fn report(config: &Config) -> String {
    let shown = config.shown();
    let mut rows = vec![[
        "setting".to_owned(),
        "value".to_owned(),
        "source".to_owned(),
    ]];
    let (file, named_by) = match config.sources.config_file() {
        Some((path, origin)) => (path.display().to_string(), origin.to_string()),
        None => ("<unset>".to_owned(), Origin::Default.to_string()),
    };
    rows.push([CONFIG_FILE.name.to_owned(), file, named_by]);
    for setting in SETTINGS {
        let value = shown
            .iter()
            .find(|(name, _)| *name == setting.name)
            .map_or_else(|| "<unknown>".to_owned(), |(_, v)| v.text());
        let origin = config.sources.origin(setting.name).to_string();
        rows.push([setting.name.to_owned(), value, origin]);
    }
    let width = |column: usize| {
        rows.iter()
            .filter_map(|row| row.get(column))
            .map(|cell| cell.chars().count())
            .max()
            .unwrap_or(0)
    };
    let (name_width, value_width) = (width(0), width(1));
    let mut out = String::new();
    for [name, value, origin] in &rows {
        let line = format!("{name:<name_width$}  {value:<value_width$}  {origin}");
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
