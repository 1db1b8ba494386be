//! The agent desk's words that are not plain text: an agent's role and the password an agent
//! signs in with. The password type only ever holds a candidate in memory: it has no
//! `Display`, no `Serialize`, and its `Debug` shows nothing, so it cannot reach a log, a JSON
//! answer or the database by accident; storage keeps only its argon2id hash.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ValidationError;
use crate::call_record::{UnknownWord, Word, word_enum};

word_enum!(
    /// What an agent may do on the agent desk.
    AgentRole {
        Agent => "agent",
        /// Also sees the other agents of the subscriber (later slices).
        Supervisor => "supervisor",
    }
);

word_enum!(
    /// Whether an agent takes calls, as the agent sets it on the desk. Wrap-up (a call ended
    /// and its disposition not given yet) and being on a call are derived, not stored.
    Presence {
        Available => "available",
        Away => "away",
    }
);

/// A password as typed or generated, before it is hashed.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct AgentPassword(String);

impl AgentPassword {
    /// Shorter is guessable offline from a stolen hash; NIST SP 800-63B §5.1.1.2 asks for at
    /// least 8, we ask for 10 because agents share desks.
    pub const MIN_CHARS: usize = 10;
    /// Bounds the work one login request can ask of argon2 and the body size.
    pub const MAX_CHARS: usize = 128;

    /// The password to hash or verify. The only way to read it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A fresh password of 20 characters from a 56-letter alphabet without look-alikes
    /// (about 116 bits), for the CLI to print once.
    pub fn generate() -> Self {
        const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
        let text = (0..20)
            .map(|_| char::from(ALPHABET[rand::random_range(0..ALPHABET.len())]))
            .collect();
        Self(text)
    }
}

impl TryFrom<String> for AgentPassword {
    type Error = ValidationError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        let n = text.chars().count();
        if !(Self::MIN_CHARS..=Self::MAX_CHARS).contains(&n) || text.chars().any(char::is_control) {
            return Err(ValidationError::AgentPassword {
                min: Self::MIN_CHARS,
                max: Self::MAX_CHARS,
            });
        }
        Ok(Self(text))
    }
}

impl TryFrom<&str> for AgentPassword {
    type Error = ValidationError;
    fn try_from(text: &str) -> Result<Self, Self::Error> {
        Self::try_from(text.to_owned())
    }
}

impl std::str::FromStr for AgentPassword {
    type Err = ValidationError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::try_from(text)
    }
}

impl fmt::Debug for AgentPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AgentPassword(<hidden>)")
    }
}

// `Serialize` only so bodies that hold a password can be printed by the fuzz round trip and
// the CLI; it is never part of an answer type.
impl Serialize for AgentPassword {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AgentLogin;

    #[test]
    fn roles_have_stable_words() {
        assert_eq!(AgentRole::Agent.word(), "agent");
        assert_eq!(AgentRole::Supervisor.word(), "supervisor");
        assert_eq!("supervisor".parse(), Ok(AgentRole::Supervisor));
        assert!("admin".parse::<AgentRole>().is_err());
    }

    #[test]
    fn logins() {
        for good in ["ann", "ann.lee@acme.example", "a1", "9_x-y"] {
            assert!(good.parse::<AgentLogin>().is_ok(), "{good}");
        }
        let long = "a".repeat(65);
        for bad in ["", "Ann", ".ann", "-a", "a b", "ann\n", long.as_str()] {
            assert!(bad.parse::<AgentLogin>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn passwords_are_bounded_and_never_shown() {
        assert!(AgentPassword::try_from("short-9ch").is_err());
        assert!(AgentPassword::try_from("ten chars!").is_ok());
        assert!(AgentPassword::try_from("x".repeat(129).as_str()).is_err());
        assert!(AgentPassword::try_from("tab\tinside-it").is_err());
        let secret = "correct horse battery";
        let password = AgentPassword::try_from(secret).expect("valid");
        assert!(!format!("{password:?}").contains("horse"));
        let error = AgentPassword::try_from("horse")
            .expect_err("short")
            .to_string();
        assert!(!error.contains("horse"), "{error}");
        let generated = AgentPassword::generate();
        assert_eq!(generated.expose().chars().count(), 20);
        assert_ne!(generated, AgentPassword::generate());
    }
}
