//! `CallFlow`: the state machine of one speak-to-agent call. It decides, the runtime does. It
//! keeps each leg's status so that whatever ends the call, every leg it dialed gets a `Cancel`
//! or a `Hangup` unless the far end already ended it, and it ignores events that come late.

use std::collections::VecDeque;
use std::time::Instant;

mod progress;

use words::{LegEndCause, TimelineEvent as T};

use super::digits::{PageDigits, SignOn};
use super::{
    Command, EndCause, Event, FAREWELL_LIMIT, FlowSpec, Leg, LegFailure, LegStatus, Outcome,
    Prompt, PromptKind, State, Status,
};

/// Where the center leg is once answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CenterPhase {
    Unanswered,
    AwaitingSignOn,
    /// Signed on; the session reference is keyed to the agent before the whisper.
    SendingRef,
    Whispering,
    /// Signed on and whispered; waits for the user.
    Ready,
    Bridged,
}

#[derive(Debug, Clone, Copy, Default)]
struct Timers {
    max_call: Option<Instant>,
    max_call_warning: Option<Instant>,
    user_ring: Option<Instant>,
    center_ring: Option<Instant>,
    sign_on: Option<Instant>,
    ref_digits: Option<Instant>,
    whisper: Option<Instant>,
    farewell: Option<Instant>,
    consent: Option<Instant>,
}

impl Timers {
    /// Lists every field: a timer missing here would never fire.
    fn earliest(&self) -> Option<Instant> {
        let Self {
            max_call,
            max_call_warning,
            user_ring,
            center_ring,
            sign_on,
            ref_digits,
            whisper,
            farewell,
            consent,
        } = *self;
        [
            max_call,
            max_call_warning,
            user_ring,
            center_ring,
            sign_on,
            ref_digits,
            whisper,
            farewell,
            consent,
        ]
        .into_iter()
        .flatten()
        .min()
    }
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
    /// The call is on the agents' consoles (sign-on mode `console`) until claimed or over.
    offered: bool,
    page_digits: PageDigits,
    timers: Timers,
    commands: VecDeque<Command>,
    /// The user answered a callback attempt and has not pressed the consent key yet.
    awaiting_consent: bool,
}

