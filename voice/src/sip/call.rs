//! One task per outbound leg: it owns the INVITE dialog and the leg's media from the INVITE to
//! the last event. Ringing: provisional responses become events, the ring timeout or a command
//! sends CANCEL, the final response becomes `Answered` or an end cause. Answered: BYE, INFO
//! digits and re-INVITEs from the far end, media events, and our hang-up. The task always ends
//! with exactly one `HungUp`, stops the media and removes the dialog, also when every
//! [`CallLeg`] was dropped (then it hangs up first). It also keeps the leg's call detail
//! record, stamping each fact where it sees it on the wire and before the event reporting it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rsipstack::dialog::dialog::{
    DialogState, DialogStateReceiver, TerminatedReason, TransactionHandle,
};
use rsipstack::dialog::invitation::InviteAsyncResult;
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::{Header, Request, Response, StatusCode, StatusCodeKind};
use tokio::sync::{broadcast, mpsc};
use tokio::task::{JoinError, JoinHandle};
use tracing::{Instrument, debug, info, info_span, warn};

use super::Inner;
use super::invite::{self, PreparedInvite};
use super::message::{CancelReason, content_type_is, end_cause_for_status, parse_dtmf_relay};
use super::snapshot;
use super::unreachable::{Unreachable, Unreached};
use crate::error::VoiceError;
use crate::leg::{CallLeg, DigitVia, EndCause, LegCommand, LegEvent, MediaSlot, OriginateRequest};
use crate::media::{DigitSource, MediaEvent, MediaHandle, MediaLeg};
use crate::record::{HangupSide, LegRecord, RecordCell};

/// Events the platform has not read yet; beyond this the leg waits (see `EVENT_SEND_LIMIT`).
const EVENT_QUEUE: usize = 64;
/// A consumer that does not read events for this long loses the event (logged) rather than
/// stalling the leg's SIP handling.
const EVENT_SEND_LIMIT: Duration = Duration::from_secs(2);
/// After a CANCEL, how long we wait for the INVITE's final response (487) before giving up:
/// RFC 3261 §9.1 lets the UAC stop waiting after 64·T1.
const CANCEL_FINAL_LIMIT: Duration = Duration::from_secs(32);
/// Longest wait for the far end to answer our BYE.
const BYE_LIMIT: Duration = Duration::from_secs(8);
/// Media events queued between the RTP task and this leg task.
const MEDIA_EVENT_QUEUE: usize = 64;

pub(super) async fn originate(
    inner: Arc<Inner>,
    request: OriginateRequest,
) -> Result<(CallLeg, mpsc::Receiver<LegEvent>), VoiceError> {
    let PreparedInvite {
        mut option,
        call_id,
        masked_to,
        transport,
        trunk,
        no_response,
        destination,
    } = invite::prepare(&inner, &request)?;
    let media = inner.media.allocate().await?;
    option.offer = Some(
        media
            .sdp_offer(rand::random::<u32>().into(), 1)
            .into_bytes(),
    );

    let span = info_span!("leg", call_id = %call_id, to = %masked_to);
    let (state_tx, states) = inner.dialogs.new_dialog_state_channel();
    // Before the INVITE leaves, so an ICMP error for it cannot be missed.
    let reach = Reach {
        notices: Some(inner.unreached.subscribe()),
        call_id: call_id.clone(),
        destination,
        no_response,
    };
    // Stamped before the dialog layer's task puts the INVITE on the wire, a few µs later.
    let clock = LegClock::start();
    let invite_at = clock.now();
    let (dialog, invite) = {
        let _entered = span.enter();
        inner
            .dialogs
            .do_invite_async(option, state_tx)
            .map_err(|e| VoiceError::Invite(Box::new(e)))?
    };
    // The stack built the INVITE before returning; its task sends it.
    let dialog_facts = snapshot::from_invite(&dialog.initial_request(), transport);
    if dialog_facts.is_none() {
        warn!(parent: &span, "voice: INVITE lacks a dialog header; a restart could not end this leg");
    }
    let record = RecordCell::new(LegRecord::new(
        call_id.clone(),
        trunk,
        invite_at,
        dialog_facts,
    ));
    info!(parent: &span, ?transport, "voice: INVITE sent");

    let (events_tx, events) = mpsc::channel(EVENT_QUEUE);
    let (commands_tx, commands) = mpsc::channel(4);
    let slot: MediaSlot = Arc::new(Mutex::new(None));
    let legs = inner.legs.clone();
    let task = LegTask {
        inner,
        dialog,
        states,
        commands,
        commands_open: true,
        events: events_tx,
        slot: slot.clone(),
        record: record.clone(),
        clock,
        reach,
    };
    // Tracked, so a shutdown waits for the leg's BYE or CANCEL before closing the transport.
    legs.spawn(
        task.run(invite, media, request.ring_timeout)
            .instrument(span),
    );
    Ok((CallLeg::new(call_id, commands_tx, slot, record), events))
}

