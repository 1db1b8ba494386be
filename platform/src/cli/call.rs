//! `callbond call --to NUMBER --say TEXT`: a test call through the configured trunk that says
//! the text and prints the events and digits it receives.

use clap::Args;

use crate::config::Config;

#[derive(Debug, Args)]
pub struct CallArgs {
    /// E.164 number or SIP URI to call.
    #[arg(long)]
    pub to: String,
    /// Text spoken once the call is answered.
    #[arg(long)]
    pub say: String,
}

pub async fn run(_config: Config, _args: CallArgs) -> anyhow::Result<()> {
    anyhow::bail!("`callbond call` is not built yet (issue #3)")
}
