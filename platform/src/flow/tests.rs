//! Behaviour tests of the call flow: one per call order, sign-on mode and way of ending, driven
//! with values and fake time. The harness checks on every step that each leg the flow dialed
//! is ended exactly once, by a command or by an event, and agrees with `CallFlow::leg`.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use super::*;
use words::{CallOrder, DtmfKey, E164, SignOnMode};

const SEC: Duration = Duration::from_secs(1);

pub(super) fn number(text: &str) -> E164 {
    text.parse().expect("test number is valid")
}

pub(super) fn key(c: char) -> DtmfKey {
    DtmfKey::from_char(c).expect("test key is a DTMF key")
}

/// The whisper finished playing on the center leg.
pub(super) fn whisper_done() -> Event {
    Event::PlayoutDone(Leg::Center, PromptKind::Whisper)
}

pub(super) fn spec(order: CallOrder, sign_on: SignOnMode) -> FlowSpec {
    FlowSpec {
        session_ref: "2718281828".parse().expect("ref"),
        call_order: order,
        user_number: number("+4930111111"),
        center_number: number("+4940222222"),
        fallback_numbers: vec![number("+4940333333"), number("+4940444444")],
        dnis: Some("8001".parse().expect("dnis")),
        ani: number("+4930111111"),
        uui: vec![0x04, 0x71, 0x1a],
        center_headers: vec![("X-Callbond-Ref".into(), "2718281828".into())],
        send_ref_digits: false,
        texts: Texts {
            whisper: "billing customer 4 7 1 1".into(),
            hold: "please hold".into(),
            center_wait: "connecting the caller".into(),
            center_unreachable: "no agent now".into(),
            goodbye: "goodbye".into(),
            wrong_pin: "Wrong PIN, try again".into(),
            max_call_warning: "one minute left".into(),
            claim_prompt: "Call reference 4 2 7. Claim it on your console.".into(),
        },
        sign_on,
        timeouts: Timeouts {
            user_ring: 30 * SEC,
            center_ring: 20 * SEC,
            sign_on: 15 * SEC,
            whisper: 40 * SEC,
            ref_digits: 8 * SEC,
            max_call_length: 3600 * SEC,
            max_call_warning: 60 * SEC,
            page_digits: PAGE_DIGIT_TIMEOUT,
        },
        pin_retries: 3,
        call_reference: Some("427".into()),
        consent: None,
    }
}

/// Drives a flow and keeps the test's own ledger of open legs.
pub(super) struct Harness {
    pub(super) flow: CallFlow,
    pub(super) now: Instant,
    pub(super) start: Instant,
    open: HashSet<Leg>,
    pub(super) timeline: Vec<&'static str>,
    statuses: Vec<Status>,
}

impl Harness {
    pub(super) fn new(spec: FlowSpec) -> Self {
        let start = Instant::now();
        Self {
            flow: CallFlow::new(spec),
            now: start,
            start,
            open: HashSet::new(),
            timeline: Vec::new(),
            statuses: Vec::new(),
        }
    }

    /// Feeds an event; returns the commands without timeline rows.
    pub(super) fn event(&mut self, event: Event) -> Vec<Command> {
        if let Event::Failed(leg, _) | Event::HungUp(leg) = event
            && self.flow.leg(leg).is_open()
        {
            assert!(self.open.remove(&leg), "{leg} open in flow, not in ledger");
        }
        self.flow.handle(event, self.now);
        self.drain()
    }

    /// Lets `by` pass, firing due timers.
    pub(super) fn advance(&mut self, by: Duration) -> Vec<Command> {
        self.now += by;
        self.flow.handle_timeout(self.now);
        self.drain()
    }

    fn drain(&mut self) -> Vec<Command> {
        let mut out = Vec::new();
        while let Some(cmd) = self.flow.poll_command() {
            match &cmd {
                Command::Dial { leg, .. } => {
                    assert!(self.open.insert(*leg), "{leg} dialed while open");
                }
                Command::Cancel(leg) | Command::Hangup(leg) => {
                    assert!(self.open.remove(leg), "{leg} ended but was not open");
                }
                Command::PublishStatus(status) => {
                    assert!(
                        !matches!(self.statuses.last(), Some(Status::Ended { .. })),
                        "a status after Ended: {status:?}"
                    );
                    self.statuses.push(status.clone());
                }
                Command::RecordEvent(event) => self.timeline.push(event.kind()),
                _ => {}
            }
            if !matches!(cmd, Command::RecordEvent { .. }) {
                out.push(cmd);
            }
        }
        for leg in [Leg::User, Leg::Center] {
            assert_eq!(
                self.flow.leg(leg).is_open(),
                self.open.contains(&leg),
                "{leg}: flow and ledger disagree"
            );
        }
        if self.flow.is_finished() {
            assert!(
                self.open.is_empty(),
                "finished with open legs {:?}",
                self.open
            );
            assert_eq!(self.flow.poll_timeout(), None, "finished but still timed");
        }
        out
    }

    pub(super) fn ended_with(&self) -> Option<EndCause> {
        match self.statuses.last() {
            Some(Status::Ended { cause }) => Some(*cause),
            _ => None,
        }
    }
}

fn dialed(cmds: &[Command]) -> Vec<(Leg, String, usize)> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::Dial {
                leg,
                target,
                attempt,
            } => Some((*leg, target.number.to_string(), *attempt)),
            _ => None,
        })
        .collect()
}

