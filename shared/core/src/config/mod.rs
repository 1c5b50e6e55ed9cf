//! Configuration: the one place that reads settings (`INLET_*`, `RUST_LOG`), from the
//! environment, an optional TOML file and the binary's flags ([`Loader`]).
//!
//! Every setting is registered once ([`registry::SETTINGS`]: name, default, meaning,
//! secrecy), which `inlet config` and the README's table are made from. Secrets (database
//! and broker URLs may carry passwords, the bootstrap API key, the SMTP URL) are held in
//! [`SecretString`], the master keys in [`MasterKey`], so `Debug` never prints them.

mod amqp;
pub mod registry;
pub use amqp::amqp_nodes;
mod report;
pub mod retention;
mod sources;

pub use report::report;
pub use retention::Retention;
pub use sources::{LoadError, Loader, Origin, Sources};

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::sealing::MasterKey;

/// Default cap of each rendered part of a template (`INLET_TEMPLATE_MAX_BYTES`).
pub const DEFAULT_TEMPLATE_MAX_BYTES: usize = 1024 * 1024;
/// Default cap of a transactional email's attachments, decoded (`INLET_ATTACHMENTS_MAX_BYTES`).
pub const DEFAULT_ATTACHMENTS_MAX_BYTES: usize = 5 * 1024 * 1024;

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable, coloured when on a terminal.
    Pretty,
    /// One JSON object per line, for log shippers.
    Json,
}

/// A setting that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("invalid value for {name}: {reason}")]
pub struct ConfigError {
    /// The environment variable's name.
    pub name: &'static str,
    /// What is wrong with it (never the value itself: it may be a secret).
    pub reason: String,
}

/// Which deliveries' requests ingest keeps for the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepRequests {
    /// Every delivery's (the default).
    All,
    /// Only refused deliveries' (bad signature, unknown type…): the body of a delivery
    /// that failed later is in its dead letter.
    Rejected,
    /// None.
    None,
}

