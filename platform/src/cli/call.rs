//! `callbond call --to NUMBER --say TEXT`: a test call through the configured trunk that says
//! the text and prints the events and digits it receives, one line each, so an operator can
//! check a trunk end to end. Exits 0 when the call was answered; otherwise it names why not.

use std::time::Duration;

use anyhow::Context;
use clap::Args;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use voice::{Destination, DigitVia, EndCause, LegEvent, OriginateRequest, Voice, VoiceError};
use words::E164;

use crate::config::Config;

#[derive(Debug, Args)]
pub struct CallArgs {
    /// E.164 number (routed by the longest matching trunk prefix) or a SIP URI
    /// (`sip:user@host:port`, sent as is).
    #[arg(long)]
    pub to: String,
    /// Text spoken once the call is answered.
    #[arg(long)]
    pub say: String,
    /// Calling number (From and P-Asserted-Identity).
    #[arg(long, default_value = "+10000000000")]
    pub from: String,
    /// Seconds the far end may ring before we give up (CANCEL).
    #[arg(long, default_value_t = 30)]
    pub ring_timeout_secs: u64,
    /// Seconds to keep listening for digits after the text was said, then hang up.
    #[arg(long, default_value_t = 5)]
    pub listen_secs: u64,
}

pub async fn run(config: Config, args: CallArgs) -> anyhow::Result<()> {
    if args.say.trim().is_empty() {
        anyhow::bail!("--say is empty; give the text to speak when the call is answered");
    }
    if args.ring_timeout_secs == 0 {
        anyhow::bail!("--ring-timeout-secs must be at least 1");
    }
    // Parsed before anything starts, so a mistyped number costs no SIP port and no INVITE.
    let to = destination(&args.to)?;
    let shutdown = CancellationToken::new();
    let voice = start_voice(&config, shutdown.clone()).await?;
    let result = place_call(&voice, &args, to).await;
    shutdown.cancel();
    result
}

/// Starts the telephony unit on the configured SIP address, or on a free port of the same IP
/// when that one is taken (a running `callbond serve` usually holds it): replies find us
/// through Via and Contact either way.
async fn start_voice(config: &Config, shutdown: CancellationToken) -> anyhow::Result<Voice> {
    let mut voice_config = config.voice_config();
    // A test call is no server's: a server's next start must not CANCEL it.
    voice_config.invite_journal = None;
    match Voice::start(voice_config.clone(), shutdown.clone()).await {
        Ok(voice) => Ok(voice),
        Err(VoiceError::Listen { addr, .. }) => {
            voice_config.sip_listen.set_port(0);
            let voice = Voice::start(voice_config, shutdown)
                .await
                .context("cannot start the voice service for the test call")?;
            eprintln!(
                "callbond: {addr} is in use (is `callbond serve` running?); calling from {}",
                voice.sip_addr()
            );
            Ok(voice)
        }
        Err(e) => Err(e).context("cannot start the voice service for the test call"),
    }
}

/// `--to` read once at the edge: a `sip:`/`sips:` URI goes as is (voice checks its shape),
/// anything else must be an E.164 number, which voice then routes without checking it again.
fn destination(to: &str) -> anyhow::Result<Destination> {
    if to.starts_with("sip:") || to.starts_with("sips:") {
        return Ok(Destination::Uri(to.to_owned()));
    }
    to.parse::<E164>().map(Destination::Number).map_err(|e| {
        anyhow::anyhow!("--to must be a phone number like +4930123456 or a sip: URI: {e}")
    })
}

fn request(args: &CallArgs, to: Destination) -> OriginateRequest {
    OriginateRequest {
        to,
        request_user: None,
        from_user: args.from.clone(),
        from_display: Some("Callbond test call".to_owned()),
        p_asserted_identity: Some(args.from.clone()),
        user_to_user: None,
        extra_headers: Vec::new(),
        ring_timeout: Duration::from_secs(args.ring_timeout_secs),
    }
}

