//! The `callbond` binary: parses the command line and the config file, then hands over to the
//! library. Nothing else lives here.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use platform::config::Config;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Parser)]
#[command(
    name = "callbond",
    version,
    about = "Bonds a web session to a phone call with a call center"
)]
struct Cli {
    /// TOML configuration file (default: ./callbond.toml when it exists).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Overrides `http.listen`.
    #[arg(long, global = true)]
    http_listen: Option<SocketAddr>,
    /// Overrides `sip.listen`.
    #[arg(long, global = true)]
    sip_listen: Option<SocketAddr>,
    /// Overrides `database.path`.
    #[arg(long, global = true)]
    db: Option<PathBuf>,
    /// Overrides `http.public_base_url`.
    #[arg(long, global = true)]
    public_url: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the platform (the default).
    Serve,
    /// Manage subscribers, keys, sites and links in the local database file.
    #[command(subcommand)]
    Admin(platform::cli::admin::AdminCommand),
    /// Place a test call through the configured trunk, say a text, print what comes back.
    Call(platform::cli::call::CallArgs),
    /// Run the platform with a demo subscriber and page; local SIPp phones when no trunk is set.
    Demo,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match load_config(&cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("callbond: {e}");
            return ExitCode::from(2);
        }
    };
    platform::telemetry::init(&config.log);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config),
        Command::Admin(command) => platform::cli::admin::run(&config, command),
        Command::Call(args) => tokio_main(platform::cli::call::run(config, args)),
        Command::Demo => demo(config),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("callbond: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(cli: &Cli) -> anyhow::Result<Config> {
    let default_path = PathBuf::from("callbond.toml");
    let path = match &cli.config {
        Some(p) => Some(p.clone()),
        None if default_path.exists() => Some(default_path),
        None => None,
    };
    let mut config = Config::load(path.as_deref())?;
    if let Some(a) = cli.http_listen {
        config.http.listen = a;
    }
    if let Some(a) = cli.sip_listen {
        config.sip.listen = a;
    }
    if let Some(p) = &cli.db {
        config.database.path = p.clone();
    }
    if let Some(u) = &cli.public_url {
        config.http.public_base_url = Some(u.clone());
    }
    config.validate()?;
    Ok(config)
}

fn tokio_main(task: impl std::future::Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(task)
}

fn serve(config: Config) -> anyhow::Result<()> {
    tokio_main(async move {
        let shutdown = CancellationToken::new();
        let signal = shutdown.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutdown requested");
            signal.cancel();
        });
        platform::run(config, shutdown).await?;
        Ok(())
    })
}

fn demo(config: Config) -> anyhow::Result<()> {
    tokio_main(async move {
        let shutdown = CancellationToken::new();
        let signal = shutdown.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            signal.cancel();
        });
        platform::demo::run(config, shutdown).await?;
        Ok(())
    })
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
