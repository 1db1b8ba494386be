//! Callbond's product words as types, one type per word (ARCHITECTURE.md "Words"): phone
//! numbers, session ids, subject and whisper codes, DNIS, page keys, sign-on PINs, call order
//! and sign-on mode, opening hours, origins, bounded texts, and the call record's vocabulary
//! (states, end causes, timeline events). Every value is parsed into one of these once at the
//! edge (`FromStr`, `TryFrom<&str>`, or serde, which re-validates) and passed through as is.
//!
//! Why a crate of its own: the pure call flow (`platform`), the database (`subscriber-db`), the
//! push channel (`pagepush`) and the SIP side (`voice`) all hold these values, and those crates
//! must not depend on one another. This crate holds logic without I/O and depends on nothing
//! of ours.

mod agent;
mod call_record;
mod call_setup;
mod callback;
mod dtmf;
mod error;
mod hours;
mod phone;
#[cfg(test)]
mod proptests;
mod text;
mod web;

pub use agent::{AgentPassword, AgentRole, Presence};
pub use call_record::{
    CallState, CallStatus, ClaimHow, DigitPath, EndCause, HungUpFirst, IgnoredBecause, Leg,
    LegEndCause, LegState, PushSource, SignOnWord, SipTransport, TimelineEvent, UnknownWord, Word,
};
pub use call_setup::{CallOrder, SignOnMode};
pub use callback::{CallbackKind, CallbackState};
pub use dtmf::{DtmfKey, NotADtmfKey};
pub use error::{ValidationError, shown};
pub use hours::{TimeRange, WeeklyHours};
pub use phone::{E164, NumberType};
pub use text::{
    AgentName, AnnouncementText, DispositionLabel, PAGE_HTML_MAX_BYTES, PROMO_HTML_MAX_BYTES,
    PageHtml, PageTitle, PromoHtml, RouteLabel, SubscriberName, WhisperTemplate, WrapUpNotes,
};
pub use web::{AccentColor, LogoUrl, Origin, PageUrl};

use std::fmt;
use std::str::FromStr;