/// Wall-clock time for one leg's record that cannot go backwards: the wall time at the INVITE
/// plus monotonic time since, so a clock step during the call cannot reorder the stamps.
#[derive(Clone, Copy)]
struct LegClock {
    wall: SystemTime,
    mono: Instant,
}

impl LegClock {
    fn start() -> Self {
        Self {
            wall: SystemTime::now(),
            mono: Instant::now(),
        }
    }

    fn now(&self) -> SystemTime {
        self.wall + self.mono.elapsed()
    }
}

/// How this leg learns that its far end cannot be reached at all, long before the ring
/// timeout: no response within the limit, or an ICMP error for its INVITE.
struct Reach {
    /// `None` once the notice channel closed (the endpoint is gone).
    notices: Option<broadcast::Receiver<Unreached>>,
    call_id: String,
    destination: Option<SocketAddr>,
    no_response: Duration,
}

impl Reach {
    /// Whether the notice is about our INVITE: by its Call-ID when the ICMP quote held it,
    /// otherwise by where it went (the quote may stop before the Call-ID line).
    fn concerns(&self, notice: &Unreached) -> bool {
        match &notice.call_id {
            Some(call_id) => *call_id == self.call_id,
            None => self.destination == Some(notice.to),
        }
    }

    /// The next notice about this leg; pending for ever once the channel is gone.
    async fn next(&mut self) -> Unreachable {
        loop {
            let Some(notices) = self.notices.as_mut() else {
                return std::future::pending().await;
            };
            match notices.recv().await {
                Ok(notice) if self.concerns(&notice) => return notice.why,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => self.notices = None,
            }
        }
    }
}

/// What waiting for the INVITE's final response came to.
struct FinalWait {
    result: Result<InviteAsyncResult, JoinError>,
    /// Why we sent CANCEL, if we did.
    cancelled: Option<CancelReason>,
    /// The last 183's SDP: the answer when the 2xx carries none.
    early_sdp: Option<Vec<u8>>,
    /// When the leg task saw the final response (or gave up on it).
    at: SystemTime,
}

/// How the ringing phase ended.
enum Ringing {
    Answered(MediaHandle, mpsc::Receiver<MediaEvent>),
    Ended(EndCause),
}

struct LegTask {
    inner: Arc<Inner>,
    dialog: InviteDialog,
    states: DialogStateReceiver,
    commands: mpsc::Receiver<LegCommand>,
    /// False once every [`CallLeg`] was dropped (the channel yields `None` from then on).
    commands_open: bool,
    events: mpsc::Sender<LegEvent>,
    slot: MediaSlot,
    /// The leg's call detail record; each change is made before the event that reports it.
    record: RecordCell,
    clock: LegClock,
    reach: Reach,
}

impl LegTask {
    async fn run(
        mut self,
        invite: JoinHandle<InviteAsyncResult>,
        media: MediaLeg,
        ring_timeout: Duration,
    ) {
        let cause = match self.ring(invite, media, ring_timeout).await {
            Ringing::Answered(handle, media_events) => {
                let cause = self.talk(&handle, media_events).await;
                handle.stop();
                cause
            }
            Ringing::Ended(cause) => cause,
        };
        self.set_media(None);
        self.inner.dialogs.remove_dialog(&self.dialog.id());
        // The end is already stamped where the wire showed it, except when nothing came.
        let now = self.clock.now();
        self.record.update(|r| r.ended(now));
        info!(?cause, "voice: leg ended");
        self.emit(LegEvent::HungUp(cause)).await;
    }

