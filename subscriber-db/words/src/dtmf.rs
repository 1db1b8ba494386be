//! Keypad keys as DTMF carries them, and the runs of keys that name a subscriber's page. One
//! key set for the whole platform: RFC 4733 events, in-band tones, SIP INFO bodies, the sign-on
//! and the page table all go through [`DtmfKey`], so no two places disagree on what a key is.

use std::fmt;

/// One of the sixteen DTMF keys: `0`–`9`, `*`, `#` and `A`–`D` (RFC 4733 §3.2, events 0–15).
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "char", into = "char")]
pub struct DtmfKey(u8);

/// Why a character or event code is not a DTMF key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a DTMF key is one of 0-9, *, #, A-D")]
pub struct NotADtmfKey;

impl DtmfKey {
    pub const STAR: DtmfKey = DtmfKey(b'*');
    pub const HASH: DtmfKey = DtmfKey(b'#');

    /// A key from its character; `a`–`d` are read as `A`–`D` (SIP INFO bodies use either).
    /// `const` so a fixed key table (the in-band detector's keypad) is checked when it is
    /// compiled, not when a tone arrives.
    pub const fn from_char(c: char) -> Option<Self> {
        match c {
            '0'..='9' | '*' | '#' | 'A'..='D' => Some(Self(c as u8)),
            'a'..='d' => Some(Self(c.to_ascii_uppercase() as u8)),
            _ => None,
        }
    }

    /// A key from its RFC 4733 §3.2 event code: 0–9 digits, 10 `*`, 11 `#`, 12–15 `A`–`D`.
    pub const fn from_event(code: u8) -> Option<Self> {
        match code {
            0..=9 => Some(Self(b'0' + code)),
            10 => Some(Self::STAR),
            11 => Some(Self::HASH),
            12..=15 => Some(Self(b'A' + code - 12)),
            _ => None,
        }
    }

    /// The RFC 4733 event code of this key.
    pub fn event(self) -> u8 {
        match self.0 {
            b'0'..=b'9' => self.0 - b'0',
            b'*' => 10,
            b'#' => 11,
            other => other - b'A' + 12,
        }
    }

    pub fn as_char(self) -> char {
        char::from(self.0)
    }

    /// `0`–`9`: the keys a sign-on PIN is made of.
    pub fn is_digit(self) -> bool {
        self.0.is_ascii_digit()
    }

    /// Whether the key can be part of a page-push run: digits and `*` (`#` ends a run, and
    /// `A`–`D` are on no phone a visitor's agent would use to pick a page).
    pub fn is_page_key(self) -> bool {
        self.is_digit() || self == Self::STAR
    }
}

impl TryFrom<char> for DtmfKey {
    type Error = NotADtmfKey;
    fn try_from(c: char) -> Result<Self, Self::Error> {
        Self::from_char(c).ok_or(NotADtmfKey)
    }
}

impl From<DtmfKey> for char {
    fn from(key: DtmfKey) -> char {
        key.as_char()
    }
}

impl fmt::Display for DtmfKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_char())
    }
}

impl fmt::Debug for DtmfKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DtmfKey({})", self.as_char())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_code_round_trips_through_its_character() {
        let chars: String = (0..16)
            .map(|code| DtmfKey::from_event(code).expect("0..16").as_char())
            .collect();
        assert_eq!(chars, "0123456789*#ABCD");
        for code in 0..16 {
            let key = DtmfKey::from_event(code).expect("0..16");
            assert_eq!(key.event(), code);
            assert_eq!(DtmfKey::from_char(key.as_char()), Some(key));
        }
        assert_eq!(DtmfKey::from_event(16), None);
        assert_eq!(DtmfKey::from_char('a'), DtmfKey::from_char('A'));
        for bad in ['E', 'e', ' ', '+', '١'] {
            assert_eq!(DtmfKey::from_char(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn keys_can_be_built_in_a_const_table() {
        const TABLE: [Option<DtmfKey>; 4] = [
            DtmfKey::from_char('1'),
            DtmfKey::from_char('d'),
            DtmfKey::from_event(11),
            DtmfKey::from_char('E'),
        ];
        let chars: Vec<Option<char>> = TABLE.iter().map(|k| k.map(DtmfKey::as_char)).collect();
        assert_eq!(chars, [Some('1'), Some('D'), Some('#'), None]);
    }

    #[test]
    fn page_keys_are_digits_and_star() {
        let page: String = "0123456789*#ABCD"
            .chars()
            .filter_map(DtmfKey::from_char)
            .filter(|k| k.is_page_key())
            .map(DtmfKey::as_char)
            .collect();
        assert_eq!(page, "0123456789*");
    }
}