fn say(leg: Leg, kind: PromptKind, text: &str, looped: bool) -> Command {
    let text = text.into();
    Command::Play {
        leg,
        prompt: Prompt { kind, text, looped },
    }
}

fn hold() -> Command {
    say(Leg::User, PromptKind::Hold, "please hold", true)
}

fn whisper() -> Command {
    let text = "billing customer 4 7 1 1";
    say(Leg::Center, PromptKind::Whisper, text, false)
}

fn status(s: Status) -> Command {
    Command::PublishStatus(s)
}

fn ended(cause: EndCause) -> Command {
    status(Status::Ended { cause })
}

fn page(keys: &str) -> Command {
    Command::PushPage {
        keys: keys.parse().expect("page keys"),
    }
}

fn consent_spec() -> FlowSpec {
    let mut s = spec(CallOrder::UserFirst, SignOnMode::Hash);
    s.consent = Some(Consent {
        key: key('7'),
        prompt: "press 7 to talk to an agent".into(),
        timeout: 15 * SEC,
    });
    s
}

/// A callback attempt with consent: the answered visitor hears the prompt and nothing is
/// dialed toward the center until they press the key their page shows; other keys change
/// nothing, the right one connects as a call without consent would.
#[test]
fn consent_key_before_the_center_is_dialed() {
    let mut h = Harness::new(consent_spec());
    h.event(Event::Started);
    let cmds = h.event(Event::Answered(Leg::User));
    let prompt = say(
        Leg::User,
        PromptKind::Consent,
        "press 7 to talk to an agent",
        true,
    );
    assert_eq!(
        cmds,
        [prompt, status(Status::AwaitingConsent { key: key('7') })]
    );
    assert!(dialed(&cmds).is_empty());
    for wrong in ['1', '#', '8'] {
        let cmds = h.event(Event::DigitsReceived(Leg::User, key(wrong)));
        assert!(cmds.is_empty(), "{wrong}: {cmds:?}");
    }
    h.advance(14 * SEC);
    let cmds = h.event(Event::DigitsReceived(Leg::User, key('7')));
    assert_eq!(dialed(&cmds), [(Leg::Center, "+4940222222".to_owned(), 0)]);
    assert!(cmds.contains(&hold()), "{cmds:?}");
    assert!(cmds.contains(&status(Status::Connecting)), "{cmds:?}");
    // The consent timer is gone: past it, the call goes on.
    h.advance(5 * SEC);
    assert_eq!(h.ended_with(), None);
    assert_eq!(
        h.timeline
            .iter()
            .filter(|k| k.starts_with("consent"))
            .copied()
            .collect::<Vec<_>>(),
        ["consent_asked", "consent_given"]
    );
    // A 7 later is only a user key.
    h.event(Event::DigitsReceived(Leg::User, key('7')));
    assert_eq!(h.timeline.last(), Some(&"digit_ignored"));
}

/// No key within the limit (a voicemail box, a wrong person): the visitor is told goodbye,
/// the call ends as `user_no_consent` and the center is never dialed.
#[test]
fn no_consent_key_ends_the_call_without_the_center() {
    let mut h = Harness::new(consent_spec());
    h.event(Event::Started);
    h.event(Event::Answered(Leg::User));
    h.event(Event::DigitsReceived(Leg::User, key('3')));
    let mut all = h.advance(15 * SEC);
    all.extend(h.event(Event::PlayoutDone(Leg::User, PromptKind::Farewell)));
    assert!(dialed(&all).is_empty(), "{all:?}");
    assert!(
        all.contains(&say(Leg::User, PromptKind::Farewell, "goodbye", false)),
        "{all:?}"
    );
    assert!(all.contains(&Command::Hangup(Leg::User)), "{all:?}");
    assert_eq!(h.ended_with(), Some(EndCause::UserNoConsent));
    assert!(h.timeline.contains(&"consent_timeout"), "{:?}", h.timeline);
    assert!(h.flow.is_finished());
}

