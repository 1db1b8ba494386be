//! [`screen`] and [`frame`] on the RFC 4475 / RFC 5118 messages (byte-exact, from
//! `voice/tests/torture/`) and on hand-made edge cases.

use super::*;

fn torture(rfc: &str, name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/torture/{rfc}/{name}.sip",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The outcome as one word: `pass`, `drop` or the status and reason.
fn outcome(bytes: &[u8], carrier: Carrier) -> String {
    match screen(bytes, carrier) {
        Screened::Pass(_) => "pass".into(),
        Screened::Drop(_) => "drop".into(),
        Screened::Refuse(r) => format!("{} {}", r.status, r.reason),
    }
}

#[test]
fn rfc_4475_requests_are_passed_or_refused_as_the_rfc_asks() {
    // Requests only; responses always pass to the stack (which drops malformed ones).
    let table = [
        ("wsinv", "pass"),
        ("intmeth", "501 Not Implemented"),
        ("esc01", "pass"),
        ("escnull", "pass"),
        ("esc02", "501 Not Implemented"),
        ("lwsdisp", "pass"),
        ("longreq", "pass"),
        ("dblreq", "pass"),
        ("semiuri", "pass"),
        ("transports", "pass"),
        ("mpart01", "pass"),
        ("badinv01", "400 Malformed Via header field"),
        ("clerr", "400 Content-Length larger than the message"),
        ("ncl", "400 Malformed Content-Length"),
        ("scalar02", "400 CSeq number out of range"),
        ("quotbal", "400 Unterminated quoted string in To"),
        ("ltgtruri", "400 Request-URI enclosed in angle brackets"),
        ("lwsruri", "400 Whitespace inside the Request-URI"),
        ("lwsstart", "400 Extra whitespace in the Request-Line"),
        ("trws", "400 Extra whitespace in the Request-Line"),
        ("escruri", "400 Request-URI carries escaped headers"),
        ("baddate", "pass"),
        ("regbadct", "pass"),
        ("badaspec", "400 Whitespace inside the To URI"),
        ("baddn", "400 Unquoted display name with separators in From"),
        ("badvers", "505 Version Not Supported"),
        ("mismatch01", "pass"),
        ("mismatch02", "501 Not Implemented"),
        (
            "badbranch",
            "400 Via branch without a transaction identifier",
        ),
        ("insuf", "400 Missing From header field"),
        ("unkscm", "416 Unsupported URI Scheme"),
        ("novelsc", "416 Unsupported URI Scheme"),
        ("unksm2", "pass"),
        ("bext01", "pass"),
        ("invut", "pass"),
        ("regaut01", "pass"),
        ("multi01", "400 Multiple From header fields"),
        ("mcl01", "400 Multiple Content-Length header fields"),
        ("zeromf", "pass"),
        ("cparam01", "pass"),
        ("cparam02", "pass"),
        ("regescrt", "pass"),
        ("sdp01", "pass"),
        ("inv2543", "pass"),
    ];
    let got: Vec<(&str, String)> = table
        .iter()
        .map(|(name, _)| (*name, outcome(&torture("rfc4475", name), Carrier::Datagram)))
        .collect();
    let want: Vec<(&str, String)> = table.iter().map(|(n, o)| (*n, o.to_string())).collect();
    assert_eq!(got, want);
}

#[test]
fn rfc_5118_requests_are_passed_or_refused_as_the_rfc_asks() {
    let table = [
        ("ipv6-good", "pass"),
        (
            "ipv6-bad",
            "400 IPv6 address in the Request-URI without brackets",
        ),
        ("port-ambiguous", "pass"),
        ("port-unambiguous", "pass"),
        ("via-received-param-with-delim", "pass"),
        ("via-received-param-no-delim", "pass"),
        ("ipv6-in-sdp", "pass"),
        ("mult-ip-in-header", "pass"),
        ("mult-ip-in-sdp", "pass"),
        ("ipv4-mapped-ipv6", "pass"),
        ("ipv6-bug-abnf-3-colons", "pass"),
        ("ipv6-correct-abnf-2-colons", "pass"),
    ];
    for (name, want) in table {
        assert_eq!(
            outcome(&torture("rfc5118", name), Carrier::Datagram),
            want,
            "{name}"
        );
    }
}

#[test]
fn a_folded_message_reaches_the_stack_on_one_line_per_field() {
    let Screened::Pass(bytes) = screen(&torture("rfc4475", "wsinv"), Carrier::Datagram) else {
        panic!("wsinv is valid");
    };
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        text.contains("Via: SIP/2.0/UDP 192.0.2.2;branch=390skdjuw\r\n"),
        "{text}"
    );
    assert!(text.contains(";tag=98asjd8\r\n"), "{text}");
    assert!(
        text.ends_with("a=rtpmap:31 LPC\r\n"),
        "the body is untouched: {text}"
    );
}

