//! Property tests for what pagepush reads from the browser: the `Last-Event-ID` header of an
//! SSE reconnect and the session id in the URL path.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use axum::http::HeaderValue;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

use crate::parse_last_event_id;

fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0x00ca_11b0_d5d9),
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config(4000))]

    /// Any header value gives an id or "absent"; an id only for optional blanks around plain
    /// decimal digits that fit in a u64.
    #[test]
    fn last_event_id_any_header(
        raw in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..40),
            "[ \t]{0,2}[0-9+-]{0,22}[ \t]{0,2}".prop_map(String::into_bytes),
        ],
    ) {
        let Ok(value) = HeaderValue::from_bytes(&raw) else {
            return Ok(());
        };
        let got = parse_last_event_id(Some(&value));
        let want = std::str::from_utf8(&raw).ok().and_then(|t| {
            let t = t.trim();
            (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
                .then(|| t.parse::<u64>().ok())
                .flatten()
        });
        prop_assert_eq!(got, want);
    }

    #[test]
    fn last_event_id_round_trips(id in any::<u64>(), before in "[ \t]{0,3}", after in "[ \t]{0,3}") {
        let value = HeaderValue::from_str(&format!("{before}{id}{after}")).unwrap();
        prop_assert_eq!(parse_last_event_id(Some(&value)), Some(id));
    }
}
