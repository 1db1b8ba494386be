//! The words of TAG2's context channels (seed 002: DNIS, UUI, headers, touch-tones): the
//! session reference a call carries on every channel, a route's DNIS range, and the names a
//! subscriber gives its `X-` headers. Pure parsing; no randomness except
//! [`SessionRef::new_random`], which takes the OS-seeded generator like [`crate::SessionId`].

use std::fmt;
use std::str::FromStr;

use crate::{Dnis, DtmfKey, ValidationError, shown};

/// Digits in a [`SessionRef`]: short enough for an agent or an ACD to key or speak, long
/// enough (9·10⁹ values) that a random one rarely meets another stored call.
pub const SESSION_REF_DIGITS: usize = 10;

string_newtype!(
    /// The session reference: the one id of a bonded session that every context channel
    /// carries the same way (UUI `ref=`, the `X-` header, post-answer DTMF, the admin API).
    /// Exactly ten ASCII digits, the first not `0`, so an ACD that reads it as a number does
    /// not drop a leading zero and a keypad can send it as telephone-events.
    SessionRef,
    |t| t.len() == SESSION_REF_DIGITS
        && t.bytes().all(|b| b.is_ascii_digit())
        && !t.starts_with('0'),
    ValidationError::SessionRef
);

impl SessionRef {
    /// A fresh random reference. Not a secret (it travels in the clear to the center); the
    /// database refuses a second call with the same one, and the caller draws again.
    pub fn new_random() -> Self {
        let first = 1_000_000_000u64;
        let value = first + rand::random::<u64>() % (9 * first);
        Self(value.to_string())
    }

    /// The keys that send it as DTMF, one per digit.
    pub fn keys(&self) -> Vec<DtmfKey> {
        self.0.chars().filter_map(DtmfKey::from_char).collect()
    }
}

/// Most DNIS codes one range may hold: a route's concurrent calls, with room to spare.
pub const MAX_DNIS_RANGE: u64 = 10_000;

/// A route's DNIS range, written `FIRST-LAST` (e.g. `4700-4799`): both ends the same number
/// of digits, first ≤ last, at most [`MAX_DNIS_RANGE`] codes. Each call draws a code no other
/// call of the subscriber in progress holds, so the center's ACD can look the session up by
/// the number dialed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DnisRange {
    first: Dnis,
    last: Dnis,
}

impl DnisRange {
    pub fn first(&self) -> &Dnis {
        &self.first
    }

    pub fn last(&self) -> &Dnis {
        &self.last
    }

    /// How many codes the range holds.
    pub fn len(&self) -> u64 {
        self.value(&self.last) - self.value(&self.first) + 1
    }

    /// Never true: a range holds at least its first code.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Whether `dnis` lies in the range (same length, between the ends).
    pub fn contains(&self, dnis: &Dnis) -> bool {
        dnis.as_str().len() == self.first.as_str().len()
            && (self.value(&self.first)..=self.value(&self.last)).contains(&self.value(dnis))
    }

    /// Every code of the range, in order, with the ends' zero padding.
    pub fn codes(&self) -> impl Iterator<Item = Dnis> + '_ {
        let width = self.first.as_str().len();
        (self.value(&self.first)..=self.value(&self.last)).filter_map(move |v| {
            // Same width as the ends, all digits: always a valid Dnis.
            format!("{v:0width$}").parse().ok()
        })
    }

    fn value(&self, dnis: &Dnis) -> u64 {
        // 1 to 15 digits always fit a u64.
        dnis.as_str().parse().unwrap_or(0)
    }
}

impl FromStr for DnisRange {
    type Err = ValidationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = |reason| ValidationError::DnisRange {
            text: shown(text),
            reason,
        };
        let (first, last) = text.split_once('-').ok_or(bad("no '-' between the ends"))?;
        let first: Dnis = first.trim().parse().map_err(|_| bad("an end is no DNIS"))?;
        let last: Dnis = last.trim().parse().map_err(|_| bad("an end is no DNIS"))?;
        if first.as_str().len() != last.as_str().len() {
            return Err(bad("both ends must have the same number of digits"));
        }
        let range = DnisRange { first, last };
        if range.value(&range.first) > range.value(&range.last) {
            return Err(bad("the first code must not be above the last"));
        }
        if range.len() > MAX_DNIS_RANGE {
            return Err(bad("a range holds at most 10000 codes"));
        }
        Ok(range)
    }
}