/// The route keys the session reference after sign-on: the digits go out before the
/// whisper, and the whisper starts once they were sent (or after their timeout).
#[test]
fn ref_digits_come_between_sign_on_and_whisper() {
    let digits = Command::SendDigits {
        leg: Leg::Center,
        keys: "2718281828".chars().map(key).collect(),
    };
    for sign_on in [SignOnMode::Hash, SignOnMode::None] {
        let mut s = spec(CallOrder::UserFirst, sign_on.clone());
        s.send_ref_digits = true;
        let mut h = Harness::new(s);
        h.event(Event::Started);
        h.event(Event::Answered(Leg::User));
        let mut cmds = h.event(Event::Answered(Leg::Center));
        if sign_on == SignOnMode::Hash {
            assert!(!cmds.contains(&digits), "no digits before the sign-on");
            cmds = h.event(Event::DigitsReceived(Leg::Center, key('#')));
        }
        assert_eq!(cmds, std::slice::from_ref(&digits), "{sign_on:?}");
        assert_eq!(h.flow.state(), State::Whispering);
        // An agent key meanwhile is not a page key; the user sent nothing.
        h.event(Event::DigitsReceived(Leg::Center, key('1')));
        // Digits sent on the other leg are not these.
        assert!(
            h.event(Event::DigitsSent(Leg::User, DigitPath::Rfc4733))
                .is_empty()
        );
        let cmds = h.event(Event::DigitsSent(Leg::Center, DigitPath::Rfc4733));
        assert_eq!(cmds, [whisper()]);
        // A late second report changes nothing.
        assert!(
            h.event(Event::DigitsSent(Leg::Center, DigitPath::Rfc4733))
                .is_empty()
        );
        let cmds = h.event(whisper_done());
        assert!(cmds.contains(&Command::Bridge), "{cmds:?}");
        let want = [
            "sign_on_ok",
            "ref_digits_start",
            "digit_ignored",
            "ref_digits_end",
            "whisper_start",
            "whisper_end",
            "bridged",
        ];
        let at = h
            .timeline
            .iter()
            .position(|k| *k == "sign_on_ok")
            .expect("signed on");
        let got: Vec<&str> = h.timeline[at..]
            .iter()
            .copied()
            .filter(|k| want.contains(k))
            .collect();
        assert_eq!(got, want);
    }

    // Digits that never report their end: the whisper starts at the timeout.
    let mut s = spec(CallOrder::UserFirst, SignOnMode::None);
    s.send_ref_digits = true;
    let mut h = Harness::new(s);
    h.event(Event::Started);
    h.event(Event::Answered(Leg::User));
    assert_eq!(
        h.event(Event::Answered(Leg::Center)),
        std::slice::from_ref(&digits)
    );
    assert!(h.advance(8 * SEC - Duration::from_millis(1)).is_empty());
    assert_eq!(h.advance(Duration::from_millis(1)), [whisper()]);
    assert!(h.timeline.contains(&"ref_digits_timeout"));
    assert!(!h.timeline.contains(&"ref_digits_end"));

    // The agent leaves while the digits go out: the call ends as before a whisper.
    let mut s = spec(CallOrder::UserFirst, SignOnMode::None);
    s.send_ref_digits = true;
    let mut h = Harness::new(s);
    h.event(Event::Started);
    h.event(Event::Answered(Leg::User));
    h.event(Event::Answered(Leg::Center));
    h.event(Event::HungUp(Leg::Center));
    assert_eq!(h.flow.state(), State::Ending);
    assert!(
        h.event(Event::DigitsSent(Leg::Center, DigitPath::Rfc4733))
            .is_empty()
    );
}

/// A user-first call brought to the bridge with `#` sign-on.
fn bridged_user_first() -> Harness {
    let mut h = Harness::new(spec(CallOrder::UserFirst, SignOnMode::Hash));
    h.event(Event::Started);
    h.event(Event::Answered(Leg::User));
    h.event(Event::Answered(Leg::Center));
    h.event(Event::DigitsReceived(Leg::Center, key('#')));
    h.event(whisper_done());
    assert_eq!(h.flow.state(), State::Bridged);
    h
}

#[test]
fn user_first_main_flow_step_by_step() {
    let mut h = Harness::new(spec(CallOrder::UserFirst, SignOnMode::Hash));
    assert_eq!(h.flow.state(), State::Starting);
    assert_eq!(h.flow.poll_timeout(), None);

    let cmds = h.event(Event::Started);
    let user_target = DialTarget {
        number: number("+4930111111"),
        dnis: None,
        ani: None,
        uui: vec![],
        headers: vec![],
        ring_timeout: 30 * SEC,
    };
    let dial_user = Command::Dial {
        leg: Leg::User,
        target: user_target,
        attempt: 0,
    };
    assert_eq!(cmds, [status(Status::Calling), dial_user]);
    assert_eq!(h.flow.state(), State::DialingUser);
    assert_eq!(h.flow.poll_timeout(), Some(h.start + 30 * SEC));

    h.event(Event::Ringing(Leg::User));
    h.now += 4 * SEC;
    let cmds = h.event(Event::Answered(Leg::User));
    // Step 210, TAG2: Request-URI user = DNIS, ANI = the user's number, UUI passed through.
    let center_target = DialTarget {
        number: number("+4940222222"),
        dnis: Some("8001".parse().expect("dnis")),
        ani: Some(number("+4930111111")),
        uui: vec![0x04, 0x71, 0x1a],
        headers: vec![("X-Callbond-Ref".into(), "2718281828".into())],
        ring_timeout: 20 * SEC,
    };
    let dial_center = Command::Dial {
        leg: Leg::Center,
        target: center_target,
        attempt: 0,
    };
    assert_eq!(cmds, [hold(), status(Status::Connecting), dial_center]);
    assert_eq!(h.flow.state(), State::HoldingUser);
    assert_eq!(h.flow.poll_timeout(), Some(h.now + 20 * SEC));

    h.now += 3 * SEC;
    assert_eq!(h.event(Event::Answered(Leg::Center)), []);
    assert_eq!(h.flow.state(), State::AwaitingSignOn);
    assert_eq!(h.flow.poll_timeout(), Some(h.now + 15 * SEC));
    assert_eq!(h.event(Event::DigitsReceived(Leg::Center, key('1'))), []);
    assert_eq!(
        h.event(Event::DigitsReceived(Leg::Center, key('#'))),
        [whisper()]
    );
    assert_eq!(h.flow.state(), State::Whispering);
    // The agent's keys during the whisper are not pages; the user still hears hold.
    assert_eq!(h.event(Event::DigitsReceived(Leg::Center, key('5'))), []);

    let cmds = h.event(whisper_done());
    let want = [
        Command::StopPlaying(Leg::User),
        Command::Bridge,
        status(Status::AgentOnLine),
    ];
    assert_eq!(cmds, want);
    assert_eq!(h.flow.state(), State::Bridged);

    // Step 216: one key → a page after the inter-digit silence; "12" as one run; `#` ends a run.
    assert_eq!(h.event(Event::DigitsReceived(Leg::Center, key('1'))), []);
    assert_eq!(h.flow.poll_timeout(), Some(h.now + PAGE_DIGIT_TIMEOUT));
    assert_eq!(h.advance(Duration::from_millis(1499)), []);
    assert_eq!(h.advance(Duration::from_millis(1)), [page("1")]);
    h.event(Event::DigitsReceived(Leg::Center, key('1')));
    h.advance(SEC);
    h.event(Event::DigitsReceived(Leg::Center, key('2')));
    assert_eq!(h.advance(SEC), []);
    assert_eq!(h.advance(SEC), [page("12")]);
    h.event(Event::DigitsReceived(Leg::Center, key('7')));
    assert_eq!(
        h.event(Event::DigitsReceived(Leg::Center, key('#'))),
        [page("7")]
    );
    assert_eq!(h.advance(10 * SEC), []);
    // The user's keys are never pages.
    assert_eq!(h.event(Event::DigitsReceived(Leg::User, key('3'))), []);
    assert_eq!(h.advance(10 * SEC), []);

    // Steps 218–219.
    let cmds = h.event(Event::HungUp(Leg::Center));
    assert_eq!(
        cmds,
        [Command::Hangup(Leg::User), ended(EndCause::AgentHungUp)]
    );
    assert!(h.flow.is_finished());
    assert_eq!(h.flow.state(), State::Ended);
    let outcome = Outcome {
        cause: EndCause::AgentHungUp,
        user_leg: Some(LegEndCause::LocalHangup),
        center_leg: Some(LegEndCause::RemoteHangup),
    };
    assert_eq!(h.flow.outcome(), Some(outcome));

    let want = [
        "started",
        "dialing",
        "ringing",
        "answered",
        "dialing",
        "answered",
        "sign_on_waiting",
        "digit_ignored",
        "sign_on_ok",
        "whisper_start",
        "digit_ignored",
        "whisper_end",
        "bridged",
        "page_push",
        "page_push",
        "page_push",
        "digit_ignored",
        "hung_up",
        "ending",
        "hangup",
        "finished",
    ];
    assert_eq!(h.timeline, want);
}

