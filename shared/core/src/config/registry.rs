//! The settings registry: every setting's name, default, meaning and secrecy, in one table
//! that `inlet config`, the configuration file's keys and the README's table are made from.

/// One setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    /// The environment variable (`INLET_LISTEN`).
    pub name: &'static str,
    /// The default as the README shows it (Markdown).
    pub default: &'static str,
    /// One line on what it does (Markdown).
    pub description: &'static str,
    /// Whether the value is a secret: never printed, and also read from `<name>_FILE`.
    pub secret: bool,
}

impl Setting {
    /// The key in the configuration file: the name without `INLET_`, in lower case.
    pub fn key(&self) -> String {
        key_of(self.name)
    }

    /// The variable naming a file that holds the value (secrets only).
    pub fn file_variable(&self) -> Option<String> {
        self.secret.then(|| format!("{}_FILE", self.name))
    }
}

/// The configuration file's key for a variable name.
pub(crate) fn key_of(name: &str) -> String {
    name.strip_prefix("INLET_")
        .unwrap_or(name)
        .to_ascii_lowercase()
}

/// `INLET_CONFIG`, read by the binary's `--config` flag rather than by [`super::Config`].
pub const CONFIG_FILE: Setting = Setting {
    name: "INLET_CONFIG",
    default: "unset",
    description: "a TOML file of settings (`--config`): keys are the names below without `INLET_`, in lower case",
    secret: false,
};

const fn setting(name: &'static str, default: &'static str, description: &'static str) -> Setting {
    Setting {
        name,
        default,
        description,
        secret: false,
    }
}

const fn secret(name: &'static str, default: &'static str, description: &'static str) -> Setting {
    Setting {
        name,
        default,
        description,
        secret: true,
    }
}

