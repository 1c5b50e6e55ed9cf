//! `inlet`: one binary, one subcommand per process (SPEC §1).

use std::net::TcpListener;
use std::process::ExitCode;

use anyhow::Context;
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};
use inlet_shared::config::{Config, LoadError, Loader, Origin};
use tokio_util::sync::CancellationToken;

/// jemalloc instead of the system allocator: glibc's malloc and free were a sixth of
/// ingest's `perf` samples, and in the benchmark jemalloc took about a sixth off the
/// worker's CPU, for 6–8 MB more resident memory (docs/performance.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Where `--help` points for the settings (every subcommand's help ends with it too).
const SETTINGS_HELP: &str = "Settings: every INLET_* variable is listed by `inlet config`; see README (Configuration).\nPrecedence: flag > environment > --config file > default.";

#[derive(Parser)]
#[command(
    name = "inlet",
    version,
    about = "Receives platform webhooks and turns them into contacts and events.",
    after_help = SETTINGS_HELP
)]
struct Cli {
    /// TOML file of settings; keys are the INLET_* names without the prefix, in lower case.
    // Text, not a path: clap's path parser refuses an empty INLET_CONFIG, which must count
    // as unset as every other empty setting does.
    #[arg(long, global = true, env = "INLET_CONFIG", value_name = "PATH")]
    config: Option<String>,
    /// HTTP listen address of serve / ingest [default: 127.0.0.1:8080].
    #[arg(long, global = true, env = "INLET_LISTEN", value_name = "HOST:PORT")]
    listen: Option<String>,
    /// sqlite:// or postgres:// URL (others can read a flag in `ps`: prefer
    /// INLET_DATABASE_URL_FILE).
    #[arg(
        long,
        global = true,
        env = "INLET_DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    database_url: Option<String>,
    /// RabbitMQ, amqp:// or amqps:// [default: the embedded queue in the database].
    #[arg(
        long,
        global = true,
        env = "INLET_AMQP_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    amqp_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

/// The settings the global flags set: (clap id, setting, flag).
const FLAGS: [(&str, &str, &str); 3] = [
    ("listen", "INLET_LISTEN", "--listen"),
    ("database_url", "INLET_DATABASE_URL", "--database-url"),
    ("amqp_url", "INLET_AMQP_URL", "--amqp-url"),
];

#[derive(Subcommand)]
enum Command {
    /// Ingest and worker in one process; migrates first. With no configuration: SQLite and
    /// the embedded queue in ./data.
    #[command(after_help = "Examples:
  inlet serve
  INLET_LISTEN=0.0.0.0:8080 INLET_PUBLIC_URL=https://hooks.example.com inlet serve")]
    Serve,
    /// The HTTP process only: webhooks, API, health.
    #[command(after_help = "Example:
  INLET_DATABASE_URL=postgres://inlet@db/inlet INLET_AMQP_URL=amqp://rabbit inlet ingest")]
    Ingest,
    /// A worker only: consumes the queue and applies effects.
    #[command(after_help = "Example:
  INLET_DATABASE_URL=postgres://inlet@db/inlet INLET_AMQP_URL=amqp://rabbit inlet worker")]
    Worker,
    /// Applies database migrations.
    #[command(after_help = "Example:
  INLET_DATABASE_URL=postgres://inlet@db/inlet inlet migrate")]
    Migrate,
    /// Removes what retention (`INLET_RETAIN_*`) lets go now and prints what each table
    /// holds; workers do it every `INLET_PRUNE_INTERVAL`.
    #[command(after_help = "Examples:
  inlet prune --dry-run
  INLET_RETAIN_WEBHOOK_LOG=14d inlet prune --output json")]
    Prune(inlet::prune::PruneArgs),
    /// Prints every setting, its effective value and where it came from (secrets redacted).
    Config,
    /// API keys: create (shown once), list, revoke.
    #[command(
        subcommand,
        after_help = "Examples:
  inlet api-key create --name ci
  inlet api-key list --output json
  inlet api-key revoke key_0123456789abcdef"
    )]
    ApiKey(inlet::api_key::ApiKeyCommand),
    /// Dead letters: list them, replay them.
    #[command(
        subcommand,
        after_help = "Examples:
  inlet dlq list --since 2h
  inlet dlq replay --all --dry-run
  inlet dlq replay --integration int_0123456789abcdef"
    )]
    Dlq(inlet::dlq::DlqCommand),
    /// Stored secrets: re-seal them under a new master key.
    #[command(
        subcommand,
        after_help = "Example:
  INLET_MASTER_KEY=<new> INLET_MASTER_KEY_PREVIOUS=<old> inlet secrets rotate-master-key"
    )]
    Secrets(inlet::secrets_cmd::SecretsCommand),
    /// Has the running server sign a sample event with an integration's secret and take it
    /// as a delivery, through its API (no database needed here).
    #[command(after_help = "Examples:
  inlet send-test-event int_0123456789abcdef customer.created --email ada@example.com
  inlet send-test-event int_0123456789abcdef user.created --name \"Ada Lovelace\" \\
    --url https://hooks.example.com --api-key inlet_…")]
    SendTestEvent {
        /// The integration's id (`int_…`).
        integration_id: String,
        /// The platform event type, e.g. `customer.created` or `user.created`.
        event_type: String,
        /// Email address of the sample person.
        #[arg(long, default_value = "jenny.rosen@example.com")]
        email: String,
        /// Name of the sample person, first name first.
        #[arg(long, default_value = "Jenny Rosen")]
        name: String,
        /// Base URL of the server [default: INLET_PUBLIC_URL, else http://<INLET_LISTEN>].
        #[arg(long)]
        url: Option<String>,
        /// An API key of the server.
        #[arg(long, env = "INLET_API_KEY", hide_env_values = true)]
        api_key: String,
    },
    /// Prints a shell completion script for `inlet`.
    #[command(after_help = "Examples:
  inlet completions bash > /etc/bash_completion.d/inlet
  inlet completions zsh > \"${fpath[1]}/_inlet\"
  inlet completions fish > ~/.config/fish/completions/inlet.fish")]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Prints the man page (roff).
    #[command(after_help = "Example:
  inlet man > /usr/local/share/man/man1/inlet.1")]
    Man,
}