/// Inlet's whole configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `INLET_LISTEN` [127.0.0.1:8080]: HTTP listen address of `ingest` / `serve`.
    pub listen: SocketAddr,
    /// `INLET_PUBLIC_URL` [http://<listen>]: base URL used to print endpoint URLs.
    pub public_url: String,
    /// `INLET_DATABASE_URL` [sqlite://./data/inlet.db?mode=rwc]: SQLite or PostgreSQL.
    pub database_url: SecretString,
    /// `INLET_DATABASE_POOL` [16]: PostgreSQL connections per process (SQLite uses one).
    pub database_pool: u32,
    /// `INLET_MASTER_KEY` [unset → SQLite: a key file beside the database; PostgreSQL:
    /// refused unless plain text is allowed]: the key-encryption key sealing stored
    /// secrets (signing secrets, the unsubscribe and console session keys).
    pub master_key: Option<MasterKey>,
    /// `INLET_MASTER_KEY_PREVIOUS` [unset]: the key being rotated away from: values sealed
    /// under it still open; new ones are sealed with `master_key`.
    pub master_key_previous: Option<MasterKey>,
    /// `INLET_ALLOW_PLAINTEXT_SECRETS` [false]: development only: lets PostgreSQL start
    /// without a master key, storing secrets in plain text.
    pub allow_plaintext_secrets: bool,
    /// `INLET_AMQP_URL` [unset → embedded queue in the database]: RabbitMQ, `amqp://` or
    /// `amqps://` (TLS).
    pub amqp_url: Option<SecretString>,
    /// `INLET_AMQP_TLS_CA_FILE` [unset]: PEM CA bundle trusted for `amqps://` besides the
    /// bundled webpki (Mozilla) roots.
    pub amqp_tls_ca_file: Option<PathBuf>,
    /// `INLET_AMQP_TLS_CERT_FILE` [unset]: PEM client certificate chain for `amqps://`; set
    /// with `amqp_tls_key_file` or not at all.
    pub amqp_tls_cert_file: Option<PathBuf>,
    /// `INLET_AMQP_TLS_KEY_FILE` [unset]: PEM private key of that certificate.
    pub amqp_tls_key_file: Option<PathBuf>,
    /// `INLET_SMTP_URL` [unset → `.eml` files in the outbox]: SMTP server for email.
    pub smtp_url: Option<SecretString>,
    /// `INLET_OUTBOX_DIR` [./data/outbox]: where emails go without SMTP.
    pub outbox_dir: PathBuf,
    /// `INLET_EMAIL_FROM` [Inlet <inlet@localhost>]: sender of emails whose template names
    /// none. Kept as written: the mail crate parses it (`inlet_shared::email::default_sender`,
    /// run at start-up), and it stays out of this pure crate.
    pub email_from: String,
    /// `INLET_UNSUBSCRIBE_SECRET` [unset → generated once, kept in the database]: signs
    /// unsubscribe links.
    pub unsubscribe_secret: Option<SecretString>,
    /// `INLET_BOOTSTRAP_API_KEY` [unset]: an API key accepted from start (stored hashed).
    pub bootstrap_api_key: Option<SecretString>,
    /// `INLET_WORKER_CONCURRENCY` [4]: transactions a worker runs at once (each applies a
    /// batch of deliveries that have already arrived).
    pub worker_concurrency: usize,
    /// `INLET_WORKER_BATCH` [128]: most deliveries a worker applies in one transaction.
    pub worker_batch: usize,
    /// `INLET_PREFETCH` [1024]: unacknowledged messages a worker holds. More than the
    /// batches in flight take (4 × 128), so the next batches are already there when a
    /// commit ends.
    pub prefetch: u16,
    /// `INLET_MAX_BODY_BYTES` [1048576]: larger webhook bodies get 413.
    pub max_body_bytes: usize,
    /// `INLET_BODY_TIMEOUT_MS` [10000]: time a request's body has to arrive, counted from
    /// its headers; a slower one gets 408 and the connection is closed.
    pub body_timeout: Duration,
    /// `INLET_TEMPLATE_MAX_BYTES` [1048576]: most bytes each part of a rendered template
    /// (subject, HTML, text) may have; a render that would pass it fails.
    pub template_max_bytes: usize,
    /// `INLET_SUPPRESSION_REMOVAL_LIMIT` [100]: suppressions the API may remove in a rolling
    /// 30 days (Loops' `removalQuota.limit`); 0 allows none.
    pub suppression_removal_limit: u32,
    /// `INLET_ATTACHMENTS_MAX_BYTES` [5242880]: most bytes (decoded) a transactional
    /// email's attachments may have together; a request with more gets 400.
    pub attachments_max_bytes: usize,
    /// `INLET_KEEP_REQUESTS` [all]: which deliveries' requests (headers without signatures,
    /// and the body) ingest keeps for the console: `all`, `rejected`, or `none`.
    pub keep_requests: KeepRequests,
    /// `INLET_SIGNATURE_TOLERANCE_SECS` [300]: allowed age of a signed timestamp.
    pub signature_tolerance: Duration,
    /// `INLET_PUBLISH_TIMEOUT_MS` [5000]: how long ingest waits for the queue before a 503.
    pub publish_timeout: Duration,
    /// `INLET_CACHE_REFRESH_MS` [1000]: how often ingest looks for integration changes made
    /// by other processes (its own API changes apply at once).
    pub cache_refresh: Duration,
    /// `INLET_RETRY_DELAYS_MS` [10000,30000,60000,180000,300000,600000,2400000]: waits
    /// before the 2nd, 3rd, … attempt of a delivery that failed transiently (±20 % jitter).
    pub retry_delays: Vec<Duration>,
    /// `INLET_MAX_ATTEMPTS` [8]: attempts before a delivery goes to the dead letters
    /// (the defaults spread them over about an hour).
    pub max_attempts: u32,
    /// `INLET_WORKER_LISTEN` [unset]: address of a worker's /metrics and /health server.
    pub worker_listen: Option<SocketAddr>,
    /// `INLET_OPS_LISTEN` [unset]: address of the /metrics and /health server of `ingest` /
    /// `serve`. The public listener (`INLET_LISTEN`) never serves /metrics.
    pub ops_listen: Option<SocketAddr>,
    /// `INLET_TEAM_NAME` [Inlet]: the team name `GET /api/v1/api-key` reports.
    pub team_name: String,
    /// `INLET_HTTP_WORKERS` [number of cores]: HTTP worker threads.
    pub http_workers: usize,
    /// `INLET_API_RATE_LIMIT` [10]: requests a second each API key may make to the REST
    /// API, as Loops allows; `0` (`None`) removes the limit.
    pub api_rate_limit: Option<std::num::NonZeroU32>,
    /// `INLET_RETAIN_*`, `INLET_PRUNE_INTERVAL`: how long stored data is kept.
    pub retention: Retention,
    /// `INLET_LOG_FORMAT` [pretty on a terminal, else json].
    pub log_format: LogFormat,
    /// `RUST_LOG` [info]: tracing filter.
    pub log_filter: String,
    /// Where each setting came from (all defaults for a config built by [`Self::from_vars`]).
    pub sources: Sources,
}

