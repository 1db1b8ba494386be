//! `CallFlow`: the state machine of one speak-to-agent call. It decides, the runtime does. It
//! keeps each leg's status so that whatever ends the call, every leg it dialed gets a `Cancel`
//! or a `Hangup` unless the far end already ended it, and it ignores events that come late.

use std::collections::VecDeque;
use std::time::Instant;

use super::digits::{PageDigits, SignOn, SignOnStep};
use super::{
    CallOrder, Command, DialTarget, EndCause, Event, FAREWELL_LIMIT, FlowSpec, Leg, LegEnd,
    LegFailure, LegStatus, Outcome, PhoneNumber, Prompt, SignOnMode, State, Status,
};

/// Where the center leg is once answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CenterPhase {
    Unanswered,
    AwaitingSignOn,
    Whispering,
    /// Signed on and whispered; waits for the user.
    Ready,
    Bridged,
}

#[derive(Debug, Clone, Copy, Default)]
struct Timers {
    max_call: Option<Instant>,
    user_ring: Option<Instant>,
    center_ring: Option<Instant>,
    sign_on: Option<Instant>,
    farewell: Option<Instant>,
}

/// One call's flow. See the module docs of `flow` for how to drive it.
#[derive(Debug)]
pub struct CallFlow {
    spec: FlowSpec,
    started: bool,
    finished: bool,
    /// Set once the call is decided to end; the first cause wins.
    cause: Option<EndCause>,
    user: LegStatus,
    center: LegStatus,
    phase: CenterPhase,
    user_playing: bool,
    center_playing: bool,
    /// A farewell announcement plays to the user; the flow is `Ending`.
    farewell: bool,
    sign_on: SignOn,
    page_digits: PageDigits,
    timers: Timers,
    commands: VecDeque<Command>,
}

impl CallFlow {
    /// A flow that does nothing until `Event::Started`. `_now` is taken so that callers create
    /// flows the same way they drive them; all timers start at `Started`.
    pub fn new(spec: FlowSpec, _now: Instant) -> Self {
        let sign_on = SignOn::new(spec.sign_on.clone(), spec.pin_retries);
        Self {
            spec,
            started: false,
            finished: false,
            cause: None,
            user: LegStatus::NotDialed,
            center: LegStatus::NotDialed,
            phase: CenterPhase::Unanswered,
            user_playing: false,
            center_playing: false,
            farewell: false,
            sign_on,
            page_digits: PageDigits::default(),
            timers: Timers::default(),
            commands: VecDeque::new(),
        }
    }

    /// Feeds one event. Events after the end, or for a leg in no state to have them, are
    /// ignored.
    pub fn handle(&mut self, event: Event, now: Instant) {
        if self.finished {
            return;
        }
        if self.cause.is_some() {
            self.handle_while_ending(event);
            return;
        }
        match event {
            Event::Started => self.start(now),
            Event::Cancelled => self.end(EndCause::Cancelled, None, now),
            _ if !self.started => {}
            Event::Ringing(leg) => {
                if matches!(self.leg(leg), LegStatus::Dialing { .. }) {
                    self.record("ringing", leg.to_string());
                }
            }
            Event::Answered(leg) => self.answered(leg, now),
            Event::Failed(leg, failure) => match self.leg(leg) {
                LegStatus::Dialing { attempt } => {
                    self.set_leg(leg, LegStatus::Gone(LegEnd::Failed(failure)));
                    self.record("failed", format!("{leg} attempt {attempt}: {failure:?}"));
                    self.unreached(leg, attempt, failure, now);
                }
                LegStatus::Answered => self.hung_up(leg, LegEnd::Failed(failure), now),
                _ => {}
            },
            Event::HungUp(leg) => match self.leg(leg) {
                // A callee that ends a call before answering has refused it.
                LegStatus::Dialing { attempt } => {
                    let failure = LegFailure::Network;
                    self.set_leg(leg, LegStatus::Gone(LegEnd::Failed(failure)));
                    self.record(
                        "failed",
                        format!("{leg} attempt {attempt}: ended unanswered"),
                    );
                    self.unreached(leg, attempt, failure, now);
                }
                LegStatus::Answered => self.hung_up(leg, LegEnd::HungUpByPeer, now),
                _ => {}
            },
            Event::DigitsReceived(leg, key) => self.digit(leg, key, now),
            Event::PlayoutDone(Leg::User) => self.user_playing = false,
            Event::PlayoutDone(Leg::Center) => self.center_playing = false,
            Event::WhisperDone => {
                if self.phase == CenterPhase::Whispering {
                    self.whispered(now);
                }
            }
        }
    }