#[test]
fn without_dnis_the_center_number_is_the_request_user() {
    let mut s = spec(CallOrder::CenterFirst, SignOnMode::Hash);
    s.dnis = None;
    let mut h = Harness::new(s);
    let cmds = h.event(Event::Started);
    let Some(Command::Dial { target, .. }) =
        cmds.iter().find(|c| matches!(c, Command::Dial { .. }))
    else {
        panic!("no dial in {cmds:?}");
    };
    assert_eq!(
        target.dnis, None,
        "no DNIS: the center number is the request user"
    );
}

#[test]
fn sign_on_none_whispers_on_answer() {
    let mut h = Harness::new(spec(CallOrder::UserFirst, SignOnMode::None));
    h.event(Event::Started);
    h.event(Event::Answered(Leg::User));
    assert_eq!(h.event(Event::Answered(Leg::Center)), [whisper()]);
    assert_eq!(h.flow.state(), State::Whispering);
}

#[test]
fn hash_sign_on_ignores_other_keys() {
    let mut h = Harness::new(spec(CallOrder::UserFirst, SignOnMode::Hash));
    h.event(Event::Started);
    h.event(Event::Answered(Leg::User));
    h.event(Event::Answered(Leg::Center));
    for key in ['1', '*', '9', 'A'] {
        assert_eq!(
            h.event(Event::DigitsReceived(Leg::Center, super::tests::key(key))),
            []
        );
    }
    // The user cannot sign the agent on.
    assert_eq!(h.event(Event::DigitsReceived(Leg::User, key('#'))), []);
    assert_eq!(h.flow.state(), State::AwaitingSignOn);
    assert_eq!(
        h.event(Event::DigitsReceived(Leg::Center, key('#'))),
        [whisper()]
    );
}

fn pin_call(retries: u32) -> Harness {
    let mut s = spec(
        CallOrder::UserFirst,
        SignOnMode::Pin("4711".parse().expect("valid")),
    );
    s.pin_retries = retries;
    let mut h = Harness::new(s);
    h.event(Event::Started);
    h.event(Event::Answered(Leg::User));
    h.event(Event::Answered(Leg::Center));
    h
}

fn keys(h: &mut Harness, keys: &str) -> Vec<Command> {
    keys.chars()
        .flat_map(|k| h.event(Event::DigitsReceived(Leg::Center, key(k))))
        .collect()
}

#[test]
fn pin_sign_on_accepts_after_a_wrong_try() {
    let mut h = pin_call(3);
    let wrong = say(
        Leg::Center,
        PromptKind::WrongPin,
        "Wrong PIN, try again",
        false,
    );
    assert_eq!(keys(&mut h, "12#"), [wrong]);
    assert_eq!(keys(&mut h, "471"), []);
    assert_eq!(
        keys(&mut h, "1"),
        [Command::StopPlaying(Leg::Center), whisper()]
    );
    assert!(h.timeline.contains(&"sign_on_wrong_pin"));
}

