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
//! let n = |s: &str| PhoneNumber::parse(s).unwrap();
//! let texts = Texts {
//!     whisper: fill_whisper("Customer {whisper_code}", &WhisperVars {
//!         subject: "billing", whisper_code: "4711", page: "/tariffs", number: "+4930111",
//!     }),
//!     hold: "Please hold.".into(),
//!     center_wait: "Connecting the caller.".into(),
//!     center_unreachable: "No agent is free.".into(),
//!     goodbye: "Goodbye.".into(),
//!     wrong_pin: "Wrong PIN, try again.".into(),
//! };
//! let spec = FlowSpec {
//!     session_ref: "s-1".into(), call_order: CallOrder::UserFirst,
//!     user_number: n("+4930111"), center_number: n("+4940222"), fallback_numbers: vec![],
//!     dnis: Some("8001".into()), ani: n("+4930111"), uui: vec![], texts,
//!     sign_on: SignOnMode::Hash, timeouts: Timeouts::default(), pin_retries: 3,
//! };
//! let now = Instant::now();
//! let mut flow = CallFlow::new(spec, now);
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

use std::fmt;
use std::time::Duration;

pub use digits::{Pin, PinError};
pub use machine::CallFlow;
pub use whisper::{WhisperVars, fill_whisper};

/// Default inter-digit timeout for page-push digits: long enough for an agent to key "12".
pub const PAGE_DIGIT_TIMEOUT: Duration = Duration::from_millis(1500);
/// How long a farewell announcement may take before the user leg is hung up anyway, in case
/// the runtime never reports `PlayoutDone`.
pub const FAREWELL_LIMIT: Duration = Duration::from_secs(30);

/// One of the two outbound calls the platform places.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Leg {
    User,
    Center,
}

impl fmt::Display for Leg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Leg::User => "user leg",
            Leg::Center => "center leg",
        })
    }
}

/// A number the flow dials or presents, in E.164 form (`+` and 1–15 digits, ITU-T E.164 §6).
/// The platform converts from subscriber-db types; inside the flow it is always valid.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

/// Why a string is not a `PhoneNumber`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneNumberError {
    #[error("a phone number must start with + and the country code, like +4930123456")]
    MissingPlus,
    #[error("a phone number has 1 to 15 digits after the +, with no spaces or other signs")]
    BadDigits,
}

impl PhoneNumber {
    pub fn parse(text: &str) -> Result<Self, PhoneNumberError> {
        let digits = text
            .strip_prefix('+')
            .ok_or(PhoneNumberError::MissingPlus)?;
        let ok = (1..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(PhoneNumberError::BadDigits)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number with all but the last four digits hidden, for timelines and logs.
    pub fn masked(&self) -> String {
        let keep = self.0.len().saturating_sub(4).max(1);
        format!("+…{}", &self.0[keep..])
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which leg is called first (seed 002 step 206).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CallOrder {
    /// User answers → hold announcement → the center is dialed.
    #[default]
    UserFirst,
    /// The agent signs on and hears the whisper → the user is dialed.
    CenterFirst,
    /// Both at once; whoever is ready first waits with an announcement.
    Simultaneous,
}

/// How the agent tells the platform a person is listening (step 213).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SignOnMode {
    /// Whisper as soon as the center answers.
    None,
    /// Wait for `#`; other keys are ignored.
    #[default]
    Hash,
    /// Wait for this PIN, ended by `#` or by reaching its length.
    Pin(Pin),
}

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
    /// From `Started` to the forced end of the whole call.
    pub max_call_length: Duration,
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
            max_call_length: Duration::from_secs(4 * 3600),
            page_digits: PAGE_DIGIT_TIMEOUT,
        }
    }
}

/// Everything one call needs, resolved by the platform before the flow starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowSpec {
    /// The call reference (session id) used in timelines.
    pub session_ref: String,
    pub call_order: CallOrder,
    pub user_number: PhoneNumber,
    /// The route's call-center number, then its fallbacks in the order they are tried.
    pub center_number: PhoneNumber,
    pub fallback_numbers: Vec<PhoneNumber>,
    /// TAG2 DNIS code from the network abstraction table; `None` dials the number itself.
    pub dnis: Option<String>,
    /// TAG2 ANI presented to the center (normally the user's number).
    pub ani: PhoneNumber,
    /// TAG2 User-to-User payload (RFC 7433), already encoded by the platform; passed through.
    pub uui: Vec<u8>,
    pub texts: Texts,
    pub sign_on: SignOnMode,
    pub timeouts: Timeouts,
    /// How often a wrong PIN may be retried: `3` allows four tries in all.
    pub pin_retries: u32,
}