async fn place_call(voice: &Voice, args: &CallArgs, to: Destination) -> anyhow::Result<()> {
    let (leg, mut events) = voice
        .originate(request(args, to))
        .await
        .map_err(|e| match e {
            VoiceError::NoTrunk { .. } => {
                anyhow::anyhow!("{e} in the config file's [[trunks]], or call a sip: URI instead")
            }
            e => anyhow::Error::new(e).context("cannot place the call"),
        })?;
    let mut answered = false;
    // Armed when the text has been said: hang up after the listen window.
    let mut listen_until: Option<tokio::time::Instant> = None;
    let mut interrupted = false;
    let mut say_failed: Option<anyhow::Error> = None;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let listen_over = async {
            match listen_until {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let event = tokio::select! {
            event = next(&mut events) => event?,
            () = listen_over => {
                listen_until = None;
                leg.hangup().context("cannot hang up")?;
                continue;
            }
            // A finished signal future must not be polled again, hence the flag.
            _ = &mut ctrl_c, if !interrupted => {
                interrupted = true;
                eprintln!("callbond: interrupted, hanging up");
                let _ = leg.hangup();
                continue;
            }
        };
        println!("{}", describe(&event));
        match event {
            LegEvent::Answered { .. } => {
                answered = true;
                match leg.say(&args.say, false).await {
                    Ok(()) => {}
                    // The far end hung up at once: its HungUp event follows and says so.
                    Err(VoiceError::NotAnswered | VoiceError::LegEnded) => {}
                    Err(e) => {
                        say_failed = Some(anyhow::Error::new(e).context("cannot say the text"));
                        let _ = leg.hangup();
                    }
                }
            }
            LegEvent::PlayoutDone => {
                listen_until =
                    Some(tokio::time::Instant::now() + Duration::from_secs(args.listen_secs));
            }
            LegEvent::HungUp(cause) => {
                return match say_failed {
                    Some(e) => Err(e),
                    None => outcome(answered, &cause),
                };
            }
            _ => {}
        }
    }
}

async fn next(events: &mut mpsc::Receiver<LegEvent>) -> anyhow::Result<LegEvent> {
    events
        .recv()
        .await
        .context("the call ended without a final event; this is a bug in the voice service")
}

/// 0 once answered, whoever hung up; otherwise why the call did not go through.
fn outcome(answered: bool, cause: &EndCause) -> anyhow::Result<()> {
    if answered {
        return Ok(());
    }
    let why = match cause {
        EndCause::Busy => "the far end is busy".to_owned(),
        EndCause::NoAnswer => "nobody answered before the ring timeout".to_owned(),
        EndCause::Rejected(code) => format!("the call was rejected with SIP status {code}"),
        EndCause::Timeout => {
            "no response from the far end; check the trunk target or URI and that it is up"
                .to_owned()
        }
        EndCause::NetworkError(e) => format!("the INVITE could not be sent: {e}"),
        EndCause::Unreachable(voice::Unreachable::NoResponse) => {
            "nothing answered the INVITE; check the trunk target or URI and that it is up"
                .to_owned()
        }
        EndCause::Unreachable(_) => {
            "the network reports no SIP server at the trunk target or URI (ICMP unreachable)"
                .to_owned()
        }
        other => format!(
            "the call ended before it was answered ({})",
            cause_text(other)
        ),
    };
    anyhow::bail!("call not answered: {why}")
}

/// One output line per event, stable enough for scripts to match on.
fn describe(event: &LegEvent) -> String {
    match event {
        LegEvent::Trying => "trying".to_owned(),
        LegEvent::Ringing => "ringing".to_owned(),
        LegEvent::EarlyMedia => "early media".to_owned(),
        LegEvent::Answered { codec } => format!("answered codec={}", codec.encoding_name()),
        LegEvent::Digit { key, via } => {
            let via = match via {
                DigitVia::Rfc4733 => "rfc4733",
                DigitVia::InBand => "inband",
                DigitVia::SipInfo => "sip-info",
            };
            format!("digit {key} via {via}")
        }
        LegEvent::PlayoutDone => "said".to_owned(),
        LegEvent::HungUp(cause) => format!("hung up: {}", cause_text(cause)),
    }
}

fn cause_text(cause: &EndCause) -> String {
    match cause {
        EndCause::Busy => "busy".to_owned(),
        EndCause::NoAnswer => "no answer".to_owned(),
        EndCause::Rejected(code) => format!("rejected {code}"),
        EndCause::RemoteHangup => "remote hangup".to_owned(),
        EndCause::LocalHangup => "local hangup".to_owned(),
        EndCause::Cancelled => "cancelled".to_owned(),
        EndCause::Timeout => "timeout".to_owned(),
        EndCause::NetworkError(e) => format!("network error: {e}"),
        EndCause::Unreachable(voice::Unreachable::NoResponse) => "no response".to_owned(),
        EndCause::Unreachable(voice::Unreachable::PortUnreachable) => {
            "unreachable: port".to_owned()
        }
        EndCause::Unreachable(voice::Unreachable::HostUnreachable) => {
            "unreachable: host".to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_is_a_number_or_a_sip_uri() {
        let number = destination("+4930123456").expect("a valid number");
        assert_eq!(
            number,
            Destination::Number("+4930123456".parse().expect("a valid number"))
        );
        let uri = destination("sip:7001@127.0.0.1:5060").expect("a URI");
        assert_eq!(uri, Destination::Uri("sip:7001@127.0.0.1:5060".to_owned()));
        for bad in ["4930123456", "+1555", "alice", ""] {
            let error = destination(bad).expect_err(bad).to_string();
            assert!(
                error.starts_with("--to must be a phone number like +4930123456 or a sip: URI: ")
                    && error.contains("phone number"),
                "{bad:?}: {error}"
            );
        }
    }
}