impl CallFlow {
    /// A flow that does nothing until `Event::Started`; all timers start at `Started`.
    pub fn new(spec: FlowSpec) -> Self {
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
            offered: false,
            page_digits: PageDigits::default(),
            timers: Timers::default(),
            commands: VecDeque::new(),
            awaiting_consent: false,
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
                    self.record(T::Ringing { leg });
                }
            }
            Event::Answered(leg) => self.answered(leg, now),
            Event::Failed(leg, failure) => match self.leg(leg) {
                LegStatus::Dialing { attempt } => {
                    self.failed(leg, attempt, failure);
                    self.unreached(leg, attempt, failure, now);
                }
                LegStatus::Answered => self.hung_up(leg, failure.end_cause(), now),
                _ => {}
            },
            Event::HungUp(leg) => match self.leg(leg) {
                // A callee that ends a call before answering has refused it.
                LegStatus::Dialing { attempt } => {
                    let failure = LegFailure::Network;
                    self.failed(leg, attempt, failure);
                    self.unreached(leg, attempt, failure, now);
                }
                LegStatus::Answered => self.hung_up(leg, LegEndCause::RemoteHangup, now),
                _ => {}
            },
            Event::DigitsReceived(leg, key) => self.digit(leg, key, now),
            Event::PlayoutDone(Leg::Center, PromptKind::Whisper) => {
                self.center_playing = false;
                if self.phase == CenterPhase::Whispering {
                    self.whispered(now);
                }
            }
            Event::DigitsSent(Leg::Center, via) => {
                if self.phase == CenterPhase::SendingRef {
                    self.timers.ref_digits = None;
                    self.record(T::RefDigitsEnd { via });
                    self.whisper(now);
                }
            }
            Event::Claimed { agent_id, how } => self.claimed(agent_id, how, now),
            Event::AgentPinUnknown => self.agent_pin_unknown(now),
            Event::DigitsSent(Leg::User, _) => {}
            Event::PlayoutDone(Leg::User, _) => self.user_playing = false,
            Event::PlayoutDone(Leg::Center, _) => self.center_playing = false,
        }
    }

    /// The next command for the runtime, in order.
    pub fn poll_command(&mut self) -> Option<Command> {
        self.commands.pop_front()
    }

    /// When `handle_timeout` must be called next; `None` while nothing is timed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers
            .earliest()
            .into_iter()
            .chain(self.page_digits.deadline())
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
                self.record(T::MaxDuration {});
                // Also cuts a farewell short: the limit is a promise to the subscriber.
                self.end(EndCause::MaxCallLength, None, due);
                self.release(Leg::User);
                self.finish_if_done();
            } else if t.max_call_warning == Some(due) {
                t.max_call_warning = None;
                self.warn_max_call();
            } else if t.user_ring == Some(due) {
                t.user_ring = None;
                self.ring_timeout(Leg::User, due);
            } else if t.center_ring == Some(due) {
                t.center_ring = None;
                self.ring_timeout(Leg::Center, due);
            } else if t.sign_on == Some(due) {
                t.sign_on = None;
                self.record(T::SignOnTimeout {});
                let goodbye = self.spec.texts.goodbye.clone();
                self.end(EndCause::AgentNeverSignedOn, Some(goodbye), due);
            } else if t.ref_digits == Some(due) {
                t.ref_digits = None;
                // Digits that never report their end must not keep the agent waiting: the
                // other channels carry the reference too.
                if self.phase == CenterPhase::SendingRef {
                    self.record(T::RefDigitsTimeout {});
                    self.whisper(due);
                }
            } else if t.whisper == Some(due) {
                t.whisper = None;
                // A TTS that never reports its end must not keep the user on hold: the agent
                // signed on, so bridge without the rest of the whisper.
                if self.phase == CenterPhase::Whispering {
                    self.record(T::WhisperTimeout {});
                    self.whispered(due);
                }
            } else if t.consent == Some(due) {
                t.consent = None;
                if self.awaiting_consent {
                    self.awaiting_consent = false;
                    self.record(T::ConsentTimeout {});
                    let goodbye = self.spec.texts.goodbye.clone();
                    self.end(EndCause::UserNoConsent, Some(goodbye), due);
                }
            } else if t.farewell == Some(due) {
                t.farewell = None;
                self.release(Leg::User);
                self.finish_if_done();
            } else if self.page_digits.deadline() == Some(due) {
                if let Some(run) = self.page_digits.fire(due) {
                    self.push_page(run);
                }
            } else {
                // Every branch above clears the timer it fires; a due instant none of them
                // owns would otherwise spin here for ever.
                debug_assert!(false, "a due timer without a handler");
                return;
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
            _ if !self.started => State::Starting,
            (CenterPhase::Bridged, ..) => State::Bridged,
            // The reference's digits are part of telling the agent the context.
            (CenterPhase::SendingRef | CenterPhase::Whispering, ..) => State::Whispering,
            (CenterPhase::AwaitingSignOn, ..) => State::AwaitingSignOn,
            (CenterPhase::Ready, ..) => State::HoldingCenter,
            (_, LegStatus::Answered, _) => State::HoldingUser,
            (_, _, LegStatus::Dialing { .. }) => State::DialingCenter,
            (_, LegStatus::Dialing { .. }, _) => State::DialingUser,
            _ => State::Starting,
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

    /// Decides the end: releases the center, and either tells the user `farewell` before
    /// hanging up (the flow is then `Ending`) or releases the user too.
    fn end(&mut self, cause: EndCause, farewell: Option<String>, now: Instant) {
        if self.cause.is_some() {
            return;
        }
        self.cause = Some(cause);
        self.started = true;
        self.record(T::Ending { cause });
        self.withdraw_offer();
        if let Some(run) = self.page_digits.take() {
            self.record(T::DigitsDropped {
                keys: run.to_string(),
            });
        }
        self.timers = Timers {
            max_call: self.timers.max_call,
            ..Timers::default()
        };
        self.release(Leg::Center);
        match farewell {
            Some(text) if self.user == LegStatus::Answered => {
                self.record(T::Farewell {});
                self.play(Leg::User, PromptKind::Farewell, text, false);
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
                let end = match event {
                    Event::Failed(_, failure) => failure.end_cause(),
                    _ => LegEndCause::RemoteHangup,
                };
                self.user = LegStatus::Gone(end);
                self.record(T::HungUp {
                    leg: Leg::User,
                    end,
                });
            }
            Event::PlayoutDone(Leg::User, PromptKind::Farewell) if self.farewell => {
                self.user_playing = false;
                self.release(Leg::User);
            }
            Event::Cancelled => self.release(Leg::User),
            _ => return,
        }
        self.finish_if_done();
    }

    fn release(&mut self, leg: Leg) {
        let (command, end, row) = match self.leg(leg) {
            LegStatus::Dialing { .. } => (
                Command::Cancel(leg),
                LegEndCause::Cancelled,
                T::Cancel { leg },
            ),
            LegStatus::Answered => (
                Command::Hangup(leg),
                LegEndCause::LocalHangup,
                T::Hangup { leg },
            ),
            _ => return,
        };
        self.commands.push_back(command);
        self.set_leg(leg, LegStatus::Gone(end));
        self.record(row);
    }

    fn finish_if_done(&mut self) {
        if self.finished || self.user.is_open() || self.center.is_open() {
            return;
        }
        let Some(cause) = self.cause else { return };
        self.finished = true;
        self.timers = Timers::default();
        self.status(Status::Ended { cause });
        self.record(T::Finished { cause });
    }

    fn play(&mut self, leg: Leg, kind: PromptKind, text: String, looped: bool) {
        match leg {
            Leg::User => self.user_playing = true,
            Leg::Center => self.center_playing = true,
        }
        let prompt = Prompt { kind, text, looped };
        self.commands.push_back(Command::Play { leg, prompt });
    }

    fn status(&mut self, status: Status) {
        self.commands.push_back(Command::PublishStatus(status));
    }

    fn record(&mut self, event: T) {
        self.commands.push_back(Command::RecordEvent(event));
    }
}
