//! The call record's vocabulary: which leg, the call's state, why a call and each leg ended,
//! what the visitor's browser is told, and every kind of timeline event with its structured
//! detail. One enum per word with one stable snake_case spelling (serde and [`Word::word`]
//! agree by construction), so the browser, the admin API, the stored rows and the logs show
//! the same word, and renaming a Rust variant cannot silently change stored data: the
//! spellings are pinned by a test below.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{CallOrder, DtmfKey, NumberType, SubjectCode};

/// The stable machine word of a value: what is stored, sent and logged.
pub trait Word {
    fn word(&self) -> &'static str;
}

/// Declares a fieldless enum with its snake_case word, serde as that word and `Display`.
macro_rules! word_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $word:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $word)] $variant,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];
        }

        impl Word for $name {
            fn word(&self) -> &'static str {
                match self { $($name::$variant => $word,)+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.word())
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownWord;
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                match text {
                    $($word => Ok($name::$variant),)+
                    _ => Err(UnknownWord { what: stringify!($name), got: crate::shown(text) }),
                }
            }
        }
    };
}

// Other word modules (agent roles) declare their enums the same way.
pub(crate) use word_enum;

/// A stored or requested word that names no value of its type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{got:?} is not a known {what}")]
pub struct UnknownWord {
    pub what: &'static str,
    pub got: String,
}

word_enum!(
    /// One of the two outbound calls the platform places (ARCHITECTURE.md: user leg, center leg).
    Leg {
        User => "user",
        Center => "center",
    }
);

word_enum!(
    /// Where a call is. Stored in the call record while the call runs; `Ended` at the end.
    CallState {
        /// The record exists; the flow has not dialed yet.
        Starting => "starting",
        DialingUser => "dialing_user",
        /// The user hears hold audio while the center is dialed or between fallbacks.
        HoldingUser => "holding_user",
        DialingCenter => "dialing_center",
        AwaitingSignOn => "awaiting_sign_on",
        Whispering => "whispering",
        /// The agent signed on and heard the whisper; the user is being reached.
        HoldingCenter => "holding_center",
        Bridged => "bridged",
        /// A farewell announcement plays to the user before the hang-up.
        Ending => "ending",
        Ended => "ended",
    }
);

word_enum!(
    /// Why a call ended: one word per outcome the subscriber can act on.
    EndCause {
        UserHungUp => "user_hung_up",
        AgentHungUp => "agent_hung_up",
        UserBusy => "user_busy",
        UserNoAnswer => "user_no_answer",
        /// The user's side answered the INVITE with a final failure other than busy.
        UserRejected => "user_rejected",
        /// The user's leg failed on the network before it was answered (no response,
        /// transport error).
        UserUnreachable => "user_unreachable",
        UserLeftBeforeBridge => "user_left_before_bridge",
        AgentLeftBeforeBridge => "agent_left_before_bridge",
        /// No center number answered.
        CenterUnreachable => "center_unreachable",
        AgentNeverSignedOn => "agent_never_signed_on",
        /// Too many wrong PINs.
        SignOnFailed => "sign_on_failed",
        MaxCallLength => "max_call_length",
        /// The platform ended the call (shutdown, operator).
        Cancelled => "cancelled",
        /// The subject code has no route in the network abstraction table.
        NoRoute => "no_route",
        /// A stored route or policy value could not be used.
        BadRoute => "bad_route",
        DatabaseError => "database_error",
        /// The call could not be handed to the runtime (shutting down).
        StartFailed => "start_failed",
        /// The call's task failed: a bug, never a peer's doing.
        InternalError => "internal_error",
        /// The platform process died during the call (crash, kill, power cut); the next start
        /// ended the legs it had left open and closed the record.
        Interrupted => "interrupted",
        /// The user's answered leg died without a BYE: its media stopped (no RTP for the
        /// media timeout) or its transport failed.
        UserLineLost => "user_line_lost",
        /// The agent's answered leg died without a BYE, as for `user_line_lost`.
        AgentLineLost => "agent_line_lost",
        /// A callback attempt's visitor answered but did not press the digit their page
        /// showed within the limit (a voicemail box, a wrong person): the center was not
        /// dialed, and the attempt counts as not answered.
        UserNoConsent => "user_no_consent",
    }
);

