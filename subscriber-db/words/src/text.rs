//! Free texts with a length limit: names, whisper templates, announcement texts, page titles and
//! stored page HTML. They are kept as written (no trimming) but bounded, so one subscriber
//! cannot fill the database or a TTS queue, and one-line texts carry no control characters.

use crate::ValidationError;

/// How a text is measured and which characters it may hold.
#[derive(Clone, Copy)]
struct Limits {
    field: &'static str,
    allow_empty: bool,
    max: usize,
    /// Count bytes (for stored HTML, whose storage cost is bytes) instead of characters.
    bytes: bool,
    multi_line: bool,
}

fn check(text: &str, limits: Limits) -> Result<(), ValidationError> {
    let field = limits.field;
    if text.is_empty() && !limits.allow_empty {
        return Err(ValidationError::Empty { field });
    }
    if limits.bytes {
        if text.len() > limits.max {
            let (max, got) = (limits.max, text.len());
            return Err(ValidationError::TooManyBytes { field, max, got });
        }
    } else {
        let got = text.chars().count();
        if got > limits.max {
            let max = limits.max;
            return Err(ValidationError::TooLong { field, max, got });
        }
    }
    let allowed =
        |c: char| !c.is_control() || (limits.multi_line && matches!(c, '\n' | '\r' | '\t'));
    if !text.chars().all(allowed) {
        return Err(ValidationError::ControlCharacter { field });
    }
    Ok(())
}

macro_rules! bounded_text {
    ($(#[$meta:meta])* $name:ident, $limits:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = ValidationError;
            fn try_from(text: String) -> Result<Self, Self::Error> {
                check(&text, $limits)?;
                Ok(Self(text))
            }
        }

        impl TryFrom<&str> for $name {
            type Error = ValidationError;
            fn try_from(text: &str) -> Result<Self, Self::Error> {
                check(text, $limits)?;
                Ok(Self(text.to_owned()))
            }
        }

        impl std::str::FromStr for $name {
            type Err = ValidationError;
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Self::try_from(text)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

bounded_text!(
    /// A subscriber's display name: 1 to 200 characters on one line.
    SubscriberName,
    Limits { field: "display_name", allow_empty: false, max: 200, bytes: false, multi_line: false }
);

bounded_text!(
    /// The text whispered to the agent before the bridge, at most 500 characters (it is spoken,
    /// and a long whisper keeps the caller waiting). May be empty: nothing is whispered.
    WhisperTemplate,
    Limits { field: "whisper_template", allow_empty: true, max: 500, bytes: false, multi_line: true }
);

bounded_text!(
    /// An announcement spoken to the caller (hold, center unreachable, goodbye): 1 to 500
    /// characters.
    AnnouncementText,
    Limits { field: "announcement", allow_empty: false, max: 500, bytes: false, multi_line: true }
);

bounded_text!(
    /// A pushed page's title: 1 to 200 characters on one line.
    PageTitle,
    Limits { field: "title", allow_empty: false, max: 200, bytes: false, multi_line: false }
);

bounded_text!(
    /// An agent's name as the console and supervisors show it: 1 to 100 characters on one line.
    AgentName,
    Limits { field: "display_name", allow_empty: false, max: 100, bytes: false, multi_line: false }
);

/// Largest stored page body: 256 KiB.
pub const PAGE_HTML_MAX_BYTES: usize = 256 * 1024;

bounded_text!(
    /// A stored page body, at most 256 KiB of HTML. It is served sandboxed by `pagepush`; this
    /// crate only bounds its size.
    PageHtml,
    Limits { field: "html", allow_empty: false, max: PAGE_HTML_MAX_BYTES, bytes: true, multi_line: true }
);

bounded_text!(
    /// How the visitor's pages name a route's subject instead of its raw code ("about billing"
    /// reads better as "your bill"): 1 to 80 characters on one line.
    RouteLabel,
    Limits { field: "label", allow_empty: false, max: 80, bytes: false, multi_line: false }
);

bounded_text!(
    /// How the agent desk names a wrap-up disposition ("Sale made"): 1 to 80 characters on
    /// one line.
    DispositionLabel,
    Limits { field: "label", allow_empty: false, max: 80, bytes: false, multi_line: false }
);

bounded_text!(
    /// An agent's wrap-up notes on a call: at most 2,000 characters, lines allowed; may be
    /// empty.
    WrapUpNotes,
    Limits { field: "notes", allow_empty: true, max: 2000, bytes: false, multi_line: true }
);

/// Largest promotional content: 64 KiB.
pub const PROMO_HTML_MAX_BYTES: usize = 64 * 1024;

bounded_text!(
    /// A subscriber's promotional content shown on the Connect page while the visitor waits
    /// (seed 002 step 205), at most 64 KiB of HTML. Served sandboxed like a stored page.
    PromoHtml,
    Limits { field: "promo_html", allow_empty: false, max: PROMO_HTML_MAX_BYTES, bytes: true, multi_line: true }
);

impl Default for WrapUpNotes {
    fn default() -> Self {
        // Empty notes are valid: the agent wrote none.
        Self::try_from("").unwrap_or_else(|_| unreachable!("empty wrap-up notes are valid"))
    }
}

impl Default for WhisperTemplate {
    fn default() -> Self {
        // The empty template is valid: nothing is whispered.
        Self::try_from("").unwrap_or_else(|_| unreachable!("the empty whisper template is valid"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_table() {
        let cases: Vec<(Result<(), ValidationError>, bool)> = vec![
            (SubscriberName::try_from("Acme Inc.").map(drop), true),
            (SubscriberName::try_from("").map(drop), false),
            (SubscriberName::try_from("a\nb").map(drop), false),
            (
                SubscriberName::try_from("é".repeat(200).as_str()).map(drop),
                true,
            ),
            (
                SubscriberName::try_from("é".repeat(201).as_str()).map(drop),
                false,
            ),
            (WhisperTemplate::try_from("").map(drop), true),
            (
                WhisperTemplate::try_from("x".repeat(500).as_str()).map(drop),
                true,
            ),
            (
                WhisperTemplate::try_from("x".repeat(501).as_str()).map(drop),
                false,
            ),
            (WhisperTemplate::try_from("line\nline").map(drop), true),
            (WhisperTemplate::try_from("bell\u{7}").map(drop), false),
            (AnnouncementText::try_from("").map(drop), false),
            (PageTitle::try_from("Offer").map(drop), true),
            (
                PageHtml::try_from("x".repeat(PAGE_HTML_MAX_BYTES).as_str()).map(drop),
                true,
            ),
            (
                PageHtml::try_from("x".repeat(PAGE_HTML_MAX_BYTES + 1).as_str()).map(drop),
                false,
            ),
        ];
        for (index, (result, valid)) in cases.iter().enumerate() {
            assert_eq!(result.is_ok(), *valid, "case {index}: {result:?}");
        }
    }

    #[test]
    fn too_long_message_names_field_and_sizes() {
        let error = WhisperTemplate::try_from("x".repeat(501).as_str()).expect_err("too long");
        assert_eq!(
            error.to_string(),
            "whisper_template must be at most 500 characters, got 501"
        );
    }
}