/// Every setting [`super::Config`] reads, in the order `inlet config` and the README list them.
pub const SETTINGS: &[Setting] = &[
    setting(
        "INLET_LISTEN",
        "`127.0.0.1:8080`",
        "HTTP listen address of `serve` / `ingest` (`--listen`)",
    ),
    setting(
        "INLET_PUBLIC_URL",
        "`http://<INLET_LISTEN>`",
        "base URL used to print endpoint URLs",
    ),
    secret(
        "INLET_DATABASE_URL",
        "`sqlite://./data/inlet.db?mode=rwc`",
        "`sqlite://…` or `postgres://…` (`--database-url`)",
    ),
    setting(
        "INLET_DATABASE_POOL",
        "`16`",
        "PostgreSQL connections per process (SQLite uses one)",
    ),
    secret(
        "INLET_MASTER_KEY",
        "unset → SQLite: the key file `inlet.master-key` beside the database, made on first start; PostgreSQL: refused",
        "key that seals stored secrets (signing secrets, the unsubscribe and console session keys) with AES-256-GCM: 32 random bytes as 64 hex characters or base64 (`openssl rand -hex 32`); losing it loses those secrets (docs/deploy, Secrets at rest)",
    ),
    secret(
        "INLET_MASTER_KEY_PREVIOUS",
        "unset",
        "during a rotation, the key being replaced: values sealed under it still open, new ones are sealed with `INLET_MASTER_KEY`; `inlet secrets rotate-master-key` re-seals them all",
    ),
    setting(
        "INLET_ALLOW_PLAINTEXT_SECRETS",
        "`false`",
        "development only: `true` lets PostgreSQL start without `INLET_MASTER_KEY`, keeping secrets in plain text",
    ),
    secret(
        "INLET_AMQP_URL",
        "unset → embedded queue",
        "`amqp://user:pass@host:5672/vhost`, or `amqps://…` over TLS → RabbitMQ (`--amqp-url`); a cluster's node URLs separated by commas → connect to any live node, quorum queues replicated on all of them",
    ),
    setting(
        "INLET_AMQP_TLS_CA_FILE",
        "unset",
        "PEM bundle of CA certificates trusted for `amqps://`, besides the bundled webpki (Mozilla) roots",
    ),
    setting(
        "INLET_AMQP_TLS_CERT_FILE",
        "unset",
        "PEM client certificate chain presented over `amqps://` (with `INLET_AMQP_TLS_KEY_FILE`)",
    ),
    setting(
        "INLET_AMQP_TLS_KEY_FILE",
        "unset",
        "PEM private key of that client certificate (with `INLET_AMQP_TLS_CERT_FILE`)",
    ),
    secret(
        "INLET_SMTP_URL",
        "unset → `.eml` files",
        "SMTP server for workflow email: `smtp://host:port` (plain), `smtp://user:pass@host:587?tls=required` (STARTTLS), `smtps://host:465`",
    ),
    setting(
        "INLET_OUTBOX_DIR",
        "`./data/outbox`",
        "where emails go without SMTP",
    ),
    setting(
        "INLET_EMAIL_FROM",
        "`Inlet <inlet@localhost>`",
        "sender of emails whose template sets no `fromEmail`",
    ),
    setting(
        "INLET_TEMPLATE_MAX_BYTES",
        "`1048576`",
        "most bytes each part of a rendered template (subject, HTML, text) may have; a longer one is refused at save or fails its run",
    ),
    setting(
        "INLET_SUPPRESSION_REMOVAL_LIMIT",
        "`100`",
        "suppressions `DELETE /api/v1/contacts/suppression` may remove in a rolling 30 days (`removalQuota.limit`); `0` allows none",
    ),
    setting(
        "INLET_ATTACHMENTS_MAX_BYTES",
        "`5242880`",
        "most bytes (decoded) the `attachments` of one `POST /api/v1/transactional` may have together; more is a 400",
    ),
    secret(
        "INLET_UNSUBSCRIBE_SECRET",
        "generated once, kept in the database",
        "key that signs unsubscribe links (set it to keep links valid across databases)",
    ),
    secret(
        "INLET_BOOTSTRAP_API_KEY",
        "unset",
        "an API key accepted from start (stored hashed); if unset and no key exists, `serve`/`ingest` create one and print it once",
    ),
    setting(
        "INLET_WORKER_CONCURRENCY",
        "`4`",
        "transactions a worker runs at once; each applies a batch of deliveries that have already arrived, with one commit",
    ),
    setting(
        "INLET_WORKER_BATCH",
        "`128`",
        "most deliveries in one such batch (larger batches cost the database less per delivery)",
    ),
    setting(
        "INLET_PREFETCH",
        "`1024`",
        "unacknowledged messages a worker holds (bodies included: lower it when bodies are large)",
    ),
    setting(
        "INLET_MAX_BODY_BYTES",
        "`1048576`",
        "larger webhook bodies get `413`",
    ),
    setting(
        "INLET_BODY_TIMEOUT_MS",
        "`10000`",
        "time a request's body has to arrive once its headers are in, on every route (webhooks, API, console); a slower one gets `408` and its connection is closed",
    ),
    setting(
        "INLET_KEEP_REQUESTS",
        "`all`",
        "which deliveries' requests are kept for the console (headers without signatures, and the body's first 64 KiB, or 4 KiB for a rejected delivery): `all`, `rejected`, or `none` (a dead letter always keeps its body); for `INLET_RETAIN_REQUESTS`",
    ),
    setting(
        "INLET_SIGNATURE_TOLERANCE_SECS",
        "`300`",
        "allowed age (and clock skew) of a signed timestamp",
    ),
    setting(
        "INLET_PUBLISH_TIMEOUT_MS",
        "`5000`",
        "how long ingest waits for the queue's confirm before answering `503`",
    ),
    setting(
        "INLET_CACHE_REFRESH_MS",
        "`1000`",
        "how often a process picks up integration changes made by other processes",
    ),
    setting(
        "INLET_RETRY_DELAYS_MS",
        "`10000,30000,60000,180000,300000,600000,2400000`",
        "waits before the 2nd, 3rd, … attempt of a delivery that failed transiently (up to 20 % shorter, at random); in the file, a string or an array of numbers",
    ),
    setting(
        "INLET_MAX_ATTEMPTS",
        "`8`",
        "attempts before a delivery goes to the dead letters (the defaults spread them over about an hour)",
    ),
    setting(
        "INLET_RETAIN_WEBHOOK_LOG",
        "`30d`",
        "how long the webhook log's rows are kept (a duration: `12h`, `30d`; `0` keeps forever); on PostgreSQL whole days go at once, so up to one day more is kept",
    ),
    setting(
        "INLET_RETAIN_REQUESTS",
        "`7d`",
        "how long the requests kept for the console (headers and body) are kept",
    ),
    setting(
        "INLET_RETAIN_DEDUPE",
        "`30d`",
        "how long a duplicate delivery is still recognised, counted from its event's time; at least `3d` (Stripe retries for up to 3 days); an older duplicate is applied as a new event",
    ),
    setting(
        "INLET_RETAIN_EMAILS",
        "`90d`",
        "how long finished email sends (sent, skipped, failed) are kept",
    ),
    setting(
        "INLET_RETAIN_DEAD_LETTERS",
        "`30d`",
        "how long a replayed dead letter is kept; unresolved dead letters are never pruned",
    ),
    setting(
        "INLET_RETAIN_EVENTS",
        "`365d`",
        "how long events recorded on contacts (platform and custom) are kept",
    ),
    setting(
        "INLET_RETAIN_WORKFLOW_RUNS",
        "`90d`",
        "how long a finished (completed or cancelled) workflow run is kept; pending runs and failed ones (waiting in the dead letters) stay",
    ),
    setting(
        "INLET_PRUNE_INTERVAL",
        "`10m`",
        "how often one worker (elected) prunes what retention lets go; `inlet prune` does it on demand",
    ),
    setting(
        "INLET_WORKER_LISTEN",
        "unset",
        "where `inlet worker` serves `/metrics` and `/health/*`",
    ),
    setting(
        "INLET_OPS_LISTEN",
        "unset → no `/metrics`",
        "where `inlet serve` / `inlet ingest` serve `/metrics` and `/health/*`; keep it off the internet (e.g. `127.0.0.1:9090`, or the private network Prometheus scrapes)",
    ),
    setting(
        "INLET_TEAM_NAME",
        "`Inlet`",
        "the team name `GET /api/v1/api-key` reports",
    ),
    setting(
        "INLET_HTTP_WORKERS",
        "number of cores",
        "HTTP worker threads",
    ),
    setting(
        "INLET_API_RATE_LIMIT",
        "`10`",
        "requests a second each API key may make to the REST API (Loops' baseline); past it `429` with `x-ratelimit-limit` / `x-ratelimit-remaining`; per HTTP process; `0` removes the limit; webhooks are never limited by it",
    ),
    setting(
        "INLET_LOG_FORMAT",
        "`pretty` on a terminal, else `json`",
        "log format",
    ),
    setting(
        "RUST_LOG",
        "`info`",
        "log filter (`inlet_worker=debug,info`, …)",
    ),
];

