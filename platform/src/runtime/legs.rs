//! The two `voice` legs of one call as the runtime holds them: placing a dial with TAG2
//! (seed 002 step 210), turning `voice` leg events into flow events, and retiring a leg the
//! flow is done with. A retired leg's events never reach the flow again (the flow's contract:
//! events describe the current dial only); a small task drains them until the leg reports its
//! end, so every leg is seen to end in the logs, and hangs it up if it lingers. Each dial's
//! call detail record and SIP dialog (what a restart needs to end it, see `recover`) are built
//! here from what voice recorded on the wire.

use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use subscriber_db::{LegCdr, LegDialog};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{Instrument, info, warn};
use voice::{CallLeg, Destination, DialogSnapshot, LegEvent, LegRecord, OriginateRequest};
use words::{E164, LegEndCause, LegState, SipTransport};

use crate::flow::{DialTarget, Event, Leg, LegFailure, Prompt, PromptKind};

/// Longer than the flow's own ring timer, so the flow decides when to give up and the leg's
/// own timer only backs it up.
const RING_MARGIN: Duration = Duration::from_secs(2);
/// How long a retired leg may take to confirm its end (CANCEL → 487, BYE → 200; RFC 3261
/// Timer B/F are 32 s on UDP) before its handle is dropped, which ends it in the background.
pub(super) const RETIRE_LIMIT: Duration = Duration::from_secs(35);

/// A leg the flow is currently using.
pub(super) struct ActiveLeg {
    pub(super) handle: CallLeg,
    events: mpsc::Receiver<LegEvent>,
    answered: bool,
    /// The non-looped prompt playing on the leg, whose end the flow waits for.
    playing: Option<PromptKind>,
    /// Which dial this is, for its call detail record.
    pub(super) dial: Dial,
    /// Whether a provisional response was seen already (the first one is the post-dial delay).
    rang: bool,
    /// The INVITE (CSeq, branch) whose dialog was last handed out for writing.
    written_invite: Option<(u32, String)>,
}

/// A dial's rows as the database stores them: its CDR and, when voice has it, its SIP dialog.
pub(super) type DialRows = (LegCdr, Option<LegDialog>);

/// What the flow dialed: the leg, the attempt and the number, as the CDR names them.
#[derive(Debug, Clone)]
pub(super) struct Dial {
    pub(super) leg: Leg,
    pub(super) attempt: u32,
    pub(super) number: E164,
}

impl ActiveLeg {
    pub(super) fn new(handle: CallLeg, events: mpsc::Receiver<LegEvent>, dial: Dial) -> Self {
        Self {
            handle,
            events,
            answered: false,
            playing: None,
            dial,
            rang: false,
            written_invite: None,
        }
    }

    /// The leg's call detail record as voice saw it on the wire so far, and its SIP dialog in
    /// `state`.
    pub(super) fn rows(&mut self, end: Option<&voice::EndCause>, state: LegState) -> DialRows {
        let record = self.handle.record();
        self.written_invite = record.dialog.as_ref().map(invite_of);
        let dialog = record.dialog.as_ref().map(|d| leg_dialog(d, state));
        (cdr(&self.dial, &record, end, self.answered), dialog)
    }

    /// Whether the INVITE went out again since its dialog was written (the stack answered a
    /// digest challenge with a new CSeq and branch), so a restart would CANCEL the wrong one.
    pub(super) fn invite_resent(&self) -> bool {
        let now = self.handle.record().dialog.as_ref().map(invite_of);
        now.is_some() && now != self.written_invite
    }

    /// When `event` happened on the wire, where voice knows it: the first provisional
    /// response, the 200 OK, the end. `None` for events voice does not time.
    pub(super) fn wire_time(&mut self, event: &LegEvent) -> Option<DateTime<Utc>> {
        let record = self.handle.record();
        let at = match event {
            LegEvent::Ringing | LegEvent::EarlyMedia if !self.rang => {
                self.rang = true;
                record.first_provisional_at
            }
            LegEvent::Answered { .. } => record.answered_at,
            LegEvent::HungUp(_) => record.ended_at,
            _ => None,
        };
        at.map(utc)
    }

    /// A prompt started on the leg: its `PlayoutDone` is reported with this tag. Looped
    /// prompts never end by themselves, so they clear the tag.
    pub(super) fn started(&mut self, prompt: &Prompt) {
        self.playing = (!prompt.looped).then_some(prompt.kind);
    }

    /// Nothing plays whose end the flow waits for.
    pub(super) fn stopped(&mut self) {
        self.playing = None;
    }