impl Config {
    /// Reads the configuration from the process environment alone.
    pub fn from_env() -> Result<Self, LoadError> {
        Loader::new().env(std::env::vars_os()).load()
    }

    /// Reads the configuration from the given variables (tests build configs this way).
    /// Empty values count as unset; variables that are no setting are ignored.
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let vars: HashMap<String, String> = vars
            .into_iter()
            .filter(|(k, v)| (k.starts_with("INLET_") || k == "RUST_LOG") && !v.is_empty())
            .collect();
        Self::read(&|name| vars.get(name).map(String::as_str))
    }

    /// Parses the settings `get` gives by name.
    fn read<'a>(get: &dyn Fn(&'static str) -> Option<&'a str>) -> Result<Self, ConfigError> {
        let listen = address(
            get("INLET_LISTEN").unwrap_or("127.0.0.1:8080"),
            "INLET_LISTEN",
        )?;
        let public_url = get("INLET_PUBLIC_URL")
            .map(|u| u.trim_end_matches('/').to_owned())
            .unwrap_or_else(|| format!("http://{listen}"));
        let database_url = SecretString::from(
            get("INLET_DATABASE_URL").unwrap_or("sqlite://./data/inlet.db?mode=rwc"),
        );
        let db = database_url.expose_secret();
        if !(db.starts_with("sqlite:")
            || db.starts_with("postgres://")
            || db.starts_with("postgresql://"))
        {
            return Err(ConfigError {
                name: "INLET_DATABASE_URL",
                reason: "expected a sqlite:// or postgres:// URL".into(),
            });
        }
        let amqp_url = get("INLET_AMQP_URL").map(SecretString::from);
        if let Some(urls) = &amqp_url {
            let nodes = amqp_nodes(urls.expose_secret());
            let scheme = |u: &str| u.starts_with("amqp://") || u.starts_with("amqps://");
            if nodes.is_empty() || !nodes.iter().all(|u| scheme(u)) {
                return Err(ConfigError {
                    name: "INLET_AMQP_URL",
                    reason: "expected an amqp:// or amqps:// URL, or several separated by commas (the nodes of a cluster)".into(),
                });
            }
        }
        let tls = amqp_tls(get, amqp_url.as_ref())?;
        let log_format = match get("INLET_LOG_FORMAT") {
            None => {
                if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                    LogFormat::Pretty
                } else {
                    LogFormat::Json
                }
            }
            Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(_) => {
                return Err(ConfigError {
                    name: "INLET_LOG_FORMAT",
                    reason: "expected json or pretty".into(),
                });
            }
        };
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Ok(Self {
            listen,
            public_url,
            database_url,
            amqp_url,
            amqp_tls_ca_file: tls.ca,
            amqp_tls_cert_file: tls.cert,
            amqp_tls_key_file: tls.key,
            database_pool: positive(get("INLET_DATABASE_POOL"), 16, "INLET_DATABASE_POOL")?,
            master_key: master_key(get("INLET_MASTER_KEY"), "INLET_MASTER_KEY")?,
            master_key_previous: master_key(
                get("INLET_MASTER_KEY_PREVIOUS"),
                "INLET_MASTER_KEY_PREVIOUS",
            )?,
            allow_plaintext_secrets: boolean(
                get("INLET_ALLOW_PLAINTEXT_SECRETS"),
                "INLET_ALLOW_PLAINTEXT_SECRETS",
            )?,
            smtp_url: get("INLET_SMTP_URL").map(SecretString::from),
            outbox_dir: PathBuf::from(get("INLET_OUTBOX_DIR").unwrap_or("./data/outbox")),
            email_from: get("INLET_EMAIL_FROM")
                .unwrap_or("Inlet <inlet@localhost>")
                .to_owned(),
            unsubscribe_secret: get("INLET_UNSUBSCRIBE_SECRET").map(SecretString::from),
            bootstrap_api_key: get("INLET_BOOTSTRAP_API_KEY").map(SecretString::from),
            worker_concurrency: positive(
                get("INLET_WORKER_CONCURRENCY"),
                4,
                "INLET_WORKER_CONCURRENCY",
            )?,
            worker_batch: positive(get("INLET_WORKER_BATCH"), 128, "INLET_WORKER_BATCH")?,
            prefetch: positive(get("INLET_PREFETCH"), 1024, "INLET_PREFETCH")?,
            max_body_bytes: positive(
                get("INLET_MAX_BODY_BYTES"),
                1024 * 1024,
                "INLET_MAX_BODY_BYTES",
            )?,
            body_timeout: Duration::from_millis(positive(
                get("INLET_BODY_TIMEOUT_MS"),
                10_000,
                "INLET_BODY_TIMEOUT_MS",
            )?),
            template_max_bytes: positive(
                get("INLET_TEMPLATE_MAX_BYTES"),
                DEFAULT_TEMPLATE_MAX_BYTES,
                "INLET_TEMPLATE_MAX_BYTES",
            )?,
            suppression_removal_limit: match get("INLET_SUPPRESSION_REMOVAL_LIMIT") {
                None => 100,
                Some(v) => parse::<u32>(v, "INLET_SUPPRESSION_REMOVAL_LIMIT")?,
            },
            attachments_max_bytes: positive(
                get("INLET_ATTACHMENTS_MAX_BYTES"),
                DEFAULT_ATTACHMENTS_MAX_BYTES,
                "INLET_ATTACHMENTS_MAX_BYTES",
            )?,
            keep_requests: match get("INLET_KEEP_REQUESTS").unwrap_or("all") {
                "all" => KeepRequests::All,
                "rejected" => KeepRequests::Rejected,
                "none" => KeepRequests::None,
                _ => {
                    return Err(ConfigError {
                        name: "INLET_KEEP_REQUESTS",
                        reason: "must be all, rejected or none".into(),
                    });
                }
            },
            signature_tolerance: Duration::from_secs(positive(
                get("INLET_SIGNATURE_TOLERANCE_SECS"),
                300,
                "INLET_SIGNATURE_TOLERANCE_SECS",
            )?),
            publish_timeout: Duration::from_millis(positive(
                get("INLET_PUBLISH_TIMEOUT_MS"),
                5000,
                "INLET_PUBLISH_TIMEOUT_MS",
            )?),
            cache_refresh: Duration::from_millis(positive(
                get("INLET_CACHE_REFRESH_MS"),
                1000,
                "INLET_CACHE_REFRESH_MS",
            )?),
            http_workers: positive(get("INLET_HTTP_WORKERS"), cores, "INLET_HTTP_WORKERS")?,
            api_rate_limit: match get("INLET_API_RATE_LIMIT") {
                None => std::num::NonZeroU32::new(10),
                Some(v) => std::num::NonZeroU32::new(parse::<u32>(v, "INLET_API_RATE_LIMIT")?),
            },
            team_name: get("INLET_TEAM_NAME").unwrap_or("Inlet").to_owned(),
            retry_delays: retry_delays(get("INLET_RETRY_DELAYS_MS"))?,
            max_attempts: positive(get("INLET_MAX_ATTEMPTS"), 8, "INLET_MAX_ATTEMPTS")?,
            worker_listen: get("INLET_WORKER_LISTEN")
                .map(|v| address(v, "INLET_WORKER_LISTEN"))
                .transpose()?,
            ops_listen: get("INLET_OPS_LISTEN")
                .map(|v| address(v, "INLET_OPS_LISTEN"))
                .transpose()?,
            retention: Retention::from_vars(get)?,
            log_format,
            log_filter: get("RUST_LOG").unwrap_or("info").to_owned(),
            sources: Sources::default(),
        })
    }

    /// True when deliveries go through the database-backed embedded queue.
    pub fn embedded_queue(&self) -> bool {
        self.amqp_url.is_none()
    }

    /// Whether `INLET_PUBLIC_URL` is `https://…`: browsers then reach the console over TLS
    /// (whatever proxy terminates it), so its cookies are `Secure`.
    pub fn public_url_is_https(&self) -> bool {
        self.public_url
            .get(..8)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
    }

    /// The endpoint URL a platform should post to for an integration.
    pub fn endpoint_url(&self, integration_id: &str) -> String {
        format!("{}/webhooks/{integration_id}", self.public_url)
    }
}