/// `completions` and `man`: printed from the clap definitions, before any configuration is
/// read, so they work on any machine. True when `command` was one of them.
fn print_generated(command: &Command) -> std::io::Result<bool> {
    use std::io::Write;
    let mut text = Vec::new();
    match command {
        Command::Completions { shell } => {
            clap_complete::generate(*shell, &mut cli_command(), "inlet", &mut text);
        }
        Command::Man => clap_mangen::Man::new(cli_command()).render(&mut text)?,
        _ => return Ok(false),
    }
    // A reader that stops early (`inlet man | head`) is no failure.
    match std::io::stdout().lock().write_all(&text) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e),
        _ => Ok(true),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let matches = cli_command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    match print_generated(&cli.command) {
        Ok(true) => return ExitCode::SUCCESS,
        Ok(false) => {}
        Err(e) => {
            eprintln!("inlet: cannot write to stdout: {e}");
            return ExitCode::FAILURE;
        }
    }
    let config = match load_config(&cli, &matches) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("inlet: {}", one_line(&e.into()));
            return ExitCode::from(2);
        }
    };
    // Traces, when OTEL_EXPORTER_OTLP_ENDPOINT asks for them, are `inlet-<process>`'s; the
    // guard flushes them when `main` returns.
    let process = match &cli.command {
        Command::Serve => "serve",
        Command::Ingest => "ingest",
        Command::Worker => "worker",
        _ => "cli",
    };
    let _telemetry =
        match inlet_shared::telemetry::init(config.log_format, &config.log_filter, process) {
            Ok(guard) => guard,
            Err(e) => {
                eprintln!("inlet: {}", one_line(&e.into()));
                return ExitCode::from(2);
            }
        };
    match run(cli.command, config).await {
        Ok(()) => ExitCode::SUCCESS,
        // One line, said once: not logged as well, which would write it a second time on
        // the same stderr.
        Err(e) => {
            match hint(&e) {
                Some(hint) => eprintln!("inlet: {} ({hint})", one_line(&e)),
                None => eprintln!("inlet: {}", one_line(&e)),
            }
            ExitCode::FAILURE
        }
    }
}

/// What to try next, for the failures that suggest something.
fn hint(error: &anyhow::Error) -> Option<&'static str> {
    error.chain().find_map(|cause| {
        if let Some(e) = cause.downcast_ref::<inlet::test_event::SendError>() {
            return e.hint();
        }
        match cause.downcast_ref::<sea_orm::DbErr>() {
            Some(sea_orm::DbErr::Conn(_) | sea_orm::DbErr::ConnectionAcquire(_)) => {
                Some("is the database running? check INLET_DATABASE_URL")
            }
            _ => None,
        }
    })
}