    /// The next event, or `None` once the leg's event stream closed.
    pub(super) async fn recv(&mut self) -> Option<LegEvent> {
        self.events.recv().await
    }

    /// Translates a leg event into what the flow understands (see [`flow_event`]).
    pub(super) fn flow_event(&mut self, leg: Leg, event: &LegEvent) -> Option<Event> {
        match event {
            LegEvent::Answered { .. } => self.answered = true,
            LegEvent::PlayoutDone => {
                return self
                    .playing
                    .take()
                    .map(|kind| Event::PlayoutDone(leg, kind));
            }
            _ => {}
        }
        flow_event(leg, event, self.answered)
    }
}

/// A wall-clock time from voice as the record stores it.
pub(super) fn utc(at: SystemTime) -> DateTime<Utc> {
    DateTime::<Utc>::from(at)
}

/// The CDR of one dial from what voice recorded; `end` is the leg's end cause once it ended.
fn cdr(dial: &Dial, record: &LegRecord, end: Option<&voice::EndCause>, answered: bool) -> LegCdr {
    LegCdr {
        leg: dial.leg,
        attempt: dial.attempt,
        number: dial.number.clone(),
        trunk: record.trunk.clone(),
        sip_call_id: record.call_id.clone(),
        invite_at: utc(record.invite_at),
        first_provisional_at: record.first_provisional_at.map(utc),
        answered_at: record.answered_at.map(utc),
        ended_at: record.ended_at.map(utc),
        final_status: record.final_status,
        final_reason: record.final_reason.clone(),
        end_cause: end.map(|e| leg_end_cause(e, answered)),
    }
}

/// What identifies the INVITE a CANCEL must match: its CSeq and top Via branch.
fn invite_of(dialog: &DialogSnapshot) -> (u32, String) {
    (dialog.cseq, dialog.via_branch.clone())
}

/// A leg's SIP dialog as the database stores it.
pub(super) fn leg_dialog(dialog: &DialogSnapshot, state: LegState) -> LegDialog {
    LegDialog {
        state,
        sip_call_id: dialog.call_id.clone(),
        from: dialog.from.clone(),
        to: dialog.to.clone(),
        remote_tag: dialog.remote_tag.clone(),
        request_uri: dialog.request_uri.clone(),
        cseq: dialog.cseq,
        via_branch: dialog.via_branch.clone(),
        via_sent_by: dialog.via_sent_by.clone(),
        transport: match dialog.transport {
            voice::Transport::Udp => SipTransport::Udp,
            voice::Transport::Tcp => SipTransport::Tcp,
        },
        destination: dialog.destination.clone(),
        remote_target: dialog.remote_target.clone(),
        route_set: dialog.route_set.clone(),
    }
}

/// How the call record names the way voice says a leg ended.
pub(super) fn leg_end_cause(end: &voice::EndCause, answered: bool) -> LegEndCause {
    match end {
        voice::EndCause::Busy => LegEndCause::Busy,
        voice::EndCause::NoAnswer => LegEndCause::NoAnswer,
        voice::EndCause::Rejected(_) => LegEndCause::Rejected,
        voice::EndCause::RemoteHangup => LegEndCause::RemoteHangup,
        voice::EndCause::LocalHangup => LegEndCause::LocalHangup,
        voice::EndCause::Cancelled => LegEndCause::Cancelled,
        voice::EndCause::Unreachable(why) => unreached(*why).end_cause(),
        // As the flow reads it: no answer at all before the ring timeout is nobody picking up.
        voice::EndCause::Timeout if !answered => LegEndCause::NoAnswer,
        voice::EndCause::Timeout | voice::EndCause::NetworkError(_) => LegEndCause::NetworkError,
    }
}

/// How the flow names a far end voice found unreachable.
fn unreached(why: voice::Unreachable) -> LegFailure {
    match why {
        voice::Unreachable::NoResponse => LegFailure::NoResponse,
        voice::Unreachable::PortUnreachable | voice::Unreachable::HostUnreachable => {
            LegFailure::Unreachable
        }
    }
}