word_enum!(
    /// How one leg ended. The SIP status that went with it is in the leg's CDR.
    LegEndCause {
        Busy => "busy",
        NoAnswer => "no_answer",
        /// A final failure response other than busy (its code is the CDR's `final_status`).
        Rejected => "rejected",
        /// A transport error, or media that stopped arriving.
        NetworkError => "network_error",
        /// Nothing answered the INVITE at all, not even 100 Trying, within the trunk's
        /// no-response limit: a trunk that is down or a route that drops the packets.
        NoResponse => "no_response",
        /// The network reported the destination unreachable (ICMP port, host or network
        /// unreachable): no SIP server there.
        Unreachable => "unreachable",
        /// We cancelled it while it rang.
        Cancelled => "cancelled",
        /// The far end hung up.
        RemoteHangup => "remote_hangup",
        /// We hung up.
        LocalHangup => "local_hangup",
    }
);

word_enum!(
    /// Where one dial's SIP dialog is, as the platform last stored it: what a restarted
    /// platform must do to end it (CANCEL while ringing, BYE once answered, nothing once ended).
    LegState {
        /// The INVITE is out and has no final response yet.
        Ringing => "ringing",
        /// A 2xx arrived: the dialog is confirmed.
        Answered => "answered",
        Ended => "ended",
    }
);

word_enum!(
    /// The SIP transport a dial's INVITE went out on.
    SipTransport {
        Udp => "udp",
        Tcp => "tcp",
    }
);

word_enum!(
    /// What the visitor's browser is told about the call.
    CallStatus {
        /// The user's phone is being called.
        Calling => "calling",
        /// The user is on the line; an agent is being reached.
        Connecting => "connecting",
        AgentOnLine => "agent_on_line",
        Ended => "ended",
    }
);

word_enum!(
    /// Who ended an answered call first.
    HungUpFirst {
        User => "user",
        Center => "center",
        /// The platform (a limit, a sign-on failure, shutdown, the flow's farewell).
        Platform => "platform",
    }
);

word_enum!(
    /// How the agent signs on, as the timeline shows it (never the PIN itself).
    SignOnWord {
        None => "none",
        Hash => "hash",
        Pin => "pin",
        AgentPin => "agent_pin",
        Console => "console",
    }
);

word_enum!(
    /// How an agent claimed a call (a claim is a sign-on that says who).
    ClaimHow {
        /// The agent keyed a personal PIN.
        Pin => "pin",
        /// The agent claimed the offer on the console.
        Console => "console",
    }
);

word_enum!(
    /// What led to a page push.
    PushSource {
        /// The agent's keypad during the bridge.
        Dtmf => "dtmf",
        /// `POST /admin/v1/calls/{id}/push`.
        Api => "api",
        /// The agent's click on the console.
        Console => "console",
    }
);

word_enum!(
    /// How the platform sent digits on a leg.
    DigitPath {
        /// RTP telephone-events (RFC 4733) with the payload type the far end answered.
        Rfc4733 => "rfc4733",
        /// DTMF tones in the audio, for a far end that answered no telephone-event.
        InBand => "in_band",
    }
);

word_enum!(
    /// Why a key was not acted on.
    IgnoredBecause {
        /// The user's keys never push pages.
        UserKey => "user_key",
        /// Not a sign-on key in this sign-on mode.
        NotSignOnKey => "not_sign_on_key",
        /// Pressed while the agent heard the whisper or waited for the user.
        BeforeBridge => "before_bridge",
        /// A key no page run can hold (`A`–`D`).
        NotPageKey => "not_page_key",
    }
);

