//! The speak-to-agent call flow (seed 002 steps 206–219) as logic without I/O: events in,
//! commands out, time passed in as `Instant`. It owns the order of the two legs, the center
//! fallback order, sign-on, whisper, bridge, page-push digits and every way a call ends.
//! It must not touch sockets, clocks, randomness or storage; the runtime beside it executes the
//! commands and reports what happened.
//!
//! ```
//! use std::time::Instant;
//! use platform::flow::*;
//!
//! use words::{CallOrder, E164, SignOnMode};
//!
//! let n = |s: &str| s.parse::<E164>().unwrap();
//! let texts = Texts {
//!     whisper: fill_whisper("Customer {whisper_code}", &WhisperVars {
//!         subject: "billing", whisper_code: "4711", page: "/tariffs", number: "+4930111",
//!     }),
//!     hold: "Please hold.".into(),
//!     center_wait: "Connecting the caller.".into(),
//!     center_unreachable: "No agent is free.".into(),
//!     goodbye: "Goodbye.".into(),
//!     wrong_pin: "Wrong PIN, try again.".into(),
//!     max_call_warning: "One minute left.".into(),
//!     claim_prompt: String::new(),
//! };
//! let spec = FlowSpec {
//!     session_ref: "2718281828".parse().unwrap(),
//!     call_order: CallOrder::UserFirst,
//!     user_number: n("+4930111"), center_number: n("+4940222"), fallback_numbers: vec![],
//!     dnis: Some("8001".parse().unwrap()), ani: n("+4930111"), uui: vec![],
//!     center_headers: vec![], send_ref_digits: false, texts,
//!     sign_on: SignOnMode::Hash, timeouts: Timeouts::default(), pin_retries: 3,
//!     call_reference: None, consent: None,
//! };
//! let now = Instant::now();
//! let mut flow = CallFlow::new(spec);
//! flow.handle(Event::Started, now);
//! let mut dialed = vec![];
//! while let Some(cmd) = flow.poll_command() {
//!     if let Command::Dial { leg, .. } = cmd { dialed.push(leg); }
//! }
//! assert_eq!(dialed, [Leg::User]);
//! // The runtime sleeps until `poll_timeout()` and then calls `handle_timeout`.
//! assert!(flow.poll_timeout().is_some());
//! ```
//!
//! Contract with the runtime: events describe the *current* dial of a leg. After the flow
//! commands `Cancel(leg)` or `Hangup(leg)`, the runtime drops whatever that dial still reports
//! (a 487, a late BYE); the next event for the leg belongs to the next `Dial`.

mod digits;
mod machine;
mod whisper;

use std::time::Duration;

pub use machine::CallFlow;
pub use whisper::{WhisperVars, fill_whisper};
pub use words::{CallState as State, EndCause, Leg, LegEndCause};

use words::{
    CallOrder, ClaimHow, DigitPath, Dnis, DtmfKey, DtmfKeys, E164, HungUpFirst, SessionRef,
    SignOnMode, SignOnPin, TimelineEvent,
};

/// Default inter-digit timeout for page-push digits: long enough for an agent to key "12".
pub const PAGE_DIGIT_TIMEOUT: Duration = Duration::from_millis(1500);
/// How long a farewell announcement may take before the user leg is hung up anyway, in case
/// the runtime never reports `PlayoutDone`.
pub const FAREWELL_LIMIT: Duration = Duration::from_secs(30);

/// The texts the flow speaks. `whisper` is already filled (see [`fill_whisper`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Texts {
    pub whisper: String,
    /// Looped to the user while the center is reached.
    pub hold: String,
    /// Looped to the agent while the user is dialed (center first, simultaneous).
    pub center_wait: String,
    pub center_unreachable: String,
    /// To the user when the agent leaves or never signs on before the bridge.
    pub goodbye: String,
    /// To the agent after a wrong PIN.
    pub wrong_pin: String,
    /// To both parties, [`Timeouts::max_call_warning`] before the maximum call length.
    pub max_call_warning: String,
    /// Looped to the agent while a console offer waits for its claim ("Call reference 4 2 7.
    /// Claim it on your console."); sign-on mode `console` only.
    pub claim_prompt: String,
}

/// Timers of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub user_ring: Duration,
    pub center_ring: Duration,
    /// From the center's answer (and again after each wrong PIN) to a correct sign-on.
    pub sign_on: Duration,
    /// The longest a whisper may take before the flow goes on without `WhisperDone`.
    pub whisper: Duration,
    /// The longest the session reference's digits may take before the whisper starts
    /// without `DigitsSent` (they take about 200 ms a key).
    pub ref_digits: Duration,
    /// From `Started` to the forced end of the whole call.
    pub max_call_length: Duration,
    /// How long before that end both parties hear [`Texts::max_call_warning`]; none when
    /// the call is shorter than twice this.
    pub max_call_warning: Duration,
    /// Silence after an agent key during the bridge that ends a page-push digit run.
    pub page_digits: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            user_ring: Duration::from_secs(30),
            center_ring: Duration::from_secs(45),
            sign_on: Duration::from_secs(60),
            whisper: Duration::from_secs(60),
            ref_digits: Duration::from_secs(10),
            max_call_length: Duration::from_secs(4 * 3600),
            max_call_warning: Duration::from_secs(60),
            page_digits: PAGE_DIGIT_TIMEOUT,
        }
    }
}

