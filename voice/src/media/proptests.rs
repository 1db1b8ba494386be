//! Property tests for everything the media layer reads from the network: SDP answers and
//! re-offers, RTP datagrams and RFC 4733 telephone-event payloads. Seeded and bounded so they
//! run in the normal test suite (STYLE.md asks for fuzzing; cargo-fuzz needs nightly).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

use super::codec::Codec;
use super::dtmf::EventReceiver;
use super::rtp::{Inbound, MAX_PAYLOAD, RelayClock, RxTrack, Stamp, classify, write_packet};
use super::sdp::{
    Direction, LocalMedia, Negotiated, OFFERED_TELEPHONE_EVENT_PT, answer_offer, build_offer,
    parse_answer,
};

fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0x00ca_11b0_d5d9),
        ..Config::default()
    }
}

/// A valid text with 1-8 random edits (overwrite, insert, delete) so the generator reaches the
/// code behind the first line's checks.
fn mutated(seeds: &'static [&'static str]) -> impl Strategy<Value = String> {
    let edit = (any::<usize>(), 0u8..3, any::<u8>());
    (0..seeds.len(), prop::collection::vec(edit, 1..8)).prop_map(move |(i, edits)| {
        let mut bytes = seeds[i].as_bytes().to_vec();
        for (pos, op, byte) in edits {
            let at = pos % (bytes.len() + 1);
            // Edits favour the characters SDP syntax hinges on.
            let b = match byte % 8 {
                0 => b' ',
                1 => b'\n',
                2 => b'=',
                3 => b':',
                4 => b'/',
                5 => b'0' + byte % 10,
                _ => byte,
            };
            match op {
                0 if at < bytes.len() => bytes[at] = b,
                1 => bytes.insert(at, b),
                _ if at < bytes.len() => {
                    bytes.remove(at);
                }
                _ => bytes.push(b),
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

const SDP_SEEDS: &[&str] = &[
    "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
     m=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n\
     a=sendrecv\r\n",
    "v=0\nc=IN IP6 ::1\nm=video 5000 RTP/AVP 96\nm=audio 4002/2 RTP/AVP 8 96\n\
     a=rtpmap:96 telephone-event/8000\na=sendonly\n",
    "v=0\r\nm=audio 0 RTP/AVP 0\r\nm=audio 6000 RTP/AVP 0\r\nc=IN IP4 0.0.0.0\r\na=recvonly\r\n",
    "v=0\r\nc=IN IP4 192.0.2.1/127\r\na=inactive\r\nm=audio 7000 RTP/SAVP 0 8\r\n\
     a=rtpmap:0 PCMA/8000\r\na=rtpmap:8 PCMA/16000\r\n",
];

const LOCAL: LocalMedia = LocalMedia {
    advertise_ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)),
    port: 20000,
    session_id: 42,
    version: 2,
};

/// Whatever we accept as an offer, our answer must itself be readable SDP that says what we
/// negotiated (RFC 3264 §6), and the telephone-event payload type must never shadow the
/// codec's (RTP receive sorts packets by payload type, events first).
fn check_offer(text: &str) {
    let _ = parse_answer(text);
    if let Ok(n) = parse_answer(text) {
        assert_ne!(
            n.telephone_event_pt,
            Some(n.codec.payload_type()),
            "{text:?}"
        );
    }
    for current in [None, Some(Codec::Pcmu), Some(Codec::Pcma)] {
        let Ok((answer, n)) = answer_offer(text, &LOCAL, current) else {
            continue;
        };
        assert_ne!(
            n.telephone_event_pt,
            Some(n.codec.payload_type()),
            "{text:?}"
        );
        let back = parse_answer(&answer).unwrap_or_else(|e| panic!("{e}: {answer:?}"));
        let want = Negotiated {
            codec: n.codec,
            telephone_event_pt: n.telephone_event_pt,
            remote_rtp: SocketAddr::new(LOCAL.advertise_ip, LOCAL.port),
            direction: direction_answer(n.direction),
        };
        assert_eq!(back, want, "offer {text:?} answer {answer:?}");
    }
}

fn direction_answer(d: Direction) -> Direction {
    match d {
        Direction::SendOnly => Direction::RecvOnly,
        Direction::RecvOnly => Direction::SendOnly,
        d => d,
    }
}

fn any_ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<u32>().prop_map(|v| IpAddr::V4(Ipv4Addr::from(v))),
        any::<u128>().prop_map(|v| IpAddr::V6(Ipv6Addr::from(v))),
        Just(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
    ]
}

proptest! {
    #![proptest_config(config(3000))]

    #[test]
    fn sdp_arbitrary_text_never_panics(text in "(?s).{0,300}") {
        check_offer(&text);
    }

    #[test]
    fn sdp_line_soup_never_panics(
        lines in prop::collection::vec("[a-z]=[ -~]{0,40}", 0..12),
        crlf in any::<bool>(),
    ) {
        let sep = if crlf { "\r\n" } else { "\n" };
        let text = format!("v=0{sep}{}", lines.join(sep));
        check_offer(&text);
    }

    #[test]
    fn sdp_mutated_offers_never_panic(text in mutated(SDP_SEEDS)) {
        check_offer(&text);
    }

    /// Offers built from the pieces negotiation looks at (payload types, rtpmaps, directions,
    /// hold addresses, several streams), so every branch of `negotiate` is reached.
    #[test]
    fn sdp_structured_offers_answer_consistently(
        streams in prop::collection::vec((
            prop::sample::select(vec!["audio", "video", "AUDIO"]),
            prop::sample::select(vec![0u16, 4000, 65535]),
            prop::sample::select(vec!["RTP/AVP", "rtp/avp", "RTP/SAVP"]),
            prop::collection::vec(prop::sample::select(vec!["0", "8", "18", "96", "101", "x"]), 1..5),
            prop::collection::vec((
                prop::sample::select(vec![0u8, 8, 96, 101]),
                prop::sample::select(vec!["PCMU", "pcma", "PCMA", "telephone-event", "opus"]),
                prop::sample::select(vec![8000u32, 16000]),
            ), 0..4),
            prop::option::of(prop::sample::select(vec!["sendonly", "recvonly", "inactive", "sendrecv"])),
            prop::option::of(prop::sample::select(vec!["IN IP4 0.0.0.0", "IN IP4 10.1.2.3", "IN IP6 ::2"])),
        ), 1..4),
        session_c in prop::option::of(prop::sample::select(vec!["IN IP4 192.0.2.5", "IN IP4 0.0.0.0"])),
    ) {
        let mut text = String::from("v=0\r\n");
        if let Some(c) = session_c {
            text.push_str(&format!("c={c}\r\n"));
        }
        for (media, port, proto, fmts, maps, dir, conn) in streams {
            text.push_str(&format!("m={media} {port} {proto} {}\r\n", fmts.join(" ")));
            if let Some(c) = conn {
                text.push_str(&format!("c={c}\r\n"));
            }
            for (pt, name, rate) in maps {
                text.push_str(&format!("a=rtpmap:{pt} {name}/{rate}\r\n"));
            }
            if let Some(d) = dir {
                text.push_str(&format!("a={d}\r\n"));
            }
        }
        check_offer(&text);
    }

    #[test]
    fn sdp_our_offer_round_trips(
        ip in any_ip(),
        port in any::<u16>(),
        session_id in any::<u64>(),
        version in any::<u64>(),
    ) {
        let local = LocalMedia { advertise_ip: ip, port, session_id, version };
        let parsed = parse_answer(&build_offer(&local));
        if port == 0 {
            prop_assert!(parsed.is_err());
        } else {
            let direction = if ip.is_unspecified() { Direction::SendOnly } else { Direction::SendRecv };
            prop_assert_eq!(parsed, Ok(Negotiated {
                codec: Codec::Pcmu,
                telephone_event_pt: Some(OFFERED_TELEPHONE_EVENT_PT),
                remote_rtp: SocketAddr::new(ip, port),
                direction,
            }));
        }
    }
}

proptest! {
    #![proptest_config(config(5000))]

    #[test]
    fn rtp_classify_never_panics(
        buf in prop::collection::vec(any::<u8>(), 0..400),
        te in prop::option::of(any::<u8>()),
    ) {
        match classify(&buf, te) {
            Ok(Inbound::Audio { payload, .. }) => prop_assert!(payload.len() <= MAX_PAYLOAD),
            Ok(Inbound::Event { .. } | Inbound::Unexpected) | Err(_) => {}
        }
    }

    /// What we write, we read back unchanged (the relay path depends on it).
    #[test]
    fn rtp_written_packets_classify_back(
        which in 0u8..3,
        ssrc in any::<u32>(),
        seq in any::<u16>(),
        ts in any::<u32>(),
        marker in any::<bool>(),
        payload in prop::collection::vec(any::<u8>(), 0..=160),
    ) {
        let pt = [0, 8, OFFERED_TELEPHONE_EVENT_PT][usize::from(which)];
        let mut buf = [0u8; 1500];
        let len = write_packet(&mut buf, pt, Stamp { ssrc, seq, ts, marker }, &payload).unwrap();
        let got = classify(&buf[..len], Some(OFFERED_TELEPHONE_EVENT_PT)).unwrap();
        let want = match Codec::from_payload_type(pt) {
            Some(codec) => Inbound::Audio { codec, ssrc, seq, ts, marker, payload: &payload },
            None => Inbound::Event { ssrc, seq, ts, payload: &payload },
        };
        prop_assert_eq!(got, want);
    }

    /// Loss accounting (RFC 3550 §A.3, simplified): an in-order stream with packets dropped
    /// counts exactly the dropped ones, across sequence wrap-around, and reordered or
    /// duplicated packets never count as loss or panic.
    #[test]
    fn rx_track_counts_exactly_the_dropped_packets(
        ssrc in any::<u32>(),
        first in any::<u16>(),
        kept in prop::collection::vec(any::<bool>(), 1..300),
        noise in prop::collection::vec((any::<u32>(), any::<u16>()), 0..20),
    ) {
        let mut track = RxTrack::default();
        let seqs: Vec<u16> = kept.iter().enumerate()
            .filter(|(i, k)| **k || *i == 0)
            .map(|(i, _)| first.wrapping_add(i as u16))
            .collect();
        let mut lost = 0;
        for &seq in &seqs {
            let (changed, missing) = track.on_packet(ssrc, seq);
            prop_assert!(!changed);
            lost += missing;
        }
        let span = u64::from(seqs.last().unwrap().wrapping_sub(first)) + 1;
        prop_assert_eq!(lost, span - seqs.len() as u64);
        for (s, seq) in noise {
            let _ = track.on_packet(s, seq);
        }
    }

    /// The relayed timing: steady 20 ms packets advance by the peer's own timestamp steps;
    /// anything (new SSRC, zero or absurd jump) falls back to one packet with the marker.
    #[test]
    fn relay_clock_follows_or_restarts(
        ssrc in any::<u32>(),
        ts0 in any::<u32>(),
        steps in prop::collection::vec(1u32..=1600, 1..50),
        noise in prop::collection::vec((any::<u32>(), any::<u32>(), 0usize..2000), 0..20),
    ) {
        let mut clock = RelayClock::default();
        prop_assert_eq!(clock.advance(ssrc, ts0, 160), (160, true));
        let mut ts = ts0;
        for step in steps {
            ts = ts.wrapping_add(step);
            prop_assert_eq!(clock.advance(ssrc, ts, 160), (step, false));
        }
        for (s, t, samples) in noise {
            let (d, marker) = clock.advance(s, t, samples);
            prop_assert!(d > 0 || (marker && samples == 0));
        }
    }

    /// Any stream of event payloads: no panic, only keys some packet named (its event code;
    /// the type already makes every report a real key), and each event (start timestamp)
    /// gives at most one key (RFC 4733 §2.5.1.3 end packets come three times).
    #[test]
    fn telephone_events_never_panic_and_report_once(
        packets in prop::collection::vec(
            (0u32..6, prop::collection::vec(any::<u8>(), 0..8), 0u64..600, any::<bool>()),
            0..40,
        ),
    ) {
        let start = Instant::now();
        let mut now = start;
        let mut rx = EventReceiver::default();
        let mut reported = Vec::new();
        let mut timestamps = std::collections::BTreeSet::new();
        let mut codes_sent = std::collections::BTreeSet::new();
        for (ts_step, payload, advance_ms, timeout) in packets {
            let ts = ts_step * 160;
            timestamps.insert(ts);
            if let [code, _, _, _, ..] = payload[..] {
                codes_sent.insert(code);
            }
            now += Duration::from_millis(advance_ms);
            if timeout {
                if let Some(at) = rx.poll_timeout() {
                    prop_assert!(at >= start);
                }
                reported.extend(rx.on_timeout(now));
            }
            reported.extend(rx.on_packet(ts, &payload, now).into_iter().flatten());
        }
        prop_assert!(
            reported.iter().all(|k| codes_sent.contains(&k.event())),
            "{:?} from codes {:?}",
            reported,
            codes_sent
        );
        prop_assert!(reported.len() <= timestamps.len(), "{:?}", reported);
    }
}

/// Found while writing these properties: an offer that maps the codec's own payload type to
/// telephone-event as well made every audio packet read as an event.
#[test]
fn telephone_event_never_shadows_the_codec() {
    check_offer(
        "v=0\r\nc=IN IP4 192.0.2.7\r\nm=audio 4000 RTP/AVP 8 0\r\na=rtpmap:8 PCMA/8000\r\n\
         a=rtpmap:8 telephone-event/8000\r\n",
    );
}