/// One step of a call's timeline, with its detail as structured fields. Stored as `kind` (the
/// variant's word) and `detail` (the fields as a JSON object); numbers appear masked only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    content = "detail",
    rename_all = "snake_case",
    deny_unknown_fields
)]
pub enum TimelineEvent {
    /// The visitor confirmed a number and the record was created.
    SessionCreated {
        subject_code: SubjectCode,
        page: Option<String>,
        number_type: NumberType,
    },
    /// The record was created but the call could not be handed to the runtime.
    StartFailed {
        error: String,
    },
    /// The runtime could not set the call up from the tables.
    SetupFailed {
        cause: EndCause,
        error: String,
    },
    Started {
        call_order: CallOrder,
    },
    Status {
        status: CallStatus,
    },
    /// `number` is masked; `request_user` is the DNIS when one replaced the number.
    Dialing {
        leg: Leg,
        attempt: u32,
        number: String,
        request_user: Option<String>,
    },
    /// The leg's INVITE went out with this SIP Call-ID.
    LegDialed {
        leg: Leg,
        attempt: u32,
        call_id: String,
    },
    /// The dial failed before any SIP was sent (no trunk, no media port).
    DialError {
        leg: Leg,
        error: String,
    },
    Ringing {
        leg: Leg,
    },
    Answered {
        leg: Leg,
    },
    /// The dial did not reach an answer.
    Failed {
        leg: Leg,
        attempt: u32,
        end: LegEndCause,
    },
    /// The flow's ring timer expired.
    NoAnswer {
        leg: Leg,
        attempt: u32,
    },
    /// The next center number is dialed.
    Fallback {
        attempt: u32,
    },
    CenterUnreachable {
        numbers_tried: u32,
    },
    HungUp {
        leg: Leg,
        end: LegEndCause,
    },
    DigitIgnored {
        leg: Leg,
        key: DtmfKey,
        because: IgnoredBecause,
    },
    SignOnWaiting {
        mode: SignOnWord,
    },
    SignOnOk {},
    SignOnWrongPin {
        retries_left: u32,
    },
    SignOnFailed {},
    SignOnTimeout {},
    /// A callback attempt asks the visitor who answered to press this key before the center
    /// is dialed.
    ConsentAsked {
        key: DtmfKey,
    },
    /// The visitor pressed the key.
    ConsentGiven {},
    /// No key, or only other keys, within the limit.
    ConsentTimeout {},
    /// The call went to the consoles of the subscriber's agents as an offer with this short
    /// call reference (sign-on mode `console`).
    Offered {
        reference: String,
    },
    /// This agent (the agents table's id) has the call.
    Claimed {
        agent_id: i64,
        how: ClaimHow,
    },
    /// The session reference starts going to the agent as post-answer DTMF, before the
    /// whisper (the route's `dtmf_ref`). `keys` is the reference itself.
    RefDigitsStart {
        keys: String,
    },
    RefDigitsEnd {
        via: DigitPath,
    },
    /// The digits never reported their end; the whisper starts anyway.
    RefDigitsTimeout {},
    /// A call drew this DNIS from its route's range (the Request-URI user of the center leg).
    DnisDrawn {
        dnis: String,
    },
    WhisperStart {},
    WhisperEnd {},
    WhisperTimeout {},
    Bridged {},
    BridgeError {
        error: String,
    },
    /// The agent keyed a run of page keys; the runtime looks the page up.
    PagePush {
        keys: String,
    },
    PagePushed {
        page_id: i64,
        keys: String,
        source: PushSource,
        event_id: u64,
    },
    /// The visitor's browser displayed the page of this push (its push event id).
    PageShown {
        event_id: u64,
    },
    /// No page has these keys.
    PageUnknown {
        keys: String,
    },
    PagePushFailed {
        keys: String,
        error: String,
    },
    MaxDuration {},
    /// Both parties were told the call ends in `secs_left` seconds (maximum call length).
    MaxDurationWarning {
        secs_left: u64,
    },
    /// The agent keyed a run with no page: told so, the user not.
    AgentNotified {
        keys: String,
    },
    Ending {
        cause: EndCause,
    },
    /// A page run still being keyed when the call ended.
    DigitsDropped {
        keys: String,
    },
    Farewell {},
    Cancel {
        leg: Leg,
    },
    Hangup {
        leg: Leg,
    },
    Finished {
        cause: EndCause,
    },
    /// The platform restarted after this call's process died and ended the legs it had left
    /// open (CANCEL for ringing ones, BYE for answered ones).
    Interrupted {
        legs_ended: u32,
    },
}