/// Everything one call needs, resolved by the platform before the flow starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowSpec {
    /// The session reference, the same on every channel (already in `uui` and
    /// `center_headers` when the route sends those; keyed to the agent when
    /// `send_ref_digits`).
    pub session_ref: SessionRef,
    pub call_order: CallOrder,
    pub user_number: E164,
    /// The route's call-center number, then its fallbacks in the order they are tried.
    pub center_number: E164,
    pub fallback_numbers: Vec<E164>,
    /// TAG2 DNIS code from the network abstraction table; `None` dials the number itself.
    pub dnis: Option<Dnis>,
    /// TAG2 ANI presented to the center (normally the user's number).
    pub ani: E164,
    /// TAG2 User-to-User payload (RFC 7433), already encoded by the platform; passed through.
    pub uui: Vec<u8>,
    /// TAG2 `X-` headers (name, value) on the center leg's INVITE; passed through.
    pub center_headers: Vec<(String, String)>,
    /// Key the session reference to the agent after sign-on, before the whisper.
    pub send_ref_digits: bool,
    pub texts: Texts,
    pub sign_on: SignOnMode,
    pub timeouts: Timeouts,
    /// How often a wrong PIN may be retried: `3` allows four tries in all.
    pub pin_retries: u32,
    /// The short call reference a console offer shows and the agent hears (sign-on mode
    /// `console`); unique among the subscriber's open offers, chosen by the runtime.
    pub call_reference: Option<String>,
    /// A callback attempt that must hear the visitor's key before the center is dialed.
    pub consent: Option<Consent>,
}

/// Consent before the agent is dialed (issue 13 item 4): when the visitor answers, `prompt`
/// loops until they press `key` (the one their page shows); no `key` within `timeout` ends
/// the call as `user_no_consent` and the center is never dialed. Only with `UserFirst`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    pub key: DtmfKey,
    pub prompt: String,
    pub timeout: Duration,
}

/// Where and how to place one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialTarget {
    pub number: E164,
    /// Request-URI and To user part when it is not the number itself: the center leg's DNIS.
    pub dnis: Option<Dnis>,
    /// From / P-Asserted-Identity; `None` lets the runtime present the platform's own.
    pub ani: Option<E164>,
    /// User-to-User payload; empty for none.
    pub uui: Vec<u8>,
    /// Further headers (name, value); empty for none.
    pub headers: Vec<(String, String)>,
    /// The flow cancels the leg itself after this; given so the runtime may set SIP Expires.
    pub ring_timeout: Duration,
}

/// Why a dial did not reach an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegFailure {
    Busy,
    NoAnswer,
    /// A final SIP response other than busy (RFC 3261 §21), e.g. 404 or 503.
    Rejected(u16),
    Network,
    /// Nothing answered the INVITE within the trunk's no-response limit.
    NoResponse,
    /// The network reported the destination unreachable (ICMP).
    Unreachable,
}

impl LegFailure {
    /// How the leg ended, as the call record says it.
    pub fn end_cause(self) -> LegEndCause {
        match self {
            LegFailure::Busy => LegEndCause::Busy,
            LegFailure::NoAnswer => LegEndCause::NoAnswer,
            LegFailure::Rejected(_) => LegEndCause::Rejected,
            LegFailure::Network => LegEndCause::NetworkError,
            LegFailure::NoResponse => LegEndCause::NoResponse,
            LegFailure::Unreachable => LegEndCause::Unreachable,
        }
    }

    /// Why the call ended when the user's leg failed this way.
    pub fn user_unreachable(self) -> EndCause {
        match self {
            LegFailure::Busy => EndCause::UserBusy,
            LegFailure::NoAnswer => EndCause::UserNoAnswer,
            LegFailure::Rejected(_) => EndCause::UserRejected,
            LegFailure::Network | LegFailure::NoResponse | LegFailure::Unreachable => {
                EndCause::UserUnreachable
            }
        }
    }
}

/// Which of the flow's announcements a prompt is, so its end comes back tagged and the flow
/// recognises its own whisper.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PromptKind {
    /// Looped to the user while the center is reached.
    Hold,
    /// Looped to the user of a callback attempt until they press the consent key.
    Consent,
    /// Looped to the agent while the user is dialed.
    CenterWait,
    /// Looped to the agent while a console offer waits for its claim.
    ClaimWait,
    /// To the agent after a wrong PIN.
    WrongPin,
    /// To the user before the flow hangs up (goodbye, no agent).
    Farewell,
    /// The web context, to the agent only (step 214).
    Whisper,
}

