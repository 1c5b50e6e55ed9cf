//! `inlet`: one binary, one subcommand per process (SPEC §1).

use std::net::TcpListener;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use inlet_shared::config::{Config, ConfigError};
use tokio_util::sync::CancellationToken;

/// jemalloc instead of the system allocator: glibc's malloc and free were a sixth of
/// ingest's `perf` samples, and in the benchmark jemalloc took about a sixth off the
/// worker's CPU, for 6–8 MB more resident memory (docs/performance.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(
    name = "inlet",
    version,
    about = "Receives platform webhooks and turns them into contacts and events."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Ingest and worker in one process; migrates first. With no configuration: SQLite and
    /// the embedded queue in ./data.
    Serve,
    /// The HTTP process only: webhooks, API, health.
    Ingest,
    /// A worker only: consumes the queue and applies effects.
    Worker,
    /// Applies database migrations.
    Migrate,
    /// API keys: create (shown once), list, revoke.
    #[command(subcommand)]
    ApiKey(inlet::api_key::ApiKeyCommand),
    /// Dead letters: list them, replay them.
    #[command(subcommand)]
    Dlq(inlet::dlq::DlqCommand),
    /// Signs a sample event with an integration's secret and posts it to the running server.
    SendTestEvent {
        /// The integration's id (`int_…`).
        integration_id: String,
        /// The platform event type, e.g. `customer.created` or `user.created`.
        event_type: String,
        /// Email address of the sample person.
        #[arg(long, default_value = "jenny.rosen@example.com")]
        email: String,
        /// Base URL of the server [default: http://<INLET_LISTEN>].
        #[arg(long)]
        url: Option<String>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match load_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("inlet: {e}");
            return ExitCode::from(2);
        }
    };
    inlet_shared::telemetry::init(config.log_format, &config.log_filter);
    match run(cli.command, config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let message = one_line(&e);
            tracing::error!(error = message, "Inlet stopped on an error.");
            eprintln!("inlet: {message}");
            ExitCode::FAILURE
        }
    }
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

/// Reads the configuration and checks the default sender, which the mail crate parses
/// outside the pure core: a bad `INLET_EMAIL_FROM` stops every command, as any bad setting.
fn load_config() -> Result<Config, ConfigError> {
    let config = Config::from_env()?;
    inlet_shared::email::default_sender(&config)?;
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
            let db = inlet::connect_database(&config).await?;
            inlet::migrate(&db).await.context("migration failed")?;
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
        Command::ApiKey(command) => inlet::api_key::run(config, command).await,
        Command::Dlq(command) => inlet::dlq::run(config, command).await,
        Command::SendTestEvent {
            integration_id,
            event_type,
            email,
            url,
        } => {
            let base = inlet::test_event::local_base(&config, url.as_deref());
            let sent =
                inlet::test_event::send(&config, &integration_id, &event_type, &email, &base)
                    .await?;
            println!("{} {}", sent.status, sent.body);
            if (200..300).contains(&sent.status) {
                Ok(())
            } else {
                anyhow::bail!("the server answered {}", sent.status)
            }
        }
        Command::Worker => {
            let services = inlet::connect(config, false).await?;
            let shutdown = shutdown_on_signals();
            inlet::start_worker(&services, shutdown)?
                .await
                .context("worker task failed")
        }
    }
}