    /// From INVITE to final response: wait for it, decide what it means, apply the answer.
    async fn ring(
        &mut self,
        invite: JoinHandle<InviteAsyncResult>,
        media: MediaLeg,
        ring_timeout: Duration,
    ) -> Ringing {
        let wait = match self.await_final(invite, ring_timeout).await {
            Ok(wait) => wait,
            Err(cause) => return Ringing::Ended(cause),
        };
        if let Ok(Ok((_, Some(response)))) = &wait.result {
            let (code, reason) = (response.status_code.code(), reason_phrase(response));
            let answered = response.status_code.kind() == StatusCodeKind::Successful;
            self.record.update(|r| {
                r.final_response(code, reason, wait.at);
                if let Some(dialog) = r.dialog.as_mut().filter(|_| answered) {
                    snapshot::apply_answer(dialog, response);
                }
            });
        }
        match final_outcome(wait.result, wait.cancelled) {
            Ok(response) => self.answer(&response, wait.early_sdp, media).await,
            Err(cause) => Ringing::Ended(cause),
        }
    }

    /// Report provisional responses until the INVITE's final one, sending CANCEL on the ring
    /// timeout, a command, every handle dropped or shutdown. `Err` when the leg ends without
    /// waiting for a final response.
    async fn await_final(
        &mut self,
        mut invite: JoinHandle<InviteAsyncResult>,
        ring_timeout: Duration,
    ) -> Result<FinalWait, EndCause> {
        let ring_deadline = tokio::time::sleep(ring_timeout);
        tokio::pin!(ring_deadline);
        // Polled only after a CANCEL, which resets it: how long we still wait for the 487.
        let final_deadline = tokio::time::sleep(CANCEL_FINAL_LIMIT);
        tokio::pin!(final_deadline);
        let no_response_deadline = tokio::time::sleep(self.reach.no_response);
        tokio::pin!(no_response_deadline);
        let mut cancelled: Option<CancelReason> = None;
        let mut early_sdp: Option<Vec<u8>> = None;
        // Whether the far end answered anything yet (100 or 1xx).
        let mut responded = false;
        let shutdown = self.inner.shutdown.clone();

        let result = loop {
            let cancel = tokio::select! {
                // States first: rsipstack queues every provisional before the INVITE task
                // returns the final response, so the record's stamps keep the wire's order.
                biased;
                Some(state) = self.states.recv() => {
                    responded |= self.on_provisional(state, &mut early_sdp).await;
                    None
                }
                result = &mut invite => break result,
                _ = &mut ring_deadline, if cancelled.is_none() => Some(CancelReason::RingTimeout),
                command = self.commands.recv(), if self.commands_open && cancelled.is_none() => {
                    if command.is_none() {
                        self.commands_open = false;
                        debug!("voice: every CallLeg dropped while ringing; cancelling");
                    }
                    Some(CancelReason::Local)
                }
                _ = shutdown.cancelled(), if cancelled.is_none() => Some(CancelReason::Local),
                // Nobody there: end now so the caller can try a fallback (issue 11, item 2).
                _ = &mut no_response_deadline, if !responded && cancelled.is_none() => {
                    return Err(self.unreachable(Unreachable::NoResponse));
                }
                why = self.reach.next(), if !responded && cancelled.is_none() => {
                    return Err(self.unreachable(why));
                }
                _ = &mut final_deadline, if cancelled.is_some() => {
                    warn!("voice: no final response after CANCEL");
                    return Err(cancel_cause(cancelled));
                }
            };
            if let Some(reason) = cancel {
                cancelled = Some(reason);
                final_deadline
                    .as_mut()
                    .reset(tokio::time::Instant::now() + CANCEL_FINAL_LIMIT);
                if let Some(cause) = self.cancel_invite(reason, responded) {
                    return Err(cause);
                }
            }
        };
        let at = self.clock.now();
        // Provisional states queued before the final response keep their order.
        while let Ok(state) = self.states.try_recv() {
            self.on_provisional(state, &mut early_sdp).await;
        }
        Ok(FinalWait {
            result,
            cancelled,
            early_sdp,
            at,
        })
    }