/// The registered setting of that variable name.
pub fn setting_named(name: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.name == name)
}

/// The README's table of settings, made from the registry.
pub fn markdown_table() -> String {
    let mut table = String::from("| variable | default | meaning |\n|---|---|---|\n");
    for s in std::iter::once(&CONFIG_FILE).chain(SETTINGS) {
        let name = if s.secret {
            format!("`{}` (secret)", s.name)
        } else {
            format!("`{}`", s.name)
        };
        table.push_str(&format!("| {name} | {} | {} |\n", s.default, s.description));
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_table_is_the_registry() {
        let readme = include_str!("../../../../README.md");
        let table = markdown_table();
        assert!(
            readme.contains(&table),
            "README.md's settings table differs from the registry; it should read:\n{table}"
        );
    }

    #[test]
    fn names_are_unique_and_keys_are_lower_case() {
        let mut names: Vec<&str> = SETTINGS.iter().map(|s| s.name).collect();
        names.push(CONFIG_FILE.name);
        names.sort_unstable();
        let count = names.len();
        names.dedup();
        assert_eq!(names.len(), count, "a setting is registered twice");
        assert_eq!(
            setting_named("INLET_WORKER_BATCH").map(Setting::key),
            Some("worker_batch".to_owned())
        );
        assert_eq!(
            setting_named("RUST_LOG").map(Setting::key),
            Some("rust_log".to_owned())
        );
        assert_eq!(
            setting_named("INLET_SMTP_URL").and_then(Setting::file_variable),
            Some("INLET_SMTP_URL_FILE".to_owned())
        );
        assert_eq!(
            setting_named("INLET_LISTEN").and_then(Setting::file_variable),
            None
        );
    }
}
