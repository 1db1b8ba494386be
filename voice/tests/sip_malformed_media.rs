//! Malformed SDP and RTP from a real far end (SIPp) do not crash anything: garbage SDP in a
//! 200 OK ends that leg cleanly (ACK, BYE, `Rejected(488)`) and the endpoint keeps working;
//! garbage SDP in a re-INVITE is answered 488 and the call goes on (a proper re-INVITE after
//! it is answered, a prompt still plays); garbage datagrams on the leg's RTP port are dropped
//! and counted.

mod common;

use std::time::Duration;

use common::*;
use voice::{EndCause, LegEvent, Transport};

#[tokio::test]
async fn garbage_sdp_in_the_answer_ends_the_leg_cleanly() {
    let sipp = Sipp::uas("uas_answer_bad_sdp.xml", false);
    let (voice, _shutdown) = start_voice(vec![trunk_to(&sipp, Transport::Udp)]).await;

    let (leg, mut events) = voice
        .originate(center_request(Duration::from_secs(10)))
        .await
        .expect("originate");
    let (seen, cause) = until_hung_up(&mut events).await;
    assert_eq!(cause, EndCause::Rejected(488), "events {seen:?}");
    assert!(
        !seen.iter().any(|e| matches!(e, LegEvent::Answered { .. })),
        "a leg without usable media must not be reported answered: {seen:?}"
    );
    assert!(leg.media().is_none());
    assert_stream_ends(&mut events).await;
    // SIPp checks our ACK and BYE.
    sipp.assert_passed(Duration::from_secs(10)).await;

    // The endpoint still answers.
    Sipp::uac("uac_options.xml", voice.sip_addr())
        .assert_passed(Duration::from_secs(10))
        .await;
}

/// Datagrams that are not RTP, or not RTP we can use.
fn rtp_garbage() -> Vec<Vec<u8>> {
    let mut x: u32 = 0x9E37_79B9;
    let noise: Vec<u8> = (0..1200)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    vec![
        Vec::new(),
        vec![0x80],
        vec![0x80, 0x00, 0x00, 0x01],
        // Version 0.
        [
            vec![0x00, 0x00, 0, 1, 0, 0, 0, 160, 1, 2, 3, 4],
            vec![0xff; 160],
        ]
        .concat(),
        // 15 CSRCs announced, none there.
        [
            vec![0x8f, 0x00, 0, 1, 0, 0, 0, 160, 1, 2, 3, 4],
            vec![0xff; 8],
        ]
        .concat(),
        // Extension header whose length runs past the end.
        [
            vec![0x90, 0x00, 0, 1, 0, 0, 0, 160, 1, 2, 3, 4],
            vec![0xbe, 0xde, 0xff, 0xff],
        ]
        .concat(),
        // Padding longer than the packet.
        [
            vec![0xa0, 0x00, 0, 1, 0, 0, 0, 160, 1, 2, 3, 4],
            vec![0xff; 9],
            vec![200],
        ]
        .concat(),
        noise,
        vec![0x55; 60_000],
    ]
}

#[tokio::test]
async fn garbage_sdp_in_a_reinvite_and_garbage_rtp_leave_the_call_up() {
    let sipp = Sipp::uas("uas_reinvite_bad_sdp.xml", false);
    let (voice, _shutdown) = start_voice(vec![trunk_to(&sipp, Transport::Udp)]).await;

    let (leg, mut events) = voice
        .originate(center_request(Duration::from_secs(10)))
        .await
        .expect("originate");
    until_answered(&mut events).await;
    let media = leg.media().expect("answered leg has media");

    let socket = tokio::net::UdpSocket::bind((LOOPBACK, 0))
        .await
        .expect("bind");
    let garbage = rtp_garbage();
    for datagram in &garbage {
        let _ = socket
            .send_to(datagram, (LOOPBACK, media.local_port()))
            .await;
    }
    // The leg still plays a prompt to its end.
    leg.say("Still here", false)
        .await
        .expect("say after garbage");
    loop {
        match next_event(&mut events, "PlayoutDone").await {
            LegEvent::PlayoutDone => break,
            LegEvent::HungUp(cause) => panic!("the call ended ({cause:?}) during the prompt"),
            _ => {}
        }
    }
    let stats = media.stats();
    println!("after {} garbage datagrams: {stats:?}", garbage.len());
    // Loopback delivers every datagram (the 60 kB one truncated to our buffer): each one
    // must have been seen and refused as malformed, none taken as audio.
    assert_eq!(
        stats.malformed,
        garbage.len() as u64,
        "garbage not refused: {stats:?}"
    );
    assert_eq!(stats.received, 0, "garbage counted as RTP: {stats:?}");

    // SIPp sends the bad re-INVITE (wants 488), a good one (wants 200 recvonly), then BYE.
    let (between, cause) = until_hung_up(&mut events).await;
    assert_eq!(cause, EndCause::RemoteHangup, "events {between:?}");
    sipp.assert_passed(Duration::from_secs(10)).await;
}
