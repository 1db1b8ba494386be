//! The call leg as the platform sees it: what to dial ([`OriginateRequest`]), what happens on
//! the leg ([`LegEvent`], [`EndCause`]) and the handle that commands it and reads its call
//! detail record ([`CallLeg`]). SIP signalling lives in the leg's task (`sip::call`); this
//! module only carries commands to it and reaches the leg's media once answered.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use words::{DtmfKey, E164};

use crate::error::VoiceError;
use crate::media::{self, BridgeHandle, Codec, MediaHandle, Prompt};
use crate::record::{LegRecord, RecordCell};

/// One outbound call to place.
#[derive(Clone, Debug)]
pub struct OriginateRequest {
    pub to: Destination,
    /// User part of the Request-URI and To, e.g. a DNIS code; `None`: the number itself.
    pub request_user: Option<String>,
    /// User part of From: the calling number (ANI).
    pub from_user: String,
    pub from_display: Option<String>,
    /// Number or user for `P-Asserted-Identity: <sip:{pai}@host>` (RFC 3325 §9.1).
    pub p_asserted_identity: Option<String>,
    /// Sent as `User-to-User: {hex};encoding=hex` (RFC 7433 §4.1).
    pub user_to_user: Option<Vec<u8>>,
    /// Further headers, name and value; names must be SIP tokens, values one line.
    pub extra_headers: Vec<(String, String)>,
    /// How long the far end may ring before we CANCEL and report [`EndCause::NoAnswer`].
    pub ring_timeout: Duration,
}

/// Where a call goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// A phone number, parsed once at the platform's edge and valid by construction; the trunk
    /// is picked by its longest prefix.
    Number(E164),
    /// A full SIP URI (`sip:user@host:port;transport=tcp`), sent as is: no trunk, no credentials.
    Uri(String),
}

/// What happened on a leg, in order. [`LegEvent::HungUp`] is always the last event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LegEvent {
    /// 100 Trying: the next hop has the INVITE.
    Trying,
    /// 180 Ringing.
    Ringing,
    /// 183 Session Progress with SDP.
    EarlyMedia,
    /// 200 OK, ACKed; media runs with this codec.
    Answered {
        codec: Codec,
    },
    /// A key the far end pressed, reported once per press.
    Digit {
        key: DtmfKey,
        via: DigitVia,
    },
    /// The prompt started by `play` or `say` finished (not sent for looped prompts).
    PlayoutDone,
    HungUp(EndCause),
}

/// How a digit reached us.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DigitVia {
    /// RTP telephone-event (RFC 4733).
    Rfc4733,
    /// Tones in the audio (Goertzel detection).
    InBand,
    /// SIP INFO with `application/dtmf-relay`.
    SipInfo,
}

/// Why a leg ended; the caller can act on each (retry a fallback, tell the user, …).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EndCause {
    /// 486 Busy Here or 600 Busy Everywhere.
    Busy,
    /// Ring timeout (we sent CANCEL), 408 or 480.
    NoAnswer,
    /// Any other final failure response, with its status code.
    Rejected(u16),
    /// The far end sent BYE.
    RemoteHangup,
    /// We sent BYE (hangup, dropped handle, shutdown).
    LocalHangup,
    /// We cancelled the INVITE before an answer.
    Cancelled,
    /// The far end could not be reached at all: no response to the INVITE within the
    /// trunk's no-response limit, or the network reported it unreachable (ICMP). Known well
    /// before the ring timeout, so a fallback can be tried at once.
    Unreachable(crate::sip::Unreachable),
    /// No final response to the INVITE (RFC 3261 Timer B) after a provisional one, or the
    /// media stopped arriving.
    Timeout,
    /// The SIP stack could not send the request at all. rsipstack retries an unreachable or
    /// refusing target until Timer B, so those usually end as [`EndCause::Timeout`] at the
    /// ring timeout instead.
    NetworkError(String),
}

/// Commands the leg task executes.
#[derive(Debug)]
pub(crate) enum LegCommand {
    Cancel,
    Hangup,
}

/// The answered leg's media, set by the leg task on answer and cleared when it ends.
pub(crate) type MediaSlot = Arc<Mutex<Option<MediaHandle>>>;

/// Handle to one outbound call. Clones share the call.
///
/// Dropping the last clone hangs the call up in the background (BYE when answered, CANCEL
/// while ringing): a forgotten handle never leaves a call open.
#[derive(Clone)]
pub struct CallLeg {
    shared: Arc<Shared>,
}