/// Declares a string newtype whose only constructor is `FromStr`, with `TryFrom<&str>`,
/// `TryFrom<String>`, `Display`, `AsRef<str>` and serde as a string that re-validates.
macro_rules! string_newtype {
    (no_debug $(#[$meta:meta])* $name:ident, $valid:expr, $error:path) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);
        string_newtype!(@impls $name, $valid, $error);
    };
    ($(#[$meta:meta])* $name:ident, $valid:expr, $error:path) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);
        string_newtype!(@impls $name, $valid, $error);
    };
    (@impls $name:ident, $valid:expr, $error:path) => {

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::ValidationError;
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                let valid: fn(&str) -> bool = $valid;
                if valid(text) {
                    Ok(Self(text.to_owned()))
                } else {
                    Err($error($crate::shown(text)))
                }
            }
        }

        impl TryFrom<&str> for $name {
            type Error = $crate::ValidationError;
            fn try_from(text: &str) -> Result<Self, Self::Error> {
                text.parse()
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::ValidationError;
            fn try_from(text: String) -> Result<Self, Self::Error> {
                text.parse()
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

mod context;
pub use context::{DnisRange, MAX_DNIS_RANGE, SESSION_REF_DIGITS, SessionRef, XHeaderName};

/// True when `text` has `min..=max` bytes and every byte passes `allowed`.
fn ascii_run(text: &str, min: usize, max: usize, allowed: fn(u8) -> bool) -> bool {
    (min..=max).contains(&text.len()) && text.bytes().all(allowed)
}

fn is_code_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
}

string_newtype!(
    /// A subscriber's id (`SID`), a URL-safe slug: `[a-z0-9][a-z0-9-]{0,62}`.
    SubscriberId,
    |t| {
        ascii_run(t, 1, 63, |b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !t.starts_with('-')
    },
    ValidationError::SubscriberId
);

string_newtype!(
    /// A subject code (`sc` in TAG1), the key of the network abstraction table:
    /// `[A-Za-z0-9_.-]{1,32}`.
    SubjectCode,
    |t| ascii_run(t, 1, 32, is_code_byte),
    ValidationError::SubjectCode
);

string_newtype!(
    /// A whisper code (`wc` in TAG1), spoken to the agent: `[A-Za-z0-9_.-]{1,32}`.
    WhisperCode,
    |t| ascii_run(t, 1, 32, is_code_byte),
    ValidationError::WhisperCode
);

string_newtype!(
    /// A wrap-up disposition's code in the subscriber's list (`sale`, `no-answer-needed`):
    /// `[a-z0-9_-]{1,32}`, stored on the call record and read by reports.
    DispositionCode,
    |t| ascii_run(t, 1, 32, |b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'),
    ValidationError::DispositionCode
);

string_newtype!(
    /// Dialed Number Identification Service digits sent to the call center: 1 to 15 ASCII
    /// digits (15 is the E.164 maximum, ITU-T E.164 §6).
    Dnis,
    |t| ascii_run(t, 1, 15, |b| b.is_ascii_digit()),
    ValidationError::Dnis
);

string_newtype!(
    /// The keys that select a page in the subscriber's page table: `[0-9*#]{1,8}`. An agent's
    /// keypad run holds only [`DtmfKey::is_page_key`] keys (`#` ends a run), at most
    /// [`DtmfKeys::MAX`]; `#` can still be part of keys pushed through the API.
    DtmfKeys,
    |t| ascii_run(t, 1, 8, |b| b.is_ascii_digit() || b == b'*' || b == b'#'),
    ValidationError::DtmfKeys
);

string_newtype!(
    no_debug
    /// The agent's sign-on PIN: 2 to 8 digits. `Debug` shows its length only, so a PIN never
    /// lands in a log through `{:?}`.
    SignOnPin,
    |t| ascii_run(t, 2, 8, |b| b.is_ascii_digit()),
    ValidationError::SignOnPin
);

impl SignOnPin {
    /// The most digits a PIN has.
    pub const MAX_DIGITS: usize = 8;
}

impl fmt::Debug for SignOnPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SignOnPin(<{} digits>)", self.0.len())
    }
}

string_newtype!(
    /// An agent's login, unique within the subscriber: `[a-z0-9][a-z0-9._@-]{0,63}`. Lowercase
    /// only, so `Ann` and `ann` cannot be two agents that a supervisor cannot tell apart.
    AgentLogin,
    |t| {
        ascii_run(t, 1, 64, |b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-' | b'@')
        }) && t.as_bytes()[0].is_ascii_alphanumeric()
    },
    ValidationError::AgentLogin
);

string_newtype!(
    /// A call's session id, generated by the platform: exactly 32 lowercase hex digits (128
    /// random bits). The browser holds it as its capability, the call record uses it as its
    /// key, and it is the session reference on every channel. See [`SessionId::new_random`].
    SessionId,
    |t| t.len() == 32 && t.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
    ValidationError::SessionId
);

impl SessionId {
    /// A fresh unguessable session id: 128 random bits from the OS-seeded CSPRNG as 32 hex
    /// digits.
    pub fn new_random() -> Self {
        let bytes: [u8; 16] = rand::random();
        Self(hex::encode(bytes))
    }
}

impl DtmfKeys {
    /// The longest page key run.
    pub const MAX: usize = 8;

    /// Whether an agent can key this run on a phone: every key is a page key ([`DtmfKey::is_page_key`]).
    /// `#` ends an agent's run, so keys with `#` can never select a page from the keypad.
    pub fn agent_can_key(&self) -> bool {
        self.0
            .chars()
            .filter_map(DtmfKey::from_char)
            .all(DtmfKey::is_page_key)
    }

    /// The keys as one run, when they form valid page keys.
    pub fn from_keys(keys: &[DtmfKey]) -> Option<Self> {
        let text: String = keys.iter().map(|k| k.as_char()).collect();
        text.parse().ok()
    }
}

/// Masks all but the last three letters or digits of a phone number or code, for logs and
/// timelines: `+15551234567` → `+********567`. The one masker of the platform.
pub fn mask(value: &str) -> String {
    let n = value.chars().count();
    if n <= 3 {
        return "*".repeat(n);
    }
    value
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i + 3 < n && c.is_ascii_alphanumeric() {
                '*'
            } else {
                c
            }
        })
        .collect()
}

/// A fresh unguessable session id (32 hex characters, 128 random bits).
pub fn new_session_id() -> SessionId {
    SessionId::new_random()
}

/// An ISO 3166-1 alpha-2 country code that has a telephone numbering plan (so the platform can
/// parse national numbers with it and compare a caller's region to it).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    pub fn as_str(&self) -> &str {
        // Only built by `from_str`, which checked two ASCII uppercase letters.
        std::str::from_utf8(&self.0).unwrap_or("ZZ")
    }

    /// The phonenumber region this code was validated against.
    pub(crate) fn id(&self) -> Option<phonenumber::country::Id> {
        self.as_str().parse().ok()
    }
}

