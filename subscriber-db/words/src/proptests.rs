//! Property tests for the validated newtypes: every value that reaches the database from a
//! form, an API body or an import file passes through one of these parsers, so arbitrary text
//! must give the value or a `ValidationError`, never a panic, and what we store must parse back
//! to itself.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::str::FromStr;

use chrono::{NaiveDate, NaiveDateTime};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

use super::*;

fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0x00ca_11b0_d5d9),
        ..Config::default()
    }
}

/// Parses `text`; when it is accepted, the displayed form and the serde form (a JSON string)
/// must both give the same value back.
fn round_trips<T>(text: &str) -> Option<T>
where
    T: FromStr<Err = ValidationError>
        + std::fmt::Display
        + std::fmt::Debug
        + PartialEq
        + serde::Serialize
        + serde::de::DeserializeOwned,
{
    let value = T::from_str(text).ok()?;
    let again = T::from_str(&value.to_string()).unwrap();
    assert_eq!(again, value, "display of {text:?}");
    let json = serde_json::to_string(&value).unwrap();
    let back: T = serde_json::from_str(&json).unwrap();
    assert_eq!(back, value, "serde of {text:?}");
    Some(value)
}

fn number_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "(?s).{0,30}",
        "\\+?[0-9 ()./x#*-]{0,24}",
        "\\+(1|33|44|49|81|800|881|979|7|86)[0-9 -]{4,14}",
        "\\+[0-9]{1,17}( ?(ext\\.?|x|;ext=)[0-9]{1,5})?",
    ]
}