/// A `voice` leg event as a flow event; `None` for events the flow does not need (Trying)
/// and for `PlayoutDone`, which [`ActiveLeg::flow_event`] tags with the prompt it
/// started. `answered`: whether this dial was answered before.
fn flow_event(leg: Leg, event: &LegEvent, answered: bool) -> Option<Event> {
    match event {
        LegEvent::Trying | LegEvent::PlayoutDone => None,
        // A network that plays its own ring tone or announcement (183 with SDP, RFC 3960)
        // instead of sending 180 is ringing the phone all the same, as mobile networks do.
        LegEvent::Ringing | LegEvent::EarlyMedia => Some(Event::Ringing(leg)),
        LegEvent::Answered { .. } => Some(Event::Answered(leg)),
        LegEvent::Digit { key, .. } => Some(Event::DigitsReceived(leg, *key)),
        LegEvent::HungUp(cause) => Some(match cause {
            voice::EndCause::Busy => Event::Failed(leg, LegFailure::Busy),
            voice::EndCause::NoAnswer => Event::Failed(leg, LegFailure::NoAnswer),
            voice::EndCause::Rejected(code) => Event::Failed(leg, LegFailure::Rejected(*code)),
            voice::EndCause::Unreachable(why) => Event::Failed(leg, unreached(*why)),
            // No answer to the INVITE at all before the ring timeout: nobody picked up.
            voice::EndCause::Timeout if !answered => Event::Failed(leg, LegFailure::NoAnswer),
            // Media stopped arriving on an answered leg: the line is dead.
            voice::EndCause::Timeout | voice::EndCause::NetworkError(_) => {
                Event::Failed(leg, LegFailure::Network)
            }
            // Local ends the flow did not ask for (voice shutting down) count as the far end
            // going away: the flow then ends the call.
            voice::EndCause::RemoteHangup
            | voice::EndCause::LocalHangup
            | voice::EndCause::Cancelled => Event::HungUp(leg),
        }),
    }
}

/// The `voice` request for one dial of the flow.
pub(super) fn originate_request(
    leg: Leg,
    target: &DialTarget,
    user_leg_caller: &E164,
) -> OriginateRequest {
    let ring_timeout = target.ring_timeout + RING_MARGIN;
    match leg {
        Leg::User => OriginateRequest {
            to: Destination::Number(target.number.clone()),
            request_user: None,
            // The user sees the call center they asked to speak to.
            from_user: user_leg_caller.as_str().to_owned(),
            from_display: None,
            p_asserted_identity: None,
            user_to_user: None,
            extra_headers: Vec::new(),
            ring_timeout,
        },
        // TAG2: Request-URI/To user = DNIS (or the number), From and P-Asserted-Identity
        // (RFC 3325 §9.1) = the user's number, User-to-User (RFC 7433) = whisper code and
        // call reference. The trunk is chosen by the center number (`Destination::Number`).
        Leg::Center => {
            let ani = target.ani.as_ref().unwrap_or(user_leg_caller).as_str();
            OriginateRequest {
                to: Destination::Number(target.number.clone()),
                request_user: Some(
                    target
                        .dnis
                        .as_ref()
                        .map_or(target.number.as_str(), |d| d.as_str())
                        .to_owned(),
                ),
                from_user: ani.to_owned(),
                from_display: None,
                p_asserted_identity: Some(ani.to_owned()),
                user_to_user: (!target.uui.is_empty()).then(|| target.uui.clone()),
                extra_headers: target.headers.clone(),
                ring_timeout,
            }
        }
    }
}