/// Where and how to place one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialTarget {
    pub number: PhoneNumber,
    /// Request-URI and To user part: the DNIS for the center leg (or the number itself),
    /// the number for the user leg.
    pub request_user: String,
    /// From / P-Asserted-Identity; `None` lets the runtime present the platform's own.
    pub ani: Option<PhoneNumber>,
    /// User-to-User payload; empty for none.
    pub uui: Vec<u8>,
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
}

/// What the platform plays on a leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prompt {
    /// The hold announcement (its text), looped until the bridge.
    Hold(String),
    Say(String),
}

/// Things that happened, reported by the runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Started,
    Ringing(Leg),
    Answered(Leg),
    Failed(Leg, LegFailure),
    HungUp(Leg),
    /// One key (`0`–`9`, `*`, `#`, `A`–`D`); the flow accumulates runs itself.
    DigitsReceived(Leg, char),
    /// A non-looped prompt finished on this leg.
    PlayoutDone(Leg),
    WhisperDone,
    /// The operator or the API asked to end the call.
    Cancelled,
}

/// What the browser is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// The user's phone is being called.
    Calling,
    /// The user is on the line; an agent is being reached.
    Connecting,
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
    Play {
        leg: Leg,
        prompt: Prompt,
        looped: bool,
    },
    StopPlaying(Leg),
    /// TTS to the center leg only; answered with `Event::WhisperDone`.
    Whisper {
        text: String,
    },
    Bridge,
    /// Look up the subscriber's page for these digits and push it; unknown digits are logged.
    /// Agent keys during the bridge are collected into one run until `#` (not part of the
    /// run), [`Timeouts::page_digits`] of silence (default 1.5 s, so `12` is one page) or 16
    /// keys. User keys never push pages; they are only recorded.
    PushPage {
        digits: String,
    },
    PublishStatus(Status),
    /// End a leg that is still ringing.
    Cancel(Leg),
    /// End an answered leg.
    Hangup(Leg),
    /// One row of the call's timeline.
    RecordEvent {
        kind: &'static str,
        detail: String,
    },
}

/// Where the flow is, as seen from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Idle,
    DialingUser,
    /// The user hears hold audio while the center is dialed or between fallbacks.
    HoldingUser,
    DialingCenter,
    AwaitingSignOn,
    Whispering,
    /// The agent signed on and heard the whisper; waiting for the user to answer.
    HoldingCenter,
    Bridged,
    /// A farewell announcement is playing to the user before the hang-up.
    Ending,
    Ended,
}

/// How one leg stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegStatus {
    NotDialed,
    Dialing { attempt: usize },
    Answered,
    Gone(LegEnd),
}

impl LegStatus {
    /// Whether the leg is ringing or answered, i.e. still needs an end.
    pub fn is_open(self) -> bool {
        matches!(self, LegStatus::Dialing { .. } | LegStatus::Answered)
    }
}

/// How a leg ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegEnd {
    Failed(LegFailure),
    /// We cancelled it while it rang (ring timeout or the call ended).
    Cancelled,
    /// The far end hung up.
    HungUpByPeer,
    /// We hung up.
    HungUpByUs,
}

/// Why the call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndCause {
    /// The user hung up during the bridge.
    UserHungUp,
    /// The agent hung up during the bridge.
    AgentHungUp,
    /// The user's phone did not answer.
    UserUnreachable(LegFailure),
    /// The user hung up before the bridge.
    UserLeftBeforeBridge,
    /// The agent hung up before the bridge.
    AgentLeftBeforeBridge,
    /// No center number answered.
    CenterUnreachable,
    AgentNeverSignedOn,
    /// Too many wrong PINs.
    SignOnFailed,
    MaxDuration,
    Cancelled,
}

/// The end of a call: its cause and how each leg ended (`None`: never dialed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub cause: EndCause,
    pub user_leg: Option<LegEnd>,
    pub center_leg: Option<LegEnd>,
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod random_tests;
