//! Property-style test: thousands of random event sequences with random time steps, from a
//! seeded xorshift generator so a failure names its seed and replays. The flow must never
//! panic, must always have a timer no later than its maximum call length while it runs, must
//! finish once its timers are fired, and must end every leg it dialed (the harness's ledger).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use super::tests::{Harness, key, number, spec, whisper_done};
use super::*;

const RUNS: u64 = 20_000;

/// xorshift64 (Marsaglia 2003): enough randomness for a test, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

/// What one run reached, so the test can tell it explored the flow.
#[derive(Default)]
struct Reached {
    bridged: bool,
    pages: bool,
    ending: bool,
}

fn random_spec(rng: &mut Rng) -> FlowSpec {
    let order = rng.pick(&[
        CallOrder::UserFirst,
        CallOrder::CenterFirst,
        CallOrder::Simultaneous,
    ]);
    let pin = SignOnMode::Pin("12".parse().expect("valid PIN"));
    // The claim modes sign on only by rare events: weighted low, so deep states stay common.
    let sign_on = rng.pick(&[0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 4]);
    let sign_on = [
        SignOnMode::None,
        SignOnMode::Hash,
        pin,
        SignOnMode::AgentPin,
        SignOnMode::Console,
    ][sign_on]
        .clone();
    let mut s = spec(order, sign_on);
    s.pin_retries = rng.below(3) as u32;
    s.fallback_numbers.truncate(rng.below(3) as usize);
    s.timeouts.max_call_length = Duration::from_secs(60 + rng.below(600));
    s.timeouts.sign_on = Duration::from_secs(5 + rng.below(30));
    s.user_number = number("+4930999999");
    // A callback attempt asking for consent (always user first, as the runtime builds it).
    // Its key is one the generator presses, so some runs consent and go on.
    if order == CallOrder::UserFirst && rng.below(5) == 0 {
        s.consent = Some(super::Consent {
            key: key('1'),
            prompt: "press 1".into(),
            timeout: Duration::from_secs(5 + rng.below(20)),
        });
    }
    s
}

fn random_event(rng: &mut Rng) -> Event {
    let leg = if rng.below(3) == 0 {
        Leg::User
    } else {
        Leg::Center
    };
    let failure = rng.pick(&[
        LegFailure::Busy,
        LegFailure::NoAnswer,
        LegFailure::Rejected(404),
        LegFailure::Network,
        LegFailure::NoResponse,
        LegFailure::Unreachable,
    ]);
    match rng.below(100) {
        0..=29 => Event::Answered(leg),
        30..=59 => Event::DigitsReceived(leg, key(rng.pick(&['#', '#', '1', '2', '*', '9', 'A']))),
        60..=74 => whisper_done(),
        75..=79 => Event::Ringing(leg),
        80..=85 => Event::PlayoutDone(
            leg,
            rng.pick(&[
                PromptKind::Hold,
                PromptKind::Farewell,
                PromptKind::WrongPin,
                PromptKind::CenterWait,
            ]),
        ),
        86..=89 => Event::Failed(leg, failure),
        90..=94 => Event::HungUp(leg),
        95..=96 => Event::Started,
        97 => Event::Claimed {
            agent_id: 1,
            how: rng.pick(&[words::ClaimHow::Pin, words::ClaimHow::Console]),
        },
        _ => Event::Cancelled,
    }
}

fn run(seed: u64) -> Reached {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let spec = random_spec(&mut rng);
    let max = spec.timeouts.max_call_length;
    let mut h = Harness::new(spec);
    let mut started_at: Option<Instant> = None;
    let mut reached = Reached::default();
    if rng.below(20) != 0 {
        started_at = Some(h.now);
        h.event(Event::Started);
    }
    for _ in 0..rng.below(80) {
        let cmds = if rng.below(8) == 0 {
            // Mostly short steps, sometimes long enough for ring and sign-on timeouts.
            let limit = if rng.below(4) == 0 { 60_000 } else { 3_000 };
            h.advance(Duration::from_millis(rng.below(limit)))
        } else {
            let event = random_event(&mut rng);
            if event == Event::Started && started_at.is_none() {
                started_at = Some(h.now);
            }
            h.event(event)
        };
        // The runtime answers a PIN lookup; mostly with the agent, sometimes with nobody.
        let cmds = if cmds
            .iter()
            .any(|c| matches!(c, Command::IdentifyAgent { .. }))
        {
            let answer = if rng.below(3) == 0 {
                Event::AgentPinUnknown
            } else {
                Event::Claimed {
                    agent_id: 1,
                    how: words::ClaimHow::Pin,
                }
            };
            [cmds, h.event(answer)].concat()
        } else {
            cmds
        };
        reached.pages |= cmds.iter().any(|c| matches!(c, Command::PushPage { .. }));
        reached.bridged |= h.flow.state() == State::Bridged;
        reached.ending |= h.flow.state() == State::Ending;
        check(&h, started_at, max);
    }
    // Let time run: the flow must end by itself.
    for _ in 0..1000 {
        let Some(at) = h.flow.poll_timeout() else {
            break;
        };
        h.advance(at.saturating_duration_since(h.now));
        check(&h, started_at, max);
    }
    if started_at.is_some() || h.flow.is_finished() {
        assert!(
            h.flow.is_finished(),
            "still {:?} with no timer",
            h.flow.state()
        );
    }
    reached
}

fn check(h: &Harness, started_at: Option<Instant>, max: Duration) {
    let finished = h.flow.is_finished();
    assert_eq!(h.flow.state() == State::Ended, finished);
    if finished {
        let outcome = h.flow.outcome().expect("a finished flow has an outcome");
        assert_eq!(h.ended_with(), Some(outcome.cause));
        assert_eq!(h.timeline.last(), Some(&"finished"));
    } else if let Some(started) = started_at {
        let next = h
            .flow
            .poll_timeout()
            .expect("a running flow always has a timer");
        assert!(
            next <= started + max,
            "a timer past the maximum call length"
        );
    }
}

#[test]
fn random_event_sequences_keep_the_invariants() {
    let mut bridged = 0;
    let mut pages = 0;
    let mut ending = 0;
    for seed in 1..=RUNS {
        let reached = catch_unwind(AssertUnwindSafe(|| run(seed)))
            .unwrap_or_else(|_| panic!("random run with seed {seed} failed (see above)"));
        bridged += u64::from(reached.bridged);
        pages += u64::from(reached.pages);
        ending += u64::from(reached.ending);
    }
    // The generator must reach deep states often enough for the invariants to mean something.
    println!("{RUNS} runs: {bridged} bridged, {pages} pushed pages, {ending} farewells");
    assert!(
        bridged > RUNS / 20,
        "only {bridged} runs reached the bridge"
    );
    // One run in 60: the two claim modes (about a fifth of the runs) reach the bridge less.
    assert!(pages > RUNS / 60, "only {pages} runs pushed a page");
    assert!(ending > RUNS / 50, "only {ending} runs played a farewell");
}