#[test]
fn too_many_wrong_pins_end_with_sign_on_failed() {
    let mut h = pin_call(1);
    let wrong = say(
        Leg::Center,
        PromptKind::WrongPin,
        "Wrong PIN, try again",
        false,
    );
    assert_eq!(keys(&mut h, "0000"), [wrong]);
    let cmds = keys(&mut h, "9999");
    let want = [
        Command::Hangup(Leg::Center),
        say(Leg::User, PromptKind::Farewell, "goodbye", false),
    ];
    assert_eq!(cmds, want);
    assert_eq!(h.flow.state(), State::Ending);
    let cmds = h.event(Event::PlayoutDone(Leg::User, PromptKind::Farewell));
    assert_eq!(
        cmds,
        [Command::Hangup(Leg::User), ended(EndCause::SignOnFailed)]
    );
}

#[test]
fn wrong_pin_restarts_the_sign_on_timer() {
    let mut h = pin_call(3);
    h.advance(10 * SEC);
    keys(&mut h, "1#");
    assert_eq!(h.advance(14 * SEC), []);
    assert_eq!(h.flow.state(), State::AwaitingSignOn);
    let cmds = h.advance(SEC);
    assert_eq!(cmds[0], Command::Hangup(Leg::Center));
}

#[test]
fn agent_never_signing_on_ends_the_call() {
    let mut h = Harness::new(spec(CallOrder::UserFirst, SignOnMode::Hash));
    h.event(Event::Started);
    h.event(Event::Answered(Leg::User));
    h.event(Event::Answered(Leg::Center));
    assert_eq!(h.advance(15 * SEC - Duration::from_millis(1)), []);
    let cmds = h.advance(Duration::from_millis(1));
    let want = [
        Command::Hangup(Leg::Center),
        say(Leg::User, PromptKind::Farewell, "goodbye", false),
    ];
    assert_eq!(cmds, want);
    // No PlayoutDone arrives: the farewell limit hangs up anyway.
    assert_eq!(h.advance(FAREWELL_LIMIT - SEC), []);
    let cmds = h.advance(SEC);
    let want = [
        Command::Hangup(Leg::User),
        ended(EndCause::AgentNeverSignedOn),
    ];
    assert_eq!(cmds, want);
    assert!(h.timeline.contains(&"sign_on_timeout"));
}

#[test]
fn center_first_dials_the_user_after_the_whisper() {
    let mut h = Harness::new(spec(CallOrder::CenterFirst, SignOnMode::Hash));
    let cmds = h.event(Event::Started);
    assert_eq!(cmds[0], status(Status::Connecting));
    assert_eq!(dialed(&cmds), [(Leg::Center, "+4940222222".into(), 0)]);
    h.event(Event::Answered(Leg::Center));
    assert_eq!(
        h.event(Event::DigitsReceived(Leg::Center, key('#'))),
        [whisper()]
    );
    let cmds = h.event(whisper_done());
    assert_eq!(
        cmds[..2],
        [
            say(
                Leg::Center,
                PromptKind::CenterWait,
                "connecting the caller",
                true
            ),
            status(Status::Calling)
        ]
    );
    assert_eq!(dialed(&cmds), [(Leg::User, "+4930111111".into(), 0)]);
    assert_eq!(h.flow.state(), State::HoldingCenter);
    let cmds = h.event(Event::Answered(Leg::User));
    let want = [
        Command::StopPlaying(Leg::Center),
        Command::Bridge,
        status(Status::AgentOnLine),
    ];
    assert_eq!(cmds, want);
}

#[test]
fn center_first_user_unreachable_releases_the_waiting_agent() {
    let mut h = Harness::new(spec(CallOrder::CenterFirst, SignOnMode::None));
    h.event(Event::Started);
    h.event(Event::Answered(Leg::Center));
    h.event(whisper_done());
    let cmds = h.event(Event::Failed(Leg::User, LegFailure::Busy));
    let cause = EndCause::UserBusy;
    assert_eq!(cmds, [Command::Hangup(Leg::Center), ended(cause)]);
}

#[test]
fn simultaneous_user_answers_first_and_holds() {
    let mut h = Harness::new(spec(CallOrder::Simultaneous, SignOnMode::Hash));
    let cmds = h.event(Event::Started);
    let both = [
        (Leg::User, "+4930111111".into(), 0),
        (Leg::Center, "+4940222222".into(), 0),
    ];
    assert_eq!(dialed(&cmds), both);
    // The center was dialed already: answering does not dial it again.
    assert_eq!(
        h.event(Event::Answered(Leg::User)),
        [hold(), status(Status::Connecting)]
    );
    h.event(Event::Answered(Leg::Center));
    h.event(Event::DigitsReceived(Leg::Center, key('#')));
    let cmds = h.event(whisper_done());
    assert_eq!(
        cmds[..2],
        [Command::StopPlaying(Leg::User), Command::Bridge]
    );
}

#[test]
fn simultaneous_agent_ready_first_waits_for_the_user() {
    let mut h = Harness::new(spec(CallOrder::Simultaneous, SignOnMode::None));
    h.event(Event::Started);
    h.event(Event::Answered(Leg::Center));
    let cmds = h.event(whisper_done());
    assert_eq!(
        cmds,
        [say(
            Leg::Center,
            PromptKind::CenterWait,
            "connecting the caller",
            true
        )]
    );
    let cmds = h.event(Event::Answered(Leg::User));
    assert_eq!(
        cmds[..2],
        [Command::StopPlaying(Leg::Center), Command::Bridge]
    );
}

