//! No message we send names our software unless the operator asks (issue 10: scanners use
//! `User-Agent` as a fingerprint). tshark watches our SIP port while we place calls to SIPp
//! (INVITE, ACK, our BYE, the 200 to its BYE, CANCEL) and while SIPp and a raw socket send
//! us stray requests (403 to an INVITE, 200 to OPTIONS, 405, 481, and the edge's own 501 and
//! 400). Without a product token no message from us has `User-Agent` or `Server`; with one,
//! every request carries it as `User-Agent` and every response as `Server`, exactly.

mod common;

use std::time::Duration;

use common::wire::{SipCapture, SipPacket};
use common::*;
use voice::{Destination, LegEvent, Voice};

/// Stray requests a scanner might send, as bytes (`PORT` is the sender's), and the answer each
/// gets: a REGISTER (405), a BYE for no dialog (481), an extension method (501 from the edge)
/// and a Content-Length past the datagram's end (400 from the edge).
const STRAY: [(&str, u16); 4] = [
    ("REGISTER sip:127.0.0.1 SIP/2.0", 405),
    ("BYE sip:x@127.0.0.1 SIP/2.0", 481),
    ("KNOCK sip:x@127.0.0.1 SIP/2.0", 501),
    ("OPTIONS sip:x@127.0.0.1 SIP/2.0", 400),
];

fn stray(n: usize, line: &str, port: u16) -> Vec<u8> {
    let method = line.split(' ').next().unwrap_or_default();
    let length = if method == "OPTIONS" { 99 } else { 0 };
    // Only the BYE names a dialog (a To tag, RFC 3261 §12.2.2).
    let to_tag = if method == "BYE" {
        format!(";tag=t{n}")
    } else {
        String::new()
    };
    format!(
        "{line}\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKstray{n};rport\r\n\
         From: <sip:scanner@127.0.0.1>;tag=s{n}\r\nTo: <sip:x@127.0.0.1>{to_tag}\r\n\
         Call-ID: stray-{n}@127.0.0.1\r\nCSeq: 1 {method}\r\nMax-Forwards: 70\r\n\
         Content-Length: {length}\r\n\r\n"
    )
    .into_bytes()
}

/// Everything that makes voice send: three calls and the stray requests. The statuses the raw
/// socket got back, in order.
async fn exercise(voice: &Voice) -> Vec<u16> {
    // Answered; the far end hangs up (we answer its BYE).
    let sipp = Sipp::uas("uas_remote_bye.xml", false);
    let (_leg, mut events) = voice.originate(call_to(&sipp)).await.expect("originate");
    until_hung_up(&mut events).await;
    sipp.assert_passed(Duration::from_secs(10)).await;

    // Answered; we hang up (our BYE).
    let sipp = Sipp::uas("uas_answer.xml", false);
    let (leg, mut events) = voice.originate(call_to(&sipp)).await.expect("originate");
    until_answered(&mut events).await;
    leg.hangup().expect("hangup");
    until_hung_up(&mut events).await;
    sipp.assert_passed(Duration::from_secs(10)).await;

    // Ringing; we cancel (CANCEL, and the ACK of the 487).
    let sipp = Sipp::uas("uas_ring_forever.xml", false);
    let (leg, mut events) = voice.originate(call_to(&sipp)).await.expect("originate");
    while next_event(&mut events, "Ringing").await != LegEvent::Ringing {}
    leg.cancel().expect("cancel");
    until_hung_up(&mut events).await;
    sipp.assert_passed(Duration::from_secs(10)).await;

    // Somebody calls, and a monitoring probe asks what we are.
    Sipp::uac("uac_unsolicited_invite.xml", voice.sip_addr())
        .assert_passed(Duration::from_secs(15))
        .await;
    Sipp::uac("uac_options.xml", voice.sip_addr())
        .assert_passed(Duration::from_secs(15))
        .await;

    let scanner = tokio::net::UdpSocket::bind((LOOPBACK, 0))
        .await
        .expect("bind");
    let port = scanner.local_addr().expect("addr").port();
    let mut statuses = Vec::new();
    let mut buf = vec![0u8; 4096];
    for (n, (line, _)) in STRAY.iter().enumerate() {
        scanner
            .send_to(&stray(n, line, port), voice.sip_addr())
            .await
            .expect("send");
        let (len, _) = tokio::time::timeout(Duration::from_secs(3), scanner.recv_from(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("no answer to {line}"))
            .expect("recv");
        let text = String::from_utf8_lossy(&buf[..len]);
        statuses.push(text[8..11].parse().expect("a status line"));
    }
    statuses
}

/// A call straight to `sipp` (a URI destination needs no trunk, so one Voice serves all).
fn call_to(sipp: &Sipp) -> voice::OriginateRequest {
    let mut request = center_request(Duration::from_secs(10));
    request.to = Destination::Uri(format!("sip:{DNIS}@{}", sipp.addr()));
    request
}

/// What voice sent, seen by tshark, with `user_agent` configured; and what the raw socket's
/// stray requests got.
async fn sent_by_voice(user_agent: Option<&str>) -> (Vec<SipPacket>, Vec<u16>) {
    let (voice, _shutdown) = start_voice_with_agent(Vec::new(), user_agent).await;
    let port = voice.sip_addr().port();
    let capture = SipCapture::start(port);
    let statuses = exercise(&voice).await;
    let packets = capture.stop();
    let from_us = packets.into_iter().filter(|p| p.src_port == port).collect();
    (from_us, statuses)
}

fn kinds(packets: &[SipPacket]) -> Vec<String> {
    let mut kinds: Vec<String> = packets
        .iter()
        .map(|p| match (&p.method, p.status) {
            (Some(m), _) => m.clone(),
            (None, Some(s)) => format!("{s} {}", p.cseq_method),
            (None, None) => "?".into(),
        })
        .collect();
    kinds.sort();
    kinds.dedup();
    kinds
}

fn assert_covers(packets: &[SipPacket]) {
    let kinds = kinds(packets);
    for want in [
        "INVITE",
        "ACK",
        "BYE",
        "CANCEL",
        "200 BYE",
        "200 OPTIONS",
        "403 INVITE",
        "405 REGISTER",
        "481 BYE",
        "501 KNOCK",
        "400 OPTIONS",
    ] {
        assert!(
            kinds.iter().any(|k| k == want),
            "no {want} from us in {kinds:?}"
        );
    }
}

#[tokio::test]
async fn nothing_we_send_names_us_by_default() {
    let (packets, statuses) = sent_by_voice(None).await;
    assert_eq!(statuses, STRAY.map(|(_, s)| s));
    assert_covers(&packets);
    for p in &packets {
        assert!(
            p.user_agent.is_none() && p.server.is_none(),
            "{p:?} names us"
        );
    }
}

#[tokio::test]
async fn a_configured_product_is_user_agent_in_requests_and_server_in_responses() {
    let product = "Acme-Edge/9";
    let (packets, statuses) = sent_by_voice(Some(product)).await;
    assert_eq!(statuses, STRAY.map(|(_, s)| s));
    assert_covers(&packets);
    for p in &packets {
        if p.method.is_some() {
            assert_eq!(
                (p.user_agent.as_deref(), p.server.as_deref()),
                (Some(product), None),
                "{p:?}"
            );
        } else {
            assert_eq!(
                (p.user_agent.as_deref(), p.server.as_deref()),
                (None, Some(product)),
                "{p:?}"
            );
        }
    }
}
