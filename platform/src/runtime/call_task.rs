//! One call, one task: feeds `voice` leg events, timers and shutdown into the call flow and
//! executes the flow's commands against `voice` (dial, say, bridge, hang up), `pagepush`
//! (status, pages) and `subscriber-db` (timeline, state, the final record). The flow decides;
//! this task only does, and reports back what happened. Whatever way the call ends, every leg
//! is hung up or cancelled and its end is awaited before the call record is finished.

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use pagepush::Hub;
use subscriber_db::{AgentId, CallEnd, Claim, Db, DbError, DtmfKeys, SignOnPin};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};
use voice::{BridgeHandle, LegEvent, Voice};
use words::{ClaimHow, DigitPath, EndCause, LegState, PushSource, SignOnMode, TimelineEvent};

use super::legs::{self, ActiveLeg};
use super::record::{self, Timeline};
use super::spec::{self, CallSetup};
use super::{CallRequest, sentences};
use crate::desk::{Desk, Offer, OfferView, Reservation};
use crate::flow::{CallFlow, Command, Event, Leg, LegFailure, Prompt, State, Status};
use crate::push::{PushPageError, PushTarget, push_page};

/// What every call task shares with the runtime.
#[derive(Clone)]
pub(super) struct Shared {
    pub(super) db: Arc<Db>,
    pub(super) hub: Hub,
    pub(super) voice: Voice,
    pub(super) shutdown: CancellationToken,
    pub(super) desk: Desk,
}

struct CallTask {
    shared: Shared,
    request: CallRequest,
    setup: CallSetup,
    flow: CallFlow,
    user: Option<ActiveLeg>,
    center: Option<ActiveLeg>,
    /// Legs the flow is done with, draining until they confirm their end; each gives its CDR
    /// and dialog.
    retired: Vec<JoinHandle<legs::DialRows>>,
    bridge: Option<BridgeHandle>,
    /// Keys going out on a leg (`Command::SendDigits`): how they went arrives here.
    digits: Option<(Leg, oneshot::Receiver<voice::media::DigitSource>)>,
    timeline: Timeline,
    state: State,
    /// The visitor asked to end the call.
    cancel: CancellationToken,
    /// The call's reference on the consoles (sign-on mode `console`), held while it runs.
    reservation: Option<Reservation>,
    /// Console claims the desk handed to this call (the record already names the agent).
    claims: mpsc::UnboundedReceiver<AgentId>,
    claims_tx: mpsc::UnboundedSender<AgentId>,
    /// When the call task started: what the offer counts the visitor's wait from.
    started_at: chrono::DateTime<Utc>,
}

/// Runs the call for `request` to its end. Never panics on what peers or the database do.
pub(super) async fn run(shared: Shared, request: CallRequest, cancel: CancellationToken) {
    // The web front opens the channel when it creates the session; opening again is a
    // no-op, and makes sure status events have somewhere to go.
    shared.hub.open(&request.session);
    let loaded = {
        let db = Arc::clone(&shared.db);
        let request = request.clone();
        tokio::task::spawn_blocking(move || spec::load(&db, &request)).await
    };
    let mut setup = match loaded {
        Ok(Ok(setup)) => setup,
        Ok(Err(e)) => {
            return record::fail_setup(&shared, &request, e.cause(), e.to_string()).await;
        }
        Err(e) => {
            let (cause, error) = (EndCause::DatabaseError, e.to_string());
            return record::fail_setup(&shared, &request, cause, error).await;
        }
    };
    info!(
        user = %setup.spec.user_number.masked(),
        center = %setup.spec.center_number.masked(),
        order = ?setup.spec.call_order,
        "call starting"
    );
    let reservation = (setup.spec.sign_on == SignOnMode::Console)
        .then(|| shared.desk.reserve(&request.subscriber));
    if let Some(reserved) = &reservation {
        setup.spec.call_reference = Some(reserved.reference().to_owned());
        setup.spec.texts.claim_prompt = sentences::claim_prompt(reserved.reference());
    }
    let flow = CallFlow::new(setup.spec.clone());
    let timeline = Timeline::new(&shared.db, &request);
    let (claims_tx, claims) = mpsc::unbounded_channel();
    let mut task = CallTask {
        shared,
        request,
        setup,
        flow,
        user: None,
        center: None,
        retired: Vec::new(),
        bridge: None,
        digits: None,
        timeline,
        state: State::Starting,
        cancel,
        reservation,
        claims,
        claims_tx,
        started_at: Utc::now(),
    };
    task.feed(Event::Started).await;
    task.run_loop().await;
    task.finish().await;
}