#[test]
fn user_unreachable_table() {
    let cases = [
        (Some(LegFailure::Busy), LegFailure::Busy),
        (Some(LegFailure::Rejected(603)), LegFailure::Rejected(603)),
        (Some(LegFailure::Network), LegFailure::Network),
        (None, LegFailure::NoAnswer),
    ];
    for (order, (failure, want)) in [CallOrder::UserFirst, CallOrder::Simultaneous]
        .into_iter()
        .flat_map(|o| cases.map(|c| (o, c)))
    {
        let mut s = spec(order, SignOnMode::Hash);
        // So that, when both ring, the user's ring timeout comes first.
        s.timeouts.center_ring = 60 * SEC;
        let mut h = Harness::new(s);
        h.event(Event::Started);
        let cmds = match failure {
            Some(f) => h.event(Event::Failed(Leg::User, f)),
            None => h.advance(30 * SEC),
        };
        let mut expected = vec![];
        if failure.is_none() {
            expected.push(Command::Cancel(Leg::User));
        }
        if order == CallOrder::Simultaneous {
            expected.push(Command::Cancel(Leg::Center));
        }
        expected.push(ended(want.user_unreachable()));
        assert_eq!(cmds, expected, "{order:?} {failure:?}");
        assert_eq!(
            h.flow.outcome().map(|o| o.user_leg),
            Some(Some(want.end_cause()))
        );
    }
}

#[test]
fn user_hanging_up_while_holding_ends_the_center_leg() {
    for (center_answered, release) in [
        (false, Command::Cancel(Leg::Center)),
        (true, Command::Hangup(Leg::Center)),
    ] {
        let mut h = Harness::new(spec(CallOrder::UserFirst, SignOnMode::Hash));
        h.event(Event::Started);
        h.event(Event::Answered(Leg::User));
        if center_answered {
            h.event(Event::Answered(Leg::Center));
        }
        let cmds = h.event(Event::HungUp(Leg::User));
        assert_eq!(cmds, [release, ended(EndCause::UserLeftBeforeBridge)]);
    }
}

#[test]
fn center_fallbacks_then_the_unreachable_announcement() {
    let mut h = Harness::new(spec(CallOrder::UserFirst, SignOnMode::Hash));
    h.event(Event::Started);
    h.event(Event::Answered(Leg::User));
    let cmds = h.event(Event::Failed(Leg::Center, LegFailure::Busy));
    assert_eq!(dialed(&cmds), [(Leg::Center, "+4940333333".into(), 1)]);
    assert_eq!(h.flow.state(), State::HoldingUser);
    let cmds = h.advance(20 * SEC);
    assert_eq!(cmds[0], Command::Cancel(Leg::Center));
    assert_eq!(dialed(&cmds), [(Leg::Center, "+4940444444".into(), 2)]);
    let cmds = h.event(Event::Failed(Leg::Center, LegFailure::Rejected(503)));
    assert_eq!(
        cmds,
        [say(Leg::User, PromptKind::Farewell, "no agent now", false)]
    );
    assert_eq!(h.flow.state(), State::Ending);
    // Late news about the center changes nothing.
    assert_eq!(h.event(Event::Answered(Leg::Center)), []);
    let cmds = h.event(Event::PlayoutDone(Leg::User, PromptKind::Farewell));
    assert_eq!(
        cmds,
        [
            Command::Hangup(Leg::User),
            ended(EndCause::CenterUnreachable)
        ]
    );
    let fallbacks = h.timeline.iter().filter(|k| **k == "fallback").count();
    assert_eq!(fallbacks, 2);
    let outcome = h.flow.outcome().expect("finished");
    assert_eq!(outcome.center_leg, Some(LegEndCause::Rejected));
}

#[test]
fn agent_leaving_before_the_bridge_says_goodbye() {
    let mut h = Harness::new(spec(CallOrder::UserFirst, SignOnMode::Hash));
    h.event(Event::Started);
    h.event(Event::Answered(Leg::User));
    h.event(Event::Answered(Leg::Center));
    let cmds = h.event(Event::HungUp(Leg::Center));
    assert_eq!(
        cmds,
        [say(Leg::User, PromptKind::Farewell, "goodbye", false)]
    );
    // The user hangs up during the goodbye.
    let cmds = h.event(Event::HungUp(Leg::User));
    assert_eq!(cmds, [ended(EndCause::AgentLeftBeforeBridge)]);
}

#[test]
fn user_hanging_up_during_the_bridge_drops_pending_digits() {
    let mut h = bridged_user_first();
    h.event(Event::DigitsReceived(Leg::Center, key('4')));
    let cmds = h.event(Event::HungUp(Leg::User));
    assert_eq!(
        cmds,
        [Command::Hangup(Leg::Center), ended(EndCause::UserHungUp)]
    );
    assert!(h.timeline.contains(&"digits_dropped"));
}

#[test]
fn a_line_that_dies_bridged_is_lost_not_hung_up() {
    // The agent's media stops (or its transport fails) with no BYE: voice reports a network
    // failure on the answered leg.
    let mut h = bridged_user_first();
    let cmds = h.event(Event::Failed(Leg::Center, LegFailure::Network));
    assert_eq!(
        cmds,
        [Command::Hangup(Leg::User), ended(EndCause::AgentLineLost)]
    );
    let mut h = bridged_user_first();
    let cmds = h.event(Event::Failed(Leg::User, LegFailure::Network));
    assert_eq!(
        cmds,
        [Command::Hangup(Leg::Center), ended(EndCause::UserLineLost)]
    );
    // Before the bridge the user, still on the line, hears the goodbye first.
    let mut h = Harness::new(spec(CallOrder::UserFirst, SignOnMode::Hash));
    h.event(Event::Started);
    h.event(Event::Answered(Leg::User));
    h.event(Event::Answered(Leg::Center));
    let cmds = h.event(Event::Failed(Leg::Center, LegFailure::Network));
    assert_eq!(
        cmds,
        [say(Leg::User, PromptKind::Farewell, "goodbye", false)]
    );
    let cmds = h.event(Event::HungUp(Leg::User));
    assert_eq!(cmds, [ended(EndCause::AgentLineLost)]);
}

