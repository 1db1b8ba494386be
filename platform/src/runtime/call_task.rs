//! One call, one task: feeds `voice` leg events, timers and shutdown into the call flow and
//! executes the flow's commands against `voice` (dial, say, bridge, hang up), `pagepush`
//! (status, pages) and `subscriber-db` (timeline, state, the final record). The flow decides;
//! this task only does, and reports back what happened. Whatever way the call ends, every leg
//! is hung up or cancelled and its end is awaited before the call record is finished.

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use pagepush::Hub;
use serde_json::json;
use subscriber_db::{CallEnd, Db, DtmfKeys};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};
use voice::{BridgeHandle, LegEvent, Voice};

use super::legs::{self, ActiveLeg};
use super::record::{self, Timeline};
use super::spec::{self, CallSetup};
use super::{CallRequest, words};
use crate::flow::{CallFlow, Command, Event, Leg, Prompt, State, Status};
use crate::push::{PushPageError, PushSource, PushTarget, push_page};

/// What every call task shares with the runtime.
#[derive(Clone)]
pub(super) struct Shared {
    pub(super) db: Arc<Db>,
    pub(super) hub: Hub,
    pub(super) voice: Voice,
    pub(super) shutdown: CancellationToken,
}

struct CallTask {
    shared: Shared,
    request: CallRequest,
    session: Option<pagepush::SessionId>,
    setup: CallSetup,
    flow: CallFlow,
    user: Option<ActiveLeg>,
    center: Option<ActiveLeg>,
    /// Legs the flow is done with, draining until they confirm their end.
    retired: Vec<JoinHandle<()>>,
    bridge: Option<BridgeHandle>,
    /// A whisper plays on the center leg: its `PlayoutDone` is the flow's `WhisperDone`.
    whispering: bool,
    timeline: Timeline,
    state: State,
}

/// Runs the call for `request` to its end. Never panics on what peers or the database do.
pub(super) async fn run(shared: Shared, request: CallRequest) {
    let session = request.session.as_str().parse::<pagepush::SessionId>().ok();
    if let Some(s) = &session {
        // The web front opens the channel when it creates the session; opening again is a
        // no-op, and makes sure status events have somewhere to go.
        shared.hub.open(s);
    }
    let loaded = {
        let db = Arc::clone(&shared.db);
        let request = request.clone();
        tokio::task::spawn_blocking(move || spec::load(&db, &request)).await
    };
    let setup = match loaded {
        Ok(Ok(setup)) => setup,
        Ok(Err(e)) => {
            let cause = e.cause();
            return record::fail_setup(&shared, &request, session, cause, e.to_string()).await;
        }
        Err(e) => {
            let error = e.to_string();
            return record::fail_setup(&shared, &request, session, "database_error", error).await;
        }
    };
    info!(
        user = %legs::masked(&setup.spec.user_number),
        center = %legs::masked(&setup.spec.center_number),
        order = ?setup.spec.call_order,
        "call starting"
    );
    let now = Instant::now();
    let flow = CallFlow::new(setup.spec.clone(), now);
    let timeline = Timeline::new(&shared.db, &request);
    let mut task = CallTask {
        shared,
        request,
        session,
        setup,
        flow,
        user: None,
        center: None,
        retired: Vec::new(),
        bridge: None,
        whispering: false,
        timeline,
        state: State::Idle,
    };
    task.feed(Event::Started).await;
    task.run_loop().await;
    task.finish().await;
}

impl CallTask {
    async fn run_loop(&mut self) {
        let shutdown = self.shared.shutdown.clone();
        let mut shutting_down = false;
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
                () = timer => {
                    self.flow.handle_timeout(Instant::now());
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
        let flow_event = match &event {
            LegEvent::PlayoutDone if leg == Leg::Center && self.whispering => {
                self.whispering = false;
                Some(Event::WhisperDone)
            }
            LegEvent::PlayoutDone => Some(Event::PlayoutDone(leg)),
            other => active.flow_event(leg, other),
        };
        if let LegEvent::HungUp(cause) = &event {
            info!(%leg, call_id = active.handle.call_id(), ?cause, "leg ended");
            *slot = None;
            if leg == Leg::Center {
                self.whispering = false;
            }
            self.unbridge();
        }
        if let Some(flow_event) = flow_event {
            self.feed(flow_event).await;
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
                self.timeline.write_state(words::state(state)).await;
            }
        }
        self.timeline.flush().await;
    }

