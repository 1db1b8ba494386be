//! Phone numbers in E.164 (ITU-T E.164), parsed and checked with `phonenumber` (libphonenumber's
//! metadata), so a number that merely looks plausible but has no valid pattern in its country is
//! refused at the edge. Also exposes the number's region and type, so the web front can refuse
//! premium-rate and similar numbers before the platform dials them.

use std::fmt;
use std::str::FromStr;

use phonenumber::metadata::DATABASE;
use phonenumber::{Mode, PhoneNumber, Type};

use super::CountryCode;
use crate::{ValidationError, shown};

/// A valid phone number, held in E.164 form `+CC…` (no spaces).
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct E164(String);

/// What kind of line a number is, as far as the numbering plan tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NumberType {
    FixedLine,
    Mobile,
    /// Plans such as NANP where fixed and mobile share the same ranges.
    FixedLineOrMobile,
    TollFree,
    PremiumRate,
    SharedCost,
    PersonalNumber,
    Voip,
    Pager,
    /// Universal access / company numbers.
    Uan,
    Voicemail,
    /// Anything else the plan knows (short codes, emergency, carrier-specific) or does not:
    /// includes satellite and other non-geographic ranges.
    Other,
}

impl NumberType {
    /// Types a caller may be charged extra for, or that reach an unknown party: the web front
    /// refuses to call these back.
    pub fn is_high_risk(self) -> bool {
        matches!(
            self,
            Self::PremiumRate | Self::SharedCost | Self::PersonalNumber | Self::Uan | Self::Other
        )
    }

    fn from_library(kind: Type) -> Self {
        match kind {
            Type::FixedLine => Self::FixedLine,
            Type::Mobile => Self::Mobile,
            Type::FixedLineOrMobile => Self::FixedLineOrMobile,
            Type::TollFree => Self::TollFree,
            Type::PremiumRate => Self::PremiumRate,
            Type::SharedCost => Self::SharedCost,
            Type::PersonalNumber => Self::PersonalNumber,
            Type::Voip => Self::Voip,
            Type::Pager => Self::Pager,
            Type::Uan => Self::Uan,
            Type::Voicemail => Self::Voicemail,
            _ => Self::Other,
        }
    }
}

impl E164 {
    /// Parses a number written in national form for `default_country`, or in international
    /// form (`+…`), which wins over the default.
    pub fn parse_with_region(
        text: &str,
        default_country: CountryCode,
    ) -> Result<Self, ValidationError> {
        Self::parse_inner(text, default_country.id())
    }

    fn parse_inner(
        text: &str,
        region: Option<phonenumber::country::Id>,
    ) -> Result<Self, ValidationError> {
        let number =
            phonenumber::parse(region, text).map_err(|e| ValidationError::PhoneUnreadable {
                text: shown(text),
                reason: e.to_string(),
            })?;
        // An extension cannot be dialled by the platform; refusing it keeps the stored form pure.
        if number.extension().is_some() || !number.is_valid() {
            return Err(ValidationError::PhoneInvalid(shown(text)));
        }
        let e164 = number.format().mode(Mode::E164).to_string();
        // phonenumber 0.3 is not region-independent for `+…` text: with a default region it
        // accepts some numbers (`+78110000000`, `+881100000000`) that it reads as invalid on
        // their own, which is how `from_str` and serde read stored numbers back. Such a number
        // would be stored and then fail to load, so it is refused here too (found by a
        // property test).
        if region.is_some() && !phonenumber::parse(None, &e164).is_ok_and(|n| n.is_valid()) {
            return Err(ValidationError::PhoneInvalid(shown(text)));
        }
        Ok(Self(e164))
    }

    fn parsed(&self) -> Option<PhoneNumber> {
        // Held text came from `parse_inner`, so it parses again; `None` only if the metadata
        // changed under us, which the accessors below treat as "unknown".
        phonenumber::parse(None, &self.0).ok()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number's region (`US`, `FR`…), `None` for non-geographic numbers (+800, +881…).
    pub fn country(&self) -> Option<CountryCode> {
        let number = self.parsed()?;
        let id = number.country().id()?;
        let name: &str = id.as_ref();
        name.parse().ok()
    }

    /// The line type according to the numbering plan.
    pub fn number_type(&self) -> NumberType {
        self.parsed().map_or(NumberType::Other, |n| {
            NumberType::from_library(n.number_type(&DATABASE))
        })
    }

    /// The number as a person reads it on a phone's screen, in international form with the
    /// plan's grouping (`+1 202-555-0199`, `+49 40 12345600`); the E.164 text if the plan
    /// has no format for it.
    pub fn international(&self) -> String {
        self.parsed().map_or_else(
            || self.0.clone(),
            |n| n.format().mode(Mode::International).to_string(),
        )
    }

    /// The number with all but its last three digits masked, for logs and timelines
    /// (see [`crate::mask`]).
    pub fn masked(&self) -> String {
        crate::mask(&self.0)
    }
}

impl FromStr for E164 {
    type Err = ValidationError;