    /// The next command for the runtime, in order.
    pub fn poll_command(&mut self) -> Option<Command> {
        self.commands.pop_front()
    }

    /// When `handle_timeout` must be called next; `None` while nothing is timed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let t = &self.timers;
        [
            t.max_call,
            t.user_ring,
            t.center_ring,
            t.sign_on,
            t.farewell,
        ]
        .into_iter()
        .chain([self.page_digits.deadline()])
        .flatten()
        .min()
    }

    /// Fires every timer due at `now`, earliest first.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(due) = self.poll_timeout().filter(|due| *due <= now) {
            if self.finished {
                return;
            }
            let t = &mut self.timers;
            if t.max_call == Some(due) {
                t.max_call = None;
                self.record("max_duration", String::new());
                // Also cuts a farewell short: the limit is a promise to the subscriber.
                self.end(EndCause::MaxDuration, None, due);
                self.release(Leg::User);
                self.finish_if_done();
            } else if t.user_ring == Some(due) {
                t.user_ring = None;
                self.ring_timeout(Leg::User, due);
            } else if t.center_ring == Some(due) {
                t.center_ring = None;
                self.ring_timeout(Leg::Center, due);
            } else if t.sign_on == Some(due) {
                t.sign_on = None;
                self.record("sign_on_timeout", String::new());
                let goodbye = self.spec.texts.goodbye.clone();
                self.end(EndCause::AgentNeverSignedOn, Some(goodbye), due);
            } else if t.farewell == Some(due) {
                t.farewell = None;
                self.release(Leg::User);
                self.finish_if_done();
            } else if let Some(run) = self.page_digits.fire(due) {
                self.push_page(run);
            }
        }
    }

    pub fn state(&self) -> State {
        if self.finished {
            return State::Ended;
        }
        if self.cause.is_some() {
            return State::Ending;
        }
        match (self.phase, self.user, self.center) {
            _ if !self.started => State::Idle,
            (CenterPhase::Bridged, ..) => State::Bridged,
            (CenterPhase::Whispering, ..) => State::Whispering,
            (CenterPhase::AwaitingSignOn, ..) => State::AwaitingSignOn,
            (CenterPhase::Ready, ..) => State::HoldingCenter,
            (_, LegStatus::Answered, _) => State::HoldingUser,
            (_, _, LegStatus::Dialing { .. }) => State::DialingCenter,
            (_, LegStatus::Dialing { .. }, _) => State::DialingUser,
            _ => State::Idle,
        }
    }

    /// Whether the call is over; no command follows.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// How the call ended, once it has.
    pub fn outcome(&self) -> Option<Outcome> {
        let gone = |status| match status {
            LegStatus::Gone(end) => Some(end),
            _ => None,
        };
        let cause = self.cause.filter(|_| self.finished)?;
        Some(Outcome {
            cause,
            user_leg: gone(self.user),
            center_leg: gone(self.center),
        })
    }

    /// How one leg stands.
    pub fn leg(&self, leg: Leg) -> LegStatus {
        match leg {
            Leg::User => self.user,
            Leg::Center => self.center,
        }
    }

    fn set_leg(&mut self, leg: Leg, status: LegStatus) {
        match leg {
            Leg::User => self.user = status,
            Leg::Center => self.center = status,
        }
    }

    fn start(&mut self, now: Instant) {
        if self.started {
            return;
        }
        self.started = true;
        self.timers.max_call = Some(now + self.spec.timeouts.max_call_length);
        let detail = format!("call {} {:?}", self.spec.session_ref, self.spec.call_order);
        self.record("started", detail);
        match self.spec.call_order {
            CallOrder::UserFirst => self.dial_user(now),
            CallOrder::CenterFirst => {
                self.status(Status::Connecting);
                self.dial_center(0, now);
            }
            CallOrder::Simultaneous => {
                self.dial_user(now);
                self.dial_center(0, now);
            }
        }
    }

    fn dial_user(&mut self, now: Instant) {
        self.status(Status::Calling);
        let number = self.spec.user_number.clone();
        let target = DialTarget {
            request_user: number.as_str().to_owned(),
            number,
            ani: None,
            uui: Vec::new(),
            ring_timeout: self.spec.timeouts.user_ring,
        };
        self.timers.user_ring = Some(now + target.ring_timeout);
        self.dial(Leg::User, target, 0);
    }

    /// Dials the center's `attempt`-th number (0: the route's own, then its fallbacks) with
    /// TAG2 (step 210); `false` when there is no such number.
    fn dial_center(&mut self, attempt: usize, now: Instant) -> bool {
        let Some(number) = self.center_number(attempt).cloned() else {
            return false;
        };
        let target = DialTarget {
            request_user: (self.spec.dnis.clone()).unwrap_or_else(|| number.as_str().to_owned()),
            number,
            ani: Some(self.spec.ani.clone()),
            uui: self.spec.uui.clone(),
            ring_timeout: self.spec.timeouts.center_ring,
        };
        self.timers.center_ring = Some(now + target.ring_timeout);
        self.dial(Leg::Center, target, attempt);
        true
    }

    fn center_number(&self, attempt: usize) -> Option<&PhoneNumber> {
        std::iter::once(&self.spec.center_number)
            .chain(&self.spec.fallback_numbers)
            .nth(attempt)
    }

    fn dial(&mut self, leg: Leg, target: DialTarget, attempt: usize) {
        let detail = format!(
            "{leg} attempt {attempt} to {} as {}",
            target.number.masked(),
            target.request_user
        );
        self.record("dialing", detail);
        self.set_leg(leg, LegStatus::Dialing { attempt });
        self.commands.push_back(Command::Dial {
            leg,
            target,
            attempt,
        });
    }

    fn answered(&mut self, leg: Leg, now: Instant) {
        if !matches!(self.leg(leg), LegStatus::Dialing { .. }) {
            return;
        }
        self.set_leg(leg, LegStatus::Answered);
        self.record("answered", leg.to_string());
        match leg {
            Leg::User => {
                self.timers.user_ring = None;
                if self.phase == CenterPhase::Ready {
                    self.bridge();
                    return;
                }
                let hold = self.spec.texts.hold.clone();
                self.play(Leg::User, Prompt::Hold(hold), true);
                self.status(Status::Connecting);
                if self.center == LegStatus::NotDialed {
                    self.dial_center(0, now);
                }
            }
            Leg::Center => {
                self.timers.center_ring = None;
                self.phase = CenterPhase::AwaitingSignOn;
                self.sign_on = SignOn::new(self.spec.sign_on.clone(), self.spec.pin_retries);
                let mode = match &self.spec.sign_on {
                    SignOnMode::None => {
                        self.record("sign_on_ok", "no sign-on required".into());
                        self.whisper();
                        return;
                    }
                    SignOnMode::Hash => "#",
                    SignOnMode::Pin(_) => "PIN",
                };
                self.record("sign_on_waiting", mode.into());
                self.timers.sign_on = Some(now + self.spec.timeouts.sign_on);
            }
        }
    }

    /// A leg that never answered: the user's ends the call, the center's tries the next number
    /// and then tells the user (step 210's fallback order).
    fn unreached(&mut self, leg: Leg, attempt: usize, failure: LegFailure, now: Instant) {
        match leg {
            Leg::User => {
                self.timers.user_ring = None;
                self.end(EndCause::UserUnreachable(failure), None, now);
            }
            Leg::Center => {
                self.timers.center_ring = None;
                if self.center_number(attempt + 1).is_some() {
                    self.record("fallback", format!("center leg attempt {}", attempt + 1));
                    self.dial_center(attempt + 1, now);
                } else {
                    self.record(
                        "center_unreachable",
                        format!("{} numbers tried", attempt + 1),
                    );
                    let text = self.spec.texts.center_unreachable.clone();
                    self.end(EndCause::CenterUnreachable, Some(text), now);
                }
            }
        }
    }

    fn ring_timeout(&mut self, leg: Leg, now: Instant) {
        if let LegStatus::Dialing { attempt } = self.leg(leg) {
            self.commands.push_back(Command::Cancel(leg));
            let failure = LegFailure::NoAnswer;
            self.set_leg(leg, LegStatus::Gone(LegEnd::Failed(failure)));
            self.record("no_answer", format!("{leg} attempt {attempt}"));
            self.unreached(leg, attempt, failure, now);
        }
    }

    fn hung_up(&mut self, leg: Leg, end: LegEnd, now: Instant) {
        self.set_leg(leg, LegStatus::Gone(end));
        self.record("hung_up", format!("{leg}: {end:?}"));
        let bridged = self.phase == CenterPhase::Bridged;
        let (cause, farewell) = match (leg, bridged) {
            (Leg::User, true) => (EndCause::UserHungUp, None),
            (Leg::Center, true) => (EndCause::AgentHungUp, None),
            (Leg::User, false) => (EndCause::UserLeftBeforeBridge, None),
            (Leg::Center, false) => (
                EndCause::AgentLeftBeforeBridge,
                Some(self.spec.texts.goodbye.clone()),
            ),
        };
        self.end(cause, farewell, now);
    }

    fn digit(&mut self, leg: Leg, key: char, now: Instant) {
        if leg == Leg::User || self.center != LegStatus::Answered {
            if self.leg(leg) == LegStatus::Answered {
                self.record("digit_ignored", format!("{leg} key {key}"));
            }
            return;
        }
        match self.phase {
            CenterPhase::AwaitingSignOn => self.sign_on_key(key, now),
            CenterPhase::Bridged => {
                let silence = self.spec.timeouts.page_digits;
                if let Some(run) = self.page_digits.key(key, now, silence) {
                    self.push_page(run);
                }
            }
            _ => self.record(
                "digit_ignored",
                format!("{leg} key {key} before the bridge"),
            ),
        }
    }

    fn sign_on_key(&mut self, key: char, now: Instant) {
        match self.sign_on.key(key) {
            // PIN digits stay out of the timeline.
            SignOnStep::Collecting => {}
            SignOnStep::Ignored => self.record("digit_ignored", format!("center leg key {key}")),
            SignOnStep::Accepted => {
                self.record("sign_on_ok", String::new());
                self.whisper();
            }
            SignOnStep::WrongPin { retries_left } => {
                self.record("sign_on_wrong_pin", format!("{retries_left} retries left"));
                let text = self.spec.texts.wrong_pin.clone();
                self.play(Leg::Center, Prompt::Say(text), false);
                self.timers.sign_on = Some(now + self.spec.timeouts.sign_on);
            }
            SignOnStep::Failed => {
                self.record("sign_on_failed", "wrong PIN, no retries left".into());
                let goodbye = self.spec.texts.goodbye.clone();
                self.end(EndCause::SignOnFailed, Some(goodbye), now);
            }
        }
    }

    /// Step 214: the agent hears the web context; the user keeps hearing hold audio.
    fn whisper(&mut self) {
        self.timers.sign_on = None;
        self.phase = CenterPhase::Whispering;
        if std::mem::take(&mut self.center_playing) {
            self.commands.push_back(Command::StopPlaying(Leg::Center));
        }
        self.record("whisper_start", String::new());
        let text = self.spec.texts.whisper.clone();
        self.commands.push_back(Command::Whisper { text });
    }

    fn whispered(&mut self, now: Instant) {
        self.record("whisper_end", String::new());
        self.phase = CenterPhase::Ready;
        if self.user == LegStatus::Answered {
            self.bridge();
            return;
        }
        let wait = self.spec.texts.center_wait.clone();
        self.play(Leg::Center, Prompt::Say(wait), true);
        if self.user == LegStatus::NotDialed {
            self.dial_user(now);
        }
    }

    /// Step 215.
    fn bridge(&mut self) {
        for leg in [Leg::User, Leg::Center] {
            let playing = match leg {
                Leg::User => &mut self.user_playing,
                Leg::Center => &mut self.center_playing,
            };
            if std::mem::take(playing) {
                self.commands.push_back(Command::StopPlaying(leg));
            }
        }
        self.phase = CenterPhase::Bridged;
        self.commands.push_back(Command::Bridge);
        self.status(Status::AgentOnLine);
        self.record("bridged", String::new());
    }

    fn push_page(&mut self, digits: String) {
        self.record("page_push", format!("digits {digits}"));
        self.commands.push_back(Command::PushPage { digits });
    }

    /// Decides the end: releases the center, and either tells the user `farewell` before
    /// hanging up (the flow is then `Ending`) or releases the user too.
    fn end(&mut self, cause: EndCause, farewell: Option<String>, now: Instant) {
        if self.cause.is_some() {
            return;
        }
        self.cause = Some(cause);
        self.started = true;
        self.record("ending", format!("{cause:?}"));
        if let Some(run) = self.page_digits.take() {
            self.record("digits_dropped", format!("digits {run}"));
        }
        self.timers = Timers {
            max_call: self.timers.max_call,
            ..Timers::default()
        };
        self.release(Leg::Center);
        match farewell {
            Some(text) if self.user == LegStatus::Answered => {
                self.record("farewell", String::new());
                self.play(Leg::User, Prompt::Say(text), false);
                self.farewell = true;
                self.timers.farewell = Some(now + FAREWELL_LIMIT);
            }
            _ => self.release(Leg::User),
        }
        self.finish_if_done();
    }

    /// Only the user leg, hearing its farewell, can still be open here.
    fn handle_while_ending(&mut self, event: Event) {
        match event {
            Event::HungUp(Leg::User) | Event::Failed(Leg::User, _) if self.user.is_open() => {
                self.user = LegStatus::Gone(LegEnd::HungUpByPeer);
                self.record("hung_up", "user leg during farewell".into());
            }
            Event::PlayoutDone(Leg::User) if self.farewell => {
                self.user_playing = false;
                self.release(Leg::User);
            }
            Event::Cancelled => self.release(Leg::User),
            _ => return,
        }
        self.finish_if_done();
    }

    fn release(&mut self, leg: Leg) {
        let (command, end, kind) = match self.leg(leg) {
            LegStatus::Dialing { .. } => (Command::Cancel(leg), LegEnd::Cancelled, "cancel"),
            LegStatus::Answered => (Command::Hangup(leg), LegEnd::HungUpByUs, "hangup"),
            _ => return,
        };
        self.commands.push_back(command);
        self.set_leg(leg, LegStatus::Gone(end));
        self.record(kind, leg.to_string());
    }

    fn finish_if_done(&mut self) {
        if self.finished || self.user.is_open() || self.center.is_open() {
            return;
        }
        let Some(cause) = self.cause else { return };
        self.finished = true;
        self.timers = Timers::default();
        self.status(Status::Ended { cause });
        self.record("finished", format!("{cause:?}"));
    }

    fn play(&mut self, leg: Leg, prompt: Prompt, looped: bool) {
        match leg {
            Leg::User => self.user_playing = true,
            Leg::Center => self.center_playing = true,
        }
        self.commands.push_back(Command::Play {
            leg,
            prompt,
            looped,
        });
    }

    fn status(&mut self, status: Status) {
        self.commands.push_back(Command::PublishStatus(status));
    }

    fn record(&mut self, kind: &'static str, detail: String) {
        self.commands
            .push_back(Command::RecordEvent { kind, detail });
    }
}