    /// End the INVITE with CANCEL, which ends the call for the record (the 487 only confirms
    /// it). `Some(cause)` when there is no 487 to wait for: the far end never answered at all.
    fn cancel_invite(&self, reason: CancelReason, responded: bool) -> Option<EndCause> {
        let now = self.clock.now();
        self.record.update(|r| r.ended(now));
        info!(?reason, responded, "voice: cancelling INVITE");
        self.send_cancel();
        // RFC 3261 §9.1: no CANCEL before a provisional response. rsipstack sends it if one
        // still comes (and BYEs a late 2xx); we need not wait 64·T1 for a peer that never
        // spoke.
        (!responded).then_some(match reason {
            // Not a phone left ringing: nothing ever answered the INVITE.
            CancelReason::RingTimeout => EndCause::Unreachable(Unreachable::NoResponse),
            CancelReason::Local => EndCause::Cancelled,
        })
    }

    /// The far end is not there. Nothing answered, so there is nothing to CANCEL yet (RFC 3261
    /// §9.1); the CANCEL is queued in case a response still comes, and a late 2xx gets BYE.
    fn unreachable(&self, why: Unreachable) -> EndCause {
        let now = self.clock.now();
        self.record.update(|r| r.ended(now));
        warn!(?why, limit = ?self.reach.no_response, "voice: far end unreachable; giving up the INVITE");
        self.send_cancel();
        EndCause::Unreachable(why)
    }

    /// CANCEL the INVITE in the background: `cancel` waits for the CANCEL's own 200, while the
    /// 487 arrives on the INVITE.
    fn send_cancel(&self) {
        let dialog = self.dialog.clone();
        tokio::spawn(
            async move {
                if let Err(e) = dialog.cancel().await {
                    debug!(error = %e, "voice: CANCEL not confirmed");
                }
            }
            .in_current_span(),
        );
    }

    /// The far end answered: negotiate media from its SDP and start it, or hang up when the
    /// SDP is unusable.
    async fn answer(
        &mut self,
        response: &Response,
        early_sdp: Option<Vec<u8>>,
        mut media: MediaLeg,
    ) -> Ringing {
        // RFC 3261 §13.2.1: the answer is in the 2xx, or was already in a reliable 183; an
        // unreliable 183's SDP is the best we have when the 2xx has none.
        let answer = if response.body.is_empty() {
            early_sdp.unwrap_or_default()
        } else {
            response.body.clone()
        };
        let negotiated = match std::str::from_utf8(&answer)
            .ok()
            .map(|sdp| media.apply_answer(sdp))
        {
            Some(Ok(negotiated)) => negotiated,
            failed => {
                warn!(error = ?failed.map(|r| r.err()), "voice: answer SDP unusable; hanging up");
                self.bye().await;
                // 488 Not Acceptable Here: what we would have said had the SDP been an offer.
                return Ringing::Ended(EndCause::Rejected(488));
            }
        };
        let (media_tx, media_events) = mpsc::channel(MEDIA_EVENT_QUEUE);
        let handle = media.start(media_tx);
        self.set_media(Some(handle.clone()));
        info!(codec = ?negotiated.codec, "voice: answered");
        self.emit(LegEvent::Answered {
            codec: negotiated.codec,
        })
        .await;
        Ringing::Answered(handle, media_events)
    }

    /// Report a provisional response; true if `state` was one.
    async fn on_provisional(&self, state: DialogState, early_sdp: &mut Option<Vec<u8>>) -> bool {
        if matches!(state, DialogState::Trying(_) | DialogState::Early(..)) {
            // A response to the INVITE as last sent, which a digest challenge may have changed.
            let sent = self.dialog.initial_request();
            self.record.update(|r| {
                if let Some(dialog) = r.dialog.as_mut() {
                    snapshot::refresh_invite(dialog, &sent);
                }
            });
        }
        let event = match state {
            DialogState::Trying(_) => LegEvent::Trying,
            DialogState::Early(_, response) => {
                let now = self.clock.now();
                self.record.update(|r| r.provisional(now));
                let sdp = content_type_sdp(&response) && !response.body.is_empty();
                if response.status_code == StatusCode::SessionProgress && sdp {
                    *early_sdp = Some(response.body);
                    LegEvent::EarlyMedia
                } else {
                    LegEvent::Ringing
                }
            }
            _ => return false,
        };
        self.emit(event).await;
        true
    }