fn retry_delays(value: Option<&str>) -> Result<Vec<Duration>, ConfigError> {
    let value = value.unwrap_or("10000,30000,60000,180000,300000,600000,2400000");
    let delays: Vec<Duration> = value
        .split(',')
        .map(|ms| {
            positive(Some(ms.trim()), 1u64, "INLET_RETRY_DELAYS_MS").map(Duration::from_millis)
        })
        .collect::<Result<_, _>>()?;
    if delays.is_empty() {
        return Err(ConfigError {
            name: "INLET_RETRY_DELAYS_MS",
            reason: "needs at least one delay".into(),
        });
    }
    Ok(delays)
}

/// A listen address; the standard library's error ("invalid socket address syntax") does
/// not say what a port alone (`8080`) or a name lacks.
fn address(value: &str, name: &'static str) -> Result<SocketAddr, ConfigError> {
    value.parse().map_err(|_| ConfigError {
        name,
        reason: "expected host:port, e.g. 127.0.0.1:8080 or 0.0.0.0:8080".into(),
    })
}

/// The client-TLS files of `amqps://`.
struct AmqpTls {
    ca: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
}

fn amqp_tls<'a>(
    get: &dyn Fn(&'static str) -> Option<&'a str>,
    amqp_url: Option<&SecretString>,
) -> Result<AmqpTls, ConfigError> {
    let path = |name| get(name).map(PathBuf::from);
    let tls = AmqpTls {
        ca: path("INLET_AMQP_TLS_CA_FILE"),
        cert: path("INLET_AMQP_TLS_CERT_FILE"),
        key: path("INLET_AMQP_TLS_KEY_FILE"),
    };
    match (&tls.cert, &tls.key) {
        (Some(_), None) => {
            return Err(ConfigError {
                name: "INLET_AMQP_TLS_CERT_FILE",
                reason: "set without INLET_AMQP_TLS_KEY_FILE: set both or neither".into(),
            });
        }
        (None, Some(_)) => {
            return Err(ConfigError {
                name: "INLET_AMQP_TLS_KEY_FILE",
                reason: "set without INLET_AMQP_TLS_CERT_FILE: set both or neither".into(),
            });
        }
        _ => {}
    }
    let tls_url = amqp_url.is_some_and(|u| {
        amqp_nodes(u.expose_secret())
            .iter()
            .any(|n| n.starts_with("amqps://"))
    });
    // Files that would be silently unused are a mistake worth stopping on.
    let unused = [
        ("INLET_AMQP_TLS_CA_FILE", &tls.ca),
        ("INLET_AMQP_TLS_CERT_FILE", &tls.cert),
    ]
    .into_iter()
    .find(|(_, set)| set.is_some() && !tls_url);
    if let Some((name, _)) = unused {
        return Err(ConfigError {
            name,
            reason: "only used with an amqps:// INLET_AMQP_URL".into(),
        });
    }
    Ok(tls)
}

/// A master key's text; the error says what is wrong, never the value.
fn master_key(value: Option<&str>, name: &'static str) -> Result<Option<MasterKey>, ConfigError> {
    value
        .map(|text| {
            MasterKey::parse(text).map_err(|e| ConfigError {
                name,
                reason: e.to_string(),
            })
        })
        .transpose()
}

fn boolean(value: Option<&str>, name: &'static str) -> Result<bool, ConfigError> {
    match value {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(ConfigError {
            name,
            reason: "expected true or false".into(),
        }),
    }
}

fn parse<T: std::str::FromStr>(value: &str, name: &'static str) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    value.parse().map_err(|e: T::Err| ConfigError {
        name,
        reason: e.to_string(),
    })
}

fn positive<T>(value: Option<&str>, default: T, name: &'static str) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + Default,
    T::Err: std::fmt::Display,
{
    let v = match value {
        None => return Ok(default),
        Some(v) => parse::<T>(v, name)?,
    };
    if v <= T::default() {
        return Err(ConfigError {
            name,
            reason: "must be greater than zero".into(),
        });
    }
    Ok(v)
}

#[cfg(test)]
mod tests;