#[test]
fn an_rfc_2543_from_is_tagged_for_the_stack() {
    let Screened::Pass(bytes) = screen(&torture("rfc4475", "inv2543"), Carrier::Datagram) else {
        panic!("inv2543 is valid");
    };
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains(identity::RFC2543_FROM_TAG), "{text}");
}

#[test]
fn a_refusal_copies_the_request_and_is_sent_back_to_the_source() {
    let Screened::Refuse(refusal) = screen(&torture("rfc4475", "badvers"), Carrier::Datagram)
    else {
        panic!("badvers is refused");
    };
    let source = "192.0.2.9:5062".parse().expect("address");
    let text = String::from_utf8(refusal.to_bytes(source, None)).expect("ascii");
    assert!(
        text.starts_with("SIP/2.0 505 Version Not Supported\r\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "Via: SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw;received=192.0.2.9;rport=5062\r\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("Call-ID: badvers.31417@c.example.com\r\n"),
        "{text}"
    );
    assert!(text.contains("CSeq: 1 OPTIONS\r\n"), "{text}");
    assert!(
        text.contains("To: T. Watson <sip:t.watson@example.org>;tag="),
        "{text}"
    );
    assert!(!text.contains("Server"), "{text}");
    let again = String::from_utf8(refusal.to_bytes(source, Some("Acme/1"))).expect("ascii");
    assert!(again.contains("Server: Acme/1\r\n"), "{again}");
    let tag = |t: &str| t.split(";tag=").nth(1).map(|r| r[..16].to_owned());
    assert_eq!(tag(&text), tag(&again), "the same tag for a retransmission");
}

#[test]
fn an_extension_method_gets_501_with_allow() {
    let Screened::Refuse(refusal) = screen(&torture("rfc4475", "mismatch02"), Carrier::Datagram)
    else {
        panic!("mismatch02 is refused");
    };
    let text = String::from_utf8(refusal.to_bytes("192.0.2.9:5060".parse().expect("addr"), None))
        .expect("ascii");
    assert!(
        text.contains("\r\nAllow: INVITE, ACK, BYE, CANCEL, OPTIONS, INFO\r\n"),
        "{text}"
    );
}

#[test]
fn a_request_uri_the_stack_would_not_print_as_read_is_refused() {
    // Found by the sip_datagram target: rsipstack reads `sip:a@h>;...` with the host `h>`
    // and prints a URI that reads back as `h`.
    let table: [(&[u8], &str); 16] = [
        (b"sip:+4930555000@192.0.2.10:5060;user=phone", "pass"),
        (b"sip:192.0.2.10", "pass"),
        (b"sips:alice@example.com", "pass"),
        (b"sip:alice@edge_1.example.com", "pass"),
        (b"sip:alice@[2001:db8::10]:5070", "pass"),
        (b"sip:*31%23@example.com", "pass"),
        (b"sip:*31#@example.com", "pass"),
        (b"tel:+1-201-555-0123", "pass"),
        (b"sip:a@h>;x", "400 Malformed Request-URI"),
        (b"sip:a>b@h", "400 Malformed Request-URI"),
        (b"sip:a@h\0>", "400 Malformed Request-URI"),
        (b"sip:a@h\x7f", "400 Malformed Request-URI"),
        (b"sip:caf\xc3\xa9@h", "400 Malformed Request-URI"),
        (
            b"sip:alice@exa%6dple.com",
            "400 Malformed host in the Request-URI",
        ),
        (
            b"sip:alice@h:99999",
            "400 Malformed host in the Request-URI",
        ),
        (b"sip:alice@", "400 Malformed host in the Request-URI"),
    ];
    for (uri, want) in table {
        let mut request = b"OPTIONS ".to_vec();
        request.extend_from_slice(uri);
        request.extend_from_slice(
            b" SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.5;branch=z9hG4bK-1\r\n\
              From: <sip:a@203.0.113.5>;tag=x\r\nTo: <sip:b@192.0.2.10>\r\n\
              Call-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        );
        assert_eq!(
            outcome(&request, Carrier::Datagram),
            want,
            "{}",
            String::from_utf8_lossy(uri)
        );
    }
}

#[test]
fn what_cannot_be_answered_is_dropped() {
    let cases: [&[u8]; 5] = [
        b"",
        b"garbage\r\n\r\n",
        b"OPTIONS sip:a@b SIP/2.0\r\nFrom: <sip:x@y>;tag=1\r\n\r\n",
        b"ACK sip:a@b SIP/7.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\n",
        b"\xff\xfe\x00 \r\n\r\n",
    ];
    for bytes in cases {
        let got = screen(bytes, Carrier::Datagram);
        assert!(
            matches!(got, Screened::Drop(_) | Screened::Pass(_)),
            "{:?}: {got:?}",
            String::from_utf8_lossy(bytes)
        );
        assert!(
            !matches!(got, Screened::Pass(_)) || bytes.is_empty(),
            "{:?} reached the stack",
            String::from_utf8_lossy(bytes)
        );
    }
}

#[test]
fn streams_are_framed_by_content_length() {
    let one = b"OPTIONS sip:a@b SIP/2.0\r\nl: 3\r\n\r\nabc";
    assert_eq!(frame(one), Frame::Message(one.len()));
    assert_eq!(frame(&one[..one.len() - 1]), Frame::Incomplete);
    assert_eq!(frame(b"\r\n\r\nOPTIONS"), Frame::Ping);
    assert_eq!(frame(b"\r\nOPTIONS"), Frame::Skip(2));
    let head = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: -999\r\n\r\n";
    assert_eq!(frame(head), Frame::Unframeable(head.len()));
    let none = b"OPTIONS sip:a@b SIP/2.0\r\nTo: <sip:a@b>\r\n\r\n";
    assert_eq!(frame(none), Frame::Unframeable(none.len()));
    let two = b"OPTIONS sip:a@b SIP/2.0\r\nl: 0\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(frame(two), Frame::Unframeable(two.len()));
    assert!(matches!(
        frame(&vec![b'x'; MAX_MESSAGE + 1]),
        Frame::Unframeable(_)
    ));
}

#[test]
fn the_ipv6_abnf_bug_is_read_as_the_address_it_means() {
    assert_eq!(
        repair_ipv6(b"sip:user@[2001:db8:::192.0.2.1]"),
        b"sip:user@[2001:db8::192.0.2.1]".to_vec()
    );
    assert_eq!(
        repair_ipv6(b"[::::]"),
        b"[::::]".to_vec(),
        "not an address: untouched"
    );
    assert_eq!(repair_ipv6(b"[2001:db8::1"), b"[2001:db8::1".to_vec());
}

#[test]
fn lws_is_tightened_outside_quotes_and_angle_brackets() {
    assert_eq!(
        tighten(b"SIP  / 2.0  / TCP     spindle.example.com   ; branch  =   z9hG4bK9ikj8  , SIP/2.0/UDP h"),
        b"SIP/2.0/TCP spindle.example.com;branch=z9hG4bK9ikj8,SIP/2.0/UDP h".to_vec()
    );
    assert_eq!(
        tighten(b"\"a ; b\"   <sip:x@y> ;  tag = 1"),
        b"\"a ; b\" <sip:x@y>;tag=1".to_vec()
    );
}

mod never_panics {
    use proptest::prelude::*;

    use super::*;

    fn check_all(bytes: &[u8]) {
        for carrier in [Carrier::Datagram, Carrier::Stream] {
            if let Screened::Refuse(refusal) = screen(bytes, carrier) {
                let _ = refusal.to_bytes("192.0.2.1:5060".parse().expect("addr"), Some("x"));
            }
        }
        let _ = frame(bytes);
    }

    proptest! {
        #[test]
        fn on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
            check_all(&bytes);
        }

        #[test]
        fn on_a_torture_message_with_bytes_changed(
            pick in 0usize..6,
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..16),
        ) {
            let name = ["wsinv", "intmeth", "esc01", "badinv01", "inv2543", "mcl01"][pick];
            let mut bytes = torture("rfc4475", name);
            for (at, b) in edits {
                let at = at % bytes.len();
                bytes[at] = b;
            }
            check_all(&bytes);
        }
    }
}
