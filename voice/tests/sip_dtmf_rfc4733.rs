//! The agent presses every key as RFC 4733 telephone-events (SIPp replays its own captures
//! /usr/share/sip-tester/dtmf_2833_*.pcap). Each key must be reported exactly once, in order,
//! as Rfc4733.

mod common;

use std::time::Duration;

use common::*;
use voice::{DigitVia, EndCause, LegEvent, Transport};

#[tokio::test]
async fn every_key_reported_once() {
    let sipp = Sipp::uas("uas_dtmf_rfc4733.xml", false);
    let (voice, _shutdown) = start_voice(vec![trunk_to(&sipp, Transport::Udp)]).await;

    let (leg, mut events) = voice
        .originate(center_request(Duration::from_secs(10)))
        .await
        .expect("originate");
    until_answered(&mut events).await;

    // The scenario's order: the captures' RTP timestamp order.
    let expected = keys("1023456789*#");
    let mut digits = Vec::new();
    while digits.len() < expected.len() {
        match next_event(&mut events, "digits").await {
            LegEvent::Digit { key, via } => {
                assert_eq!(via, DigitVia::Rfc4733, "key {key}");
                digits.push(key);
            }
            LegEvent::HungUp(cause) => panic!("hung up ({cause:?}) after digits {digits:?}"),
            _ => {}
        }
    }
    // Give a duplicate (end packet repeated three times, RFC 4733 §2.5.1.4) time to show up.
    tokio::time::sleep(Duration::from_millis(800)).await;
    leg.hangup().expect("hangup");
    let (rest, cause) = until_hung_up(&mut events).await;
    assert_eq!(cause, EndCause::LocalHangup);
    for event in rest {
        if let LegEvent::Digit { key, .. } = event {
            digits.push(key);
        }
    }
    assert_eq!(digits, expected);
    sipp.assert_passed(Duration::from_secs(15)).await;
}