struct Shared {
    call_id: String,
    commands: mpsc::Sender<LegCommand>,
    media: MediaSlot,
    record: RecordCell,
}

impl CallLeg {
    pub(crate) fn new(
        call_id: String,
        commands: mpsc::Sender<LegCommand>,
        media: MediaSlot,
        record: RecordCell,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                call_id,
                commands,
                media,
                record,
            }),
        }
    }

    /// The SIP Call-ID of this leg, as logged in its span.
    pub fn call_id(&self) -> &str {
        &self.shared.call_id
    }

    /// A snapshot of the leg's call detail record. The leg updates it before it reports the
    /// matching event: on [`LegEvent::Answered`] `answered_at` is set, on [`LegEvent::HungUp`]
    /// `ended_at` and (when one came) the final status.
    pub fn record(&self) -> LegRecord {
        self.shared.record.snapshot()
    }

    /// The leg's media while it is answered and not yet ended.
    pub fn media(&self) -> Option<MediaHandle> {
        match self.shared.media.lock() {
            Ok(slot) => slot.clone(),
            // A panic while holding this lock only happened in our own code between two
            // assignments; the value is still a valid Option.
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Play 8 kHz audio to the far end, replacing what plays now.
    pub fn play(&self, audio: Prompt, looped: bool) -> Result<(), VoiceError> {
        self.answered_media()?.play(audio, looped);
        Ok(())
    }

    /// Speak `text` (TTS) to the far end, replacing what plays now. Returns once playout
    /// started; [`LegEvent::PlayoutDone`] tells when it ended.
    pub async fn say(&self, text: &str, looped: bool) -> Result<(), VoiceError> {
        let media = self.answered_media()?;
        media.say(text, looped).await?;
        Ok(())
    }

    /// Say `text` once to this leg's far end only, bridged or not: while it plays the other
    /// party's audio to this leg is held back and the other party hears nothing of it (an
    /// agent-only notice, a warning). [`LegEvent::PlayoutDone`] reports its end.
    pub async fn announce(&self, text: &str) -> Result<(), VoiceError> {
        let media = self.answered_media()?;
        media.announce(text).await?;
        Ok(())
    }

    /// Keys `keys` to the far end of the answered leg: RFC 4733 telephone-events with the
    /// payload type it answered, or in-band tones when it answered none (SIP INFO is not
    /// used: tones reach every G.711 far end). What plays waits meanwhile. The receiver gets
    /// how they were sent once the last key went out; it errs if the leg is bridged or ends
    /// first.
    pub fn send_digits(
        &self,
        keys: Vec<DtmfKey>,
    ) -> Result<tokio::sync::oneshot::Receiver<media::DigitSource>, VoiceError> {
        Ok(self.answered_media()?.send_digits(keys))
    }

    pub fn stop_playing(&self) -> Result<(), VoiceError> {
        self.answered_media()?.stop_playing();
        Ok(())
    }

    /// Abandon the call while it rings: CANCEL, then [`EndCause::Cancelled`]. Ignored once
    /// answered (use [`CallLeg::hangup`]).
    pub fn cancel(&self) -> Result<(), VoiceError> {
        self.command(LegCommand::Cancel)
    }

    /// End the call: BYE when answered, CANCEL while ringing. The leg reports
    /// [`LegEvent::HungUp`] when done.
    pub fn hangup(&self) -> Result<(), VoiceError> {
        self.command(LegCommand::Hangup)
    }

    fn command(&self, command: LegCommand) -> Result<(), VoiceError> {
        match self.shared.commands.try_send(command) {
            Ok(()) => Ok(()),
            // A full queue already holds a Cancel or Hangup, which ends the leg anyway.
            Err(mpsc::error::TrySendError::Full(_)) => Ok(()),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(VoiceError::LegEnded),
        }
    }

    fn answered_media(&self) -> Result<MediaHandle, VoiceError> {
        self.media().ok_or(VoiceError::NotAnswered)
    }
}

impl std::fmt::Debug for CallLeg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallLeg")
            .field("call_id", &self.shared.call_id)
            .finish_non_exhaustive()
    }
}

/// Relay media both ways between two answered legs until the returned handle unbridges them.
pub fn bridge(a: &CallLeg, b: &CallLeg) -> Result<BridgeHandle, VoiceError> {
    let (a, b) = (a.answered_media()?, b.answered_media()?);
    Ok(media::bridge(&a, &b)?)
}
