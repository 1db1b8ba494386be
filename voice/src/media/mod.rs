//! Media half of the voice crate: G.711, SDP offer/answer, RTP streams, DTMF detection, TTS,
//! playout and the bridge. Knows nothing of SIP: the SIP half hands it SDP text and gets SDP
//! text and [`MediaEvent`]s back.
//!
//! # Public surface (the contract with the SIP half, final signatures)
//!
//! ```text
//! pub struct MediaConfig { pub bind_ip: IpAddr, pub advertise_ip: IpAddr, pub port_min: u16,
//!                          pub port_max: u16, pub tts_data_dir: Option<PathBuf> }
//! impl MediaConfig { pub fn new(bind_ip, advertise_ip, port_min, port_max) -> Self }
//! pub enum Codec { Pcmu, Pcma }
//! pub enum Direction { SendRecv, SendOnly, RecvOnly, Inactive }
//! pub struct Negotiated { pub codec, pub telephone_event_pt: Option<u8>,
//!                         pub remote_rtp: SocketAddr, pub direction: Direction }
//! pub enum SdpError { .. }   pub enum MediaError { .. }   pub enum TtsError { .. }
//! pub enum MediaEvent { Digit { key: DtmfKey, source: DigitSource }, PlayoutDone, RtpTimeout }
//! pub enum DigitSource { Rfc4733, InBand, SipInfo }
//! pub struct Prompt;  // 8 kHz mono i16, cheap to clone
//!
//! impl MediaEngine {
//!     pub fn new(cfg: MediaConfig) -> Result<Arc<MediaEngine>, MediaError>;
//!     pub async fn allocate(self: &Arc<Self>) -> Result<MediaLeg, MediaError>;
//!     pub fn tts(&self) -> &Tts;
//! }
//! impl MediaLeg {
//!     pub fn local_port(&self) -> u16;
//!     pub fn sdp_offer(&self, session_id: u64, version: u64) -> String;
//!     pub fn apply_answer(&mut self, sdp: &str) -> Result<Negotiated, SdpError>;
//!     pub fn start(self, events: mpsc::Sender<MediaEvent>) -> MediaHandle;
//! }
//! impl MediaHandle {   // Clone
//!     pub fn answer_reoffer(&self, sdp: &str) -> Result<String, SdpError>;
//!     pub fn play(&self, audio: Prompt, looped: bool);
//!     pub async fn say(&self, text: &str, looped: bool) -> Result<(), TtsError>;
//!     pub fn stop_playing(&self);
//!     pub fn inject_digit(&self, key: DtmfKey);
//!     pub fn stop(&self);
//!     pub fn stats(&self) -> MediaStats;
//!     pub fn local_port(&self) -> u16;
//!     pub async fn stopped(&self);   // the task has ended, the port is back in the pool
//! }
//! impl MediaEngine { pub fn free_ports(&self) -> usize; }
//! impl Codec { pub fn payload_type(self) -> u8; pub fn encode(self, &[i16], &mut [u8]);
//!              pub fn decode(self, &[u8], &mut [i16]); pub fn transcode(self, to, &[u8], &mut [u8]); .. }
//! impl Prompt { pub fn from_samples(Vec<i16>) -> Prompt; pub fn samples(&self) -> &[i16];
//!               pub fn duration(&self) -> Duration; }
//! pub fn bridge(a: &MediaHandle, b: &MediaHandle) -> Result<BridgeHandle, MediaError>;
//! impl BridgeHandle { pub fn unbridge(self); }
//! impl Tts { pub fn new(data_dir: Option<PathBuf>) -> Result<Tts, TtsError>;
//!            pub async fn render(&self, text: &str) -> Result<Prompt, TtsError>; }
//! ```
//!
//! # Deviations from /tmp/voice_contract.md
//! - `MediaConfig` has a fifth field `tts_data_dir` (where `espeak-ng-data` lives; `None` =
//!   Debian's `/usr/lib/x86_64-linux-gnu/espeak-ng-data`) and a `new` constructor that sets it
//!   to `None`: the release binary must find its data wherever it is installed (issue 3 §4).
//! - `DigitSource` has a third variant `SipInfo` for [`MediaHandle::inject_digit`].
//! - `Prompt` is a newtype over `Arc<[i16]>`, not an alias.
//! - `MediaEngine::new` starts the TTS worker, so a missing `espeak-ng-data` fails at start.
//! - No `spell_digits`: the platform's whisper is the platform's one digit speller (issue 9);
//!   voice speaks text as given.
//!
//! # Behaviour worth knowing
//! - Idle legs send encoded silence every 20 ms (keeps NAT bindings open, recordings simple).
//! - `PlayoutDone` is sent when a non-looped prompt plays to its end, not on stop or replace.
//! - `RtpTimeout` is sent once after [`RTP_TIMEOUT`] without RTP from a sendrecv far end (not
//!   while it holds us with sendonly, nor when recvonly/inactive); it re-arms when RTP resumes
//!   or a re-offer arrives.
//! - While bridged, a leg's own playout pauses (no `PlayoutDone`) unless it is an announcement
//!   (`MediaHandle::announce`: to this leg alone, the peer's audio held back meanwhile); in-band
//!   DTMF is detected on each leg and its packets reach the other side as silence
//!   (`MediaStats::tones_muted`); RFC 4733 events never reach it.
//! - Symmetric RTP: we send to the SDP address until we latch to the far end's source. RTP of
//!   a negotiated type from the SDP address latches at once (and takes the leg back from a
//!   learned source); from any other address only before latching, after four packets of one
//!   SSRC in sequence (a far end behind NAT). Packets from any other source are ignored and
//!   counted (`wrong_source`), so a stray stream on a reused port or an injected one cannot
//!   take the leg; an answer or re-offer with a new address un-latches.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use words::DtmfKey;