impl TryFrom<String> for DnisRange {
    type Error = ValidationError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<DnisRange> for String {
    fn from(range: DnisRange) -> String {
        range.to_string()
    }
}

impl fmt::Display for DnisRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

/// Longest `X-` header name accepted.
const X_HEADER_NAME_MAX: usize = 64;

string_newtype!(
    /// The name of an `X-` header the center leg's INVITE carries: an RFC 3261 §25.1 token
    /// starting with `X-` (any case), at most 64 characters. Values are ours (digits, codes),
    /// never the subscriber's text, so no CR or LF can reach the message.
    XHeaderName,
    |t| {
        t.len() > 2
            && t.len() <= X_HEADER_NAME_MAX
            && t.as_bytes()[..2].eq_ignore_ascii_case(b"x-")
            && t.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
    },
    ValidationError::XHeaderName
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_refs() {
        for (text, ok) in [
            ("1234567890", true),
            ("9999999999", true),
            ("0123456789", false),
            ("123456789", false),
            ("12345678901", false),
            ("12345a7890", false),
            ("", false),
        ] {
            assert_eq!(text.parse::<SessionRef>().is_ok(), ok, "{text:?}");
        }
        for _ in 0..1000 {
            let r = SessionRef::new_random();
            assert!(r.as_str().parse::<SessionRef>().is_ok(), "{r}");
        }
        let keys: String = "2046813579"
            .parse::<SessionRef>()
            .unwrap_or_else(|e| panic!("{e}"))
            .keys()
            .into_iter()
            .map(DtmfKey::as_char)
            .collect();
        assert_eq!(keys, "2046813579");
    }

    #[test]
    fn dnis_ranges() {
        for (text, len) in [
            ("4700-4799", Some(100)),
            ("4700-4700", Some(1)),
            ("0098-0101", Some(4)),
            (" 12 - 13 ", Some(2)),
            ("4799-4700", None),
            ("470-4799", None),
            ("4700", None),
            ("47a0-4799", None),
            ("0-99999", None),
            ("00000-10000", None),
            ("00000-09999", Some(10_000)),
        ] {
            let got = text.parse::<DnisRange>().map(|r| r.len()).ok();
            assert_eq!(got, len, "{text:?}");
        }
        let range: DnisRange = "0098-0101".parse().unwrap_or_else(|e| panic!("{e}"));
        let codes: Vec<String> = range.codes().map(String::from).collect();
        assert_eq!(codes, ["0098", "0099", "0100", "0101"]);
        assert_eq!(range.to_string(), "0098-0101");
        let dnis = |t: &str| t.parse::<Dnis>().unwrap_or_else(|e| panic!("{e}"));
        assert!(range.contains(&dnis("0100")));
        assert!(!range.contains(&dnis("100")));
        assert!(!range.contains(&dnis("0102")));
        let error = "4799-4700"
            .parse::<DnisRange>()
            .expect_err("reversed")
            .to_string();
        assert_eq!(
            error,
            "dnis_range must look like \"4700-4799\" (4799-4700: the first code must not be above the last)"
        );
    }

    #[test]
    fn x_header_names() {
        for (text, ok) in [
            ("X-Callbond-Ref", true),
            ("x-acme.session_id", true),
            ("X-", false),
            ("Subject", false),
            ("X-Bad Name", false),
            ("X-Bad:Name", false),
            ("X-A\r\nBYE", false),
            ("X-Ünicode", false),
        ] {
            assert_eq!(text.parse::<XHeaderName>().is_ok(), ok, "{text:?}");
        }
        assert!(
            format!("X-{}", "a".repeat(62))
                .parse::<XHeaderName>()
                .is_ok()
        );
        assert!(
            format!("X-{}", "a".repeat(63))
                .parse::<XHeaderName>()
                .is_err()
        );
    }
}
