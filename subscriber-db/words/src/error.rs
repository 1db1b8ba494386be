//! [`ValidationError`]: what a value gets when it does not parse into its product word. Every
//! message is a sentence naming the field and what shape it must have; nothing here knows
//! about HTTP or storage.

use thiserror::Error;

/// Longest piece of a rejected input repeated in an error message, so a 256 KiB page body or a
/// hostile value does not end up whole in a log line or a JSON answer.
const SHOWN_MAX_CHARS: usize = 64;

/// The rejected input as it is repeated in a message: cut to a readable length.
pub fn shown(text: &str) -> String {
    if text.chars().count() <= SHOWN_MAX_CHARS {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(SHOWN_MAX_CHARS).collect();
    cut.push('…');
    cut
}

/// A value that does not have the shape its field requires. The variant names the field (or the
/// kind of value when the same type is used in several fields, such as a phone number).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ValidationError {
    #[error(
        "subscriber id must be 1 to 63 lowercase letters, digits or '-', starting with a letter or digit, got {0:?}"
    )]
    SubscriberId(String),
    #[error("subject code must be 1 to 32 letters, digits, '_', '.' or '-', got {0:?}")]
    SubjectCode(String),
    #[error("whisper code must be 1 to 32 letters, digits, '_', '.' or '-', got {0:?}")]
    WhisperCode(String),
    #[error("disposition code must be 1 to 32 lowercase letters, digits, '_' or '-', got {0:?}")]
    DispositionCode(String),
    #[error(
        "phone number must be in international form starting with '+', like +14155550123, got {0:?}"
    )]
    PhoneNotInternational(String),
    #[error("phone number {text:?} could not be read ({reason}); write it like +14155550123")]
    PhoneUnreadable { text: String, reason: String },
    #[error("phone number {0:?} is not a valid number in its country; check the digits")]
    PhoneInvalid(String),
    #[error("dnis must be 1 to 15 digits, got {0:?}")]
    Dnis(String),
    #[error("dtmf keys must be 1 to 8 of the keys 0-9, * and #, got {0:?}")]
    DtmfKeys(String),
    #[error("sign-on pin must be 2 to 8 digits, got {0:?}")]
    SignOnPin(String),
    #[error(
        "login must be 1 to 64 lowercase letters, digits, '.', '_', '-' or '@', starting with a letter or digit, got {0:?}"
    )]
    AgentLogin(String),
    /// Never carries the password itself: an error message may be logged.
    #[error(
        "password must be {min} to {max} characters with no control characters; choose a longer one or let the CLI generate one"
    )]
    AgentPassword { min: usize, max: usize },
    #[error("time zone must be an IANA name like \"Europe/Paris\" or \"UTC\", got {0:?}")]
    TimeZone(String),
    #[error(
        "country must be a two-letter ISO 3166 code with a telephone numbering plan, like \"US\", got {0:?}"
    )]
    CountryCode(String),
    #[error("session id must be 32 lowercase hex digits (0-9, a-f), got {0:?}")]
    SessionId(String),
    #[error("session reference must be 10 digits not starting with 0, got {0:?}")]
    SessionRef(String),
    #[error("dnis_range must look like \"4700-4799\" ({text}: {reason})")]
    DnisRange { text: String, reason: &'static str },
    #[error(
        "x-header name must be an RFC 3261 token of at most 64 characters starting with \"X-\", like \"X-Callbond-Ref\", got {0:?}"
    )]
    XHeaderName(String),
    #[error("{field}: {reason}")]
    Conflicting {
        field: &'static str,
        reason: &'static str,
    },
    #[error("opening hours for {day}: {reason}, got {text:?}")]
    OpeningHours {
        day: &'static str,
        text: String,
        reason: &'static str,
    },
    #[error("opening hours range must look like \"09:00-17:30\" with start before end, got {0:?}")]
    HoursRange(String),
    #[error(
        "origin must be http:// or https:// followed by a host and an optional port, with no path, got {text:?}: {reason}"
    )]
    Origin { text: String, reason: &'static str },
    #[error("{field} must be an http:// or https:// address with a host, got {text:?}")]
    Url { field: &'static str, text: String },
    #[error(
        "logo_url must be an https:// address of an image (no spaces, quotes, ';' or ','), at most 2048 bytes, got {0:?}"
    )]
    LogoUrl(String),
    #[error("accent_color must be a colour written #rrggbb, like \"#0b5fff\", got {0:?}")]
    AccentColor(String),
    #[error("{field} must not be empty")]
    Empty { field: &'static str },
    #[error("{field} must be at most {max} characters, got {got}")]
    TooLong {
        field: &'static str,
        max: usize,
        got: usize,
    },
    #[error("{field} must have at most {max} entries, got {got}")]
    TooMany {
        field: &'static str,
        max: usize,
        got: usize,
    },
    #[error("{field} must be at most {max} bytes, got {got}")]
    TooManyBytes {
        field: &'static str,
        max: usize,
        got: usize,
    },
    #[error("{field} must be between {min} and {max}, got {got}")]
    OutOfRange {
        field: &'static str,
        min: u32,
        max: u32,
        got: u32,
    },
    #[error("{field} must not contain control characters")]
    ControlCharacter { field: &'static str },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_cuts_long_input_and_keeps_short_input() {
        assert_eq!(shown("12a"), "12a");
        let long = "x".repeat(1000);
        let cut = shown(&long);
        assert_eq!(cut.chars().count(), SHOWN_MAX_CHARS + 1);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn dnis_message_names_field_and_value() {
        let text = ValidationError::Dnis("12a".into()).to_string();
        assert_eq!(text, "dnis must be 1 to 15 digits, got \"12a\"");
    }
}
