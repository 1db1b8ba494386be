//! Media half of the voice crate: G.711, SDP, RTP, DTMF, TTS, playout and bridge.
//! (Work in progress; the public surface is listed here once complete.)

mod codec;

pub use codec::Codec;
