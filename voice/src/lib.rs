//! Telephony unit of Callbond: outbound SIP call legs over configured trunks, their RTP media
//! (G.711, DTMF, TTS prompts) and the bridge between two legs. It knows nothing of subscribers
//! or HTTP; the platform drives it through [`Voice`], [`CallLeg`] and [`LegEvent`].
//!
//! ```text
//! let voice = Voice::start(config, shutdown).await?;
//! let (leg, mut events) = voice.originate(request).await?;
//! while let Some(event) = events.recv().await { /* Answered → leg.say(..), Digit, HungUp */ }
//! let cdr = leg.record(); // Call-ID, trunk, final status, PDD and answer/end times
//! let dialog = cdr.dialog; // what a later process needs to end the leg (store it)
//! // After a crash, in the next process, before placing calls:
//! let ended = voice.end_left_open(&dialog, answered).await; // CANCEL or BYE, and the answer
//! ```
//!
//! Logs: each leg has one `leg` span with its Call-ID and the dialled number masked to its last
//! three digits. rsipstack itself logs whole SIP messages (numbers included) at `info` and
//! `debug`; run with `rsipstack=warn` in the filter to keep numbers out of production logs.

pub mod media;

/// Entry points for the fuzz targets in `tests/fuzz`; not part of the API.
#[doc(hidden)]
pub mod fuzzing;

mod config;
mod error;
mod leg;
mod record;
mod sip;

pub use config::{DEFAULT_NO_RESPONSE_LIMIT, Transport, Trunk, VoiceConfig};
pub use error::VoiceError;
pub use leg::{CallLeg, Destination, DigitVia, EndCause, LegEvent, OriginateRequest, bridge};
pub use media::{BridgeHandle, Codec, MediaConfig, MediaHandle, Prompt, TtsError};
pub use record::{DialogSnapshot, HangupSide, LegRecord};
pub use sip::trunk::check_target as check_trunk_target;
pub use sip::trunk::trunk_prefix_carries;
pub use sip::{
    FarEndAnswer, LegEnded, RecoveryRequest, Unreachable, Voice, clear_invite_journal,
    read_invite_journal,
};
