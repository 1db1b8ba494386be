//! Property tests for SIP content read from or built out of outside input: INFO
//! `application/dtmf-relay` bodies, the headers built from request data (User-to-User, extra
//! headers, P-Asserted-Identity), trunk targets and the URIs built around them.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use words::DtmfKey;

use super::invite::parse_uri;
use super::message::{InviteHeaders, content_type_is, parse_dtmf_relay};
use super::trunk::{check_target, check_user};

fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0x00ca_11b0_d5d9),
        ..Config::default()
    }
}

/// Whether `text` has a `Signal=` line naming `key`, by its character (either case) or its
/// RFC 4733 event code.
fn names_key(text: &str, key: DtmfKey) -> bool {
    text.lines().any(|line| {
        line.split_once('=').is_some_and(|(name, value)| {
            let value = value.trim();
            name.trim().eq_ignore_ascii_case("signal")
                && (value.eq_ignore_ascii_case(&key.to_string())
                    || value == key.event().to_string())
        })
    })
}

proptest! {
    #![proptest_config(config(3000))]

    #[test]
    fn dtmf_relay_arbitrary_bodies_give_a_key_or_nothing(
        body in prop::collection::vec(any::<u8>(), 0..120),
        text in "(?i)(signal|duration|x)? ?[=:]? ?[0-9a-d*#]{0,3}(\r?\n[ -~]{0,12}){0,3}",
        ct in "(?s).{0,40}",
    ) {
        for b in [&body[..], text.as_bytes()] {
            // The type makes every answer a real key; the property is that it is the key
            // the body's Signal line names, not one read from elsewhere in the body.
            if let Some(key) = parse_dtmf_relay(b) {
                let text = std::str::from_utf8(b).unwrap(); // a key came out of it: UTF-8
                prop_assert!(names_key(text, key), "{:?} -> {:?}", text, key);
            }
        }
        let _ = content_type_is(&ct, "application/dtmf-relay");
    }

    #[test]
    fn dtmf_relay_round_trips_every_key(
        key in "[0-9a-dA-D*#]",
        duration in any::<u16>(),
        crlf in any::<bool>(),
        junk in "[A-Za-z-]{1,10}=[ -~]{0,10}",
    ) {
        let sep = if crlf { "\r\n" } else { "\n" };
        let body = format!("{junk}{sep}Signal={key}{sep}Duration={duration}{sep}");
        let want = key.chars().next().unwrap().to_ascii_uppercase();
        prop_assert_eq!(parse_dtmf_relay(body.as_bytes()).map(DtmfKey::as_char), Some(want));
    }

    /// Whatever the request carries, a built header never contains a line break: a CR or LF
    /// in a value would let the caller add headers or a body of their own (RFC 3261 §7.3.1).
    #[test]
    fn invite_headers_never_split_the_message(
        pai in prop::option::of("(?s).{0,20}"),
        uui in prop::option::of(prop::collection::vec(any::<u8>(), 0..64)),
        extra in prop::collection::vec(("(?s).{0,12}", "(?s).{0,30}"), 0..4),
    ) {
        let built = InviteHeaders {
            host: "example.net",
            p_asserted_identity: pai.as_deref(),
            user_to_user: uui.as_deref(),
            extra: &extra,
        }
        .build();
        if let Ok(headers) = built {
            for h in headers {
                let line = h.to_string();
                prop_assert!(!line.contains(['\r', '\n']), "{:?}", line);
            }
        }
    }

    #[test]
    fn request_uris_never_panic(
        user in "(?s).{0,16}",
        target in "(?s).{0,24}",
        raw in "(?s).{0,48}",
    ) {
        let _ = parse_uri(&raw);
        let _ = parse_uri(&format!("sip:{raw}"));
        if check_user("from user", &user).is_ok() && check_target(&target).is_ok() {
            let _ = parse_uri(&format!("sip:{user}@{target}"));
        }
    }

    /// The shapes operators configure (host or host:port, a dialled number) always give a URI.
    #[test]
    fn plain_trunk_targets_give_a_uri(
        user in "\\+?[0-9]{1,15}",
        host in "[a-z0-9]{1,10}(\\.[a-z0-9]{1,10}){0,3}",
        port in prop::option::of(1u16..),
    ) {
        let target = match port {
            Some(p) => format!("{host}:{p}"),
            None => host,
        };
        prop_assert!(check_target(&target).is_ok());
        let uri = format!("sip:{user}@{target}");
        prop_assert!(parse_uri(&uri).is_ok(), "{}", uri);
    }
}