impl TimelineEvent {
    /// The variant's word, stored as the row's `kind`.
    pub fn kind(&self) -> &'static str {
        // serde's tag is the source of truth; this reads it back without allocating a value
        // per call site (a test checks the two agree for every variant).
        match self {
            Self::SessionCreated { .. } => "session_created",
            Self::StartFailed { .. } => "start_failed",
            Self::SetupFailed { .. } => "setup_failed",
            Self::Started { .. } => "started",
            Self::Status { .. } => "status",
            Self::Dialing { .. } => "dialing",
            Self::LegDialed { .. } => "leg_dialed",
            Self::DialError { .. } => "dial_error",
            Self::Ringing { .. } => "ringing",
            Self::Answered { .. } => "answered",
            Self::Failed { .. } => "failed",
            Self::NoAnswer { .. } => "no_answer",
            Self::Fallback { .. } => "fallback",
            Self::CenterUnreachable { .. } => "center_unreachable",
            Self::HungUp { .. } => "hung_up",
            Self::DigitIgnored { .. } => "digit_ignored",
            Self::SignOnWaiting { .. } => "sign_on_waiting",
            Self::SignOnOk {} => "sign_on_ok",
            Self::SignOnWrongPin { .. } => "sign_on_wrong_pin",
            Self::SignOnFailed {} => "sign_on_failed",
            Self::SignOnTimeout {} => "sign_on_timeout",
            Self::ConsentAsked { .. } => "consent_asked",
            Self::ConsentGiven {} => "consent_given",
            Self::ConsentTimeout {} => "consent_timeout",
            Self::Offered { .. } => "offered",
            Self::Claimed { .. } => "claimed",
            Self::RefDigitsStart { .. } => "ref_digits_start",
            Self::RefDigitsEnd { .. } => "ref_digits_end",
            Self::RefDigitsTimeout {} => "ref_digits_timeout",
            Self::DnisDrawn { .. } => "dnis_drawn",
            Self::WhisperStart {} => "whisper_start",
            Self::WhisperEnd {} => "whisper_end",
            Self::WhisperTimeout {} => "whisper_timeout",
            Self::Bridged {} => "bridged",
            Self::BridgeError { .. } => "bridge_error",
            Self::PagePush { .. } => "page_push",
            Self::PagePushed { .. } => "page_pushed",
            Self::PageShown { .. } => "page_shown",
            Self::PageUnknown { .. } => "page_unknown",
            Self::PagePushFailed { .. } => "page_push_failed",
            Self::MaxDuration {} => "max_duration",
            Self::MaxDurationWarning { .. } => "max_duration_warning",
            Self::AgentNotified { .. } => "agent_notified",
            Self::Ending { .. } => "ending",
            Self::DigitsDropped { .. } => "digits_dropped",
            Self::Farewell {} => "farewell",
            Self::Cancel { .. } => "cancel",
            Self::Hangup { .. } => "hangup",
            Self::Finished { .. } => "finished",
            Self::Interrupted { .. } => "interrupted",
        }
    }

    /// The structured detail as stored: a JSON object (empty for events without fields).
    pub fn detail(&self) -> serde_json::Value {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(mut map)) => map
                .remove("detail")
                .unwrap_or_else(|| serde_json::Value::Object(Default::default())),
            // Serializing plain fields cannot fail; an empty object keeps the row readable.
            _ => serde_json::Value::Object(Default::default()),
        }
    }

    /// Reads a stored row back.
    pub fn from_row(kind: &str, detail: serde_json::Value) -> Result<Self, serde_json::Error> {
        serde_json::from_value(serde_json::json!({ "kind": kind, "detail": detail }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stored words: changing one of these changes stored data and the API. Add, never edit.
    #[test]
    fn words_are_pinned() {
        let words = |all: &[&dyn Word]| all.iter().map(|w| w.word()).collect::<Vec<_>>().join(" ");
        let states: Vec<&dyn Word> = CallState::ALL.iter().map(|s| s as &dyn Word).collect();
        assert_eq!(
            words(&states),
            "starting dialing_user holding_user dialing_center awaiting_sign_on whispering \
             holding_center bridged ending ended"
        );
        let causes: Vec<&dyn Word> = EndCause::ALL.iter().map(|s| s as &dyn Word).collect();
        assert_eq!(
            words(&causes),
            "user_hung_up agent_hung_up user_busy user_no_answer user_rejected user_unreachable \
             user_left_before_bridge agent_left_before_bridge center_unreachable \
             agent_never_signed_on sign_on_failed max_call_length cancelled no_route bad_route \
             database_error start_failed internal_error interrupted user_line_lost agent_line_lost \
             user_no_consent"
        );
        let legs: Vec<&dyn Word> = LegEndCause::ALL.iter().map(|s| s as &dyn Word).collect();
        assert_eq!(
            words(&legs),
            "busy no_answer rejected network_error no_response unreachable cancelled remote_hangup \
             local_hangup"
        );
        let leg_states: Vec<&dyn Word> = LegState::ALL.iter().map(|s| s as &dyn Word).collect();
        assert_eq!(words(&leg_states), "ringing answered ended");
        let transports: Vec<&dyn Word> = SipTransport::ALL.iter().map(|s| s as &dyn Word).collect();
        assert_eq!(words(&transports), "udp tcp");
        let paths: Vec<&dyn Word> = DigitPath::ALL.iter().map(|s| s as &dyn Word).collect();
        assert_eq!(words(&paths), "rfc4733 in_band");
    }

    #[test]
    fn serde_and_word_agree_and_parse_back() {
        for cause in EndCause::ALL {
            let json = serde_json::to_value(cause).expect("serialize");
            assert_eq!(json, serde_json::json!(cause.word()));
            assert_eq!(cause.word().parse::<EndCause>(), Ok(*cause));
        }
        for state in CallState::ALL {
            assert_eq!(
                serde_json::to_value(state).expect("ser"),
                serde_json::json!(state.word())
            );
        }
        assert!("UserUnreachable(Busy)".parse::<EndCause>().is_err());
    }

    fn every_event() -> Vec<TimelineEvent> {
        use TimelineEvent as T;
        let key = DtmfKey::from_char('5').expect("key");
        vec![
            T::SessionCreated {
                subject_code: "billing".parse().expect("sc"),
                page: Some("/tariffs".into()),
                number_type: NumberType::Mobile,
            },
            T::StartFailed { error: "x".into() },
            T::SetupFailed {
                cause: EndCause::NoRoute,
                error: "x".into(),
            },
            T::Started {
                call_order: CallOrder::UserFirst,
            },
            T::Status {
                status: CallStatus::Calling,
            },
            T::Dialing {
                leg: Leg::Center,
                attempt: 0,
                number: "+*******0123".into(),
                request_user: Some("8001".into()),
            },
            T::LegDialed {
                leg: Leg::User,
                attempt: 0,
                call_id: "abc@host".into(),
            },
            T::DialError {
                leg: Leg::User,
                error: "x".into(),
            },
            T::Ringing { leg: Leg::User },
            T::Answered { leg: Leg::User },
            T::Failed {
                leg: Leg::User,
                attempt: 0,
                end: LegEndCause::Busy,
            },
            T::NoAnswer {
                leg: Leg::User,
                attempt: 0,
            },
            T::Fallback { attempt: 1 },
            T::CenterUnreachable { numbers_tried: 3 },
            T::HungUp {
                leg: Leg::User,
                end: LegEndCause::RemoteHangup,
            },
            T::DigitIgnored {
                leg: Leg::User,
                key,
                because: IgnoredBecause::UserKey,
            },
            T::SignOnWaiting {
                mode: SignOnWord::Hash,
            },
            T::SignOnOk {},
            T::SignOnWrongPin { retries_left: 1 },
            T::SignOnFailed {},
            T::SignOnTimeout {},
            T::ConsentAsked { key },
            T::ConsentGiven {},
            T::ConsentTimeout {},
            T::Offered {
                reference: "427".into(),
            },
            T::Claimed {
                agent_id: 3,
                how: ClaimHow::Console,
            },
            T::RefDigitsStart {
                keys: "1234567890".into(),
            },
            T::RefDigitsEnd {
                via: DigitPath::Rfc4733,
            },
            T::RefDigitsTimeout {},
            T::DnisDrawn {
                dnis: "4701".into(),
            },
            T::WhisperStart {},
            T::WhisperEnd {},
            T::WhisperTimeout {},
            T::Bridged {},
            T::BridgeError { error: "x".into() },
            T::PagePush { keys: "12".into() },
            T::PagePushed {
                page_id: 7,
                keys: "1".into(),
                source: PushSource::Dtmf,
                event_id: 3,
            },
            T::PageShown { event_id: 3 },
            T::PageUnknown { keys: "3".into() },
            T::PagePushFailed {
                keys: "1".into(),
                error: "x".into(),
            },
            T::MaxDuration {},
            T::MaxDurationWarning { secs_left: 60 },
            T::AgentNotified { keys: "3".into() },
            T::Ending {
                cause: EndCause::AgentHungUp,
            },
            T::DigitsDropped { keys: "4".into() },
            T::Farewell {},
            T::Cancel { leg: Leg::Center },
            T::Hangup { leg: Leg::Center },
            T::Finished {
                cause: EndCause::AgentHungUp,
            },
            T::Interrupted { legs_ended: 2 },
        ]
    }

    #[test]
    fn every_event_round_trips_as_kind_and_object_detail() {
        for event in every_event() {
            let json = serde_json::to_value(&event).expect("serialize");
            assert_eq!(json["kind"], serde_json::json!(event.kind()), "{event:?}");
            let detail = event.detail();
            assert!(detail.is_object(), "{event:?}: {detail}");
            let back = TimelineEvent::from_row(event.kind(), detail).expect("read back");
            assert_eq!(back, event);
        }
        let bad = TimelineEvent::from_row("bridged", serde_json::json!({ "extra": 1 }));
        assert!(bad.is_err(), "unknown fields are refused");
    }
}