    /// From answer to hang-up.
    async fn talk(
        &mut self,
        media: &MediaHandle,
        mut media_events: mpsc::Receiver<MediaEvent>,
    ) -> EndCause {
        let shutdown = self.inner.shutdown.clone();
        loop {
            tokio::select! {
                state = self.states.recv() => match state {
                    Some(DialogState::Terminated(_, reason)) => {
                        let cause = terminated_cause(&reason);
                        let side = if cause == EndCause::RemoteHangup {
                            HangupSide::Remote
                        } else {
                            // UacBye or the stack's BYE after a missing ACK: sent from here.
                            HangupSide::Local
                        };
                        let now = self.clock.now();
                        self.record.update(|r| r.bye(side, now));
                        return cause;
                    }
                    Some(state) => self.on_request(state, media).await,
                    // The dialog holds the sender; it cannot go away while we hold the dialog.
                    None => {
                        let now = self.clock.now();
                        self.record.update(|r| r.bye(HangupSide::Remote, now));
                        return EndCause::RemoteHangup;
                    }
                },
                event = media_events.recv() => match event {
                    Some(MediaEvent::RtpTimeout) => {
                        warn!("voice: no RTP from the far end; hanging up");
                        self.bye().await;
                        return EndCause::Timeout;
                    }
                    Some(event) => self.on_media_event(event).await,
                    None => {
                        warn!("voice: media task ended; hanging up");
                        self.bye().await;
                        return EndCause::Timeout;
                    }
                },
                command = self.commands.recv(), if self.commands_open => match command {
                    Some(LegCommand::Cancel) => debug!("voice: cancel ignored, leg answered"),
                    Some(LegCommand::Hangup) => {
                        self.bye().await;
                        return EndCause::LocalHangup;
                    }
                    None => {
                        self.commands_open = false;
                        debug!("voice: every CallLeg dropped; hanging up");
                        self.bye().await;
                        return EndCause::LocalHangup;
                    }
                },
                _ = shutdown.cancelled() => {
                    self.bye().await;
                    return EndCause::LocalHangup;
                }
            }
        }
    }

    /// In-dialog requests rsipstack hands us to answer.
    async fn on_request(&self, state: DialogState, media: &MediaHandle) {
        match state {
            DialogState::Info(_, request, handle) => self.on_info(&request, handle, media).await,
            DialogState::Updated(_, request, handle) => {
                self.on_reoffer(&request, handle, media).await
            }
            DialogState::Options(_, _, handle) => respond(handle, StatusCode::OK, None).await,
            DialogState::Notify(_, _, handle)
            | DialogState::Refer(_, _, handle)
            | DialogState::Message(_, _, handle)
            | DialogState::Publish(_, _, handle) => {
                respond(handle, StatusCode::MethodNotAllowed, None).await
            }
            _ => {}
        }
    }

    async fn on_info(&self, request: &Request, handle: TransactionHandle, media: &MediaHandle) {
        let content_type = request.header_value("Content-Type");
        match content_type {
            // An empty INFO is a keep-alive probe (RFC 6086 §4.2.2).
            None if request.body.is_empty() => respond(handle, StatusCode::OK, None).await,
            Some(ct) if content_type_is(&ct, "application/dtmf-relay") => {
                match parse_dtmf_relay(&request.body) {
                    Some(key) => {
                        debug!(%key, "voice: INFO digit");
                        // One stream for all digits: the media task reports it like the others.
                        media.inject_digit(key);
                        respond(handle, StatusCode::OK, None).await;
                    }
                    None => respond(handle, StatusCode::BadRequest, None).await,
                }
            }
            _ => respond(handle, StatusCode::UnsupportedMediaType, None).await,
        }
    }

    /// Re-INVITE (hold, unhold, new address) or UPDATE from the far end.
    async fn on_reoffer(&self, request: &Request, handle: TransactionHandle, media: &MediaHandle) {
        if request.body.is_empty() {
            // RFC 3261 §14.2: an offerless re-INVITE wants our offer in the 2xx; we keep our
            // session as is and repeat it.
            respond(handle, StatusCode::OK, None).await;
            return;
        }
        let answer = std::str::from_utf8(&request.body)
            .ok()
            .map(|sdp| media.answer_reoffer(sdp));
        match answer {
            Some(Ok(sdp)) => respond(handle, StatusCode::OK, Some(sdp.into_bytes())).await,
            failed => {
                // RFC 3261 §14.2: an unacceptable re-offer leaves the session unchanged.
                warn!(error = ?failed.map(|r| r.err()), "voice: re-offer refused with 488");
                respond(handle, StatusCode::NotAcceptableHere, None).await
            }
        }
    }

