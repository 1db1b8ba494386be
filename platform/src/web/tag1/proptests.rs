//! Property tests for speak-to-agent links: any query string gives a link or a sentence, a link
//! we sign and serialize parses back and verifies, and a one-byte change to a signed link never
//! verifies unless it left every signed value (and the signature bytes) as they were.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

use super::*;
use crate::link::{query_string, sign, verify};

fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0x00ca_11b0_d5d9),
        ..Config::default()
    }
}

const SECRET: &[u8] = b"site-secret-for-properties";
const NOW: i64 = 1_800_000_000;

/// Values a site could put in a link: valid codes, a tel as sites write it.
fn link_fields() -> impl Strategy<Value = (String, String, Option<String>, Option<String>, i64)> {
    (
        "[a-z0-9][a-z0-9-]{0,20}",
        "[A-Za-z0-9_.-]{1,32}",
        prop::option::of("[A-Za-z0-9_.-]{1,32}"),
        prop::option::of("\\+?[0-9][0-9 ()-]{0,20}"),
        (NOW + 1)..i64::MAX,
    )
}

proptest! {
    #![proptest_config(config(3000))]

    #[test]
    fn any_query_gives_a_link_or_a_sentence(
        query in prop_oneof![
            "(?s).{0,80}",
            "((sid|sc|wc|tel|exp|sig|x)=([a-z0-9%+&=.-]|%[0-9A-Fa-f]{2}){0,12}&?){0,7}",
        ],
    ) {
        match Tag1::parse(&query) {
            Ok(t) => {
                prop_assert!(!t.sid.as_str().is_empty() && !t.sc.as_str().is_empty());
                if let Some(tel) = &t.tel {
                    prop_assert!(tel.chars().count() <= TEL_MAX_CHARS && !tel.chars().any(char::is_control));
                }
            }
            Err(e) => prop_assert!(e.to_string().ends_with("link"), "{:?}: {}", query, e),
        }
    }

    #[test]
    fn signed_links_round_trip((sid, sc, wc, tel, exp) in link_fields()) {
        let fields = SignedFields { sid: &sid, sc: &sc, wc: wc.as_deref(), tel: tel.as_deref(), exp };
        let sig = sign(SECRET, &fields);
        let query = query_string(&fields, &sig);
        let tag = Tag1::parse(&query).unwrap();
        let signature = tag.signature.clone().unwrap();
        prop_assert_eq!(signature.exp, exp);
        prop_assert_eq!(tag.signed_fields(exp), fields.clone());
        prop_assert_eq!(verify(SECRET, &tag.signed_fields(exp), &signature.sig, NOW), Ok(()));
        prop_assert_eq!(verify(SECRET, &fields, &sig, exp), Err(LinkError::Expired));
        prop_assert_eq!(verify(b"another-site", &fields, &sig, NOW), Err(LinkError::BadSignature));
    }

    /// One byte of the query string changed (any position, any value): if the result still
    /// verifies, it must carry exactly the values and signature bytes that were signed.
    #[test]
    fn one_changed_byte_never_verifies_other_values(
        (sid, sc, wc, tel, exp) in link_fields(),
        pos in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let fields = SignedFields { sid: &sid, sc: &sc, wc: wc.as_deref(), tel: tel.as_deref(), exp };
        let sig = sign(SECRET, &fields);
        let mut bytes = query_string(&fields, &sig).into_bytes();
        let at = pos.index(bytes.len());
        prop_assume!(bytes[at] != byte);
        bytes[at] = byte;
        let text = String::from_utf8_lossy(&bytes);
        let Ok(tag) = Tag1::parse(&text) else { return Ok(()); };
        let Some(s) = tag.signature.clone() else { return Ok(()); };
        if verify(SECRET, &tag.signed_fields(s.exp), &s.sig, NOW).is_ok() {
            prop_assert_eq!(tag.signed_fields(s.exp), fields.clone(), "{}", text);
            prop_assert_eq!(hex::decode(&s.sig).unwrap(), hex::decode(&sig).unwrap());
        }
    }

    /// A change to any signed value or to the signature itself never verifies.
    #[test]
    fn changed_values_never_verify(
        (sid, sc, wc, tel, exp) in link_fields(),
        which in 0usize..6,
        pos in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let fields = SignedFields { sid: &sid, sc: &sc, wc: wc.as_deref(), tel: tel.as_deref(), exp };
        let sig = sign(SECRET, &fields);
        let flip = |s: &str| {
            let mut b = s.as_bytes().to_vec();
            if b.is_empty() {
                b.push(byte);
            } else {
                let at = pos.index(b.len());
                b[at] = if b[at] == byte { byte.wrapping_add(1) } else { byte };
            }
            String::from_utf8_lossy(&b).into_owned()
        };
        let (mut sid2, mut sc2, mut wc2, mut tel2, mut exp2, mut sig2) =
            (sid.clone(), sc.clone(), wc.clone(), tel.clone(), exp, sig.clone());
        match which {
            0 => sid2 = flip(&sid),
            1 => sc2 = flip(&sc),
            2 => wc2 = Some(flip(wc.as_deref().unwrap_or(""))),
            3 => tel2 = Some(flip(tel.as_deref().unwrap_or(""))),
            4 => exp2 = exp ^ (1 << (pos.index(63))),
            _ => sig2 = flip(&sig),
        }
        let changed = SignedFields {
            sid: &sid2, sc: &sc2, wc: wc2.as_deref(), tel: tel2.as_deref(), exp: exp2,
        };
        let same_sig = hex::decode(&sig2).ok() == hex::decode(&sig).ok();
        prop_assume!(changed != fields || !same_sig);
        prop_assert!(verify(SECRET, &changed, &sig2, NOW).is_err(), "{:?} {}", changed, sig2);
    }
}