#[test]
fn max_call_length_warns_both_then_hangs_up_both() {
    // The spec: 3600 s at most, warned 60 s before. `bridged_user_first` took no time.
    let mut h = bridged_user_first();
    assert_eq!(h.advance(3539 * SEC), []);
    let announce = |leg| Command::Announce {
        leg,
        text: "one minute left".into(),
    };
    assert_eq!(h.advance(SEC), [announce(Leg::User), announce(Leg::Center)]);
    assert!(h.timeline.contains(&"max_duration_warning"));
    assert_eq!(h.advance(59 * SEC), []);
    let cmds = h.advance(SEC);
    let want = [
        Command::Hangup(Leg::Center),
        Command::Hangup(Leg::User),
        ended(EndCause::MaxCallLength),
    ];
    assert_eq!(cmds, want);
}

#[test]
fn a_short_maximum_gets_no_warning_and_only_answered_legs_hear_it() {
    // 100 s at most: less than twice the 60 s notice, so no warning at all.
    let mut s = spec(CallOrder::UserFirst, SignOnMode::Hash);
    s.timeouts.max_call_length = 100 * SEC;
    s.timeouts.center_ring = 600 * SEC;
    let mut h = Harness::new(s);
    h.event(Event::Started);
    h.event(Event::Answered(Leg::User));
    assert_eq!(h.advance(99 * SEC), []);
    assert!(!h.timeline.contains(&"max_duration_warning"));
    // 180 s: warned at 120 s, while only the user is on the line (the center still rings).
    let mut s = spec(CallOrder::UserFirst, SignOnMode::Hash);
    s.timeouts.max_call_length = 180 * SEC;
    s.timeouts.center_ring = 600 * SEC;
    let mut h = Harness::new(s);
    h.event(Event::Started);
    h.event(Event::Answered(Leg::User));
    let cmds = h.advance(120 * SEC);
    assert_eq!(
        cmds,
        [Command::Announce {
            leg: Leg::User,
            text: "one minute left".into()
        }]
    );
}

#[test]
fn max_call_length_cuts_a_farewell_short() {
    let mut s = spec(CallOrder::UserFirst, SignOnMode::Hash);
    s.timeouts.max_call_length = 20 * SEC;
    let mut h = Harness::new(s);
    h.event(Event::Started);
    h.event(Event::Answered(Leg::User));
    h.event(Event::HungUp(Leg::Center));
    h.event(Event::Answered(Leg::Center));
    h.event(Event::HungUp(Leg::Center));
    assert_eq!(h.flow.state(), State::Ending);
    let cmds = h.advance(20 * SEC);
    assert_eq!(
        cmds,
        [
            Command::Hangup(Leg::User),
            ended(EndCause::AgentLeftBeforeBridge)
        ]
    );
}

#[test]
fn cancel_ends_whatever_is_open() {
    let mut h = Harness::new(spec(CallOrder::UserFirst, SignOnMode::Hash));
    assert_eq!(h.event(Event::Cancelled), [ended(EndCause::Cancelled)]);
    assert_eq!(
        h.flow.outcome().map(|o| (o.user_leg, o.center_leg)),
        Some((None, None))
    );

    let mut h = Harness::new(spec(CallOrder::UserFirst, SignOnMode::Hash));
    h.event(Event::Started);
    h.event(Event::Answered(Leg::User));
    let want = [
        Command::Cancel(Leg::Center),
        Command::Hangup(Leg::User),
        ended(EndCause::Cancelled),
    ];
    assert_eq!(h.event(Event::Cancelled), want);
}

#[test]
fn events_after_the_end_are_ignored() {
    let mut h = bridged_user_first();
    h.event(Event::HungUp(Leg::User));
    assert!(h.flow.is_finished());
    let late = [
        Event::Started,
        Event::HungUp(Leg::Center),
        Event::Answered(Leg::User),
        Event::DigitsReceived(Leg::Center, key('1')),
        whisper_done(),
        Event::Failed(Leg::User, LegFailure::Busy),
        Event::Cancelled,
    ];
    for event in late {
        assert_eq!(h.event(event), []);
    }
    assert_eq!(h.advance(7200 * SEC), []);
    assert_eq!(
        h.flow.outcome().map(|o| o.cause),
        Some(EndCause::UserHungUp)
    );
    assert_eq!(h.ended_with(), Some(EndCause::UserHungUp));
}