    async fn on_media_event(&self, event: MediaEvent) {
        let event = match event {
            MediaEvent::Digit { key, source } => LegEvent::Digit {
                key,
                via: match source {
                    DigitSource::Rfc4733 => DigitVia::Rfc4733,
                    DigitSource::InBand => DigitVia::InBand,
                    DigitSource::SipInfo => DigitVia::SipInfo,
                },
            },
            MediaEvent::PlayoutDone => LegEvent::PlayoutDone,
            MediaEvent::RtpTimeout => return,
        };
        self.emit(event).await;
    }

    async fn bye(&self) {
        // The record's end is when the BYE leaves, not when its 200 comes back.
        let now = self.clock.now();
        self.record.update(|r| r.bye(HangupSide::Local, now));
        match tokio::time::timeout(BYE_LIMIT, self.dialog.bye()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => warn!(error = %e, "voice: BYE failed"),
            Err(_) => warn!("voice: no answer to BYE"),
        }
    }

    fn set_media(&self, media: Option<MediaHandle>) {
        match self.slot.lock() {
            Ok(mut slot) => *slot = media,
            Err(poisoned) => *poisoned.into_inner() = media,
        }
    }

    async fn emit(&self, event: LegEvent) {
        match self.events.send_timeout(event, EVENT_SEND_LIMIT).await {
            Ok(()) => {}
            Err(mpsc::error::SendTimeoutError::Closed(_)) => {}
            Err(mpsc::error::SendTimeoutError::Timeout(event)) => {
                warn!(?event, "voice: leg event dropped, nobody reads the events");
            }
        }
    }
}

/// The Status-Line's reason phrase: rsipstack keeps it only when it differs from the
/// standard text for the code, which it returns otherwise.
fn reason_phrase(response: &Response) -> String {
    match &response.wire_reason {
        Some(reason) => reason.clone(),
        None => response.status_code.text().to_string(),
    }
}

fn content_type_sdp(response: &Response) -> bool {
    response
        .header_value("Content-Type")
        .is_some_and(|ct| content_type_is(&ct, "application/sdp"))
}

/// What the INVITE's final response (or its absence) means: the 2xx to answer with, or the
/// cause the leg ends with.
fn final_outcome(
    result: Result<InviteAsyncResult, JoinError>,
    cancelled: Option<CancelReason>,
) -> Result<Response, EndCause> {
    let response = match result {
        Ok(Ok((_, Some(response)))) => response,
        Ok(Ok((_, None))) => {
            // RFC 3261 §17.1.1.2 Timer B: no final response to the INVITE at all.
            return Err(cancelled.map_or(EndCause::Timeout, |r| cancel_cause(Some(r))));
        }
        Ok(Err(e)) => {
            warn!(error = %e, "voice: INVITE could not be sent");
            return Err(EndCause::NetworkError(e.to_string()));
        }
        Err(e) => return Err(EndCause::NetworkError(e.to_string())),
    };
    let code = u16::from(response.status_code.clone());
    if response.status_code.kind() != StatusCodeKind::Successful {
        info!(code, "voice: INVITE failed");
        return Err(end_cause_for_status(code, cancelled));
    }
    if cancelled.is_some() {
        // rsipstack ACKs and BYEs a 2xx that crossed our CANCEL (RFC 3261 §15).
        return Err(cancel_cause(cancelled));
    }
    Ok(response)
}

fn cancel_cause(reason: Option<CancelReason>) -> EndCause {
    match reason {
        Some(CancelReason::RingTimeout) => EndCause::NoAnswer,
        _ => EndCause::Cancelled,
    }
}

fn terminated_cause(reason: &TerminatedReason) -> EndCause {
    match reason {
        TerminatedReason::UacBye => EndCause::LocalHangup,
        TerminatedReason::Timeout => EndCause::Timeout,
        _ => EndCause::RemoteHangup,
    }
}

async fn respond(handle: TransactionHandle, status: StatusCode, sdp: Option<Vec<u8>>) {
    let headers = sdp
        .as_ref()
        .map(|_| vec![Header::ContentType("application/sdp".into())]);
    if handle.respond(status, headers, sdp).await.is_err() {
        debug!("voice: in-dialog request ended before we answered");
    }
}