/// What the platform plays on a leg: TTS of `text`, looped or once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    pub kind: PromptKind,
    pub text: String,
    /// Looped prompts play until replaced or stopped and never report their end.
    pub looped: bool,
}

/// Things that happened, reported by the runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Started,
    Ringing(Leg),
    Answered(Leg),
    Failed(Leg, LegFailure),
    HungUp(Leg),
    /// One key; the flow accumulates runs itself.
    DigitsReceived(Leg, DtmfKey),
    /// A non-looped prompt finished on this leg (or could not be played at all).
    PlayoutDone(Leg, PromptKind),
    /// The keys of `Command::SendDigits` went out on this leg, this way.
    DigitsSent(Leg, DigitPath),
    /// The operator or the API asked to end the call.
    Cancelled,
    /// An agent has the call (`Command::IdentifyAgent` found the PIN's agent, or the agent
    /// claimed the console offer): a sign-on that says who. The runtime recorded the claim.
    Claimed {
        agent_id: i64,
        how: ClaimHow,
    },
    /// `Command::IdentifyAgent` found no active agent with that PIN.
    AgentPinUnknown,
}

/// What the browser is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// The user's phone is being called.
    Calling,
    /// The user is on the line; an agent is being reached.
    Connecting,
    /// The user of a callback attempt is on the line and must press `key` first.
    AwaitingConsent {
        key: DtmfKey,
    },
    AgentOnLine,
    Ended {
        cause: EndCause,
    },
}

/// What the runtime must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `attempt` is 0 for the first number of the leg, 1 for the first fallback, and so on.
    Dial {
        leg: Leg,
        target: DialTarget,
        attempt: usize,
    },
    /// Answered with `Event::PlayoutDone(leg, prompt.kind)` unless looped; the whisper goes
    /// to the center leg only.
    Play {
        leg: Leg,
        prompt: Prompt,
    },
    StopPlaying(Leg),
    /// Key these to the leg's far end; answered with `Event::DigitsSent` once the last went
    /// out. What plays on the leg waits meanwhile.
    SendDigits {
        leg: Leg,
        keys: Vec<DtmfKey>,
    },
    /// Say `text` once to the leg's far end only, bridged or not (the other party hears
    /// nothing of it). Nothing waits for its end: no `PlayoutDone` is expected.
    Announce {
        leg: Leg,
        text: String,
    },
    Bridge,
    /// Look up the subscriber's page for these digits and push it; unknown digits are logged.
    /// Agent keys during the bridge are collected into one run until `#` (not part of the
    /// run), [`Timeouts::page_digits`] of silence (default 1.5 s, so `12` is one page) or
    /// [`DtmfKeys::MAX`] keys. User keys never push pages; they are only recorded.
    PushPage {
        keys: DtmfKeys,
    },
    PublishStatus(Status),
    /// End a leg that is still ringing.
    Cancel(Leg),
    /// End an answered leg.
    Hangup(Leg),
    /// One row of the call's timeline.
    RecordEvent(TimelineEvent),
    /// Find the subscriber's active agent with this personal PIN and claim the call for them;
    /// answered with `Event::Claimed` (how: pin) or `Event::AgentPinUnknown`.
    IdentifyAgent {
        pin: SignOnPin,
    },
    /// Show the call on the consoles of the subscriber's signed-in agents with this reference;
    /// a claim there comes back as `Event::Claimed` (how: console).
    Offer {
        reference: String,
    },
    /// The offer is over (claimed, timed out, the call ended): take it off the consoles.
    WithdrawOffer,
}

/// How one leg stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegStatus {
    NotDialed,
    Dialing { attempt: usize },
    Answered,
    Gone(LegEndCause),
}

impl LegStatus {
    /// Whether the leg is ringing or answered, i.e. still needs an end.
    pub fn is_open(self) -> bool {
        matches!(self, LegStatus::Dialing { .. } | LegStatus::Answered)
    }
}

/// The end of a call: its cause and how each leg ended (`None`: never dialed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub cause: EndCause,
    pub user_leg: Option<LegEndCause>,
    pub center_leg: Option<LegEndCause>,
}

impl Outcome {
    /// Who ended the call first once a leg had answered: the party whose hang-up decided the
    /// end, else the platform when it hung an answered leg up; `None` when no leg answered.
    pub fn hung_up_first(&self) -> Option<HungUpFirst> {
        match self.cause {
            EndCause::UserHungUp | EndCause::UserLeftBeforeBridge => Some(HungUpFirst::User),
            EndCause::AgentHungUp | EndCause::AgentLeftBeforeBridge => Some(HungUpFirst::Center),
            _ if [self.user_leg, self.center_leg].contains(&Some(LegEndCause::LocalHangup)) => {
                Some(HungUpFirst::Platform)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod random_tests;
