//! Destinations the platform never calls back, whatever a subscriber's policy allows: the
//! ITU non-geographic ranges where toll fraud lives (satellite, international networks,
//! international premium and shared-cost services, ITU E.164 Annex/List of assigned country
//! codes) plus the prefixes the operator adds in `dialing.blocked_prefixes`. Pure: a number
//! in, the reason it is blocked (or none) out. Checked at the Welcome form, so the visitor
//! is told before any SIP is sent.

use std::fmt;

use serde::Deserialize;
use words::E164;

/// A number prefix: `+` and 1 to 8 digits, such as `+881` or `+5399`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct DialPrefix(String);

/// Why a text is not a dial prefix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a blocked prefix is + and 1 to 8 digits, like \"+881\", got {0:?}")]
pub struct BadPrefix(String);

impl TryFrom<String> for DialPrefix {
    type Error = BadPrefix;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        let ok = text
            .strip_prefix('+')
            .is_some_and(|d| (1..=8).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()));
        if ok {
            Ok(Self(text))
        } else {
            Err(BadPrefix(text))
        }
    }
}

impl fmt::Display for DialPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The built-in ranges and what each is (ITU-T E.164 assigned non-geographic codes).
const BUILT_IN: &[(&str, &str)] = &[
    ("+808", "an international shared-cost number"),
    ("+870", "a satellite (Inmarsat) number"),
    ("+878", "a universal personal telecommunications number"),
    ("+881", "a satellite phone number"),
    ("+882", "an international network number"),
    ("+883", "an international network number"),
    ("+888", "a humanitarian network number"),
    ("+979", "an international premium-rate number"),
    ("+991", "an international trial-service number"),
];

/// The prefixes blocked on this platform.
#[derive(Debug, Clone)]
pub struct BlockList {
    entries: Vec<(String, &'static str)>,
}

impl BlockList {
    /// The built-in ranges plus the operator's own.
    pub fn new(extra: &[DialPrefix]) -> Self {
        let mut entries: Vec<(String, &'static str)> = BUILT_IN
            .iter()
            .map(|(prefix, what)| ((*prefix).to_owned(), *what))
            .collect();
        entries.extend(extra.iter().map(|p| {
            (
                p.0.clone(),
                "a number in a range this service does not call",
            )
        }));
        Self { entries }
    }

    /// What a blocked number is, for the sentence the visitor reads; `None` if it may be called.
    pub fn blocks(&self, number: &E164) -> Option<&'static str> {
        self.entries
            .iter()
            .find(|(prefix, _)| number.as_str().starts_with(prefix.as_str()))
            .map(|(_, what)| *what)
    }
}

impl Default for BlockList {
    fn default() -> Self {
        Self::new(&[])
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn prefixes_parse_only_as_plus_and_digits() {
        for (text, ok) in [
            ("+881", true),
            ("+5", true),
            ("+12345678", true),
            ("+123456789", false),
            ("881", false),
            ("+", false),
            ("+88 1", false),
            ("+88a", false),
        ] {
            assert_eq!(DialPrefix::try_from(text.to_owned()).is_ok(), ok, "{text}");
        }
    }

    #[test]
    fn built_in_and_operator_ranges_are_blocked_others_not() {
        let extra = [DialPrefix::try_from("+447".to_owned()).unwrap()];
        let list = BlockList::new(&extra);
        let number = |t: &str| t.parse::<E164>().unwrap();
        // libphonenumber calls the satellite ones "mobile": the line type alone lets them
        // through (how the toll fraud of issue 10 was placed).
        for (text, want) in [
            ("+881631234567", Some("a satellite phone number")),
            ("+870772123456", Some("a satellite (Inmarsat) number")),
            ("+882164000000", Some("an international network number")),
            ("+883510000000", Some("an international network number")),
            (
                "+979123456789",
                Some("an international premium-rate number"),
            ),
            ("+80812345678", Some("an international shared-cost number")),
            (
                "+447912345678",
                Some("a number in a range this service does not call"),
            ),
            ("+442079460000", None),
            ("+12015550123", None),
            ("+4930123456", None),
        ] {
            assert_eq!(list.blocks(&number(text)), want, "{text}");
        }
        assert_eq!(BlockList::default().blocks(&number("+447912345678")), None);
    }
}