#[test]
fn timeline_masks_numbers_and_never_holds_the_pin() {
    let mode = SignOnMode::Pin("4711".parse().expect("valid"));
    let mut flow = CallFlow::new(spec(CallOrder::UserFirst, mode));
    let now = Instant::now();
    let events = [
        Event::Started,
        Event::Answered(Leg::User),
        Event::Failed(Leg::Center, LegFailure::Busy),
        Event::Answered(Leg::Center),
        Event::DigitsReceived(Leg::Center, key('4')),
        Event::DigitsReceived(Leg::Center, key('7')),
        Event::DigitsReceived(Leg::Center, key('1')),
        Event::DigitsReceived(Leg::Center, key('1')),
        whisper_done(),
        Event::HungUp(Leg::User),
    ];
    let mut details = Vec::new();
    for event in events {
        flow.handle(event, now);
        while let Some(cmd) = flow.poll_command() {
            if let Command::RecordEvent(event) = cmd {
                details.push(serde_json::to_string(&event).expect("json"));
            }
        }
    }
    assert!(flow.is_finished());
    let all = details.join("\n");
    for secret in ["4930111111", "4940222222", "4940333333", "4711"] {
        assert!(!all.contains(secret), "{secret} in timeline:\n{all}");
    }
    assert!(
        all.contains(r#""number":"+*******111""#),
        "user leg dial not in timeline:\n{all}"
    );
    assert!(
        all.contains(r#""request_user":"8001""#),
        "DNIS not in timeline:\n{all}"
    );
}

#[test]
fn a_whisper_that_never_reports_its_end_still_bridges() {
    let mut h = Harness::new(spec(CallOrder::UserFirst, SignOnMode::None));
    h.event(Event::Started);
    h.event(Event::Answered(Leg::User));
    h.event(Event::Answered(Leg::Center));
    assert_eq!(h.advance(40 * SEC - Duration::from_millis(1)), []);
    let cmds = h.advance(Duration::from_millis(1));
    // The stuck whisper is stopped too, so the agent hears the user and not the TTS.
    assert_eq!(
        cmds[..3],
        [
            Command::StopPlaying(Leg::User),
            Command::StopPlaying(Leg::Center),
            Command::Bridge
        ]
    );
    assert!(h.timeline.contains(&"whisper_timeout"));
    // A late WhisperDone changes nothing.
    assert_eq!(h.event(whisper_done()), []);
}

fn claim_call(mode: SignOnMode) -> Harness {
    let mut h = Harness::new(spec(CallOrder::UserFirst, mode));
    h.event(Event::Started);
    h.event(Event::Answered(Leg::User));
    h
}

#[test]
fn a_personal_pin_is_looked_up_and_its_agent_signs_on() {
    let mut h = claim_call(SignOnMode::AgentPin);
    h.event(Event::Answered(Leg::Center));
    assert_eq!(keys(&mut h, "471"), []);
    let pin: SignOnPin = "4711".parse().expect("pin");
    assert_eq!(keys(&mut h, "1#"), [Command::IdentifyAgent { pin }]);
    // A console claim is not how this mode signs on.
    let console = Event::Claimed {
        agent_id: 9,
        how: ClaimHow::Console,
    };
    assert_eq!(h.event(console), []);
    let pin_claim = Event::Claimed {
        agent_id: 7,
        how: ClaimHow::Pin,
    };
    assert_eq!(h.event(pin_claim.clone()), [whisper()]);
    assert_in_order(&h.timeline, &["claimed", "sign_on_ok", "whisper_start"]);
    // A second claim after the sign-on changes nothing.
    assert_eq!(h.event(pin_claim), []);
}

#[test]
fn an_unknown_personal_pin_is_a_wrong_try() {
    let mut h = {
        let mut s = spec(CallOrder::UserFirst, SignOnMode::AgentPin);
        s.pin_retries = 1;
        let mut h = Harness::new(s);
        h.event(Event::Started);
        h.event(Event::Answered(Leg::User));
        h.event(Event::Answered(Leg::Center));
        h
    };
    let wrong = say(
        Leg::Center,
        PromptKind::WrongPin,
        "Wrong PIN, try again",
        false,
    );
    assert_eq!(h.event(Event::AgentPinUnknown), [wrong]);
    let cmds = h.event(Event::AgentPinUnknown);
    assert_eq!(cmds[0], Command::Hangup(Leg::Center));
    assert!(h.timeline.contains(&"sign_on_failed"));
}

#[test]
fn a_console_offer_waits_for_its_claim_and_is_withdrawn() {
    let mut h = claim_call(SignOnMode::Console);
    let prompt = say(
        Leg::Center,
        PromptKind::ClaimWait,
        "Call reference 4 2 7. Claim it on your console.",
        true,
    );
    assert_eq!(
        h.event(Event::Answered(Leg::Center)),
        [
            Command::Offer {
                reference: "427".into()
            },
            prompt
        ]
    );
    // Keys do not sign on in console mode.
    assert_eq!(keys(&mut h, "#"), []);
    let claim = Event::Claimed {
        agent_id: 3,
        how: ClaimHow::Console,
    };
    assert_eq!(
        h.event(claim),
        [
            Command::WithdrawOffer,
            Command::StopPlaying(Leg::Center),
            whisper()
        ]
    );
    assert_in_order(&h.timeline, &["offered", "claimed", "sign_on_ok"]);

    // Unclaimed until the sign-on timeout: the offer goes with the call.
    let mut h = claim_call(SignOnMode::Console);
    h.event(Event::Answered(Leg::Center));
    let cmds = h.advance(16 * SEC);
    assert_eq!(cmds[0], Command::WithdrawOffer, "{cmds:?}");
    assert!(h.timeline.contains(&"sign_on_timeout"));
}

/// `want` appear in `kinds` in this order (others may sit between).
fn assert_in_order(kinds: &[&str], want: &[&str]) {
    let mut rest = kinds.iter();
    for w in want {
        assert!(
            rest.any(|k| k == w),
            "{w} missing or out of order in {kinds:?}"
        );
    }
}
