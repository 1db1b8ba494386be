//! The errors `voice` returns at its boundary. Failures of a placed call are not errors: they
//! arrive as [`crate::LegEvent::HungUp`] with an [`crate::EndCause`].
//!
//! Each message already holds the text of the error under it, so no variant also returns that
//! error as its `source()`: printing the chain (`{:#}` in anyhow) says everything once.

use std::net::SocketAddr;

use crate::media::{MediaError, TtsError};

#[derive(Debug, thiserror::Error)]
pub enum VoiceError {
    #[error("cannot listen for SIP on {addr}: {error}; choose a free address in `sip_listen`")]
    Listen {
        addr: SocketAddr,
        error: std::io::Error,
    },
    #[error("cannot open the INVITE journal {path}: {error}; check the directory is writable")]
    Journal {
        path: std::path::PathBuf,
        error: std::io::Error,
    },
    #[error("the SIP stack refused to start: {0}")]
    Stack(Box<rsipstack::Error>),
    #[error(transparent)]
    Media(#[from] MediaError),
    #[error(transparent)]
    Tts(#[from] TtsError),
    #[error("no trunk serves number {masked}; add a trunk whose prefix matches it (\"\" for all)")]
    NoTrunk { masked: String },
    #[error("{what} {value:?} is not usable in a SIP URI; use digits with an optional leading +")]
    InvalidUser { what: &'static str, value: String },
    #[error("{uri:?} is not a SIP URI; write it like sip:user@host:port")]
    InvalidUri { uri: String },
    #[error("trunk target {target:?} is not host or host:port")]
    InvalidTrunkTarget { target: String },
    #[error("header {name:?} cannot be sent: names are SIP tokens and values one line")]
    InvalidHeader { name: String },
    #[error("the SIP stack could not build the INVITE: {0}")]
    Invite(Box<rsipstack::Error>),
    #[error("the leg has no media: it is not answered yet or already ended")]
    NotAnswered,
    #[error("the leg already ended")]
    LegEnded,
    #[error("the voice service is shut down")]
    ShutDown,
}