    async fn command(&mut self, command: Command) {
        match command {
            Command::Dial {
                leg,
                target,
                attempt,
            } => {
                if let Some(old) = self.take_leg(leg) {
                    self.retired.push(legs::retire(leg, old));
                }
                let request = legs::originate_request(leg, &target, &self.setup.user_leg_caller);
                match self.shared.voice.originate(request).await {
                    Ok((handle, events)) => {
                        info!(
                            %leg,
                            attempt,
                            call_id = handle.call_id(),
                            to = %legs::masked(&target.number),
                            "leg dialed"
                        );
                        *self.slot(leg) = Some(ActiveLeg::new(handle, events));
                    }
                    Err(e) => {
                        warn!(%leg, attempt, error = %e, "dial failed before any SIP was sent");
                        self.timeline.row(
                            "dial_error",
                            json!({ "leg": leg.to_string(), "error": e.to_string() }),
                        );
                        self.flow.handle(
                            Event::Failed(leg, crate::flow::LegFailure::Network),
                            Instant::now(),
                        );
                    }
                }
            }
            Command::Play {
                leg,
                prompt,
                looped,
            } => {
                let text = match prompt {
                    Prompt::Hold(text) | Prompt::Say(text) => text,
                };
                self.say(leg, &text, looped).await;
            }
            Command::StopPlaying(leg) => {
                if let Some(active) = self.slot(leg).as_ref() {
                    let _ = active.handle.stop_playing();
                }
            }
            Command::Whisper { text } => {
                self.whispering = true;
                // Step 214: the agent only; the user keeps hearing hold audio.
                if text.trim().is_empty() || !self.say(Leg::Center, &text, false).await {
                    self.whispering = false;
                    self.flow.handle(Event::WhisperDone, Instant::now());
                }
            }
            Command::Bridge => self.bridge(),
            Command::PushPage { digits } => self.push(digits).await,
            Command::PublishStatus(status) => self.publish(&status),
            Command::Cancel(leg) | Command::Hangup(leg) => {
                self.unbridge();
                if leg == Leg::Center {
                    self.whispering = false;
                }
                if let Some(active) = self.take_leg(leg) {
                    self.retired.push(legs::retire(leg, active));
                }
            }
            Command::RecordEvent { kind, detail } => {
                self.timeline.row(kind, json!({ "detail": detail }))
            }
        }
    }

    /// Speaks on a leg; `false` when it could not (the leg is gone or TTS failed). A
    /// non-looped prompt that cannot play is reported done so the flow moves on.
    async fn say(&mut self, leg: Leg, text: &str, looped: bool) -> bool {
        let result = match self.slot(leg).as_ref() {
            Some(active) => active.handle.say(text, looped).await,
            None => Err(voice::VoiceError::LegEnded),
        };
        match result {
            Ok(()) => true,
            Err(e) => {
                warn!(%leg, error = %e, "cannot play on the leg");
                if !looped && !self.whispering {
                    self.flow.handle(Event::PlayoutDone(leg), Instant::now());
                }
                false
            }
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
                self.timeline
                    .row("bridge_error", json!({ "error": e.to_string() }));
            }
        }
    }

    fn unbridge(&mut self) {
        if let Some(bridge) = self.bridge.take() {
            bridge.unbridge();
        }
    }

    /// Steps 216–217: agent digits → the subscriber's page → the browser.
    async fn push(&mut self, digits: String) {
        self.timeline.flush().await;
        let Ok(keys) = DtmfKeys::try_from(digits.as_str()) else {
            info!(digits = %digits, "agent digits name no page (not a page key); ignored");
            self.timeline
                .row("page_unknown", json!({ "digits": digits }));
            return;
        };
        let db = Arc::clone(&self.shared.db);
        let hub = self.shared.hub.clone();
        let (sid, call) = (
            self.request.subscriber.clone(),
            self.request.session.clone(),
        );
        let pushed = tokio::task::spawn_blocking(move || {
            push_page(
                &db,
                &hub,
                &sid,
                &call,
                &PushTarget::Digits(keys),
                PushSource::Dtmf,
                Utc::now(),
            )
        })
        .await;
        match pushed {
            Ok(Ok(p)) => info!(digits = %digits, page_id = p.page_id.0, "page pushed"),
            Ok(Err(PushPageError::NoPage(_))) => {
                info!(digits = %digits, "no page for the agent's digits; ignored");
                self.timeline
                    .row("page_unknown", json!({ "digits": digits }));
            }
            Ok(Err(e)) => {
                warn!(digits = %digits, error = %e, "page push failed");
                self.timeline.row(
                    "page_push_failed",
                    json!({ "digits": digits, "error": e.to_string() }),
                );
            }
            Err(_) => warn!("page push task did not finish"),
        }
    }

    fn publish(&mut self, status: &Status) {
        self.timeline
            .row("status", json!({ "status": words::status_word(status) }));
        let Some(session) = &self.session else { return };
        if let Err(e) = self.shared.hub.publish(session, words::push_event(status)) {
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
                self.retired.push(legs::retire(leg, active));
            }
        }
        for drain in std::mem::take(&mut self.retired) {
            let _ = drain.await;
        }
        self.timeline.flush().await;
        let outcome = self.flow.outcome();
        let end = CallEnd {
            state: "ended".into(),
            cause: outcome
                .map(|o| words::end_cause(o.cause))
                .unwrap_or("cancelled")
                .to_owned(),
            user_leg_cause: outcome.and_then(|o| o.user_leg).map(words::leg_end),
            center_leg_cause: outcome.and_then(|o| o.center_leg).map(words::leg_end),
        };
        info!(cause = %end.cause, user_leg = ?end.user_leg_cause, center_leg = ?end.center_leg_cause, "call ended");
        record::finish(&self.shared.db, &self.request, end).await;
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