impl CallTask {
    async fn run_loop(&mut self) {
        let shutdown = self.shared.shutdown.clone();
        let mut shutting_down = false;
        let cancel = self.cancel.clone();
        let mut cancelled = false;
        while !self.flow.is_finished() {
            let wakeup = self.flow.poll_timeout();
            let timer = async {
                match wakeup {
                    Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = shutdown.cancelled(), if !shutting_down => {
                    shutting_down = true;
                    info!("platform shutting down: ending the call");
                    self.feed(Event::Cancelled).await;
                }
                () = cancel.cancelled(), if !cancelled && !shutting_down => {
                    cancelled = true;
                    info!("the visitor cancelled the call");
                    self.feed(Event::Cancelled).await;
                }
                () = timer => {
                    self.flow.handle_timeout(Instant::now());
                    self.execute().await;
                }
                sent = digits_sent(&mut self.digits) => self.digits_sent(sent).await,
                Some(agent) = self.claims.recv() => {
                    info!(%agent, "claimed on the console");
                    self.claimed(agent, ClaimHow::Console);
                    self.execute().await;
                }
                event = recv(&mut self.user) => self.leg_event(Leg::User, event).await,
                event = recv(&mut self.center) => self.leg_event(Leg::Center, event).await,
            }
        }
    }

    /// Gives the flow one event and carries out what it decides.
    async fn feed(&mut self, event: Event) {
        self.flow.handle(event, Instant::now());
        self.execute().await;
    }

    async fn leg_event(&mut self, leg: Leg, event: Option<LegEvent>) {
        let slot = match leg {
            Leg::User => &mut self.user,
            Leg::Center => &mut self.center,
        };
        let Some(active) = slot.as_mut() else { return };
        // A closed stream without `HungUp` means the leg task is gone: treat as a hang-up.
        let event = event.unwrap_or(LegEvent::HungUp(voice::EndCause::NetworkError(
            "leg events closed".into(),
        )));
        debug!(%leg, ?event, "leg event");
        let wire_time = active.wire_time(&event);
        let flow_event = active.flow_event(leg, &event);
        if let LegEvent::HungUp(cause) = &event {
            info!(%leg, call_id = active.handle.call_id(), ?cause, "leg ended");
            self.timeline.leg(active.rows(Some(cause), LegState::Ended));
            *slot = None;
            self.unbridge();
        } else if matches!(event, LegEvent::Answered { .. }) {
            self.timeline.leg(active.rows(None, LegState::Answered));
        } else if matches!(
            event,
            LegEvent::Trying | LegEvent::Ringing | LegEvent::EarlyMedia
        ) && active.invite_resent()
        {
            self.timeline.leg(active.rows(None, LegState::Ringing));
        }
        if let Some(flow_event) = flow_event {
            // The rows the flow writes for this event carry the time voice saw it.
            self.timeline.stamp(wire_time);
            self.flow.handle(flow_event, Instant::now());
            self.timeline.unstamp();
            self.execute().await;
        }
    }

    /// Carries out every queued command in order, then writes the timeline and state.
    async fn execute(&mut self) {
        while let Some(command) = self.flow.poll_command() {
            self.command(command).await;
        }
        let state = self.flow.state();
        if state != self.state {
            self.state = state;
            if state != State::Ended {
                self.timeline.write_state(state).await;
            }
        }
        self.timeline.flush().await;
        self.shared.desk.changed(&self.request.session);
    }

    /// An agent has the call: their console shows it, and the flow signs them on.
    fn claimed(&mut self, agent: AgentId, how: ClaimHow) {
        let whisper = self.setup.spec.texts.whisper.clone();
        self.shared.desk.held(
            &self.request.subscriber,
            &self.request.session,
            agent,
            whisper,
        );
        let event = Event::Claimed {
            agent_id: agent.0,
            how,
        };
        self.flow.handle(event, Instant::now());
    }

    /// Claim by personal PIN: whose PIN it is, among the subscriber's active agents; that
    /// agent is recorded on the call the same way a console claim is.
    async fn identify(&mut self, pin: SignOnPin) {
        let db = Arc::clone(&self.shared.db);
        let (sid, call) = (
            self.request.subscriber.clone(),
            self.request.session.clone(),
        );
        let found = tokio::task::spawn_blocking(move || {
            let agent = match db.find_agent_by_pin(&sid, &pin) {
                Ok(agent) if agent.active => agent.id,
                Ok(_) | Err(DbError::NotFound { .. }) => return Ok(None),
                Err(e) => return Err(e),
            };
            match db.claim_call(&sid, &call, agent)? {
                Claim::Won => Ok(Some(agent)),
                Claim::Taken(holder) if holder == agent => Ok(Some(agent)),
                Claim::Taken(_) | Claim::Closed => Ok(None),
            }
        })
        .await;
        match found {
            Ok(Ok(Some(agent))) => {
                info!(%agent, "claimed by personal PIN");
                self.claimed(agent, ClaimHow::Pin);
            }
            Ok(Ok(None)) => {
                info!("the personal PIN is no active agent's");
                self.flow.handle(Event::AgentPinUnknown, Instant::now());
            }
            // The agent can try again; the database's trouble is not a wrong PIN for ever.
            Ok(Err(e)) => {
                warn!(error = %e, "personal PIN not looked up");
                self.flow.handle(Event::AgentPinUnknown, Instant::now());
            }
            Err(_) => {
                warn!("personal PIN lookup did not finish");
                self.flow.handle(Event::AgentPinUnknown, Instant::now());
            }
        }
    }

    fn offer(&mut self, reference: String) {
        let view = OfferView {
            reference,
            subject: self.request.subject.to_string(),
            label: self.setup.route_label.clone(),
            number: words::mask(self.request.user_number.as_str()),
            since: self.started_at,
        };
        self.shared.desk.offer(Offer {
            subscriber: self.request.subscriber.clone(),
            session: self.request.session.clone(),
            view,
            claims: self.claims_tx.clone(),
        });
    }

    async fn command(&mut self, command: Command) {
        match command {
            Command::Dial {
                leg,
                target,
                attempt,
            } => {
                if let Some(old) = self.take_leg(leg) {
                    self.retired.push(legs::retire(old));
                }
                let request = legs::originate_request(leg, &target, &self.setup.user_leg_caller);
                match self.shared.voice.originate(request).await {
                    Ok((handle, events)) => {
                        info!(
                            %leg,
                            attempt,
                            call_id = handle.call_id(),
                            to = %target.number.masked(),
                            "leg dialed"
                        );
                        let dial = legs::Dial {
                            leg,
                            attempt: u32::try_from(attempt).unwrap_or(u32::MAX),
                            number: target.number.clone(),
                        };
                        let mut active = ActiveLeg::new(handle, events, dial);
                        let record = active.handle.record();
                        self.timeline.row_at(
                            legs::utc(record.invite_at),
                            TimelineEvent::LegDialed {
                                leg,
                                attempt: active.dial.attempt,
                                call_id: record.call_id.clone(),
                            },
                        );
                        self.timeline.leg(active.rows(None, LegState::Ringing));
                        *self.slot(leg) = Some(active);
                    }
                    Err(e) => {
                        warn!(%leg, attempt, error = %e, "dial failed before any SIP was sent");
                        let error = e.to_string();
                        self.timeline.row(TimelineEvent::DialError { leg, error });
                        let failed = Event::Failed(leg, LegFailure::Network);
                        self.flow.handle(failed, Instant::now());
                    }
                }
            }
            Command::Play { leg, prompt } => self.play(leg, prompt).await,
            Command::StopPlaying(leg) => {
                if let Some(active) = self.slot(leg).as_mut() {
                    active.stopped();
                    let _ = active.handle.stop_playing();
                }
            }
            Command::SendDigits { leg, keys } => {
                let sending = match self.slot(leg).as_mut() {
                    Some(active) => {
                        // What the leg played (hold music, a prompt) no longer ends by itself.
                        active.stopped();
                        active.handle.send_digits(keys)
                    }
                    None => Err(voice::VoiceError::NotAnswered),
                };
                match sending {
                    Ok(sent) => self.digits = Some((leg, sent)),
                    // The leg's end is on its way; the flow's digit timer covers the rest.
                    Err(e) => warn!(%leg, error = %e, "cannot send digits on the leg"),
                }
            }
            Command::Announce { leg, text } => {
                if let Some(active) = self.slot(leg).as_mut()
                    && let Err(e) = active.handle.announce(&text).await
                {
                    warn!(%leg, error = %e, "cannot announce on the leg");
                }
            }
            Command::Bridge => self.bridge(),
            Command::PushPage { keys } => self.push(keys).await,
            Command::PublishStatus(status) => self.publish(&status),
            Command::Cancel(leg) | Command::Hangup(leg) => {
                self.unbridge();
                if let Some(active) = self.take_leg(leg) {
                    self.retired.push(legs::retire(active));
                }
            }
            Command::RecordEvent(event) => self.timeline.row(event),
            Command::IdentifyAgent { pin } => self.identify(pin).await,
            Command::Offer { reference } => self.offer(reference),
            Command::WithdrawOffer => {
                if let Some(reserved) = &self.reservation {
                    let reference = reserved.reference().to_owned();
                    self.shared
                        .desk
                        .withdraw(&self.request.subscriber, &reference);
                }
            }
        }
    }

    /// The keys went out (or the leg ended or was bridged first, when `sent` is `None`).
    async fn digits_sent(&mut self, sent: Option<(Leg, voice::media::DigitSource)>) {
        self.digits = None;
        let Some((leg, source)) = sent else {
            debug!("digits not sent to the end: the leg ended or was bridged");
            return;
        };
        let via = match source {
            voice::media::DigitSource::Rfc4733 => DigitPath::Rfc4733,
            voice::media::DigitSource::InBand | voice::media::DigitSource::SipInfo => {
                DigitPath::InBand
            }
        };
        info!(%leg, %via, "digits sent");
        self.feed(Event::DigitsSent(leg, via)).await;
    }

    /// Speaks a prompt on a leg. One that cannot play (the leg is gone, TTS failed, nothing to
    /// say) is reported done at once if the flow waits for its end, so the flow moves on.
    async fn play(&mut self, leg: Leg, prompt: Prompt) {
        let played = match self.slot(leg).as_mut() {
            // An empty whisper template: nothing to say, and nothing to wait for.
            Some(_) if prompt.text.trim().is_empty() => false,
            Some(active) => match active.handle.say(&prompt.text, prompt.looped).await {
                Ok(()) => {
                    active.started(&prompt);
                    true
                }
                Err(e) => {
                    warn!(%leg, prompt = ?prompt.kind, error = %e, "cannot play on the leg");
                    active.stopped();
                    false
                }
            },
            None => false,
        };
        if !played && !prompt.looped {
            self.flow
                .handle(Event::PlayoutDone(leg, prompt.kind), Instant::now());
        }
    }

    /// Step 215: media both ways through the platform.
    fn bridge(&mut self) {
        let (Some(user), Some(center)) = (&self.user, &self.center) else {
            warn!("bridge asked for but a leg is gone; its end follows");
            return;
        };
        match voice::bridge(&user.handle, &center.handle) {
            Ok(handle) => self.bridge = Some(handle),
            Err(e) => {
                warn!(error = %e, "bridge failed; a leg ended meanwhile");
                let error = e.to_string();
                self.timeline.row(TimelineEvent::BridgeError { error });
            }
        }
    }

    fn unbridge(&mut self) {
        if let Some(bridge) = self.bridge.take() {
            bridge.unbridge();
        }
    }

    /// Steps 216–217: agent keys → the subscriber's page → the browser.
    async fn push(&mut self, keys: DtmfKeys) {
        self.timeline.flush().await;
        let db = Arc::clone(&self.shared.db);
        let hub = self.shared.hub.clone();
        let (sid, call) = (
            self.request.subscriber.clone(),
            self.request.session.clone(),
        );
        let target = PushTarget::Digits(keys.clone());
        let pushed = tokio::task::spawn_blocking(move || {
            push_page(
                &db,
                &hub,
                &sid,
                &call,
                &target,
                PushSource::Dtmf,
                Utc::now(),
            )
        })
        .await;
        let keys = keys.to_string();
        match pushed {
            Ok(Ok(p)) => info!(keys, page_id = p.page_id.0, "page pushed"),
            Ok(Err(PushPageError::NoPage(_))) => {
                info!(keys, "no page for the agent's keys; the agent is told");
                self.timeline
                    .row(TimelineEvent::PageUnknown { keys: keys.clone() });
                self.notify_agent(keys).await;
            }
            Ok(Err(e)) => {
                warn!(keys, error = %e, "page push failed");
                let error = e.to_string();
                self.timeline
                    .row(TimelineEvent::PagePushFailed { keys, error });
            }
            Err(_) => warn!("page push task did not finish"),
        }
    }

    /// Tells the agent alone that its keys select no page ("No page for 3 4."), over the
    /// bridge; the user hears nothing of it.
    async fn notify_agent(&mut self, keys: String) {
        let Some(center) = self.center.as_mut() else {
            return;
        };
        let text = sentences::no_page_notice(&keys);
        match center.handle.announce(&text).await {
            Ok(()) => self.timeline.row(TimelineEvent::AgentNotified { keys }),
            Err(e) => warn!(error = %e, "cannot tell the agent about the unknown keys"),
        }
    }

    fn publish(&mut self, status: &Status) {
        let word = sentences::call_status(status);
        self.timeline.row(TimelineEvent::Status { status: word });
        let event = sentences::push_event(status);
        if let Err(e) = self.shared.hub.publish(&self.request.session, event) {
            warn!(error = %e, "status not delivered to the browser");
        }
    }

    /// After the flow finished: wait for every leg to confirm its end, then close the record.
    async fn finish(mut self) {
        self.unbridge();
        for leg in [Leg::User, Leg::Center] {
            // The flow only finishes with no open leg; a slot left here already hung up or
            // belongs to a dial the flow gave up on.
            if let Some(active) = self.take_leg(leg) {
                self.retired.push(legs::retire(active));
            }
        }
        for drain in std::mem::take(&mut self.retired) {
            if let Ok(rows) = drain.await {
                self.timeline.leg(rows);
            }
        }
        self.timeline.flush().await;
        let end = match self.flow.outcome() {
            Some(outcome) => CallEnd {
                cause: outcome.cause,
                user_leg_cause: outcome.user_leg,
                center_leg_cause: outcome.center_leg,
                hung_up_first: outcome.hung_up_first(),
            },
            // The flow only finishes with an outcome; an end without one is the platform's.
            None => CallEnd::before_dialing(EndCause::Cancelled),
        };
        info!(
            cause = %end.cause,
            user_leg = end.user_leg_cause.map(|c| c.to_string()),
            center_leg = end.center_leg_cause.map(|c| c.to_string()),
            "call ended"
        );
        record::finish(&self.shared.db, &self.request, end).await;
        self.shared.desk.ended(&self.request.session);
    }

    fn slot(&mut self, leg: Leg) -> &mut Option<ActiveLeg> {
        match leg {
            Leg::User => &mut self.user,
            Leg::Center => &mut self.center,
        }
    }

    fn take_leg(&mut self, leg: Leg) -> Option<ActiveLeg> {
        self.slot(leg).take()
    }
}

async fn recv(slot: &mut Option<ActiveLeg>) -> Option<LegEvent> {
    match slot {
        Some(active) => active.recv().await,
        None => std::future::pending().await,
    }
}

/// How the keys on a leg went; pending while none are sent. `None` when the leg dropped
/// them unsent.
async fn digits_sent(
    slot: &mut Option<(Leg, oneshot::Receiver<voice::media::DigitSource>)>,
) -> Option<(Leg, voice::media::DigitSource)> {
    match slot {
        Some((leg, sent)) => sent.await.ok().map(|source| (*leg, source)),
        None => std::future::pending().await,
    }
}