mod bridge;
mod codec;
pub(crate) mod dtmf;
mod dtmf_send;
mod engine;
mod espeak;
pub(crate) mod inband;
mod leg;
mod playout;
#[cfg(test)]
mod proptests;
pub(crate) mod rtp;
pub(crate) mod sdp;
mod task;
#[cfg(test)]
mod test_audio;
mod tts;

pub use bridge::{BridgeHandle, bridge};
pub use codec::Codec;
pub use engine::MediaEngine;
pub use leg::{MediaHandle, MediaLeg, MediaStats};
pub use playout::Prompt;
pub use sdp::{Direction, Negotiated, SdpError};
pub use tts::{DEFAULT_DATA_DIR, MAX_TEXT_LEN, Tts, TtsError};

/// How long a leg waits for RTP from a far end that said it sends before reporting
/// [`MediaEvent::RtpTimeout`].
pub const RTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Where media sockets bind and what SDP advertises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaConfig {
    /// Local address RTP sockets bind to.
    pub bind_ip: IpAddr,
    /// Address written into SDP `c=`/`o=` (the public address behind NAT).
    pub advertise_ip: IpAddr,
    /// Lowest RTP port (rounded up to even: RFC 3550 §11 puts RTP on even ports).
    pub port_min: u16,
    /// Highest RTP port.
    pub port_max: u16,
    /// Directory holding `espeak-ng-data` (or that directory itself). `None`: Debian's
    /// `/usr/lib/x86_64-linux-gnu/espeak-ng-data` from the `espeak-ng-data` package.
    pub tts_data_dir: Option<PathBuf>,
}

impl MediaConfig {
    /// A config with the default TTS data location.
    pub fn new(bind_ip: IpAddr, advertise_ip: IpAddr, port_min: u16, port_max: u16) -> Self {
        MediaConfig {
            bind_ip,
            advertise_ip,
            port_min,
            port_max,
            tts_data_dir: None,
        }
    }
}

/// How a digit reached us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigitSource {
    /// RFC 4733 telephone-event packets.
    Rfc4733,
    /// DTMF tones in the audio, found by the Goertzel detector.
    InBand,
    /// SIP INFO `application/dtmf-relay`, handed in through [`MediaHandle::inject_digit`].
    SipInfo,
}

/// What a running leg reports to its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaEvent {
    /// A key the far end pressed, once per press.
    Digit { key: DtmfKey, source: DigitSource },
    /// A non-looped prompt finished playing.
    PlayoutDone,
    /// No RTP for [`RTP_TIMEOUT`] from a far end that said it sends.
    RtpTimeout,
}

/// Why a media operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("media port range {min}-{max} holds no even port; set port_min <= port_max")]
    InvalidPortRange { min: u16, max: u16 },
    #[error("no free media port in {min}-{max}; widen the range or lower the call load")]
    NoFreePort { min: u16, max: u16 },
    #[error("cannot bind a media socket: {0}")]
    Bind(std::io::Error),
    #[error("a leg cannot be bridged to itself")]
    SameLeg,
    #[error("the leg has stopped; its media can no longer be bridged")]
    LegStopped,
    /// Its message names the data directory and what to do; no prefix needed.
    #[error(transparent)]
    Tts(#[from] TtsError),
}