impl FromStr for CountryCode {
    type Err = ValidationError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let shape_ok = text.len() == 2 && text.bytes().all(|b| b.is_ascii_uppercase());
        // phonenumber's region list: a code without a numbering plan is of no use here.
        let known = shape_ok && text.parse::<phonenumber::country::Id>().is_ok();
        match text.as_bytes() {
            [a, b] if known => Ok(Self([*a, *b])),
            _ => Err(ValidationError::CountryCode(shown(text))),
        }
    }
}

impl TryFrom<String> for CountryCode {
    type Error = ValidationError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl TryFrom<&str> for CountryCode {
    type Error = ValidationError;
    fn try_from(text: &str) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<CountryCode> for String {
    fn from(code: CountryCode) -> String {
        code.as_str().to_owned()
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An IANA time zone name known to the bundled tz database (`chrono-tz`), such as
/// `Europe/Paris` or `UTC`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeZone(chrono_tz::Tz);

impl TimeZone {
    pub const UTC: TimeZone = TimeZone(chrono_tz::Tz::UTC);

    pub fn tz(&self) -> chrono_tz::Tz {
        self.0
    }

    pub fn name(&self) -> &'static str {
        self.0.name()
    }
}

impl FromStr for TimeZone {
    type Err = ValidationError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        text.parse::<chrono_tz::Tz>()
            .map(Self)
            .map_err(|_| ValidationError::TimeZone(shown(text)))
    }
}

impl TryFrom<String> for TimeZone {
    type Error = ValidationError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl TryFrom<&str> for TimeZone {
    type Error = ValidationError;
    fn try_from(text: &str) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<TimeZone> for String {
    fn from(zone: TimeZone) -> String {
        zone.name().to_owned()
    }
}

impl fmt::Display for TimeZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a table of (input, valid?) through a parser and reports every mismatch at once.
    fn check<T: FromStr<Err = ValidationError> + fmt::Display>(cases: &[(&str, bool)]) {
        let mut wrong = Vec::new();
        for (input, valid) in cases {
            match input.parse::<T>() {
                Ok(value) if *valid => assert_eq!(value.to_string(), *input, "round trip"),
                Err(_) if !*valid => {}
                Ok(_) => wrong.push(format!("{input:?} accepted")),
                Err(e) => wrong.push(format!("{input:?} rejected: {e}")),
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
    }

    #[test]
    fn subscriber_id_table() {
        let max = "a".repeat(63);
        let over = "a".repeat(64);
        check::<SubscriberId>(&[
            ("acme", true),
            ("a", true),
            ("0shop-2", true),
            (&max, true),
            ("", false),
            (&over, false),
            ("-acme", false),
            ("Acme", false),
            ("ac_me", false),
            ("ac me", false),
            ("acmé", false),
        ]);
    }

    #[test]
    fn subject_and_whisper_code_table() {
        let cases = [
            ("sales", true),
            ("Sales_EU-2.b", true),
            (&"x".repeat(32)[..], true),
            (&"x".repeat(33)[..], false),
            ("", false),
            ("a b", false),
            ("a/b", false),
        ];
        check::<SubjectCode>(&cases);
        check::<WhisperCode>(&cases);
    }

    #[test]
    fn dnis_table() {
        check::<Dnis>(&[
            ("1", true),
            ("123456789012345", true),
            ("1234567890123456", false),
            ("", false),
            ("12a", false),
            ("+123", false),
            ("１２", false),
        ]);
    }

    #[test]
    fn dtmf_keys_and_pin_table() {
        check::<DtmfKeys>(&[
            ("1", true),
            ("*#09", true),
            ("12345678", true),
            ("123456789", false),
            ("", false),
            ("A", false),
            ("1 2", false),
        ]);
        let keyable = |t: &str| t.parse::<DtmfKeys>().map(|k| k.agent_can_key());
        assert_eq!(keyable("0123*"), Ok(true));
        assert_eq!(keyable("*#09"), Ok(false));
        assert_eq!(keyable("#"), Ok(false));
        check::<SignOnPin>(&[
            ("12", true),
            ("12345678", true),
            ("1", false),
            ("123456789", false),
            ("12#", false),
        ]);
    }

    #[test]
    fn session_id_table_and_random_ids_are_valid_and_distinct() {
        check::<SessionId>(&[
            ("0123456789abcdef0123456789abcdef", true),
            ("0123456789ABCDEF0123456789abcdef", false),
            ("0123456789abcdef0123456789abcde", false),
            ("0123456789abcdef0123456789abcdef0", false),
            ("../../etc/passwd0123456789abcdef", false),
            ("é123456789abcdef0123456789abcde", false),
            ("short", false),
            ("0123456789abcdef0123456789abcde/", false),
        ]);
        let a = new_session_id();
        let b = new_session_id();
        assert_eq!(a.as_str().len(), 32);
        assert!(a.as_str().bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert!(a.as_str().parse::<SessionId>().is_ok());
    }

    #[test]
    fn country_code_table() {
        check::<CountryCode>(&[
            ("US", true),
            ("FR", true),
            ("JP", true),
            ("us", false),
            ("USA", false),
            ("", false),
            ("ZZ", false),
            ("QQ", false),
        ]);
    }

    #[test]
    fn time_zone_table() {
        check::<TimeZone>(&[
            ("UTC", true),
            ("Europe/Paris", true),
            ("America/Argentina/Buenos_Aires", true),
            ("Mars/Olympus", false),
            ("", false),
            ("europe/paris", false),
            ("+02:00", false),
        ]);
    }

    #[test]
    fn serde_revalidates_on_deserialize() {
        let ok: Dnis = serde_json::from_str("\"123\"").expect("valid dnis");
        assert_eq!(serde_json::to_string(&ok).expect("serialize"), "\"123\"");
        let bad = serde_json::from_str::<Dnis>("\"12a\"").expect_err("letter in dnis");
        assert!(
            bad.to_string().contains("dnis must be 1 to 15 digits"),
            "{bad}"
        );
        assert!(serde_json::from_str::<CountryCode>("\"XX\"").is_err());
        assert!(serde_json::from_str::<TimeZone>("\"Nowhere/City\"").is_err());
        let zone: TimeZone = serde_json::from_str("\"Asia/Tokyo\"").expect("valid zone");
        assert_eq!(zone.name(), "Asia/Tokyo");
    }
}