    /// Accepts only international form: a stored number must not depend on whose default
    /// country was in force when it was typed.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if !text.trim_start().starts_with('+') {
            return Err(ValidationError::PhoneNotInternational(shown(text)));
        }
        Self::parse_inner(text, None)
    }
}

impl TryFrom<String> for E164 {
    type Error = ValidationError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl TryFrom<&str> for E164 {
    type Error = ValidationError;
    fn try_from(text: &str) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<E164> for String {
    fn from(number: E164) -> String {
        number.0
    }
}

impl AsRef<str> for E164 {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn international_form_table() {
        // (input, expected E.164 or None when refused)
        let cases: &[(&str, Option<&str>)] = &[
            ("+12011550123", None), // NANP exchange codes never start with 1
            ("+12015550123", Some("+12015550123")),
            ("+1 201-555-0123", Some("+12015550123")),
            ("+33 1 42 68 53 00", Some("+33142685300")),
            ("+442079460000", Some("+442079460000")),
            ("+4915123456789", Some("+4915123456789")),
            ("2015550123", None),
            ("", None),
            ("+", None),
            ("+1", None),
            ("+999123456", None),
            ("+3314268530000000", None),
            ("+1 201 555 0123 ext. 5", None),
            ("not a number", None),
        ];
        for (input, expected) in cases {
            let got = input.parse::<E164>().ok().map(|n| n.to_string());
            assert_eq!(got.as_deref(), *expected, "input {input:?}");
        }
    }

    #[test]
    fn national_form_with_default_region() {
        let us: CountryCode = "US".parse().expect("US");
        let fr: CountryCode = "FR".parse().expect("FR");
        let cases: &[(&str, CountryCode, Option<&str>)] = &[
            ("(201) 555-0123", us, Some("+12015550123")),
            ("01 42 68 53 00", fr, Some("+33142685300")),
            ("+442079460000", us, Some("+442079460000")),
            ("12", us, None),
        ];
        for (input, region, expected) in cases {
            let got = E164::parse_with_region(input, *region)
                .ok()
                .map(|n| n.to_string());
            assert_eq!(got.as_deref(), *expected, "input {input:?} in {region}");
        }
    }

    #[test]
    fn country_and_type_table() {
        let cases: &[(&str, Option<&str>, NumberType)] = &[
            ("+12015550123", Some("US"), NumberType::FixedLineOrMobile),
            ("+33142685300", Some("FR"), NumberType::FixedLine),
            ("+33612345678", Some("FR"), NumberType::Mobile),
            ("+18005550100", Some("US"), NumberType::TollFree),
            ("+19005550100", Some("US"), NumberType::PremiumRate),
            ("+448712345678", Some("GB"), NumberType::PremiumRate),
            ("+33884012345", Some("FR"), NumberType::SharedCost),
        ];
        for (input, country, kind) in cases {
            let number: E164 = input.parse().expect(input);
            assert_eq!(
                number.country().as_ref().map(CountryCode::as_str),
                *country,
                "{input}"
            );
            assert_eq!(number.number_type(), *kind, "{input}");
        }
        assert!(NumberType::PremiumRate.is_high_risk());
        assert!(!NumberType::Mobile.is_high_risk());
    }

    #[test]
    fn masked_keeps_last_digits() {
        let number: E164 = "+12015550123".parse().expect("valid");
        assert_eq!(number.masked(), "+********123");
    }

    #[test]
    fn serde_round_trip_and_rejection() {
        let number: E164 = serde_json::from_str("\"+1 201 555 0123\"").expect("valid");
        assert_eq!(
            serde_json::to_string(&number).expect("ser"),
            "\"+12015550123\""
        );
        let error = serde_json::from_str::<E164>("\"2015550123\"").expect_err("national");
        assert!(error.to_string().contains("international form"), "{error}");
    }
}