/// Ends a leg the flow is done with (BYE when answered, CANCEL while ringing: `hangup` does
/// both, so a leg that answered just as the flow cancelled it is not left open) and drains its
/// remaining events in a task that finishes when the leg has ended, with the leg's final CDR
/// and its dialog, ended.
pub(super) fn retire(active: ActiveLeg) -> JoinHandle<DialRows> {
    let ActiveLeg {
        handle,
        mut events,
        mut answered,
        dial,
        ..
    } = active;
    let leg = dial.leg;
    if handle.hangup().is_err() {
        // The leg task is already gone; its last event is still in the channel.
    }
    let call_id = handle.call_id().to_owned();
    tokio::spawn(
        async move {
            let ended = tokio::time::timeout(RETIRE_LIMIT, async {
                while let Some(event) = events.recv().await {
                    match event {
                        LegEvent::Answered { .. } => answered = true,
                        LegEvent::HungUp(cause) => return Some(cause),
                        _ => {}
                    }
                }
                None
            })
            .await;
            let end = match ended {
                Ok(Some(cause)) => {
                    info!(%leg, %call_id, ?cause, "leg ended");
                    Some(cause)
                }
                Ok(None) => {
                    info!(%leg, %call_id, "leg ended (its task closed its events)");
                    None
                }
                Err(_) => {
                    warn!(
                        %leg,
                        %call_id,
                        "leg ended: no end reported in {RETIRE_LIMIT:?}; handle dropped, which hangs it up"
                    );
                    None
                }
            };
            let record = handle.record();
            drop(handle);
            let dialog = record
                .dialog
                .as_ref()
                .map(|d| leg_dialog(d, LegState::Ended));
            (cdr(&dial, &record, end.as_ref(), answered), dialog)
        }
        .in_current_span(),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use words::DtmfKey;

    fn target(dnis: Option<&str>, uui: &[u8]) -> DialTarget {
        DialTarget {
            number: "+494012345678".parse().unwrap(),
            dnis: dnis.map(|d| d.parse().unwrap()),
            ani: Some("+493055500001".parse().unwrap()),
            uui: uui.to_vec(),
            headers: vec![("X-Callbond-Ref".into(), "2718281828".into())],
            ring_timeout: Duration::from_secs(20),
        }
    }

    #[test]
    fn leg_events_become_flow_events() {
        use voice::{Codec, DigitVia, EndCause};
        let leg = Leg::Center;
        let failed = |f| Some(Event::Failed(leg, f));
        for (event, answered, want) in [
            (LegEvent::Trying, false, None),
            (LegEvent::EarlyMedia, false, Some(Event::Ringing(leg))),
            (LegEvent::PlayoutDone, true, None),
            (LegEvent::Ringing, false, Some(Event::Ringing(leg))),
            (
                LegEvent::Answered { codec: Codec::Pcmu },
                false,
                Some(Event::Answered(leg)),
            ),
            (
                LegEvent::Digit {
                    key: DtmfKey::HASH,
                    via: DigitVia::Rfc4733,
                },
                true,
                Some(Event::DigitsReceived(leg, DtmfKey::HASH)),
            ),
            (
                LegEvent::HungUp(EndCause::Busy),
                false,
                failed(LegFailure::Busy),
            ),
            (
                LegEvent::HungUp(EndCause::NoAnswer),
                false,
                failed(LegFailure::NoAnswer),
            ),
            (
                LegEvent::HungUp(EndCause::Rejected(503)),
                false,
                failed(LegFailure::Rejected(503)),
            ),
            (
                LegEvent::HungUp(EndCause::Unreachable(voice::Unreachable::NoResponse)),
                false,
                failed(LegFailure::NoResponse),
            ),
            (
                LegEvent::HungUp(EndCause::Unreachable(voice::Unreachable::PortUnreachable)),
                false,
                failed(LegFailure::Unreachable),
            ),
            (
                LegEvent::HungUp(EndCause::Timeout),
                false,
                failed(LegFailure::NoAnswer),
            ),
            (
                LegEvent::HungUp(EndCause::Timeout),
                true,
                failed(LegFailure::Network),
            ),
            (
                LegEvent::HungUp(EndCause::NetworkError("x".into())),
                false,
                failed(LegFailure::Network),
            ),
            (
                LegEvent::HungUp(EndCause::RemoteHangup),
                true,
                Some(Event::HungUp(leg)),
            ),
            (
                LegEvent::HungUp(EndCause::LocalHangup),
                true,
                Some(Event::HungUp(leg)),
            ),
        ] {
            assert_eq!(
                flow_event(leg, &event, answered),
                want,
                "{event:?} answered={answered}"
            );
        }
    }

    #[test]
    fn center_leg_carries_tag2() {
        let caller: E164 = "+494012345678".parse().unwrap();
        let request = originate_request(Leg::Center, &target(Some("8001"), b"ref=x"), &caller);
        assert_eq!(
            request.to,
            Destination::Number("+494012345678".parse().unwrap())
        );
        assert_eq!(request.request_user.as_deref(), Some("8001"));
        assert_eq!(request.from_user, "+493055500001");
        assert_eq!(
            request.p_asserted_identity.as_deref(),
            Some("+493055500001")
        );
        assert_eq!(request.user_to_user.as_deref(), Some(&b"ref=x"[..]));
        assert_eq!(
            request.extra_headers,
            [("X-Callbond-Ref".to_owned(), "2718281828".to_owned())]
        );
        assert_eq!(request.ring_timeout, Duration::from_secs(22));
    }

    #[test]
    fn user_leg_shows_the_center_and_carries_no_tag2() {
        let caller: E164 = "+494012345678".parse().unwrap();
        let mut t = target(None, b"");
        t.number = "+493055500001".parse().unwrap();
        t.ani = None;
        let request = originate_request(Leg::User, &t, &caller);
        assert_eq!(
            request.to,
            Destination::Number("+493055500001".parse().unwrap())
        );
        assert_eq!(request.request_user, None);
        assert_eq!(request.from_user, "+494012345678");
        assert_eq!(request.p_asserted_identity, None);
        assert_eq!(request.user_to_user, None);
        assert!(request.extra_headers.is_empty());
    }
}