/// The error and its causes on one line, `: `-separated as `{:#}` writes them, leaving out
/// a cause the text before it already ends with: lettre's, sea-orm's and our own errors
/// write their source into their message as well as returning it from `source()`, which
/// `{:#}` would print twice.
fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.ends_with(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// The command line, with the settings' pointer at the end of every subcommand's help.
fn cli_command() -> clap::Command {
    let mut command = Cli::command();
    let names: Vec<String> = command
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect();
    for name in names {
        // After the subcommand's own examples, which it keeps.
        command = command.mut_subcommand(name, |s| {
            let help = match s.get_after_help() {
                Some(examples) => format!("{examples}\n\n{SETTINGS_HELP}"),
                None => SETTINGS_HELP.to_owned(),
            };
            s.after_help(help)
        });
    }
    command
}

/// Reads the configuration (file, environment, then the flags given on the command line:
/// clap's `env` fallback only shows the variables in `--help`, the loader reads them) and
/// checks the default sender, which the mail crate parses outside the pure core: a bad
/// `INLET_EMAIL_FROM` stops every command, as any bad setting.
fn load_config(cli: &Cli, matches: &ArgMatches) -> Result<Config, LoadError> {
    let mut loader = Loader::new().env(std::env::vars_os());
    if let Some(path) = cli.config.as_deref().filter(|p| !p.is_empty()) {
        let named_by = match matches.value_source("config") {
            Some(ValueSource::CommandLine) => Origin::Flag { flag: "--config" },
            _ => Origin::Env {
                var: "INLET_CONFIG".to_owned(),
            },
        };
        loader = loader.file(path, named_by);
    }
    let values = [&cli.listen, &cli.database_url, &cli.amqp_url];
    for ((id, name, flag), value) in FLAGS.into_iter().zip(values) {
        if let (Some(value), Some(ValueSource::CommandLine)) = (value, matches.value_source(id)) {
            loader = loader.flag(name, flag, value.clone());
        }
    }
    let config = loader.load()?;
    inlet_shared::email::default_sender(&config).map_err(|e| config.sources.locate(e))?;
    Ok(config)
}

/// Cancels the token on the first SIGTERM or SIGINT (graceful: in-flight work finishes);
/// a second signal exits at once (unacknowledged messages are redelivered).
fn shutdown_on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        let mut term = match tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::terminate(),
        ) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "Cannot listen for SIGTERM; stopping only on Ctrl-C.");
                let _ = tokio::signal::ctrl_c().await;
                cancel.cancel();
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("Shutting down; a second signal stops at once.");
        cancel.cancel();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::warn!("Second signal: stopping now.");
        std::process::exit(130);
    });
    token
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Migrate => {
            // First, so a missing master key fails before anything is migrated.
            let vault = inlet_shared::sealed::Vault::from_config(&config)?;
            let db = inlet::connect_database(&config).await?;
            inlet::migrate(&db).await.context("migration failed")?;
            inlet::prepare_secrets(&db, &vault).await?;
            tracing::info!("Migrations applied.");
            Ok(())
        }
        Command::Serve | Command::Ingest => {
            let with_worker = matches!(command, Command::Serve);
            // Bind first: a taken port must fail before a first API key is made and shown.
            let listen = config.listen;
            let listener =
                TcpListener::bind(listen).with_context(|| format!("cannot listen on {listen}"))?;
            let ops = config
                .ops_listen
                .map(|addr| {
                    TcpListener::bind(addr)
                        .with_context(|| format!("cannot listen on {addr} (INLET_OPS_LISTEN)"))
                })
                .transpose()?;
            let services = inlet::connect(config, with_worker).await?;
            if let Some(key) = inlet::bootstrap_api_key(&services).await? {
                println!("Created an API key (shown once, keep it): {key}");
            }
            let shutdown = shutdown_on_signals();
            let ops_addr = services.config.ops_listen;
            let (port, http) =
                inlet::start_ingest_with_ops(&services, listener, ops, shutdown.clone())?;
            if let Some(addr) = ops_addr {
                tracing::info!(%addr, "Metrics and health listening.");
            }
            tracing::info!(
                port,
                public_url = %services.config.public_url,
                embedded_queue = services.config.embedded_queue(),
                "Inlet is listening."
            );
            let worker = with_worker
                .then(|| inlet::start_worker(&services, shutdown.clone()))
                .transpose()?;
            let served = http.await.context("HTTP task failed")?;
            shutdown.cancel();
            if let Some(worker) = worker {
                worker.await.context("worker task failed")?;
            }
            served.context("HTTP server failed")
        }
        Command::Config => inlet::config_cmd::run(&config),
        Command::Prune(args) => inlet::prune::run(config, args).await,
        Command::ApiKey(command) => inlet::api_key::run(config, command).await,
        Command::Dlq(command) => inlet::dlq::run(config, command).await,
        Command::Secrets(command) => inlet::secrets_cmd::run(config, command).await,
        Command::SendTestEvent {
            integration_id,
            event_type,
            email,
            name,
            url,
            api_key,
        } => {
            let base = inlet::test_event::local_base(&config, url.as_deref());
            let sent = inlet::test_event::send(&inlet::test_event::Request {
                integration_id: &integration_id,
                event_type: &event_type,
                email: &email,
                name: &name,
                base: &base,
                api_key: &api_key,
            })
            .await?;
            println!("{} {}", sent.status, sent.body);
            Ok(())
        }
        // Printed by `main` before the configuration is read.
        Command::Completions { .. } | Command::Man => Ok(()),
        Command::Worker => {
            let services = inlet::connect(config, false).await?;
            let shutdown = shutdown_on_signals();
            inlet::start_worker(&services, shutdown)?
                .await
                .context("worker task failed")
        }
    }
}
