//! `SessionId`: the 32-hex-digit (128-bit) id the platform generates for a call session. Owns
//! parsing only; generating ids (randomness) is the platform's job.

use std::fmt;
use std::str::FromStr;

/// A call-session id: exactly 32 lowercase hex digits. Always valid once constructed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(String);

/// Why a string is not a session id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionIdError {
    #[error("a session id has 32 hex digits, this one has {0} characters")]
    WrongLength(usize),
    #[error("a session id uses only the digits 0-9 and letters a-f")]
    NotLowerHex,
}

impl SessionId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for SessionId {
    type Err = SessionIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Counted in characters, like the error reports it: a 32-character id with a
        // non-ASCII letter is "not hex", not "has 32 characters" (found by a property test).
        let length = s.chars().count();
        if length != 32 {
            return Err(SessionIdError::WrongLength(length));
        }
        if !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(SessionIdError::NotLowerHex);
        }
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn parses_only_32_lower_hex() {
        let cases: &[(&str, bool)] = &[
            ("0123456789abcdef0123456789abcdef", true),
            ("0123456789ABCDEF0123456789abcdef", false),
            ("0123456789abcdef0123456789abcde", false),
            ("0123456789abcdef0123456789abcdef0", false),
            ("0123456789abcdeg0123456789abcdef", false),
            ("", false),
            ("../../etc/passwd0123456789abcdef", false),
            ("é123456789abcdef0123456789abcde", false),
        ];
        for (input, ok) in cases {
            assert_eq!(input.parse::<SessionId>().is_ok(), *ok, "{input:?}");
        }
        let id: SessionId = "00000000000000000000000000000000".parse().unwrap();
        assert_eq!(id.to_string(), "00000000000000000000000000000000");
    }
}
