//! How a call moves forward (seed 002 steps 206–217): dialing with TAG2, answers, the
//! center fallback order, sign-on, whisper, bridge and page-push digits. Every way out goes
//! through `CallFlow::end` in the parent module, which owns releasing the legs.

use std::time::Instant;

use super::{CallFlow, CenterPhase};
use crate::flow::digits::{SignOn, SignOnStep};
use crate::flow::{
    CallOrder, Command, DialTarget, EndCause, Leg, LegEnd, LegFailure, LegStatus, PhoneNumber,
    Prompt, SignOnMode, Status,
};

impl CallFlow {
    pub(super) fn start(&mut self, now: Instant) {
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

    pub(super) fn dial_user(&mut self, now: Instant) {
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
    /// TAG2 (step 210); nothing when there is no such number.
    pub(super) fn dial_center(&mut self, attempt: usize, now: Instant) {
        let Some(number) = self.center_number(attempt).cloned() else {
            return;
        };
        let target = DialTarget {
            request_user: self
                .spec
                .dnis
                .clone()
                .unwrap_or_else(|| number.as_str().to_owned()),
            number,
            ani: Some(self.spec.ani.clone()),
            uui: self.spec.uui.clone(),
            ring_timeout: self.spec.timeouts.center_ring,
        };
        self.timers.center_ring = Some(now + target.ring_timeout);
        self.dial(Leg::Center, target, attempt);
    }

    pub(super) fn center_number(&self, attempt: usize) -> Option<&PhoneNumber> {
        std::iter::once(&self.spec.center_number)
            .chain(&self.spec.fallback_numbers)
            .nth(attempt)
    }

    pub(super) fn dial(&mut self, leg: Leg, target: DialTarget, attempt: usize) {
        let mut detail = format!("{leg} attempt {attempt} to {}", target.number.masked());
        // Only a DNIS is worth showing; the number itself stays masked.
        if target.request_user != target.number.as_str() {
            detail.push_str(&format!(" as {}", target.request_user));
        }
        self.record("dialing", detail);
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
                        self.whisper(now);
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

    pub(super) fn ring_timeout(&mut self, leg: Leg, now: Instant) {
        if let LegStatus::Dialing { attempt } = self.leg(leg) {
            self.commands.push_back(Command::Cancel(leg));
            let failure = LegFailure::NoAnswer;
            self.set_leg(leg, LegStatus::Gone(LegEnd::Failed(failure)));
            self.record("no_answer", format!("{leg} attempt {attempt}"));
            self.unreached(leg, attempt, failure, now);
        }
    }

    pub(super) fn hung_up(&mut self, leg: Leg, end: LegEnd, now: Instant) {
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

    pub(super) fn digit(&mut self, leg: Leg, key: char, now: Instant) {
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

    pub(super) fn sign_on_key(&mut self, key: char, now: Instant) {
        match self.sign_on.key(key) {
            // PIN digits stay out of the timeline.
            SignOnStep::Collecting => {}
            SignOnStep::Ignored => self.record("digit_ignored", format!("center leg key {key}")),
            SignOnStep::Accepted => {
                self.record("sign_on_ok", String::new());
                self.whisper(now);
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
    pub(super) fn whisper(&mut self, now: Instant) {
        self.timers.sign_on = None;
        self.phase = CenterPhase::Whispering;
        if std::mem::take(&mut self.center_playing) {
            self.commands.push_back(Command::StopPlaying(Leg::Center));
        }
        self.record("whisper_start", String::new());
        self.timers.whisper = Some(now + self.spec.timeouts.whisper);
        let text = self.spec.texts.whisper.clone();
        self.commands.push_back(Command::Whisper { text });
    }

    pub(super) fn whispered(&mut self, now: Instant) {
        self.record("whisper_end", String::new());
        self.timers.whisper = None;
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
        self.record("bridged", String::new());
    }

    pub(super) fn push_page(&mut self, digits: String) {
        self.record("page_push", format!("digits {digits}"));
        self.commands.push_back(Command::PushPage { digits });
    }
}
