//! Building and running the HTTP application (listener bound by the caller, port 0 in tests).

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use tokio_util::sync::CancellationToken;

use crate::routes;
use crate::source::body_deadline;
use crate::state::AppState;

/// The HTTP application, bound and ready to run.
pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    /// Builds the server on `listener` with `state`.
    pub fn build(state: AppState, listener: TcpListener) -> std::io::Result<Self> {
        let port = listener.local_addr()?.port();
        let workers = state.config.http_workers;
        let body_timeout = state.config.body_timeout;
        let ops = web::Data::new(crate::ops::Ops {
            db: state.db.clone(),
            queue: state.queue.clone(),
            metrics: state.metrics.clone(),
            log_dropped: Some(state.delivery_log.clone()),
        });
        let attachments_max_bytes = state.config.attachments_max_bytes;
        let data = web::Data::new(state);
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(ops.clone())
                .configure(|cfg| routes::configure(cfg, attachments_max_bytes))
                .default_service(web::to(routes::not_found))
                .wrap(from_fn(move |req, next| {
                    body_deadline::limit(body_timeout, req, next)
                }))
        })
        .workers(workers)
        .backlog(4096)
        // Signals are handled by the binary, which cancels the shutdown token.
        .disable_signals()
        .shutdown_timeout(15)
        .listen(listener)?
        .run();
        Ok(Self { port, server })
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown` is cancelled, then stops gracefully (in-flight requests finish).
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> std::io::Result<()> {
        let handle = self.server.handle();
        let server = self.server;
        tokio::pin!(server);
        tokio::select! {
            result = &mut server => result,
            () = shutdown.cancelled() => {
                // The stop command is sent when `stop` is called; the server future itself
                // must be polled to carry it out, so await the server, not the handle.
                let _stopping = handle.stop(true);
                server.await
            }
        }
    }
}
