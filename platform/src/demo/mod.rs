//! `callbond demo` (what `scripts/run` starts, issue 5 point 8): the whole speak-to-agent flow
//! on one machine with no configuration. It writes the demo subscriber's tables, serves a
//! demo subscriber page with signed speak-to-agent links, and — only while no trunk is
//! configured — starts local SIPp phones as the user's phone and the call center and routes
//! the calls to them. Then it runs the platform as `serve` does. A configured trunk turns the
//! stand-in phones off; the demo never changes a real trunk.

mod data;
mod page;
mod phones;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

pub use data::DemoDataError;
pub use phones::PhonesError;

use crate::config::Config;
use crate::{RunError, open_db};

/// Why the demo could not run.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Data(#[from] DemoDataError),
    #[error(transparent)]
    Phones(#[from] PhonesError),
    #[error("cannot serve the demo subscriber page: {0}")]
    Page(std::io::Error),
    #[error("the demo data task did not finish")]
    Task,
}

/// Prepares the demo and runs the platform until `shutdown`.
pub async fn run(mut config: Config, shutdown: CancellationToken) -> Result<(), DemoError> {
    let db = Arc::new(open_db(&config)?);
    let seeded = {
        let db = Arc::clone(&db);
        tokio::task::spawn_blocking(move || data::ensure(&db))
            .await
            .map_err(|_| DemoError::Task)??
    };
    drop(db);
    let data::Demo {
        sid,
        secret,
        agent_password,
    } = seeded;
    let phones = if config.trunks.is_empty() {
        let phones = phones::Phones::start()?;
        config.trunks = phones.trunks();
        tracing::info!(user = %phones.user, center = %phones.center, "demo: local SIPp phones stand in for the user and the call center");
        Some(phones)
    } else {
        tracing::info!("demo: trunks are configured, so calls go to real phones");
        None
    };
    let base = config
        .http
        .public_base_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", config.http.listen))
        .trim_end_matches('/')
        .to_owned();
    let links = [
        (
            "Your tariff",
            page::speak_link(&base, sid.as_str(), data::SUBJECT, "D1", secret.as_bytes()),
        ),
        (
            "Your contract",
            page::speak_link(&base, sid.as_str(), data::SUBJECT, "D2", secret.as_bytes()),
        ),
    ];
    let console = format!("{base}/console");
    let page_addr = page::serve(page::html(&links, &console), shutdown.clone())
        .await
        .map_err(DemoError::Page)?;
    // On stderr like the logs: stdout carries only the ready line that scripts read.
    eprintln!(
        "\n  Callbond demo: open http://{page_addr}/ in a browser and click a link.\n  \
         The agent's side: open {console} in a second tab and sign in with subscriber {sid}, \
         login {login}, password {password}\n  (a new password each start).\n",
        login = data::AGENT_LOGIN,
        password = agent_password.expose(),
    );
    let result = crate::run(config, shutdown).await;
    drop(phones);
    Ok(result?)
}