proptest! {
    #![proptest_config(config(3000))]

    #[test]
    fn e164_parses_or_errs_and_round_trips(text in number_text()) {
        if let Some(n) = round_trips::<E164>(&text) {
            let s = n.as_str();
            prop_assert!(s.starts_with('+') && s[1..].bytes().all(|b| b.is_ascii_digit()), "{}", s);
            let masked = n.masked();
            prop_assert_eq!(masked.len(), s.len());
            prop_assert!(s.ends_with(&masked[masked.len() - 3..]));
            prop_assert_eq!(masked[1..masked.len() - 3].bytes().filter(|b| *b != b'*').count(), 0);
            let _ = (n.country(), n.number_type().is_high_risk());
        }
        for region in ["US", "FR", "GB", "DE", "JP"] {
            let cc: CountryCode = region.parse().unwrap();
            if let Ok(n) = E164::parse_with_region(&text, cc) {
                prop_assert_eq!(round_trips::<E164>(n.as_str()), Some(n));
            }
        }
    }

    #[test]
    fn short_codes_parse_exactly_their_shape(
        text in prop_oneof!["(?s).{0,70}", "[0-9*#]{0,9}", "[a-z0-9-]{0,64}", "[A-Za-z0-9_.-]{0,34}"],
    ) {
        let bytes = text.as_bytes();
        let digits = bytes.iter().all(u8::is_ascii_digit);
        prop_assert_eq!(
            round_trips::<Dnis>(&text).is_some(),
            (1..=15).contains(&bytes.len()) && digits
        );
        prop_assert_eq!(
            round_trips::<DtmfKeys>(&text).is_some(),
            (1..=8).contains(&bytes.len()) && bytes.iter().all(|b| b"0123456789*#".contains(b))
        );
        prop_assert_eq!(round_trips::<SignOnPin>(&text).is_some(), (2..=8).contains(&bytes.len()) && digits);
        let code = (1..=32).contains(&bytes.len())
            && bytes.iter().all(|&b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        prop_assert_eq!(round_trips::<SubjectCode>(&text).is_some(), code);
        prop_assert_eq!(round_trips::<WhisperCode>(&text).is_some(), code);
        let _ = round_trips::<SubscriberId>(&text);
        let _ = round_trips::<SessionId>(&text);
        let _ = round_trips::<CountryCode>(&text);
        let _ = round_trips::<TimeZone>(&text);
        let _ = round_trips::<Origin>(&text);
        let _ = round_trips::<PageUrl>(&text);
        let _ = round_trips::<SubscriberName>(&text);
        let _ = round_trips::<PageTitle>(&text);
        let _ = round_trips::<AnnouncementText>(&text);
        let _ = round_trips::<WhisperTemplate>(&text);
    }

    #[test]
    fn time_zones_and_countries_round_trip(
        zone in "(?i)(europe|america|asia|etc|utc|gmt)(/[A-Za-z_+0-9-]{0,14}){0,2}",
        cc in "[A-Z]{2}",
    ) {
        if let Some(z) = round_trips::<TimeZone>(&zone) {
            prop_assert_eq!(z.name().parse::<TimeZone>().unwrap(), z);
        }
        let _ = round_trips::<CountryCode>(&cc);
    }

    /// Web addresses: normalisation is idempotent (what we store is what we would store again).
    #[test]
    fn web_addresses_normalise_idempotently(
        text in prop_oneof![
            "(?i)(https?|ftp)://[a-zA-Z0-9.:\\[\\]@_-]{0,30}(/[ -~]{0,20})?",
            "(?s).{0,40}",
        ],
    ) {
        let _ = round_trips::<Origin>(&text);
        let _ = round_trips::<PageUrl>(&text);
    }

    #[test]
    fn time_ranges_parse_or_err(
        text in prop_oneof!["(?s).{0,16}", "[0-9]{1,3}:[0-9]{1,3} ?- ?[0-9]{1,3}:[0-9]{1,3}"],
    ) {
        if let Some(range) = round_trips::<TimeRange>(&text) {
            let shown = range.to_string();
            let (start, end) = shown.split_once('-').unwrap();
            prop_assert!(start < end, "{}", shown);
        }
    }

    /// Opening hours as JSON (the admin API's and the import file's shape): arbitrary days and
    /// ranges give the week or an error; an accepted week round-trips and answers `is_open` /
    /// `next_opening` for any time without panicking, and `next_opening` is open.
    #[test]
    fn weekly_hours_json_parses_or_errs(
        days in prop::collection::vec((
            prop::sample::select(vec!["monday", "tuesday", "wednesday", "thursday", "friday",
                "saturday", "sunday", "funday", "Monday"]),
            prop::collection::vec(
                prop_oneof!["(0[0-9]|1[0-9]|2[0-4]):(00|30|59|60)-(0[0-9]|1[0-9]|2[0-4]):(00|15|59)", ".{0,8}"],
                0..4,
            ),
        ), 0..9),
        raw in "(?s).{0,40}",
        minute in 0i64..(60 * 24 * 20),
    ) {
        let _ = serde_json::from_str::<WeeklyHours>(&raw);
        let object: serde_json::Map<String, serde_json::Value> = days
            .into_iter()
            .map(|(day, ranges)| (day.to_owned(), serde_json::json!(ranges)))
            .collect();
        let json = serde_json::Value::Object(object).to_string();
        if let Ok(hours) = serde_json::from_str::<WeeklyHours>(&json) {
            let back: WeeklyHours = serde_json::from_value(serde_json::to_value(&hours).unwrap()).unwrap();
            prop_assert_eq!(&back, &hours);
            let base: NaiveDateTime = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap().into();
            let at = base + chrono::Duration::minutes(minute);
            let open = hours.is_open(at);
            match hours.next_opening(at) {
                Some(next) => {
                    prop_assert!(next >= at && hours.is_open(next), "{} {:?}", json, next);
                    prop_assert_eq!(open, next == at);
                }
                None => prop_assert!(!open),
            }
        }
    }

    #[test]
    fn session_id_is_exactly_32_lower_hex(text in prop_oneof!["(?s).{0,40}", "[0-9a-fA-Fé]{30,34}", "[0-9a-f]{32}"]) {
        let ok = text.len() == 32 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        match text.parse::<SessionId>() {
            Ok(id) => {
                prop_assert!(ok);
                prop_assert_eq!(id.to_string(), text);
            }
            Err(e) => {
                prop_assert!(!ok);
                prop_assert!(e.to_string().starts_with("session id must be 32 lowercase hex digits"), "{}", e);
            }
        }
    }

    #[test]
    fn session_id_round_trips(bits in any::<u128>()) {
        let text = format!("{bits:032x}");
        let id: SessionId = text.parse().unwrap();
        prop_assert_eq!(id.as_str(), text.as_str());
        prop_assert_eq!(id.to_string().parse::<SessionId>().unwrap(), id);
    }

}

/// The case the E.164 property found: accepted with a default region, unreadable on its own.
#[test]
fn a_number_accepted_with_a_region_is_readable_alone() {
    for text in ["+78110000000", "+881100000000", "8110000000"] {
        let ru: CountryCode = "RU".parse().unwrap();
        let us: CountryCode = "US".parse().unwrap();
        for cc in [ru, us] {
            if let Ok(n) = E164::parse_with_region(text, cc) {
                assert_eq!(n.as_str().parse::<E164>().unwrap(), n, "{text} in {cc}");
            }
        }
    }
    assert!(E164::parse_with_region("+78110000000", "US".parse().unwrap()).is_err());
}
