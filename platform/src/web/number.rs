//! Which callback numbers we call (seed 002 step 204): read with the policy's default
//! country, in an allowed caller country, and not a line type that costs the caller or reaches
//! an unknown party (premium-rate, shared-cost, personal, satellite and other special ranges).
//! Pure: policy and text in, a number or a sentence for the user out.

use super::brand::{and_list, country_name};
use subscriber_db::{E164, NumberType, Policy};

use crate::destinations::BlockList;

/// Reads the typed number with the policy's default country and refuses numbers we must not
/// call, with a sentence the user can act on. The platform's block list applies whatever the
/// policy allows.
pub(crate) fn check(typed: &str, policy: &Policy, blocked: &BlockList) -> Result<E164, String> {
    let typed = typed.trim();
    if typed.is_empty() {
        return Err("Please enter the phone number we should call.".to_owned());
    }
    // A number written in international form is read without a region: libphonenumber 0.3
    // refuses some (+882, +883) when given one, and the region cannot change a `+` number.
    let international = typed
        .starts_with('+')
        .then(|| {
            typed
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect::<String>()
        })
        .and_then(|compact| compact.parse::<E164>().ok());
    let number = international.map_or_else(
        || E164::parse_with_region(typed, policy.default_country),
        Ok,
    );
    let number = number.map_err(|_| {
        format!(
            "We could not read \"{typed}\" as a phone number. Please check it; numbers outside \
             {} need their country code, starting with +.",
            country_name(&policy.default_country)
        )
    })?;
    if let Some(what) = blocked.blocks(&number) {
        return Err(format!(
            "This is {what}, which we do not call. Please enter an ordinary mobile or landline number."
        ));
    }
    if !policy.allows_caller_country(number.country()) {
        let countries = policy.caller_countries();
        let allowed: Vec<String> = countries.iter().map(country_name).collect();
        return Err(format!(
            "We can only call numbers in {}. Please enter a number there.",
            and_list(&allowed)
        ));
    }
    let kind = number.number_type();
    if kind.is_high_risk() {
        let what = match kind {
            NumberType::PremiumRate => "a premium-rate number",
            NumberType::SharedCost => "a shared-cost number",
            NumberType::PersonalNumber => "a personal (forwarding) number",
            _ => "a special-service number",
        };
        return Err(format!(
            "This is {what}, which we do not call. Please enter an ordinary mobile or landline number."
        ));
    }
    Ok(number)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use subscriber_db::Policy;

    #[test]
    fn numbers_we_must_not_call_are_refused_with_a_reason() {
        let us_only = Policy {
            allowed_caller_countries: vec!["US".parse().unwrap()],
            ..Policy::default()
        };
        let gb = Policy {
            default_country: "GB".parse().unwrap(),
            ..Policy::default()
        };
        let cases: &[(&str, &Policy, Option<&str>)] = &[
            ("(201) 555-0123", &us_only, None),
            ("+1 201 555 0123", &us_only, None),
            ("", &us_only, Some("enter the phone number")),
            ("hello", &us_only, Some("could not read")),
            (
                "+33 6 12 34 56 78",
                &us_only,
                Some("only call numbers in the United States"),
            ),
            ("+1 900 555 0123", &us_only, Some("premium-rate")),
            ("09098 790 123", &gb, Some("premium-rate")),
            ("0870 123 4567", &gb, Some("number, which we do not call")),
            ("07912 345678", &gb, None),
            // Default-deny: with no list, only the policy's own country is called back.
            (
                "+44 7912 345678",
                &Policy::default(),
                Some("only call numbers in the United States"),
            ),
            // Satellite and network ranges, whatever the policy allows.
            (
                "+881 6312 34567",
                &us_only,
                Some("a satellite phone number"),
            ),
            (
                "+882 1640 00000",
                &gb,
                Some("an international network number"),
            ),
        ];
        let blocked = BlockList::default();
        for (typed, policy, want) in cases {
            match (check(typed, policy, &blocked), want) {
                (Ok(_), None) => {}
                (Err(text), Some(w)) => assert!(text.contains(w), "{typed}: {text}"),
                (got, _) => panic!("{typed}: unexpected {got:?}"),
            }
        }
    }
}
