//! Property tests for the Welcome form as `POST /speak` reads it: any body, cookie header and
//! typed number give a refusal or a request, never a panic; a form we sign reads back and
//! verifies; a one-byte change to a signed form never verifies other values.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use axum::http::{HeaderMap, HeaderValue, header::COOKIE};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use subscriber_db::Policy;

use super::*;
use crate::web::form::{FormError, FormKey, new_cookie_value, read_cookie};

fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0x00ca_11b0_d5d9),
        ..Config::default()
    }
}

const NOW: i64 = 1_800_000_000;
const TTL: i64 = 1800;

/// Reads a body the way `submit` does.
fn read(body: &[u8]) -> (Submitted, Option<FormContext>) {
    let form: Submitted = serde_urlencoded::from_bytes(body).unwrap_or_default();
    let ctx = form_context(&form);
    (form, ctx)
}

fn contexts() -> impl Strategy<Value = FormContext> {
    (
        "[a-z0-9][a-z0-9-]{0,12}",
        "[A-Za-z0-9_.-]{1,16}",
        prop::option::of("[A-Za-z0-9_.-]{1,16}"),
        prop::option::of("[ -~]{1,20}"),
        (NOW - TTL)..=(NOW + 60),
    )
        .prop_map(|(sid, sc, wc, page, iat)| FormContext {
            sid,
            sc,
            wc,
            page,
            iat,
        })
}

fn body_for(ctx: &FormContext, csrf: &str, number: &str) -> String {
    let mut pairs = vec![("sid", ctx.sid.clone()), ("sc", ctx.sc.clone())];
    pairs.extend(ctx.wc.clone().map(|w| ("wc", w)));
    pairs.extend(ctx.page.clone().map(|p| ("page", p)));
    pairs.push(("iat", ctx.iat.to_string()));
    pairs.push(("csrf", csrf.to_owned()));
    pairs.push(("number", number.to_owned()));
    serde_urlencoded::to_string(pairs).unwrap()
}

proptest! {
    #![proptest_config(config(2000))]

    /// Nobody without the key gets a form through, whatever they send.
    #[test]
    fn any_body_and_cookie_is_refused_without_the_key(
        body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..120),
            "((sid|sc|wc|page|iat|csrf|number)=[a-z0-9%+&=-]{0,16}&?){0,8}".prop_map(String::into_bytes),
        ],
        cookie in "(?s).{0,60}",
    ) {
        let key = FormKey::random();
        let mut headers = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            headers.insert(COOKIE, v);
        }
        let cookie = read_cookie(&headers);
        if let Some(c) = &cookie {
            prop_assert!(c.len() == 32 && c.bytes().all(|b| b.is_ascii_hexdigit()));
        }
        let (form, ctx) = read(&body);
        let ctx = ctx.unwrap_or_else(empty_context);
        let token = form.csrf.as_deref().filter(|t| !t.is_empty());
        prop_assert!(key.verify(cookie.as_deref(), &ctx, token, NOW, TTL).is_err());
    }

    #[test]
    fn signed_forms_round_trip(ctx in contexts(), number in "[ -~]{0,20}") {
        let key = FormKey::random();
        let cookie = new_cookie_value();
        let body = body_for(&ctx, &key.token(&cookie, &ctx), &number);
        let (form, read_ctx) = read(body.as_bytes());
        prop_assert_eq!(read_ctx.as_ref(), Some(&ctx));
        prop_assert_eq!(form.number.unwrap_or_default(), number);
        let token = form.csrf.unwrap();
        prop_assert_eq!(key.verify(Some(&cookie), &ctx, Some(&token), NOW, TTL), Ok(()));
        prop_assert!(key.verify(Some(&new_cookie_value()), &ctx, Some(&token), NOW, TTL).is_err());
    }

    #[test]
    fn one_changed_byte_never_verifies_other_values(
        ctx in contexts(),
        pos in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let key = FormKey::random();
        let cookie = new_cookie_value();
        let token = key.token(&cookie, &ctx);
        let mut body = body_for(&ctx, &token, "2015550123").into_bytes();
        let at = pos.index(body.len());
        prop_assume!(body[at] != byte);
        body[at] = byte;
        let (form, read_ctx) = read(&body);
        let Some(read_ctx) = read_ctx else { return Ok(()); };
        let given = form.csrf.as_deref().filter(|t| !t.is_empty());
        if key.verify(Some(&cookie), &read_ctx, given, NOW, TTL).is_ok() {
            prop_assert_eq!(&read_ctx, &ctx);
            prop_assert_eq!(hex::decode(given.unwrap()).unwrap(), hex::decode(&token).unwrap());
        }
    }

    /// The expiry arithmetic holds for any issue time and clock, including the extremes.
    #[test]
    fn form_age_check_never_overflows(
        ctx in contexts(),
        iat in prop_oneof![any::<i64>(), Just(i64::MIN), Just(i64::MAX)],
        now in prop_oneof![any::<i64>(), Just(i64::MIN), Just(i64::MAX), Just(NOW)],
        ttl in prop_oneof![Just(TTL), any::<i64>()],
    ) {
        let key = FormKey::random();
        let cookie = new_cookie_value();
        let ctx = FormContext { iat, ..ctx };
        let token = key.token(&cookie, &ctx);
        match key.verify(Some(&cookie), &ctx, Some(&token), now, ttl) {
            Ok(()) => prop_assert!(i128::from(now) - i128::from(iat) <= i128::from(ttl)
                && i128::from(iat) - i128::from(now) <= 60),
            Err(e) => prop_assert_eq!(e, FormError::Expired),
        }
    }

    /// Typed numbers (seed 002 step 204): a number we may call, or a sentence; never a panic.
    #[test]
    fn typed_numbers_give_a_number_or_a_sentence(
        typed in prop_oneof![
            "(?s).{0,30}",
            "\\+?[0-9 ()./-]{0,20}",
            "\\+(1|33|44|49|800|881|900)[0-9 ]{4,14}",
        ],
        country in prop::sample::select(vec!["US", "GB", "FR", "DE", "RU"]),
    ) {
        let policy = Policy { default_country: country.parse().unwrap(), ..Policy::default() };
        match number::check(&typed, &policy, &crate::destinations::BlockList::default()) {
            Ok(n) => {
                prop_assert!(!n.number_type().is_high_risk());
                prop_assert_eq!(n.as_str().parse::<E164>().unwrap(), n);
            }
            Err(sentence) => prop_assert!(sentence.ends_with('.'), "{}", sentence),
        }
    }
}
