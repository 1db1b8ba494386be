//! Callbond's platform: configuration, the HTTP front (web pages, push channel, admin API), the
//! call flow and the runtime that ties `voice`, `pagepush` and `subscriber-db` together.
//!
//! `run(config, shutdown)` is the whole server; `app(state)` is the router alone so tests can
//! call it without sockets.

pub mod cli;
pub mod config;
pub mod console;
pub mod demo;
mod desk;
pub mod destinations;
pub mod flow;
/// Entry points for the fuzz targets in `tests/fuzz`; not part of the API.
#[doc(hidden)]
pub mod fuzzing;
pub mod link;
pub mod queue;
pub mod runtime;
pub mod telemetry;

mod admin;
mod http;
pub mod push;
mod web;

use std::net::SocketAddr;
use std::sync::Arc;

use pagepush::{Hub, HubConfig};
use subscriber_db::Db;
use tokio_util::sync::CancellationToken;
use voice::Voice;

pub use http::app;

use crate::config::Config;
use crate::runtime::Runtime;

/// Everything request handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<StateInner>,
}

struct StateInner {
    config: Config,
    public_base_url: String,
    db: Arc<Db>,
    hub: Hub,
    runtime: Runtime,
    /// What the callback queue's estimator learned, per route (issue 13).
    queues: Arc<queue::Board>,
}

impl AppState {
    pub fn new(
        config: Config,
        public_base_url: String,
        db: Arc<Db>,
        hub: Hub,
        runtime: Runtime,
    ) -> Self {
        AppState {
            inner: Arc::new(StateInner {
                config,
                public_base_url,
                db,
                hub,
                runtime,
                queues: Arc::new(queue::Board::default()),
            }),
        }
    }

    /// The callback queue's learned handle times and give-up rates, per route.
    pub fn queues(&self) -> &queue::Board {
        &self.inner.queues
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The URL browsers use to reach us, without a trailing slash.
    pub fn public_base_url(&self) -> &str {
        &self.inner.public_base_url
    }

    /// Runs `f` against the database on a blocking thread, so SQLite never stalls the reactor.
    pub async fn with_db<T, F>(&self, f: F) -> Result<T, DbTaskError>
    where
        T: Send + 'static,
        F: FnOnce(&Db) -> T + Send + 'static,
    {
        let db = Arc::clone(&self.inner.db);
        tokio::task::spawn_blocking(move || f(&db))
            .await
            .map_err(|_| DbTaskError)
    }

    /// The per-session push channel.
    pub fn hub(&self) -> &Hub {
        &self.inner.hub
    }

    /// Starts and tracks calls.
    pub fn runtime(&self) -> &Runtime {
        &self.inner.runtime
    }
}

/// A database task panicked or was cancelled at shutdown.
#[derive(Debug, thiserror::Error)]
#[error("the database task did not finish")]
pub struct DbTaskError;

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
    #[error("cannot open the database {path}: {source} (set database.path or --db)")]
    Database {
        path: std::path::PathBuf,
        source: subscriber_db::DbError,
    },
    #[error("cannot create the database directory {dir}: {source}")]
    DatabaseDir {
        dir: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start SIP and media: {0} (check sip.listen, media.* and trunks)")]
    Voice(voice::VoiceError),
}

/// Opens the database file, creating its directory when missing.
pub fn open_db(config: &Config) -> Result<Db, RunError> {
    let path = &config.database.path;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        return Err(RunError::DatabaseDir {
            dir: dir.to_owned(),
            source: e,
        });
    }
    Db::open(path).map_err(|source| RunError::Database {
        path: path.clone(),
        source,
    })
}

/// The start-up half of the callback queue's durability (see `queue::scheduler`).
fn settle_callbacks(db: &Db, hub: &Hub, dialed_numbers: &[String]) {
    match db.settle_interrupted_callbacks(chrono::Utc::now(), dialed_numbers) {
        Ok(settled) if settled.requeued + settled.closed > 0 => tracing::warn!(
            requeued = settled.requeued,
            closed = settled.closed,
            "callback requests a stopped process was dialing: settled"
        ),
        Ok(_) => {}
        Err(e) => tracing::error!(error = %e, "could not settle interrupted callback requests"),
    }
    match db.open_callback_pages() {
        Ok(pages) => pages.iter().for_each(|page| hub.open(page)),
        Err(e) => tracing::error!(error = %e, "could not read the open callback requests"),
    }
}

/// Runs the platform until `shutdown` is cancelled.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), RunError> {
    let db = Arc::new(open_db(&config)?);
    let listener = tokio::net::TcpListener::bind(config.http.listen)
        .await
        .map_err(|source| RunError::HttpBind {
            addr: config.http.listen,
            source,
        })?;
    let http_addr = listener.local_addr().map_err(RunError::HttpServe)?;
    let voice = Voice::start(config.voice_config(), shutdown.child_token())
        .await
        .map_err(RunError::Voice)?;
    let sip_addr = voice.sip_addr();
    let public_base_url = config
        .http
        .public_base_url
        .clone()
        .unwrap_or_else(|| format!("http://{http_addr}"))
        .trim_end_matches('/')
        .to_owned();
    let hub = Hub::new(HubConfig::default());
    // Before a browser is served or a call placed: end the legs a process that died left
    // open and free the concurrent-call slots of its records.
    let journal = config.invite_journal_path();
    let recovery = runtime::recover_interrupted_calls(&db, &hub, &voice, Some(&journal)).await;
    // Then the callback requests whose attempt that process was placing: back in the queue
    // if it dialed nobody, closed if it did (never dialed twice). Their pages' channels open
    // again before the scheduler publishes to them.
    settle_callbacks(&db, &hub, &recovery.unstored_numbers);
    let runtime = Runtime::new(Arc::clone(&db), hub.clone(), voice, shutdown.child_token());
    let calls = runtime.clone();
    let state = AppState::new(config, public_base_url, db, hub, runtime);
    queue::scheduler::spawn(state.clone(), shutdown.child_token());
    tracing::info!(%http_addr, %sip_addr, public = state.public_base_url(), "listening");
    // The one line on stdout: scripts and tests read the bound addresses from it.
    println!("callbond ready http={http_addr} sip={sip_addr}");
    let router = app(state);
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown.cancelled_owned())
    .await
    .map_err(RunError::HttpServe)?;
    // Calls hang up their legs and close their records on the same token; give them time.
    if !calls.wait_idle(std::time::Duration::from_secs(10)).await {
        tracing::warn!(active = calls.active_calls(), "calls still ending at exit");
    }
    tracing::info!("stopped");
    Ok(())
}
