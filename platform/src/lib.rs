//! Callbond's platform: configuration, the HTTP front (web pages, push channel, admin API), the
//! call flow and the runtime that ties `voice`, `pagepush` and `subscriber-db` together.
//!
//! `run(config, shutdown)` is the whole server; `app(state)` is the router alone so tests can
//! call it without sockets.

pub mod config;
pub mod flow;
pub mod link;
pub mod telemetry;

mod http;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

pub use http::app;

use crate::config::Config;

/// Everything request handlers share.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<StateInner>,
}

struct StateInner {
    config: Config,
    public_base_url: String,
}

impl AppState {
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The URL browsers use to reach us, without a trailing slash.
    pub fn public_base_url(&self) -> &str {
        &self.inner.public_base_url
    }
}

/// Why the platform could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(
        "cannot listen for HTTP on {addr}: {source} (is another process using it? set http.listen or --http-listen)"
    )]
    HttpBind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("HTTP server failed: {0}")]
    HttpServe(std::io::Error),
}

/// Runs the platform until `shutdown` is cancelled.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), RunError> {
    let listener = tokio::net::TcpListener::bind(config.http.listen)
        .await
        .map_err(|source| RunError::HttpBind {
            addr: config.http.listen,
            source,
        })?;
    let http_addr = listener.local_addr().map_err(RunError::HttpServe)?;
    let public_base_url = config
        .http
        .public_base_url
        .clone()
        .unwrap_or_else(|| format!("http://{http_addr}"))
        .trim_end_matches('/')
        .to_owned();
    let state = AppState {
        inner: Arc::new(StateInner {
            config,
            public_base_url,
        }),
    };
    tracing::info!(%http_addr, public = state.public_base_url(), "HTTP listening");
    // The one line on stdout: scripts and tests read the bound addresses from it.
    println!("callbond ready http={http_addr}");
    let router = app(state);
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown.cancelled_owned())
    .await
    .map_err(RunError::HttpServe)?;
    tracing::info!("stopped");
    Ok(())
}
