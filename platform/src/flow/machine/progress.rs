//! How a call moves forward (seed 002 steps 206–217): dialing with TAG2, answers, the
//! center fallback order, sign-on, whisper, bridge and page-push digits. Every way out goes
//! through `CallFlow::end` in the parent module, which owns releasing the legs.

use std::time::Instant;

use words::{
    CallOrder, ClaimHow, DtmfKey, DtmfKeys, E164, IgnoredBecause, LegEndCause, SignOnMode,
    SignOnWord, TimelineEvent as T,
};

use super::{CallFlow, CenterPhase};
use crate::flow::digits::{SignOn, SignOnStep};
use crate::flow::{Command, DialTarget, EndCause, Leg, LegFailure, LegStatus, PromptKind, Status};

impl CallFlow {
    pub(super) fn start(&mut self, now: Instant) {
        if self.started {
            return;
        }
        self.started = true;
        let (max, warning) = (
            self.spec.timeouts.max_call_length,
            self.spec.timeouts.max_call_warning,
        );
        self.timers.max_call = Some(now + max);
        // A warning needs room before it: none for a call shorter than twice the notice.
        self.timers.max_call_warning =
            (!warning.is_zero() && max >= 2 * warning).then(|| now + max - warning);
        self.record(T::Started {
            call_order: self.spec.call_order,
        });
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

    pub(super) fn dial_user(&mut self, now: Instant) {
        self.status(Status::Calling);
        let number = self.spec.user_number.clone();
        let target = DialTarget {
            number,
            dnis: None,
            ani: None,
            uui: Vec::new(),
            headers: Vec::new(),
            ring_timeout: self.spec.timeouts.user_ring,
        };
        self.timers.user_ring = Some(now + target.ring_timeout);
        self.dial(Leg::User, target, 0);
    }

    /// Dials the center's `attempt`-th number (0: the route's own, then its fallbacks) with
    /// TAG2 (step 210); nothing when there is no such number.
    pub(super) fn dial_center(&mut self, attempt: usize, now: Instant) {
        let Some(number) = self.center_number(attempt).cloned() else {
            return;
        };
        let target = DialTarget {
            number,
            dnis: self.spec.dnis.clone(),
            ani: Some(self.spec.ani.clone()),
            uui: self.spec.uui.clone(),
            headers: self.spec.center_headers.clone(),
            ring_timeout: self.spec.timeouts.center_ring,
        };
        self.timers.center_ring = Some(now + target.ring_timeout);
        self.dial(Leg::Center, target, attempt);
    }

    pub(super) fn center_number(&self, attempt: usize) -> Option<&E164> {
        std::iter::once(&self.spec.center_number)
            .chain(&self.spec.fallback_numbers)
            .nth(attempt)
    }

    pub(super) fn dial(&mut self, leg: Leg, target: DialTarget, attempt: usize) {
        self.record(T::Dialing {
            leg,
            attempt: attempt_number(attempt),
            // The number stays masked; a DNIS is a routing code, not a person's number.
            number: target.number.masked(),
            request_user: target.dnis.as_ref().map(|d| d.to_string()),
        });
        self.set_leg(leg, LegStatus::Dialing { attempt });
        self.commands.push_back(Command::Dial {
            leg,
            target,
            attempt,
        });
    }

    pub(super) fn answered(&mut self, leg: Leg, now: Instant) {
        if !matches!(self.leg(leg), LegStatus::Dialing { .. }) {
            return;
        }
        self.set_leg(leg, LegStatus::Answered);
        self.record(T::Answered { leg });
        match leg {
            Leg::User => {
                self.timers.user_ring = None;
                if self.phase == CenterPhase::Ready {
                    self.bridge();
                    return;
                }
                if let Some(consent) = self.spec.consent.clone()
                    && self.center == LegStatus::NotDialed
                {
                    self.awaiting_consent = true;
                    self.record(T::ConsentAsked { key: consent.key });
                    self.play(Leg::User, PromptKind::Consent, consent.prompt, true);
                    self.status(Status::AwaitingConsent { key: consent.key });
                    self.timers.consent = Some(now + consent.timeout);
                    return;
                }
                self.user_connecting(now);
            }
            Leg::Center => {
                self.timers.center_ring = None;
                self.phase = CenterPhase::AwaitingSignOn;
                self.sign_on = SignOn::new(self.spec.sign_on.clone(), self.spec.pin_retries);
                let mode = match &self.spec.sign_on {
                    SignOnMode::None => {
                        self.record(T::SignOnOk {});
                        self.signed_on(now);
                        return;
                    }
                    SignOnMode::Hash => SignOnWord::Hash,
                    SignOnMode::Pin(_) => SignOnWord::Pin,
                    SignOnMode::AgentPin => SignOnWord::AgentPin,
                    SignOnMode::Console => SignOnWord::Console,
                };
                self.record(T::SignOnWaiting { mode });
                self.timers.sign_on = Some(now + self.spec.timeouts.sign_on);
                if mode == SignOnWord::Console {
                    self.offer();
                }
            }
        }
    }

    /// The user is on the line and may be connected: hold music, and the center dialed.
    fn user_connecting(&mut self, now: Instant) {
        let hold = self.spec.texts.hold.clone();
        self.play(Leg::User, PromptKind::Hold, hold, true);
        self.status(Status::Connecting);
        if self.center == LegStatus::NotDialed {
            self.dial_center(0, now);
        }
    }

    /// A leg that never answered: the user's ends the call, the center's tries the next number
    /// and then tells the user (step 210's fallback order).
    pub(super) fn unreached(
        &mut self,
        leg: Leg,
        attempt: usize,
        failure: LegFailure,
        now: Instant,
    ) {
        match leg {
            Leg::User => {
                self.timers.user_ring = None;
                self.end(failure.user_unreachable(), None, now);
            }
            Leg::Center => {
                self.timers.center_ring = None;
                if self.center_number(attempt + 1).is_some() {
                    self.record(T::Fallback {
                        attempt: attempt_number(attempt + 1),
                    });
                    self.dial_center(attempt + 1, now);
                } else {
                    self.record(T::CenterUnreachable {
                        numbers_tried: attempt_number(attempt + 1),
                    });
                    let text = self.spec.texts.center_unreachable.clone();
                    self.end(EndCause::CenterUnreachable, Some(text), now);
                }
            }
        }
    }

    pub(super) fn ring_timeout(&mut self, leg: Leg, now: Instant) {
        if let LegStatus::Dialing { attempt } = self.leg(leg) {
            self.commands.push_back(Command::Cancel(leg));
            let failure = LegFailure::NoAnswer;
            self.set_leg(leg, LegStatus::Gone(failure.end_cause()));
            self.record(T::NoAnswer {
                leg,
                attempt: attempt_number(attempt),
            });
            self.unreached(leg, attempt, failure, now);
        }
    }

    /// A dial that did not reach an answer.
    pub(super) fn failed(&mut self, leg: Leg, attempt: usize, failure: LegFailure) {
        let end = failure.end_cause();
        self.set_leg(leg, LegStatus::Gone(end));
        self.record(T::Failed {
            leg,
            attempt: attempt_number(attempt),
            end,
        });
    }

    /// The maximum call length is near: each answered party hears the notice, on its own.
    pub(super) fn warn_max_call(&mut self) {
        let answered: Vec<Leg> = [Leg::User, Leg::Center]
            .into_iter()
            .filter(|leg| self.leg(*leg) == LegStatus::Answered)
            .collect();
        if answered.is_empty() {
            return;
        }
        self.record(T::MaxDurationWarning {
            secs_left: self.spec.timeouts.max_call_warning.as_secs(),
        });
        for leg in answered {
            let text = self.spec.texts.max_call_warning.clone();
            self.commands.push_back(Command::Announce { leg, text });
        }
    }

    pub(super) fn hung_up(&mut self, leg: Leg, end: LegEndCause, now: Instant) {
        self.set_leg(leg, LegStatus::Gone(end));
        self.record(T::HungUp { leg, end });
        let bridged = self.phase == CenterPhase::Bridged;
        // A leg that died without a BYE (media stopped, transport failed) was not hung up.
        let lost = end == LegEndCause::NetworkError;
        let (cause, farewell) = match (leg, bridged) {
            (Leg::User, _) if lost => (EndCause::UserLineLost, None),
            (Leg::Center, true) if lost => (EndCause::AgentLineLost, None),
            (Leg::Center, false) if lost => (
                EndCause::AgentLineLost,
                Some(self.spec.texts.goodbye.clone()),
            ),
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

    pub(super) fn digit(&mut self, leg: Leg, key: DtmfKey, now: Instant) {
        if leg == Leg::User && self.awaiting_consent {
            if self.spec.consent.as_ref().is_some_and(|c| c.key == key) {
                self.awaiting_consent = false;
                self.timers.consent = None;
                self.record(T::ConsentGiven {});
                self.user_connecting(now);
            } else {
                self.ignored(leg, key, IgnoredBecause::UserKey);
            }
            return;
        }
        if leg == Leg::User || self.center != LegStatus::Answered {
            if self.leg(leg) == LegStatus::Answered {
                self.ignored(leg, key, IgnoredBecause::UserKey);
            }
            return;
        }
        match self.phase {
            CenterPhase::AwaitingSignOn => self.sign_on_key(key, now),
            CenterPhase::Bridged if !key.is_page_key() && key != DtmfKey::HASH => {
                self.ignored(leg, key, IgnoredBecause::NotPageKey);
            }
            CenterPhase::Bridged => {
                let silence = self.spec.timeouts.page_digits;
                if let Some(run) = self.page_digits.key(key, now, silence) {
                    self.push_page(run);
                }
            }
            _ => self.ignored(leg, key, IgnoredBecause::BeforeBridge),
        }
    }

    fn ignored(&mut self, leg: Leg, key: DtmfKey, because: IgnoredBecause) {
        self.record(T::DigitIgnored { leg, key, because });
    }

    pub(super) fn sign_on_key(&mut self, key: DtmfKey, now: Instant) {
        match self.sign_on.key(key) {
            // PIN digits stay out of the timeline.
            SignOnStep::Collecting => {}
            SignOnStep::Ignored => self.ignored(Leg::Center, key, IgnoredBecause::NotSignOnKey),
            SignOnStep::Accepted => {
                self.record(T::SignOnOk {});
                self.signed_on(now);
            }
            SignOnStep::Identify(pin) => self.commands.push_back(Command::IdentifyAgent { pin }),
            step @ (SignOnStep::WrongPin { .. } | SignOnStep::Failed) => self.wrong_pin(step, now),
        }
    }

    fn wrong_pin(&mut self, step: SignOnStep, now: Instant) {
        match step {
            SignOnStep::WrongPin { retries_left } => {
                self.record(T::SignOnWrongPin { retries_left });
                let text = self.spec.texts.wrong_pin.clone();
                self.play(Leg::Center, PromptKind::WrongPin, text, false);
                self.timers.sign_on = Some(now + self.spec.timeouts.sign_on);
            }
            SignOnStep::Failed => {
                self.record(T::SignOnFailed {});
                let goodbye = self.spec.texts.goodbye.clone();
                self.end(EndCause::SignOnFailed, Some(goodbye), now);
            }
            _ => {}
        }
    }

    /// The personal PIN the agent keyed is nobody's: a wrong try like a wrong shared PIN.
    pub(super) fn agent_pin_unknown(&mut self, now: Instant) {
        if self.phase != CenterPhase::AwaitingSignOn || self.spec.sign_on != SignOnMode::AgentPin {
            return;
        }
        let step = self.sign_on.unknown_pin();
        self.wrong_pin(step, now);
    }

    /// Sign-on mode `console`: the call goes to the agents' consoles with its reference, and
    /// the agent hears the reference until someone claims it.
    fn offer(&mut self) {
        let Some(reference) = self.spec.call_reference.clone() else {
            return;
        };
        self.offered = true;
        self.record(T::Offered {
            reference: reference.clone(),
        });
        self.commands.push_back(Command::Offer { reference });
        let prompt = self.spec.texts.claim_prompt.clone();
        self.play(Leg::Center, PromptKind::ClaimWait, prompt, true);
    }

    pub(super) fn withdraw_offer(&mut self) {
        if std::mem::take(&mut self.offered) {
            self.commands.push_back(Command::WithdrawOffer);
        }
    }

    /// An agent has the call, by the way the sign-on mode asks for; any other claim (a
    /// console claim in PIN mode, a claim after the sign-on) changes nothing.
    pub(super) fn claimed(&mut self, agent_id: i64, how: ClaimHow, now: Instant) {
        let expected = match self.spec.sign_on {
            SignOnMode::AgentPin => ClaimHow::Pin,
            SignOnMode::Console => ClaimHow::Console,
            _ => return,
        };
        if self.phase != CenterPhase::AwaitingSignOn || how != expected {
            return;
        }
        self.withdraw_offer();
        self.record(T::Claimed { agent_id, how });
        self.record(T::SignOnOk {});
        self.signed_on(now);
    }

    /// A person listens at the center: first the session reference as keys when the route
    /// sends it so (the center's ACD or CTI reads them before the agent hears anything), then
    /// the whisper.
    pub(super) fn signed_on(&mut self, now: Instant) {
        self.timers.sign_on = None;
        if !self.spec.send_ref_digits {
            self.whisper(now);
            return;
        }
        self.phase = CenterPhase::SendingRef;
        if std::mem::take(&mut self.center_playing) {
            self.commands.push_back(Command::StopPlaying(Leg::Center));
        }
        let keys = self.spec.session_ref.keys();
        self.record(T::RefDigitsStart {
            keys: self.spec.session_ref.to_string(),
        });
        self.timers.ref_digits = Some(now + self.spec.timeouts.ref_digits);
        self.commands.push_back(Command::SendDigits {
            leg: Leg::Center,
            keys,
        });
    }

    /// Step 214: the agent hears the web context; the user keeps hearing hold audio.
    pub(super) fn whisper(&mut self, now: Instant) {
        self.timers.sign_on = None;
        self.phase = CenterPhase::Whispering;
        if std::mem::take(&mut self.center_playing) {
            self.commands.push_back(Command::StopPlaying(Leg::Center));
        }
        self.record(T::WhisperStart {});
        self.timers.whisper = Some(now + self.spec.timeouts.whisper);
        let text = self.spec.texts.whisper.clone();
        self.play(Leg::Center, PromptKind::Whisper, text, false);
    }

    pub(super) fn whispered(&mut self, now: Instant) {
        self.record(T::WhisperEnd {});
        self.timers.whisper = None;
        self.phase = CenterPhase::Ready;
        if self.user == LegStatus::Answered {
            self.bridge();
            return;
        }
        let wait = self.spec.texts.center_wait.clone();
        self.play(Leg::Center, PromptKind::CenterWait, wait, true);
        if self.user == LegStatus::NotDialed {
            self.dial_user(now);
        }
    }

    /// Step 215.
    pub(super) fn bridge(&mut self) {
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
        self.record(T::Bridged {});
    }

    pub(super) fn push_page(&mut self, keys: DtmfKeys) {
        self.record(T::PagePush {
            keys: keys.to_string(),
        });
        self.commands.push_back(Command::PushPage { keys });
    }
}

/// An attempt index as the timeline writes it; a call has at most a handful of numbers.
fn attempt_number(attempt: usize) -> u32 {
    u32::try_from(attempt).unwrap_or(u32::MAX)
}
