//! `callbond admin …`: the admin API's operations against the local database file.

use clap::Subcommand;

use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Creates the database if needed and prints a new operator key (shown once).
    Init,
}

pub fn run(config: &Config, command: AdminCommand) -> anyhow::Result<()> {
    let db = crate::open_db(config)?;
    match command {
        AdminCommand::Init => {
            let key = db.create_operator_key(chrono::Utc::now())?;
            println!("operator key: {}", key.token.expose());
        }
    }
    Ok(())
}
